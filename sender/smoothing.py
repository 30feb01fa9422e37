"""Temporal smoothing of the model-detected driving fields, before quantization.

The tracker's landmarks come out of FaceMesh's own video-mode tracking; the unsupervised keypoints
and the expression code come from the model's detector run on each crop independently, so
whatever the detector does not resolve shows up as frame-to-frame jitter. Jitter costs bits (the
codec codes it faithfully) and makes the rendered face shimmer. `DrivingSmoother` runs a One Euro
filter (Casiez, Roussel, Vogel, CHI 2012; the filter MediaPipe uses on its landmarks) on each value:
a first-order low-pass whose cut-off rises with the value's speed, so slow jitter is smoothed and
fast motion goes through with little lag.

    cutoff = min_cutoff + beta * |d/dt value|          (Hz; speeds in units per second)
    alpha  = 1 / (1 + fps / (2 * pi * cutoff))
    y_t    = y_{t-1} + alpha * (x_t - y_{t-1})

`SmoothingConfig.default()` is what the codec's tools and the call use; `docs/bitstream.md`
("Sender-side smoothing") records what it costs and saves. `reset()` restarts the filter (a new
clip, a lost face): the first frame after it goes through unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.fields import DrivingRecord

SMOOTHED_FIELDS = ("unsup", "expr")


@dataclass(frozen=True)
class OneEuroParams:
    """One Euro filter parameters: cut-offs in Hz, `beta` in Hz per (unit per second)."""

    min_cutoff: float
    beta: float
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError("One Euro filter: cut-offs must be > 0 and beta >= 0")


@dataclass(frozen=True)
class SmoothingConfig:
    """Per field: `OneEuroParams`, or None to pass the field through untouched."""

    unsup: OneEuroParams | None = None
    expr: OneEuroParams | None = None

    @classmethod
    def default(cls) -> SmoothingConfig:
        return cls(unsup=DEFAULT_UNSUP, expr=DEFAULT_EXPR)

    @classmethod
    def off(cls) -> SmoothingConfig:
        return cls()

    @property
    def enabled(self) -> bool:
        return self.unsup is not None or self.expr is not None


# Keypoints are in normalised crop coordinates (1.0 = half the crop, 128 px): at rest the cut-off is
# 1 Hz (alpha 0.30 at 15 FPS); beta = 0.5 raises it by 0.5 Hz per crop-half-width per second.
DEFAULT_UNSUP = OneEuroParams(min_cutoff=1.0, beta=0.5)
DEFAULT_EXPR = OneEuroParams(min_cutoff=1.0, beta=0.5)


def _alpha(cutoff: NDArray[Any] | float, fps: float) -> NDArray[Any] | float:
    return 1.0 / (1.0 + fps / (2.0 * math.pi * cutoff))


class OneEuroFilter:
    """The filter on one array of values (any shape), at a fixed frame rate."""

    def __init__(self, params: OneEuroParams, fps: float) -> None:
        if not fps > 0:
            raise ValueError("frame rate must be > 0")
        self.params = params
        self.fps = float(fps)
        self.reset()

    def reset(self) -> None:
        self._y: NDArray[Any] | None = None
        self._dy: NDArray[Any] | None = None

    def __call__(self, x: NDArray[Any]) -> NDArray[Any]:
        x = np.asarray(x, np.float64)
        if self._y is None or self._y.shape != x.shape:
            self._y, self._dy = x.copy(), np.zeros_like(x)
            return x.astype(np.float32)
        assert self._dy is not None
        p = self.params
        speed = (x - self._y) * self.fps
        self._dy = self._dy + _alpha(p.d_cutoff, self.fps) * (speed - self._dy)
        cutoff = p.min_cutoff + p.beta * np.abs(self._dy)
        self._y = self._y + _alpha(cutoff, self.fps) * (x - self._y)
        return self._y.astype(np.float32)


class DrivingSmoother:
    """Smooths a stream of `DrivingRecord`s field by field (`SMOOTHED_FIELDS`); others pass through."""

    def __init__(self, config: SmoothingConfig, fps: float) -> None:
        self.config = config
        self.filters = {name: OneEuroFilter(p, fps) for name in SMOOTHED_FIELDS if (p := getattr(config, name)) is not None}

    def reset(self) -> None:
        for f in self.filters.values():
            f.reset()

    def __call__(self, rec: DrivingRecord) -> DrivingRecord:
        if not self.filters:
            return rec
        out = DrivingRecord(sup=rec.sup, unsup=rec.unsup, jac=rec.jac, expr=rec.expr, extra=dict(rec.extra))
        for name, f in self.filters.items():
            value = getattr(rec, name)
            if value is not None:
                setattr(out, name, f(value))
        return out

    def run(self, records: list[DrivingRecord]) -> list[DrivingRecord]:
        """A whole clip from its first frame (resets first)."""
        self.reset()
        return [self(r) for r in records]
