"""Scoring many outputs against one reference tube, with the slow face models loaded once.

A report scores dozens of outputs (every classical encode, Frontal's render, their lossy decodes)
against the same input tube. dlib's detector/descriptor and FaceMesh are deterministic per image
(FaceMesh runs in static-image mode), so `Scorer` memoises them by image content: the reference
side is computed once per clip, and repeated output frames (a frozen picture under loss) once.
The numbers are exactly those of `frontal.eval.metrics.measure`, plus expression fidelity
(`expr`: `frontal.eval.expression`, from the same memoised FaceMesh points).
"""
from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from frontal.eval.expression import ExpressionScores, ExpressionSignals, expression_fidelity, expression_signals
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
    "expr_mouth": True,
    "expr_eyes": True,
    "expr_brows": True,
}
SCORE_LABELS: dict[str, str] = {
    "psnr": "PSNR (dB, RGB)",
    "ssim": "SSIM (luma)",
    "msssim": "MS-SSIM (luma)",
    "vmaf": "VMAF (vmaf_v0.6.1)",
    "nme": "landmark NME (FaceMesh, lower is better)",
    "identity_dist": "identity distance (dlib, lower is better)",
    "expr_mouth": "mouth opening, Pearson r with the input (FaceMesh)",
    "expr_eyes": "eye opening, Pearson r with the input (FaceMesh)",
    "expr_brows": "brow raise, Pearson r with the input (FaceMesh)",
}
REPORT_METRICS = (*ALL_METRICS, "expr")  # `expr`: expr_mouth, expr_eyes, expr_brows (docs/metrics.md)


def parse_metrics(text: str) -> tuple[str, ...]:
    """`psnr,vmaf` -> ("psnr", "vmaf"); `all` -> every metric. Raises ValueError on unknown names."""
    names = REPORT_METRICS if text.strip() == "all" else tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in REPORT_METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown or text!r}; choose from {', '.join(REPORT_METRICS)} or 'all'")
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


class _FaceModels:
    """The memoised face models, made when a metric first needs them; shared by a `Scorer` and
    its `tail`s, closed by the scorer that made them."""

    def __init__(self) -> None:
        self.identity: _MemoIdentity | None = None
        self.mesh: _MemoMesh | None = None

    def need(self, metrics: Sequence[str]) -> None:
        if "identity" in metrics and self.identity is None:
            self.identity = _MemoIdentity()
        if ("nme" in metrics or "expr" in metrics) and self.mesh is None:
            self.mesh = _MemoMesh()

    def close(self) -> None:
        if self.mesh is not None:
            self.mesh.close()
            self.mesh = None


class Scorer:
    """Scores outputs `[T,H,W,3]` uint8 against one reference tube. Close it (or use `with`)."""

    def __init__(self, ref: np.ndarray, fps: float, models: _FaceModels | None = None) -> None:
        self.ref = ref
        self.fps = fps
        self._owner = models is None
        self._models = models if models is not None else _FaceModels()
        self._ref_signals: ExpressionSignals | None = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owner:
            self._models.close()

    def tail(self, start: int) -> Scorer:
        """A scorer of the reference's frames `start:` sharing this one's face models (and their
        memory), for a figure over part of a clip; score it with the output's frames `start:`."""
        if not 0 <= start < len(self.ref):
            raise ValueError(f"start {start} is outside the {len(self.ref)} frames")
        return Scorer(self.ref[start:], self.fps, self._models)

    def score(self, dist: np.ndarray, metrics: Sequence[str]) -> dict[str, float | int | None]:
        """`QualityReport.summary()` of `dist` (and `ExpressionScores.summary()` with `expr`),
        NaN as None (JSON-ready)."""
        self._models.need(metrics)
        report = measure(self.ref, dist, metrics=tuple(m for m in metrics if m != "expr"), fps=self.fps,
                         identity_model=self._models.identity, landmarker=self._models.mesh)
        out: dict[str, float | int] = dict(report.summary())
        if "expr" in metrics:
            out.update(self.expression(dist).summary())
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}

    def expression(self, dist: np.ndarray) -> ExpressionScores:
        """Expression fidelity of `dist` against the reference."""
        self._models.need(("expr",))
        mesh = self._models.mesh
        if mesh is None:  # made by need()
            raise RuntimeError("FaceMesh was not made")
        if self._ref_signals is None:
            self._ref_signals = expression_signals([mesh.landmarks(f) for f in self.ref])
        if len(dist) != len(self.ref):
            raise ValueError(f"output has {len(dist)} frames, the reference {len(self.ref)}")
        return expression_fidelity(self._ref_signals, expression_signals([mesh.landmarks(f) for f in dist]))
