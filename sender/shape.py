"""The sender's side of the dense shape: a tracked mesh -> head pose + shape coefficients.

    fitter = ShapeFitter()                              # the shipped model (`codec.shape`)
    params = fitter.fit(tracked_frame.landmarks)        # ShapeParams(pose [6], coeffs [K])
    record = fitter.record(tracked_frame.landmarks)     # DrivingRecord(pose=..., shape=...)

The pose is the least-squares similarity (Umeyama) from the model's mean shape to the mesh on the
model's rigid points; the coefficients are the projection of the pose-free mesh onto the model's
basis (`codec.shape` for the model and its conventions).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.fields import DrivingRecord
from codec.shape import NUM_POINTS, ShapeModel, ShapeParams, angles_from_rotation, load_shape_model
from sender.pose import Similarity, fit_similarity


class ShapeFitter:
    """Fits one mesh at a time to a shape model (`k` coefficients: the model's first k; all by default)."""

    def __init__(self, model: ShapeModel | None = None, k: int | None = None) -> None:
        base = model if model is not None else load_shape_model()
        self.model = base if k is None else base.truncated(k)
        self._rigid_mean = self.model.mean[self.model.rigid].astype(np.float64)

    def align(self, landmarks: NDArray[Any]) -> Similarity:
        """The similarity taking the mean shape's rigid points onto `landmarks [478, 3]`'s."""
        points = _check(landmarks)
        return fit_similarity(self._rigid_mean, points[self.model.rigid])

    def normalise(self, landmarks: NDArray[Any], similarity: Similarity) -> NDArray[np.float64]:
        """`landmarks [478, 3]` taken back to the model frame by the inverse of `similarity`: `[478, 3]`."""
        points = _check(landmarks)
        out: NDArray[np.float64] = (points - similarity.translation) @ similarity.rotation / similarity.scale
        return out

    def fit(self, landmarks: NDArray[Any]) -> ShapeParams:
        """`landmarks [478, 3]` (normalised crop coordinates) -> pose `[6]` and coefficients `[K]`."""
        sim = self.align(landmarks)
        yaw, pitch, roll = angles_from_rotation(sim.rotation)
        pose = np.array([yaw, pitch, roll, np.log(sim.scale), sim.translation[0], sim.translation[1]])
        return ShapeParams(pose, self.model.project(self.normalise(landmarks, sim)))

    def record(self, landmarks: NDArray[Any]) -> DrivingRecord:
        """The driving record of a shape field set (`pose [6]`, `shape [K]`, float32)."""
        params = self.fit(landmarks)
        return DrivingRecord(pose=params.pose.astype(np.float32), shape=params.coeffs.astype(np.float32))


def _check(landmarks: NDArray[Any]) -> NDArray[np.float64]:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_POINTS, 3):
        raise ValueError(f"expected a mesh [{NUM_POINTS}, 3], got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("mesh points must be finite")
    return points
