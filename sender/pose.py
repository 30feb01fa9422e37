"""Head pose from 3-D FaceMesh landmarks: a similarity (Umeyama/Kabsch) fit to a frontal template.

Frames: the camera frame of FaceMesh in pixels, x to the image right, y DOWN, z away from the
camera (right-handed). Landmarks are fitted as `observed ≈ scale · R · template + t`
(weak perspective, which is what FaceMesh's z is); R gives the angles, in radians:

- yaw   > 0: the head turns to the subject's LEFT   (the nose moves to the image's right),
- pitch > 0: the head tilts UP                      (the nose moves up in the image),
- roll  > 0: the head tilts toward the subject's LEFT shoulder (the face turns clockwise on screen).

with `R = Rz(roll) · Ry(-yaw) · Rx(-pitch)` (axes of the camera frame above). The zero pose is the
template's: symmetric about x = 0 (so yaw and roll are zero for a face seen straight on) and with
pitch zero at the average pose of talking heads looking into the camera (see `sender.template`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from sender.face_template import TEMPLATE
from sender.landmarks import RIGID_INDICES


class Pose(NamedTuple):
    """Head angles in radians (signs in the module docstring)."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Similarity:
    """`points ≈ scale · rotation @ template + translation`; rotation `[3, 3]`, translation `[3]`."""

    scale: float
    rotation: NDArray[Any]
    translation: NDArray[Any]

    def apply(self, points: NDArray[Any]) -> NDArray[Any]:
        """Maps template-frame points `[N, 3]` into the observed frame."""
        out: NDArray[Any] = self.scale * points @ self.rotation.T + self.translation
        return out


def template_points() -> NDArray[Any]:
    """The frontal template `[468, 3]` float64 (face height, landmark 10 to 152, is 1)."""

    return np.asarray(TEMPLATE, dtype=np.float64)


def fit_similarity(source: NDArray[Any], target: NDArray[Any]) -> Similarity:
    """Least-squares similarity taking `source [N, 3]` onto `target [N, 3]` (Umeyama 1991)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    src, tgt = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(tgt.T @ src / len(source))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = (u * d) @ vt
    variance = float((src**2).sum() / len(source))
    scale = float((sigma * d).sum() / variance) if variance > 0 else 1.0
    return Similarity(scale, rotation, mu_t - scale * rotation @ mu_s)


def rotation_matrix(pose: Pose) -> NDArray[Any]:
    """`[3, 3]` rotation of a head with this pose (template frame -> camera frame)."""
    out: NDArray[Any] = _rz(pose.roll) @ _ry(-pose.yaw) @ _rx(-pose.pitch)
    return out


def pose_from_rotation(rotation: NDArray[Any]) -> Pose:
    """Inverse of `rotation_matrix` (for |yaw| < 90°)."""
    r = rotation
    theta = -float(np.arcsin(np.clip(r[2, 0], -1.0, 1.0)))
    phi = float(np.arctan2(r[2, 1], r[2, 2]))
    psi = float(np.arctan2(r[1, 0], r[0, 0]))
    return Pose(yaw=-theta, pitch=-phi, roll=psi)


class PoseFitter:
    """Fits the template's rigid landmarks to observed ones; holds the template, built once."""

    def __init__(self, indices: tuple[int, ...] = RIGID_INDICES) -> None:
        self.indices = np.asarray(indices, dtype=np.intp)
        self.template = template_points()
        self._rigid = self.template[self.indices]

    def fit(self, points: NDArray[Any]) -> Similarity:
        """`points [>=468, 3]` FaceMesh landmarks in the pixel camera frame."""
        return fit_similarity(self._rigid, np.asarray(points, dtype=np.float64)[self.indices])

    def pose(self, points: NDArray[Any]) -> Pose:
        return pose_from_rotation(self.fit(points).rotation)


def _rx(a: float) -> NDArray[Any]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> NDArray[Any]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> NDArray[Any]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
