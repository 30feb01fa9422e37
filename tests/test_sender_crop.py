"""The stable crop box and the crop resampling (synthetic, no FaceMesh)."""
from __future__ import annotations

import numpy as np
import pytest

from sender.tracker import Box, StableBox, TrackerConfig, crop_square, to_crop_coords


def test_same_target_gives_an_identical_box() -> None:
    stable = StableBox(TrackerConfig())
    target = Box(100.3, 50.7, 200.0)
    boxes = [stable.update(target) for _ in range(20)]
    assert all(b == target for b in boxes)


def test_small_jitter_does_not_move_the_box() -> None:
    stable = StableBox(TrackerConfig())
    first = stable.update(Box(100.0, 50.0, 200.0))
    rng = np.random.default_rng(0)
    for _ in range(200):  # +-3 % of the side and +-4 % of the size: inside the dead zone
        dx, dy = rng.uniform(-6, 6, 2)
        size = 200.0 * rng.uniform(0.96, 1.04)
        assert stable.update(Box.around(200.0 + dx, 150.0 + dy, size)) == first


def test_big_move_is_followed_smoothly_then_the_box_stops() -> None:
    config = TrackerConfig()
    stable = StableBox(config)
    stable.update(Box(100.0, 50.0, 200.0))
    target = Box(180.0, 50.0, 240.0)  # 40 % of the side to the right, 20 % bigger
    boxes = [stable.update(target) for _ in range(40)]
    xs = np.array([b.centre[0] for b in boxes])
    steps = np.diff(np.concatenate([[200.0], xs]))
    assert (steps >= 0).all() and steps.max() <= config.ease * 100.0 + 1e-9  # eased, never jumps
    assert abs(xs[-1] - target.centre[0]) <= config.settle * 240.0
    assert abs(boxes[-1].size / 240.0 - 1.0) <= config.settle
    assert boxes[-1] == boxes[-2] == stable.update(target)  # settled: still again
    assert not stable.moving


def dot_image(x: float, y: float, height: int = 480, width: int = 640) -> np.ndarray:
    """A blurred bright dot centred on continuous pixel coordinate (x, y)."""
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 6.0**2))
    return np.repeat((blob * 255).astype(np.uint8)[..., None], 3, axis=2)


def centroid(image: np.ndarray) -> tuple[float, float]:
    w = image[..., 0].astype(np.float64)
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] + 0.5
    return float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())


@pytest.mark.parametrize("side", [128.0, 300.5, 700.0])  # upscaled, shrunk, shrunk after halving
def test_crop_maps_continuous_coordinates_exactly(side: float) -> None:
    x, y = 331.3, 222.8
    box = Box(x - 0.37 * side, y - 0.61 * side, side)
    crop = crop_square(dot_image(x, y, 900, 1000), box, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
    expected = to_crop_coords(np.array([[x, y, 0.0]]), box)[0, :2]
    got = np.array(centroid(crop)) / 256 * 2 - 1
    np.testing.assert_allclose(got, expected, atol=0.01)
    np.testing.assert_allclose(expected, [2 * 0.37 - 1, 2 * 0.61 - 1], atol=1e-6)


def test_crop_outside_the_frame_is_padded() -> None:
    frame = np.full((100, 100, 3), 200, np.uint8)
    box = Box(50.0, 50.0, 100.0)  # three quarters outside
    assert (crop_square(frame, box, 64, "replicate") == 200).all()
    black = crop_square(frame, box, 64, "black")
    assert (black[:28, :28] == 200).all() and (black[36:, 36:] == 0).all()
    assert crop_square(frame, Box(5000.0, 5000.0, 10.0), 32).shape == (32, 32, 3)
