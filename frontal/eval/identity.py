"""Identity distance: dlib's 128-d face descriptor (the face_recognition ResNet), per frame.

For each frame of the reference and of the output: find the face with dlib's HOG frontal detector
(largest box); where it finds none and `fallback` is on, use a fixed box covering the crop (inputs are
face tubes, so the face fills the frame); fit the 5-point shape predictor in that box and compute the
descriptor. The per-frame score is the Euclidean distance between the two descriptors; dlib's
same-person threshold is 0.6. Missed detections are counted per side; with `fallback=False` such
frames get NaN and are left out of the mean.

The model files come from the installed `face_recognition_models` package, found by path (its
`__init__` needs pkg_resources, so it is never imported).
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frontal.eval.errors import MetricUnavailableError
from frontal.eval.fidelity import check_pair

log = logging.getLogger(__name__)

SAME_PERSON_THRESHOLD = 0.6
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
FALLBACK_MARGIN = 0.08  # fraction of the crop left out on each side of the fallback face box


def model_path(name: str) -> Path:
    """Path of a .dat file inside the installed face_recognition_models package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise MetricUnavailableError("face_recognition_models is not installed: run `make setup`")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise MetricUnavailableError(f"{name} not found in face_recognition_models ({path.parent})")
    return path


@dataclass(frozen=True, eq=False)
class IdentityScores:
    """Per-frame descriptor distances [T] (NaN where not scored) and their summary."""

    per_frame: np.ndarray
    mean: float
    frac_same: float  # fraction of scored frames with distance < threshold
    threshold: float
    n_scored: int
    n_no_face_ref: int  # frames where the detector found no face in the reference
    n_no_face_dist: int  # ... in the output


class FaceIdentity:
    """dlib detector + 5-point shape predictor + 128-d descriptor network, loaded once."""

    def __init__(self, upsample: int = 0, fallback: bool = True) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise MetricUnavailableError("dlib is not installed: run `make setup`") from exc
        self._dlib: Any = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(model_path(SHAPE_MODEL)))
        self._net = dlib.face_recognition_model_v1(str(model_path(RECOGNITION_MODEL)))
        self.upsample = upsample
        self.fallback = fallback

    def _face_box(self, image: np.ndarray) -> tuple[Any | None, bool]:
        """(box, detected): the largest detected face, else the fallback box or None."""
        boxes = self._detector(image, self.upsample)
        if len(boxes) > 0:
            return max(boxes, key=lambda r: r.area()), True
        if not self.fallback:
            return None, False
        h, w = image.shape[:2]
        mx, my = int(FALLBACK_MARGIN * w), int(FALLBACK_MARGIN * h)
        return self._dlib.rectangle(mx, my, w - 1 - mx, h - 1 - my), False

    def descriptor(self, image: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """(128-d descriptor or None, detected) for one RGB image [H,W,3] uint8."""
        image = np.ascontiguousarray(image)
        box, detected = self._face_box(image)
        if box is None:
            return None, False
        shape = self._shape(image, box)
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float64), detected


def _summary(per_frame: np.ndarray, threshold: float) -> tuple[float, float, int]:
    valid = per_frame[~np.isnan(per_frame)]
    if len(valid) == 0:
        return float("nan"), float("nan"), 0
    return float(valid.mean()), float((valid < threshold).mean()), len(valid)


def identity_distance(
    ref: np.ndarray, dist: np.ndarray, model: FaceIdentity | None = None, threshold: float = SAME_PERSON_THRESHOLD
) -> IdentityScores:
    """Per-frame identity distance between `ref` and `dist` ([T,H,W,3] uint8)."""
    check_pair(ref, dist)
    model = model or FaceIdentity()
    per_frame = np.full(len(ref), np.nan)
    missed_ref = missed_dist = 0
    for i, (r, d) in enumerate(zip(ref, dist)):
        dr, found_r = model.descriptor(r)
        dd, found_d = model.descriptor(d)
        missed_ref += not found_r
        missed_dist += not found_d
        if dr is not None and dd is not None:
            per_frame[i] = float(np.linalg.norm(dr - dd))
    mean, frac, n = _summary(per_frame, threshold)
    log.debug("identity: mean %.3f, %d/%d scored, no face ref %d dist %d", mean, n, len(ref), missed_ref, missed_dist)
    return IdentityScores(per_frame, mean, frac, threshold, n, missed_ref, missed_dist)
