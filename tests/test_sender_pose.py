"""Head pose: zero for the template, signs as documented, angles recovered from synthetic rotations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sender.face_template import MIRROR
from sender.pose import (
    Pose,
    PoseFitter,
    fit_similarity,
    pose_from_rotation,
    rotation_matrix,
    template_points,
)

NOSE_TIP, EYE_L_OUTER, EYE_R_OUTER = 1, 263, 33


def observe(pose: Pose, scale: float = 300.0, shift: tuple[float, float, float] = (320.0, 240.0, 5.0)) -> np.ndarray:
    """The template seen with this pose, in pixels."""
    return scale * template_points() @ rotation_matrix(pose).T + np.asarray(shift)


def test_template_is_symmetric_and_normalised() -> None:
    t = template_points()
    mirror = np.asarray(MIRROR)
    assert t.shape == (468, 3)
    assert np.array_equal(mirror[mirror], np.arange(468))
    np.testing.assert_allclose(t * [-1, 1, 1], t[mirror], atol=2e-5)
    assert np.linalg.norm(t[10] - t[152]) == pytest.approx(1.0, abs=1e-4)
    assert t[NOSE_TIP, 2] < t[EYE_R_OUTER, 2]  # the nose is nearer the camera than the eyes


def test_frontal_template_has_zero_pose() -> None:
    pose = PoseFitter().pose(observe(Pose(0.0, 0.0, 0.0)))
    np.testing.assert_allclose(pose, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    "pose",
    [Pose(0.3, 0.0, 0.0), Pose(-0.5, 0.0, 0.0), Pose(0.0, 0.25, 0.0), Pose(0.0, -0.3, 0.0),
     Pose(0.0, 0.0, 0.2), Pose(0.4, -0.2, 0.15), Pose(-0.6, 0.3, -0.25)],
)
def test_recovers_synthetic_rotations(pose: Pose) -> None:
    rng = np.random.default_rng(0)
    points = observe(pose) + rng.normal(0.0, 0.3, (468, 3))  # ~0.3 px landmark noise
    got = PoseFitter().pose(points)
    np.testing.assert_allclose(got, pose, atol=math.radians(1.0))


def test_signs_follow_the_documented_convention() -> None:
    frontal = observe(Pose(0.0, 0.0, 0.0))
    yawed = observe(Pose(0.3, 0.0, 0.0))
    pitched = observe(Pose(0.0, 0.3, 0.0))
    rolled = observe(Pose(0.0, 0.0, 0.3))
    assert yawed[NOSE_TIP, 0] > frontal[NOSE_TIP, 0]  # yaw > 0: nose to the image's right
    assert pitched[NOSE_TIP, 1] < frontal[NOSE_TIP, 1]  # pitch > 0: nose up
    # roll > 0: clockwise on screen, the subject's left eye (image right) goes down
    assert rolled[EYE_L_OUTER, 1] > frontal[EYE_L_OUTER, 1]
    assert rolled[EYE_R_OUTER, 1] < frontal[EYE_R_OUTER, 1]


def test_rotation_round_trip_and_similarity_fit() -> None:
    pose = Pose(0.2, -0.1, 0.3)
    assert pose_from_rotation(rotation_matrix(pose)) == pytest.approx(pose)
    t = template_points()
    fit = fit_similarity(t, observe(pose, scale=123.0))
    assert fit.scale == pytest.approx(123.0)
    np.testing.assert_allclose(fit.rotation, rotation_matrix(pose), atol=1e-9)
    np.testing.assert_allclose(fit.apply(t), observe(pose, scale=123.0), atol=1e-6)
