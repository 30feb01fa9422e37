"""Entropy coding: the only module that imports constriction.

A frame's symbols are coded with constriction's range coder (queue semantics, 32-bit words) and
integer frequency tables turned into `Categorical(perfect=False)` models, identical on both ends.

Termination: a range coder's stream ends in up to two words of final state, ~16 bits of padding per
packet. `Encoder.finish` serialises the words big-endian and drops trailing bytes for as long as
the stream, re-padded with 0xFF bytes, still decodes to the same symbols (checked by decoding).
`Decoder` pads with 0xFF the same way, so a packet costs about 3 bits over its information content.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import constriction
import numpy as np
from numpy.typing import NDArray

from codec.errors import CodecError

_model = constriction.stream.model
_PAD = b"\xff"


def probabilities(freqs: NDArray[Any]) -> NDArray[Any]:
    """Integer frequencies [..., A] -> float64 probabilities (exact IEEE division, same everywhere)."""
    f = np.asarray(freqs, dtype=np.int64)
    if np.any(f <= 0):
        raise CodecError("probability table has a zero or negative frequency")
    out: NDArray[Any] = f.astype(np.float64) / f.sum(axis=-1, keepdims=True).astype(np.float64)
    return out


class TableSet:
    """A stack of integer frequency tables [n, A], usable one by one or as per-symbol rows."""

    def __init__(self, freqs: NDArray[Any]) -> None:
        freqs = np.atleast_2d(np.asarray(freqs, dtype=np.int64))
        self.freqs = freqs
        self.probs = probabilities(freqs)
        self.models = [_model.Categorical(p, perfect=False) for p in self.probs]
        self.alphabet = freqs.shape[1]


_FAMILY = _model.Categorical(perfect=False)
_UNIFORM = _model.Uniform()


@dataclass
class _Segment:
    kind: str  # "cat" | "uni"
    symbols: list[NDArray[Any]] = field(default_factory=list)
    params: list[NDArray[Any]] = field(default_factory=list)  # probability rows (cat) or sizes (uni)

    def arrays(self) -> tuple[NDArray[Any], NDArray[Any]]:
        return np.concatenate(self.symbols).astype(np.int32), np.concatenate(self.params)


class Encoder:
    """Collects symbols (categorical rows or uniform values) and produces trimmed bytes."""

    def __init__(self) -> None:
        self._segments: list[_Segment] = []

    def _segment(self, kind: str) -> _Segment:
        if not self._segments or self._segments[-1].kind != kind:
            self._segments.append(_Segment(kind))
        return self._segments[-1]

    def categorical(self, symbols: NDArray[Any], probs: NDArray[Any]) -> None:
        """Symbols [n] each with its own probability row probs [n, A]."""
        symbols = np.asarray(symbols).reshape(-1)
        if len(symbols):
            seg = self._segment("cat")
            seg.symbols.append(symbols)
            seg.params.append(np.asarray(probs, np.float64).reshape(len(symbols), -1))

    def uniform(self, value: int, size: int) -> None:
        if not 0 <= value < size:
            raise ValueError(f"uniform value {value} outside [0, {size})")
        seg = self._segment("uni")
        seg.symbols.append(np.array([value]))
        seg.params.append(np.array([size], np.int32))

    def finish(self, info_bits: float | None = None) -> bytes:
        """The coded bytes, trimmed; `info_bits` (if known) is a hint where to start trimming."""
        if not self._segments:
            return b""
        segs = [(seg.kind, *seg.arrays()) for seg in self._segments]
        enc = constriction.stream.queue.RangeEncoder()
        for kind, symbols, params in segs:
            enc.encode(symbols, _FAMILY if kind == "cat" else _UNIFORM, params)
        full = enc.get_compressed().astype(">u4").tobytes()

        def decodes(n: int) -> bool:
            try:
                dec = constriction.stream.queue.RangeDecoder(_words(full[:n]))
                return all(np.array_equal(dec.decode(_FAMILY if k == "cat" else _UNIFORM, p), s) for k, s, p in segs)
            except Exception:  # noqa: BLE001 - any failure means "this trim is not valid"
                return False

        # Valid trims are monotone (a longer kept prefix padded with 0xFF stays inside the final
        # interval): find the shortest prefix that decodes, starting near the information content.
        n = len(full)
        if info_bits is not None:
            guess = min(n, max(0, int(np.ceil(info_bits / 8.0))))
            while guess < n and not decodes(guess):
                guess += 1
            n = guess
        while n > 0 and decodes(n - 1):
            n -= 1
        return bytes(full[:n])


def _words(data: bytes) -> NDArray[Any]:
    padded = data + _PAD * ((-len(data)) % 4)
    if not padded:
        padded = _PAD * 4
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


class Decoder:
    """Decodes symbols one at a time (their models may depend on what was decoded before)."""

    def __init__(self, data: bytes) -> None:
        self._dec = constriction.stream.queue.RangeDecoder(_words(data))

    def symbol(self, model: object) -> int:
        try:
            return int(self._dec.decode(model))
        except Exception as exc:  # constriction raises on exhausted or invalid data
            raise CodecError(f"entropy decoding failed: {exc}") from None

    def symbols(self, probs: NDArray[Any]) -> NDArray[Any]:
        try:
            return np.asarray(self._dec.decode(_FAMILY, np.asarray(probs, np.float64)), np.int64)
        except Exception as exc:
            raise CodecError(f"entropy decoding failed: {exc}") from None

    def uniform(self, size: int) -> int:
        return self.symbol(_model.Uniform(int(size)))

