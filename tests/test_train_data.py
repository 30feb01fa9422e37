"""Face-tube data: the paper's yaw sampling, its fallback, flips, jitter, the identity split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from frontal.dataset import is_validation
from frontal.train.data import (
    SUP_MIRROR,
    Augment,
    ClipStore,
    DataError,
    FaceTubes,
    flip_points,
    jitter,
    mirror_permutation,
)
from frontal.train.sampling import sample_frames
from sender.landmarks import SUP33_NAMES
from tests.test_train_fixtures import SIZE, make_folder


def test_rotation_sampling_meets_the_paper_constraints() -> None:
    rng = np.random.default_rng(0)
    yaw = np.sin(np.linspace(0, 6, 120)) * 0.5  # +-0.5 rad
    valid = np.ones(120, bool)
    for _ in range(200):
        c = sample_frames(yaw, valid, rng, "abbc")
        assert c.mode == "rotation"
        assert yaw[c.a] > yaw[c.b1] > yaw[c.c]
        assert yaw[c.a] - yaw[c.c] > 0.3
        assert abs(yaw[c.a] - yaw[c.b2]) < 0.1 and c.b2 != c.a


def test_three_frame_sampling_uses_b_twice() -> None:
    yaw = np.linspace(-0.4, 0.4, 30)
    c = sample_frames(yaw, np.ones(30, bool), np.random.default_rng(1), "abc")
    assert c.b1 == c.b2 and yaw[c.a] > yaw[c.b1] > yaw[c.c]


def test_fallback_for_little_rotation_and_invalid_frames_skipped() -> None:
    rng = np.random.default_rng(0)
    yaw = np.linspace(-0.05, 0.05, 40)
    valid = np.ones(40, bool)
    valid[::3] = False
    for _ in range(100):
        c = sample_frames(yaw, valid, rng)
        assert c.mode == "fallback"
        assert all(valid[i] for i in c[:4])
        assert yaw[c.a] >= yaw[c.c] and c.a != c.c and c.b1 not in (c.a, c.c)


def test_sampling_rejects_tiny_tubes_and_unknown_mode() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        sample_frames(np.zeros(2), np.ones(2, bool), np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode"):
        sample_frames(np.zeros(5), np.ones(5, bool), np.random.default_rng(0), "abcd")


def test_mirror_permutation_swaps_sides() -> None:
    perm = mirror_permutation()
    assert sorted(perm) == list(range(33)) and np.array_equal(perm[perm], np.arange(33))
    names = SUP33_NAMES
    assert names[perm[names.index("eye_r_outer")]] == "eye_l_outer"
    assert names[perm[names.index("chin")]] == "chin"
    with pytest.raises(ValueError, match="twin"):
        mirror_permutation(("a_l", "b"))


def test_flip_points_matches_a_mirrored_image() -> None:
    # a landmark at pixel column i lands at column W-1-i: in align_corners=False coordinates, x -> -x
    w = 8
    x = (2 * np.arange(w) + 1) / w - 1
    assert np.allclose(x[::-1], -x)
    pts = np.random.default_rng(0).uniform(-1, 1, (5, 33, 2)).astype(np.float32)
    flipped = flip_points(pts)
    assert np.allclose(flipped[:, :, 0], -pts[:, SUP_MIRROR, 0])
    assert np.allclose(flip_points(flipped), pts)


def test_jitter_is_shared_and_deterministic() -> None:
    frames = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype(np.float32)
    a = jitter(frames, Augment(), np.random.default_rng(5))
    b = jitter(frames, Augment(), np.random.default_rng(5))
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1 and not np.allclose(a, frames)
    assert np.array_equal(jitter(frames, Augment.none(), np.random.default_rng(5)), frames)


def test_store_splits_by_identity(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "prep")
    train, val = ClipStore(folder, "train"), ClipStore(folder, "val")
    assert len(train) == 3 and len(val) == 2
    assert not any(is_validation(c.identity) for c in train.clips)
    assert all(is_validation(c.identity) for c in val.clips)
    assert set(train.identities).isdisjoint(val.identities)
    assert train.crops(0).shape == (12, SIZE, SIZE, 3)


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        ClipStore(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no prepared clips"):
        ClipStore(tmp_path / "empty")
    np.savez(tmp_path / "empty" / "x.npz", sup=np.zeros((3, 33, 2)))
    with pytest.raises(DataError, match="missing array"):
        ClipStore(tmp_path / "empty")


def test_examples_shapes_flip_and_reproducibility(tmp_path: Path) -> None:
    tubes = FaceTubes(ClipStore(make_folder(tmp_path / "prep"), "train"), "abbc", Augment(flip_prob=1.0))
    e1 = tubes.example(np.random.default_rng(3))
    e2 = tubes.example(np.random.default_rng(3))
    assert torch.equal(e1.sources, e2.sources) and e1.frames == e2.frames
    assert e1.sources.shape == (2, 3, SIZE, SIZE) and e1.driving_sup.shape == (2, 33, 2)
    assert e1.flipped
    clip = tubes.store.clips[e1.clip]
    a = e1.frames[0]
    assert torch.allclose(e1.source_sup[0], torch.from_numpy(flip_points(clip.sup[a])))
    assert float(e1.yaw[0]) == pytest.approx(-float(clip.yaw[a]))
    plain = FaceTubes(tubes.store, "abbc", Augment.none()).example(np.random.default_rng(3))
    raw = torch.from_numpy(tubes.store.crops(plain.clip)[plain.frames[0]]).permute(2, 0, 1).float() / 255
    assert torch.allclose(plain.sources[0], raw)
    batch = tubes.batch(np.random.default_rng(0), 3)
    assert batch.sources.shape == (3, 2, 3, SIZE, SIZE) and batch.yaw.shape == (3, 4)
