"""Uniform scalar quantization of driving records to integer vectors, and back.

`Quantizer.quantize` turns a `DrivingRecord` into one int64 vector laid out as
`FieldSet.groups(mode)` (the coding mode sets the bit depths); `dequantize` inverts it. Positions are coded relative to the *decoded* mean,
so the mean's own quantization error never adds to the landmarks'. A shape field set's mean is its
pose's translation (`pose[4:6]`), its `pose` group the pose's first four values.

Optional hysteresis (`hysteresis > 0.5`, in quantization steps): a value keeps its previous level
unless it moved more than `hysteresis` steps from it. It removes the one-level flicker of tracker
noise at the cost of at most `hysteresis` steps of error instead of 0.5 (like RDO quantization).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.fields import DrivingRecord, FieldSet, GroupSpec


def _q(values: NDArray[Any], g: GroupSpec) -> NDArray[Any]:
    x = (np.asarray(values, np.float64).reshape(-1) - g.lo) / g.step
    out: NDArray[Any] = np.clip(np.rint(x), 0, g.levels).astype(np.int64)
    return out


def _dq(q: NDArray[Any], g: GroupSpec) -> NDArray[Any]:
    return (g.lo + q.astype(np.float64) * g.step).astype(np.float32)


class Quantizer:
    """Record <-> integer vector for one field set."""

    def __init__(self, fields: FieldSet, hysteresis: float = 0.0, mode: str = "paper", depths: dict[str, int] | None = None) -> None:
        self.fields = fields
        self.mode = mode
        self.groups = fields.groups(mode, depths)
        self.hysteresis = float(hysteresis)
        self.slices: dict[str, slice] = {}
        start = 0
        for g in self.groups:
            self.slices[g.name] = slice(start, start + g.size)
            start += g.size
        self.size = start
        self.maxima = np.concatenate([np.full(g.size, g.levels, np.int64) for g in self.groups])

    def _mean_source(self, rec: DrivingRecord) -> NDArray[Any]:
        if self.fields.n_shape:
            assert rec.pose is not None
            translation: NDArray[Any] = np.asarray(rec.pose, np.float64)[4:6]
            return translation
        pts = rec.sup if self.fields.n_sup else rec.unsup
        assert pts is not None
        out: NDArray[Any] = np.asarray(pts, np.float64).mean(axis=0)
        return out

    def quantize(self, rec: DrivingRecord, previous: NDArray[Any] | None = None) -> NDArray[Any]:
        """Quantize `rec`; `previous` (the last decoded vector) enables hysteresis."""
        rec.check(self.fields)
        out = np.empty(self.size, np.int64)
        groups = {g.name: g for g in self.groups}
        mean_q = _q(self._mean_source(rec), groups["mean"])
        mean_q = self._hold(mean_q, rec_values=self._mean_source(rec), g=groups["mean"], previous=previous)
        out[self.slices["mean"]] = mean_q
        mean = _dq(mean_q, groups["mean"]).astype(np.float64)
        for g in self.groups[1:]:
            if g.name in ("sup", "unsup"):
                values = (np.asarray(getattr(rec, g.name), np.float64) - mean).reshape(-1)
            elif g.name == "pose":
                values = np.asarray(rec.pose, np.float64).reshape(-1)[:4]
            else:
                values = np.asarray(getattr(rec, g.name), np.float64).reshape(-1)
            q = _q(values, g)
            out[self.slices[g.name]] = self._hold(q, values, g, previous)
        return out

    def _hold(self, q: NDArray[Any], rec_values: NDArray[Any], g: GroupSpec, previous: NDArray[Any] | None) -> NDArray[Any]:
        if previous is None or self.hysteresis <= 0.5:
            return q
        prev = previous[self.slices[g.name]]
        moved = np.abs((np.asarray(rec_values, np.float64).reshape(-1) - g.lo) / g.step - prev)
        return np.where(moved <= self.hysteresis, prev, q)

    def dequantize(self, q: NDArray[Any]) -> DrivingRecord:
        groups = {g.name: g for g in self.groups}
        mean = _dq(q[self.slices["mean"]], groups["mean"])
        rec = DrivingRecord()
        for g in self.groups[1:]:
            v = _dq(q[self.slices[g.name]], g)
            if g.name in ("sup", "unsup"):
                setattr(rec, g.name, v.reshape(-1, 2) + mean)
            elif g.name == "jac":
                rec.jac = v.reshape(-1, 2, 2)
            elif g.name == "pose":
                rec.pose = np.concatenate([v, mean]).astype(np.float32)
            else:
                setattr(rec, g.name, v)
        return rec

    def group_of(self) -> NDArray[Any]:
        """Index of each vector element's group (into `self.groups`)."""
        return np.concatenate([np.full(g.size, i, np.int64) for i, g in enumerate(self.groups)])
