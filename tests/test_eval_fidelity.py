"""PSNR / SSIM / MS-SSIM: checked against ffmpeg's `psnr` and `ssim` filters and basic properties."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from frontal.eval.clips import synthetic_clip
from frontal.eval.ffmpeg import raw_input_args, run_ffmpeg
from frontal.eval.fidelity import msssim, psnr, ssim


def _noisy(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(np.round(frames + noise), 0, 255).astype(np.uint8)


@pytest.fixture()
def gray_pair() -> tuple[np.ndarray, np.ndarray]:
    """A grey-valued RGB pair (R = G = B), so luma equals the grey plane that ffmpeg is fed."""
    ref = synthetic_clip(n_frames=6, size=64, seed=3)[..., :1].repeat(3, axis=-1)
    dist = _noisy(ref[..., :1], 4.0).repeat(3, axis=-1)
    return ref, dist


def _ffmpeg_stats(tmp_path: Path, ref: np.ndarray, dist: np.ndarray, filt: str, pix_fmt: str) -> list[str]:
    t, h, w = ref.shape[:3]
    (tmp_path / "ref.raw").write_bytes(ref.tobytes())
    (tmp_path / "dist.raw").write_bytes(dist.tobytes())
    raw = raw_input_args(w, h, 15, pix_fmt)
    graph = f"[0:v][1:v]{filt}=stats_file=stats.log"
    run_ffmpeg([*raw, "-i", "dist.raw", *raw, "-i", "ref.raw", "-lavfi", graph, "-f", "null", "-"], cwd=tmp_path)
    lines = (tmp_path / "stats.log").read_text().splitlines()
    assert len(lines) == t
    return lines


def _field(line: str, name: str) -> float:
    match = re.search(rf"\b{name}:(\S+)", line)
    assert match is not None, line
    return float(match.group(1))


def test_psnr_rgb_matches_ffmpeg(tmp_path: Path) -> None:
    ref = synthetic_clip(n_frames=6, size=64, seed=2)
    dist = _noisy(ref, 9.0)
    lines = _ffmpeg_stats(tmp_path, ref, dist, "psnr", "rgb24")
    theirs = np.array([_field(line, "psnr_avg") for line in lines])
    np.testing.assert_allclose(psnr(ref, dist), theirs, atol=0.01)


def test_psnr_luma_matches_ffmpeg(tmp_path: Path, gray_pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, dist = gray_pair
    lines = _ffmpeg_stats(tmp_path, ref[..., 0].copy(), dist[..., 0].copy(), "psnr", "gray")
    theirs = np.array([_field(line, "psnr_avg") for line in lines])
    np.testing.assert_allclose(psnr(ref, dist, on="y"), theirs, atol=0.01)


def test_ssim_matches_ffmpeg(tmp_path: Path, gray_pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, dist = gray_pair
    lines = _ffmpeg_stats(tmp_path, ref[..., 0].copy(), dist[..., 0].copy(), "ssim", "gray")
    theirs = np.array([_field(line, "All") for line in lines])
    # ffmpeg's window (8x8 box on a 4-px grid) is reproduced exactly by window="box8" ...
    np.testing.assert_allclose(ssim(ref, dist, window="box8"), theirs, atol=1e-4)
    # ... and the standard Gaussian window stays close to it (it reads a little lower on noise).
    np.testing.assert_allclose(ssim(ref, dist), theirs, atol=0.02)


def test_identical_frames() -> None:
    ref = synthetic_clip(n_frames=2, size=176, seed=4)
    np.testing.assert_allclose(ssim(ref, ref), 1.0, atol=1e-12)
    np.testing.assert_allclose(msssim(ref, ref), 1.0, atol=1e-12)
    assert np.all(psnr(ref, ref) == 100.0)


def test_msssim_decreases_with_noise() -> None:
    ref = synthetic_clip(n_frames=2, size=256, seed=5)
    scores = [float(msssim(ref, _noisy(ref, s)).mean()) for s in (2.0, 8.0, 24.0)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


def test_msssim_refuses_small_frames() -> None:
    ref = synthetic_clip(n_frames=1, size=64)
    with pytest.raises(ValueError, match="at least 176"):
        msssim(ref, ref)


def test_shape_mismatch_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        psnr(synthetic_clip(2, 64), synthetic_clip(3, 64))
