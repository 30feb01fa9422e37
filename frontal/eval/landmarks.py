"""Landmark NME: MediaPipe FaceMesh (legacy solution, 478 points with refine_landmarks) on the
reference and on the output, per frame.

NME = mean over the chosen landmarks of || p_out - p_ref || / inter-ocular distance, where the
inter-ocular distance is between the reference's outer eye corners (FaceMesh indices 33 and 263),
all in pixels. Frames where FaceMesh finds no face on either side are NaN, counted and left out of
the mean. `static_image_mode=True` (default) runs detection on every frame, so neither side borrows
tracking state from the previous frame.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from frontal.eval.errors import MetricUnavailableError
from frontal.eval.fidelity import check_pair

log = logging.getLogger(__name__)

N_LANDMARKS = 478
OUTER_EYE_CORNERS = (33, 263)


@dataclass(frozen=True, eq=False)
class NmeScores:
    """Per-frame NME [T] (NaN where not scored) and their summary."""

    per_frame: np.ndarray
    mean: float
    n_scored: int
    n_no_face_ref: int
    n_no_face_dist: int


class FaceMeshLandmarker:
    """MediaPipe FaceMesh returning pixel landmarks [478, 2] or None. Use as a context manager."""

    def __init__(self, static_image_mode: bool = True, min_detection_confidence: float = 0.5) -> None:
        try:
            from mediapipe.python.solutions import face_mesh  # noqa: PLC0415 (mediapipe costs ~1 s at start-up; loaded when a landmarker is made)
        except ImportError as exc:
            raise MetricUnavailableError("mediapipe is not installed: run `make setup`") from exc
        self._mesh: Any = face_mesh.FaceMesh(
            static_image_mode=static_image_mode,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
        )

    def __enter__(self) -> FaceMeshLandmarker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._mesh.close()

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """Pixel coordinates [478, 2] (x, y) of the first face in RGB image [H,W,3], or None."""
        result = self._mesh.process(np.ascontiguousarray(image))
        if not result.multi_face_landmarks:
            return None
        h, w = image.shape[:2]
        pts = result.multi_face_landmarks[0].landmark
        return np.array([(p.x * w, p.y * h) for p in pts], dtype=np.float64)


def frame_nme(ref_pts: np.ndarray, dist_pts: np.ndarray, subset: Sequence[int] | None = None) -> float:
    """NME of one frame from pixel landmarks [478, 2]; normalised by the reference's eye corners."""
    iod = float(np.linalg.norm(ref_pts[OUTER_EYE_CORNERS[0]] - ref_pts[OUTER_EYE_CORNERS[1]]))
    if iod <= 0:
        raise ValueError("reference inter-ocular distance is zero")
    idx = np.arange(len(ref_pts)) if subset is None else np.asarray(subset)
    return float(np.linalg.norm(dist_pts[idx] - ref_pts[idx], axis=1).mean() / iod)


def landmark_nme(
    ref: np.ndarray,
    dist: np.ndarray,
    subset: Sequence[int] | None = None,
    landmarker: FaceMeshLandmarker | None = None,
) -> NmeScores:
    """Per-frame landmark NME of `dist` against `ref` ([T,H,W,3] uint8)."""
    check_pair(ref, dist)
    own = landmarker is None
    mesh = landmarker or FaceMeshLandmarker()
    per_frame = np.full(len(ref), np.nan)
    missed_ref = missed_dist = 0
    try:
        for i, (r, d) in enumerate(zip(ref, dist)):
            pr, pd = mesh.landmarks(r), mesh.landmarks(d)
            missed_ref += pr is None
            missed_dist += pd is None
            if pr is not None and pd is not None:
                per_frame[i] = frame_nme(pr, pd, subset)
    finally:
        if own:
            mesh.close()
    valid = per_frame[~np.isnan(per_frame)]
    mean = float(valid.mean()) if len(valid) else float("nan")
    return NmeScores(per_frame, mean, len(valid), missed_ref, missed_dist)
