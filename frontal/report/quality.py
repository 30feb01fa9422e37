"""Scoring many outputs against one reference tube, with the slow face models loaded once.

A report scores dozens of outputs (every classical encode, Frontal's render, their lossy decodes)
against the same input tube. dlib's detector/descriptor and FaceMesh are deterministic per image
(FaceMesh runs in static-image mode), so `Scorer` memoises them by image content: the reference
side is computed once per clip, and repeated output frames (a frozen picture under loss) once.
The numbers are exactly those of `frontal.eval.metrics.measure`.
"""
from __future__ import annotations

import hashlib
import logging
import math
from typing import Any, Sequence

import numpy as np

from frontal.eval.metrics import ALL_METRICS, FaceIdentity, FaceMeshLandmarker, measure

log = logging.getLogger(__name__)

# Summary keys of `QualityReport.summary()` that are quality scores, and which way is better.
SCORE_KEYS: dict[str, bool] = {  # key -> higher is better
    "psnr": True,
    "ssim": True,
    "msssim": True,
    "vmaf": True,
    "nme": False,
    "identity_dist": False,
}
SCORE_LABELS: dict[str, str] = {
    "psnr": "PSNR (dB, RGB)",
    "ssim": "SSIM (luma)",
    "msssim": "MS-SSIM (luma)",
    "vmaf": "VMAF (vmaf_v0.6.1)",
    "nme": "landmark NME (FaceMesh, lower is better)",
    "identity_dist": "identity distance (dlib, lower is better)",
}


def parse_metrics(text: str) -> tuple[str, ...]:
    """`psnr,vmaf` -> ("psnr", "vmaf"); `all` -> every metric. Raises ValueError on unknown names."""
    names = ALL_METRICS if text.strip() == "all" else tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or text!r}; choose from {', '.join(ALL_METRICS)} or 'all'")
    return tuple(names)


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


class _MemoIdentity(FaceIdentity):
    """`FaceIdentity` whose detections and descriptors are memoised by image content."""

    def __init__(self) -> None:
        super().__init__()
        self._boxes: dict[bytes, Any] = {}
        self._descriptors: dict[tuple[bytes, tuple[int, int, int, int]], np.ndarray] = {}

    def detect(self, image: np.ndarray) -> Any | None:
        key = _digest(image)
        if key not in self._boxes:
            self._boxes[key] = super().detect(image)
        return self._boxes[key]

    def descriptor(self, image: np.ndarray, box: Any) -> np.ndarray:
        key = (_digest(image), (box.left(), box.top(), box.right(), box.bottom()))
        if key not in self._descriptors:
            self._descriptors[key] = super().descriptor(image, box)
        return self._descriptors[key]


class _MemoMesh(FaceMeshLandmarker):
    """`FaceMeshLandmarker` (static-image mode) memoised by image content."""

    def __init__(self) -> None:
        super().__init__(static_image_mode=True)
        self._points: dict[bytes, np.ndarray | None] = {}

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        key = _digest(image)
        if key not in self._points:
            self._points[key] = super().landmarks(image)
        return self._points[key]


class Scorer:
    """Scores outputs `[T,H,W,3]` uint8 against one reference tube. Close it (or use `with`)."""

    def __init__(self, ref: np.ndarray, fps: float) -> None:
        self.ref = ref
        self.fps = fps
        self._identity: _MemoIdentity | None = None
        self._mesh: _MemoMesh | None = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def score(self, dist: np.ndarray, metrics: Sequence[str]) -> dict[str, float | int | None]:
        """`QualityReport.summary()` of `dist` with NaN as None (JSON-ready)."""
        if "identity" in metrics and self._identity is None:
            self._identity = _MemoIdentity()
        if "nme" in metrics and self._mesh is None:
            self._mesh = _MemoMesh()
        report = measure(self.ref, dist, metrics=tuple(metrics), fps=self.fps,
                         identity_model=self._identity, landmarker=self._mesh)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in report.summary().items()}
