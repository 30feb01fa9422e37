"""VMAF, identity distance, landmark NME, `measure` and bucket aggregation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from frontal.eval.clips import default_face_clip, synthetic_clip
from frontal.eval.metrics import (
    aggregate_by_bucket,
    identity_distance,
    landmark_nme,
    measure,
    vmaf,
)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Three 256x256 face-tube frames from the embedded carphone clip."""
    frames, _ = default_face_clip(size=256, fps=15.0, max_frames=3)
    return frames


def test_vmaf_identical_is_high_and_noise_lowers_it() -> None:
    ref = synthetic_clip(n_frames=6, size=64, seed=1)
    noisy = np.clip(ref + np.random.default_rng(0).normal(0, 25, ref.shape), 0, 255).astype(np.uint8)
    same, worse = vmaf(ref, ref), vmaf(ref, noisy)
    assert same.per_frame.shape == (6,)
    assert same.mean > 95.0
    assert worse.mean < same.mean


def test_identity_of_a_face_with_itself_is_zero(faces: np.ndarray) -> None:
    scores = identity_distance(faces, faces)
    np.testing.assert_allclose(scores.per_frame, 0.0, atol=1e-9)
    assert scores.frac_same == 1.0 and scores.n_no_face_ref == 0


def test_identity_counts_missing_faces(faces: np.ndarray) -> None:
    from frontal.eval.identity import FaceIdentity

    blank = np.zeros_like(faces)
    scores = identity_distance(faces, blank, model=FaceIdentity(fallback=False))
    assert scores.n_no_face_dist == len(faces) and scores.n_scored == 0 and np.isnan(scores.mean)


def test_nme_of_a_face_with_itself_is_zero(faces: np.ndarray) -> None:
    scores = landmark_nme(faces, faces)
    np.testing.assert_allclose(scores.per_frame, 0.0, atol=1e-9)
    assert scores.n_scored == len(faces)


def test_nme_grows_with_a_shift(faces: np.ndarray) -> None:
    shifted = np.roll(faces, 8, axis=2)
    scores = landmark_nme(faces, shifted, subset=range(0, 468))
    assert 0.08 < scores.mean < 0.16  # 8 px over an inter-ocular distance of about 70 px


def test_measure_reports_what_was_asked(faces: np.ndarray) -> None:
    report = measure(faces, faces, metrics=("psnr", "ssim", "msssim"))
    assert report.vmaf is None and report.identity is None
    assert report.psnr is not None and report.psnr.mean == 100.0
    summary = json.loads(json.dumps(report.to_json_dict(per_frame=True)))
    assert summary["ssim"] == pytest.approx(1.0) and len(summary["per_frame"]["msssim"]) == len(faces)
    with pytest.raises(ValueError, match="unknown metric"):
        measure(faces, faces, metrics=("lpips",))


def test_aggregate_by_yaw_bucket() -> None:
    values = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0])
    yaw = np.array([-5.0, 10.0, 20.0, 25.0, -50.0, 90.0])
    buckets = aggregate_by_bucket(values, yaw, edges=(0, 15, 30, 90))
    assert [(b.n, b.mean) for b in buckets] == [(2, 1.5), (1, 3.0), (2, 5.5)]
    with pytest.raises(ValueError, match="increasing"):
        aggregate_by_bucket(values, yaw, edges=(10, 0))


def test_evaluate_cli_on_the_embedded_clip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from frontal.eval.__main__ import main
    from sender.video import default_video

    out = tmp_path / "report.json"
    video = str(default_video())
    argv = [video, video, "--metrics", "psnr", "ssim", "--max-frames", "3", "--size", "144", "--json", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["n_frames"] == 3 and report["psnr"] == 100.0
    assert main(argv) == 1  # refuses to overwrite without -f
