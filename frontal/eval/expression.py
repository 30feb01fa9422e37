"""Expression fidelity: does the output's face move as the input's does?

Three per-frame signals from MediaPipe FaceMesh points `[478, 2+]` (pixels or any uniform scale;
FaceMesh's own numbering, refine_landmarks on):

    mouth  = |p13 - p14| / IOD                     inner lips (upper, lower centre)
    eyes   = mean over both eyes of |lid_up - lid_lo| / |corner_a - corner_b|
             (33, 133, 159, 145) and (362, 263, 386, 374): corners, upper lid, lower lid
    brows  = mean over both sides of |brow - lid_up| / IOD
             (105, 159) and (334, 386): the brow's middle (upper contour), the upper lid's middle
    IOD    = |p33 - p263|                           outer eye corners, that frame's own

Per clip, each signal of the output is compared with the input's by the Pearson correlation over
time, on the frames where FaceMesh found a face on both sides (pairs); a frame with no face on
either side is skipped. The correlation is NaN (no value) when fewer than `MIN_PAIRS` pairs are
left, or when either side's signal has zero variance over them (a frozen or black picture).
Reading it: 1 = the output's mouth/eyes/brows open and close exactly in step with the input's
(scale and offset do not matter); 0 = unrelated; a still face scores NaN, not 0.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from frontal.eval.fidelity import check_pair
from frontal.eval.landmarks import OUTER_EYE_CORNERS, FaceMeshLandmarker

MIN_PAIRS = 10
INNER_LIPS = (13, 14)
EYES = ((33, 133, 159, 145), (362, 263, 386, 374))  # corner, corner, upper lid, lower lid
BROWS = ((105, 159), (334, 386))  # (brow middle, upper lid middle) per side
_FLAT = 1e-9  # a signal whose standard deviation is at most this is constant

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ExpressionSignals:
    """Per-frame mouth, eye and brow opening `[T]`, NaN where no face was found."""

    mouth: FloatArray
    eyes: FloatArray
    brows: FloatArray

    def __len__(self) -> int:
        return len(self.mouth)


def _dist(p: FloatArray, a: int, b: int) -> float:
    return float(np.linalg.norm(p[a, :2] - p[b, :2]))


def frame_signals(points: FloatArray) -> tuple[float, float, float]:
    """(mouth, eyes, brows) of one face's FaceMesh points `[478, 2+]` (see the module docstring)."""
    p = np.asarray(points, dtype=np.float64)
    iod = _dist(p, *OUTER_EYE_CORNERS)
    if iod <= 0:
        return (np.nan, np.nan, np.nan)
    mouth = _dist(p, *INNER_LIPS) / iod
    eyes = float(np.mean([_dist(p, up, lo) / max(_dist(p, a, b), 1e-9) for a, b, up, lo in EYES]))
    brows = float(np.mean([_dist(p, brow, lid) for brow, lid in BROWS])) / iod
    return (mouth, eyes, brows)


def expression_signals(points: Sequence[FloatArray | None]) -> ExpressionSignals:
    """The signals of a sequence of FaceMesh results (None: no face in that frame)."""
    rows = np.array([frame_signals(p) if p is not None else (np.nan,) * 3 for p in points],
                    dtype=np.float64).reshape(-1, 3)
    return ExpressionSignals(rows[:, 0], rows[:, 1], rows[:, 2])


def pearson(a: FloatArray, b: FloatArray, min_pairs: int = MIN_PAIRS) -> tuple[float, int]:
    """(Pearson r over the frames where both are finite, number of such pairs); r is NaN with
    fewer than `min_pairs` pairs or a constant side."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"signals must be the same 1-D shape, got {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    x, y = a[ok], b[ok]
    if n < min_pairs or x.std() <= _FLAT or y.std() <= _FLAT:
        return float("nan"), n
    r = float(np.mean((x - x.mean()) * (y - y.mean())) / (x.std() * y.std()))
    return float(np.clip(r, -1.0, 1.0)), n


@dataclass(frozen=True)
class ExpressionScores:
    """Pearson r of the output's signals against the input's over one clip (NaN: no value)."""

    mouth: float
    eyes: float
    brows: float
    n_pairs: int  # frames with a face on both sides
    n_frames: int

    def summary(self) -> dict[str, float | int]:
        """The keys a report's `quality` object carries (NaN stays NaN here)."""
        return {"expr_mouth": self.mouth, "expr_eyes": self.eyes, "expr_brows": self.brows,
                "expr_pairs": self.n_pairs}


def expression_fidelity(ref: ExpressionSignals, dist: ExpressionSignals, min_pairs: int = MIN_PAIRS) -> ExpressionScores:
    """Correlate each signal of `dist` with `ref` (same length) over the frames both have a face."""
    if len(ref) != len(dist):
        raise ValueError(f"signals of {len(ref)} and {len(dist)} frames")
    mouth, n = pearson(ref.mouth, dist.mouth, min_pairs)
    eyes, _ = pearson(ref.eyes, dist.eyes, min_pairs)
    brows, _ = pearson(ref.brows, dist.brows, min_pairs)
    return ExpressionScores(mouth, eyes, brows, n, len(ref))


def expression_fidelity_images(ref: NDArray[np.uint8], dist: NDArray[np.uint8],
                               landmarker: FaceMeshLandmarker | None = None,
                               min_pairs: int = MIN_PAIRS) -> ExpressionScores:
    """FaceMesh on every frame of `ref` and `dist` ([T,H,W,3] uint8), then `expression_fidelity`."""
    check_pair(ref, dist)
    own = landmarker is None
    mesh = landmarker or FaceMeshLandmarker()
    try:
        a = expression_signals([mesh.landmarks(f) for f in ref])
        b = expression_signals([mesh.landmarks(f) for f in dist])
    finally:
        if own:
            mesh.close()
    return expression_fidelity(a, b, min_pairs)
