"""Frame coders: one quantized driving vector <-> entropy-coded payload bytes.

Two modes, both closed-loop (every prediction uses only what the decoder has decoded, so there is no
drift) and both using only integer arithmetic to decide which probability table codes a symbol:

`paper`      The first paper's scheme (§4.3): each value is sent as its delta to the previous
             frame's decoded value (intra frames: its difference to the mean layout), coded with one
             fitted histogram per field group.

`predictive` Ours. Each value is predicted from the past and from the values already coded in the
             same frame, and coded with a table chosen by its expected scale:
             - temporal prediction  base = prev + alpha * (prev - prev2)   (alpha fitted per element)
             - field context        m_i  = sum_{j<i} C_ij r_j              (C: the fitted Gaussian
               conditional regression of residual i on the residuals coded before it; it carries the
               head's rotation/scale from the first landmarks coded to the rest)
             - adaptive scale       s_i  = mad_i * activity_i, where activity blends the group's
               recent frames (an EMA of |e|/mad) with the frame so far; s_i picks one of the fitted
               per-scale histograms.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.entropy import Decoder, Encoder, TableSet
from codec.errors import CodecError
from codec.fields import FieldSet
from codec.quant import Quantizer
from codec.tables import FieldTables, Tables

MODES = ("paper", "predictive")
_K0 = 4  # weight (in elements) of the recent-frames activity against the current frame's
_A_CAP = 16 * 256  # cap on one element's normalised activity (q8)
_ONE = 256


@dataclass
class CoderState:
    """What both ends remember between frames. Reset by every intra frame."""

    prev: NDArray[Any] | None = None
    prev2: NDArray[Any] | None = None
    activity: NDArray[Any] | None = None  # [n_groups] q8

    def copy(self) -> CoderState:
        return CoderState(
            None if self.prev is None else self.prev.copy(),
            None if self.prev2 is None else self.prev2.copy(),
            None if self.activity is None else self.activity.copy(),
        )


@dataclass
class FrameBits:
    """Information content of one frame's payload, per group (bits, before byte rounding)."""

    per_group: dict[str, float] = field(default_factory=dict)


class FrameCoder:
    """Encodes and decodes one frame's integer vector for a field set, in one mode."""

    def __init__(self, fields: FieldSet, tables: Tables, mode: str = "predictive", depths: dict[str, int] | None = None) -> None:
        """`depths`: bit depths replacing the mode's (studies only: `FieldSet.groups`)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}' (choose {', '.join(MODES)})")
        self.mode = mode
        self.fields = fields
        self.quantizer = Quantizer(fields, mode=mode, depths=depths)
        self.ft: FieldTables = tables.for_fields(fields, mode, depths)
        self.radius = tables.radius
        self.escape = 2 * tables.radius + 1
        self.group_index = self.quantizer.group_of()
        self.groups = self.quantizer.groups
        self.maxima = self.quantizer.maxima
        self.n = self.quantizer.size
        self.ladder = tables.ladder_q8
        self.buckets = TableSet(tables.bucket_freqs)
        self.paper_tables = {
            kind: [TableSet(tables.paper[g.name][kind]) for g in self.groups] for kind in ("inter", "intra")
        }
        # Per element, the group's start offset (for within-frame running context).
        self.first = np.zeros(self.n, np.int64)
        for g in self.groups:
            s = self.quantizer.slices[g.name]
            self.first[s] = s.start

    # ---- shared ---------------------------------------------------------------------------
    def _base(self, state: CoderState, intra: bool) -> NDArray[Any]:
        if intra:
            return self.ft.layout
        if state.prev is None:
            raise CodecError("inter frame without a decoded reference frame")
        if self.mode == "paper" or state.prev2 is None:
            return state.prev
        step = (self.ft.alpha_q8 * (state.prev - state.prev2) + 128) >> 8
        out: NDArray[Any] = np.clip(state.prev + step, 0, self.maxima)
        return out

    def _activity(self, state: CoderState, intra: bool) -> NDArray[Any]:
        if intra or state.activity is None:
            return np.full(len(self.groups), _ONE, np.int64)
        return state.activity

    def _advance(self, state: CoderState, q: NDArray[Any], a_norm: NDArray[Any], intra: bool) -> None:
        state.prev2 = None if intra else state.prev
        state.prev = q
        if intra or self.mode == "paper":
            state.activity = np.full(len(self.groups), _ONE, np.int64)
            return
        act = self._activity(state, intra).copy()
        for gi, g in enumerate(self.groups):
            s = self.quantizer.slices[g.name]
            mean_a = int(a_norm[s].sum()) // g.size
            act[gi] = (3 * int(act[gi]) + mean_a) // 4
        state.activity = act

    # ---- encode ---------------------------------------------------------------------------
    def analyze(self, q: NDArray[Any], state: CoderState, intra: bool) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Symbols-to-be for `q` without coding: (values [n], table rows [n, A], a_norm [n], bucket [n]).

        bucket is -1 in paper mode. Does not touch `state`.
        """
        q = np.asarray(q, np.int64)
        if q.shape != (self.n,) or np.any(q < 0) or np.any(q > self.maxima):
            raise ValueError("quantized vector has the wrong size or out-of-range values")
        base = self._base(state, intra)
        bucket = np.full(self.n, -1, np.int64)
        if self.mode == "paper":
            sym_values = q - base
            kind = "intra" if intra else "inter"
            probs = np.empty((self.n, 2 * self.radius + 2))
            for gi, g in enumerate(self.groups):
                probs[self.quantizer.slices[g.name]] = self.paper_tables[kind][gi].probs[0]
            a_norm = np.zeros(self.n, np.int64)
        else:
            params = self.ft.intra if intra else self.ft.inter
            r = q - base
            m = (params.coef_q12 @ r + 2048) >> 12
            sym_values = r - m
            a_norm = np.minimum((np.abs(sym_values) << 16) // params.mad_q8, _A_CAP)
            act = self._activity(state, intra)
            csum = np.cumsum(a_norm) - a_norm
            s_excl = csum - csum[self.first]  # sum over the group's elements coded before i
            n_excl = np.arange(self.n) - self.first
            a_i = (act[self.group_index] * _K0 + s_excl) // (_K0 + n_excl)
            scale = params.mad_q8 * a_i >> 8
            bucket = np.minimum(np.searchsorted(self.ladder, scale), len(self.ladder) - 1)
            probs = self.buckets.probs[bucket]
        return sym_values, probs, a_norm, bucket

    def encode(self, q: NDArray[Any], state: CoderState, intra: bool) -> tuple[bytes, FrameBits]:
        """Code `q` [n] int64; updates `state` as the decoder will. Returns payload and bit counts."""
        q = np.asarray(q, np.int64)
        sym_values, probs, a_norm, _ = self.analyze(q, state, intra)
        escaped = np.abs(sym_values) > self.radius
        symbols = np.where(escaped, self.escape, sym_values + self.radius)
        enc = Encoder()
        bits = FrameBits({g.name: 0.0 for g in self.groups})
        start = 0
        info = -np.log2(probs[np.arange(self.n), symbols])
        for i in np.flatnonzero(escaped):
            enc.categorical(symbols[start : i + 1], probs[start : i + 1])
            enc.uniform(int(q[i]), int(self.maxima[i]) + 1)
            info[i] += np.log2(float(self.maxima[i]) + 1)
            start = i + 1
        if start < self.n:
            enc.categorical(symbols[start:], probs[start:])
        for g in self.groups:
            bits.per_group[g.name] = float(info[self.quantizer.slices[g.name]].sum())
        payload = enc.finish(info_bits=float(info.sum()))
        self._advance(state, q, a_norm, intra)
        return payload, bits

    # ---- decode ---------------------------------------------------------------------------
    def decode(self, payload: bytes, state: CoderState, intra: bool) -> NDArray[Any]:
        """Decode one payload; updates `state`. Raises CodecError on any inconsistency."""
        base = self._base(state, intra)
        dec = Decoder(payload)
        q = np.empty(self.n, np.int64)
        R, esc = self.radius, self.escape
        if self.mode == "paper":
            kind = "intra" if intra else "inter"
            for gi, g in enumerate(self.groups):
                model = self.paper_tables[kind][gi].models[0]
                for i in range(self.quantizer.slices[g.name].start, self.quantizer.slices[g.name].stop):
                    s = dec.symbol(model)
                    q[i] = dec.uniform(int(self.maxima[i]) + 1) if s == esc else int(base[i]) + s - R
            a_norm = np.zeros(self.n, np.int64)
        else:
            params = self.ft.intra if intra else self.ft.inter
            coef, mad = params.coef_q12, params.mad_q8
            act = self._activity(state, intra)
            r = np.zeros(self.n, np.int64)
            a_norm = np.zeros(self.n, np.int64)
            models = self.buckets.models
            ladder = self.ladder.tolist()
            n_buckets = len(ladder)
            s_run, n_run, gi_prev = 0, 0, -1
            for i in range(self.n):
                gi = int(self.group_index[i])
                if gi != gi_prev:
                    s_run, n_run, gi_prev = 0, 0, gi
                m = (int(coef[i, :i] @ r[:i]) + 2048) >> 12 if i else 0
                a_i = (int(act[gi]) * _K0 + s_run) // (_K0 + n_run)
                scale = int(mad[i]) * a_i >> 8
                b = min(bisect_left(ladder, scale), n_buckets - 1)
                s = dec.symbol(models[b])
                if s == esc:
                    qi = dec.uniform(int(self.maxima[i]) + 1)
                    e = qi - int(base[i]) - m
                else:
                    e = s - R
                    qi = int(base[i]) + m + e
                r[i] = qi - int(base[i])
                q[i] = qi
                a = min((abs(e) << 16) // int(mad[i]), _A_CAP)
                a_norm[i] = a
                s_run += a
                n_run += 1
        if np.any(q < 0) or np.any(q > self.maxima):
            raise CodecError("decoded values out of range (corrupt payload or wrong reference)")
        self._advance(state, q, a_norm, intra)
        return q

