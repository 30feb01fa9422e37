"""Identity distance: dlib's 128-d face descriptor (the face_recognition ResNet), per frame.

For each frame of the reference and of the output: find the face with dlib's HOG frontal detector
(largest box); where it finds none and `fallback` is on, borrow the other side's box (reference and
output share the crop geometry), or a fixed box covering the crop when neither side has one (inputs
are face tubes, so the face fills the frame); fit the 5-point shape predictor in that box and
compute the descriptor. The per-frame score is the Euclidean distance between the two descriptors; dlib's
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

import dlib
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
        self._dlib: Any = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(model_path(SHAPE_MODEL)))
        self._net = dlib.face_recognition_model_v1(str(model_path(RECOGNITION_MODEL)))
        self.upsample = upsample
        self.fallback = fallback

    def detect(self, image: np.ndarray) -> Any | None:
        """The largest face box dlib's detector finds in RGB image [H,W,3] uint8, or None."""
        boxes = self._detector(np.ascontiguousarray(image), self.upsample)
        return max(boxes, key=lambda r: r.area()) if len(boxes) > 0 else None

    def crop_box(self, height: int, width: int) -> Any:
        """The fixed fallback box: the crop minus FALLBACK_MARGIN on each side."""
        mx, my = int(FALLBACK_MARGIN * width), int(FALLBACK_MARGIN * height)
        return self._dlib.rectangle(mx, my, width - 1 - mx, height - 1 - my)

    def descriptor(self, image: np.ndarray, box: Any) -> np.ndarray:
        """128-d descriptor [128] of the face in `box` of RGB image [H,W,3] uint8."""
        image = np.ascontiguousarray(image)
        shape = self._shape(image, box)
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float64)

    def boxes(self, ref: np.ndarray, dist: np.ndarray) -> tuple[Any | None, Any | None, bool, bool]:
        """(ref box, dist box, found in ref, found in dist). With `fallback`, a side where the
        detector misses borrows the other side's box (the two are the same crop geometry), or the
        fixed crop box if both miss; without it, both boxes are None unless both were found."""
        br, bd = self.detect(ref), self.detect(dist)
        found = (br is not None, bd is not None)
        if not self.fallback:
            return (br, bd, *found) if all(found) else (None, None, *found)
        fixed = self.crop_box(*ref.shape[:2]) if not any(found) else None
        return _first(br, bd, fixed), _first(bd, br, fixed), *found


def _first(*boxes: Any | None) -> Any | None:
    return next((b for b in boxes if b is not None), None)


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
        box_r, box_d, found_r, found_d = model.boxes(r, d)
        missed_ref += not found_r
        missed_dist += not found_d
        if box_r is not None and box_d is not None:
            per_frame[i] = float(np.linalg.norm(model.descriptor(r, box_r) - model.descriptor(d, box_d)))
    mean, frac, n = _summary(per_frame, threshold)
    log.debug("identity: mean %.3f, %d/%d scored, no face ref %d dist %d", mean, n, len(ref), missed_ref, missed_dist)
    return IdentityScores(per_frame, mean, frac, threshold, n, missed_ref, missed_dist)
