"""Streams of driving records: the sender's `StreamEncoder` and the receiver's `StreamDecoder`.

The encoder decides intra frames (the first, one per `intra_period_s`, and on request), quantizes,
codes and packs each record. The decoder parses, checks the chain of references, decodes and
dequantizes. A packet it cannot use raises `CodecError` (or its subclass `MissingReference` when a
frame it depends on was lost): a live receiver counts it, holds the last pose and waits for the
next intra frame (or asks for one).

A stream's default tables follow its field set (`codec.tables.tables_path_for`): a shape stream is
coded with `codec/tables/shape.json` without naming it. `encode_intra_record` / `decode_intra_record`
code one record on its own, as the intra payload of a fresh stream (a source view's shape record:
docs/bitstream.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from codec import wire
from codec.errors import CodecError
from codec.fields import DrivingRecord, FieldSet
from codec.frame_coder import CoderState, FrameCoder
from codec.quant import Quantizer
from codec.tables import Tables, load_tables, tables_path_for


class MissingReference(CodecError):
    """An inter packet whose reference chain back to its intra frame is incomplete (a loss)."""


def default_tables(fields: FieldSet) -> Tables:
    """The shipped tables that code `fields` (`tables_path_for`)."""
    return load_tables(tables_path_for(fields))


def encode_intra_record(fields: FieldSet, record: DrivingRecord, mode: str = "predictive",
                        tables: Tables | None = None) -> bytes:
    """`record` coded alone: the range-coded intra payload a fresh stream of `fields` and `mode`
    would send for it (no packet header). `ValueError` if the record does not fit `fields`."""
    coder = FrameCoder(fields, tables or default_tables(fields), mode)
    q = coder.quantizer.quantize(record)
    payload, _ = coder.encode(q, CoderState(), intra=True)
    return payload


def decode_intra_record(fields: FieldSet, payload: bytes, mode: str = "predictive",
                        tables: Tables | None = None) -> DrivingRecord:
    """The record of an `encode_intra_record` payload, decoded with a fresh coder state (`CodecError`
    if it does not decode)."""
    coder = FrameCoder(fields, tables or default_tables(fields), mode)
    q = coder.decode(payload, CoderState(), intra=True)
    return coder.quantizer.dequantize(q)


@dataclass
class EncodedFrame:
    packet: bytes
    seq: int
    intra: bool
    payload_bits: int
    header_bits: int
    group_bits: dict[str, float] = field(default_factory=dict)
    q: NDArray[Any] | None = None

    @property
    def bits(self) -> int:
        return 8 * len(self.packet)


@dataclass
class DecodedFrame:
    record: DrivingRecord
    seq: int
    timestamp_ms: int
    intra: bool
    q: NDArray[Any]


class StreamEncoder:
    def __init__(
        self,
        fields: FieldSet,
        tables: Tables | None = None,
        mode: str = "predictive",
        fps: float = 15.0,
        intra_period_s: float = 1.0,
        hysteresis: float = 0.0,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fields = fields
        self.tables = tables or default_tables(fields)
        self.coder = FrameCoder(fields, self.tables, mode)
        self.quantizer = Quantizer(fields, hysteresis=hysteresis, mode=mode)
        self.mode = mode
        self.fps = fps
        self.intra_period = max(1, min(wire.MAX_DEPENDENCY, int(round(fps * intra_period_s))))
        self.state = CoderState()
        self.seq = 0
        self.last_intra_seq: int | None = None
        self._intra_requested = True
        self._t0: float | None = None

    def request_intra(self) -> None:
        """The next frame will be an intra frame (e.g. the receiver asked for one)."""
        self._intra_requested = True

    def encode(self, record: DrivingRecord, timestamp_ms: int | None = None) -> EncodedFrame:
        if timestamp_ms is None:
            now = time.monotonic()
            self._t0 = now if self._t0 is None else self._t0
            timestamp_ms = int((now - self._t0) * 1000)
        since = None if self.last_intra_seq is None else (self.seq - self.last_intra_seq) & 0xFFFF
        intra = self._intra_requested or since is None or since >= self.intra_period
        q = self.quantizer.quantize(record, previous=None if intra else self.state.prev)
        payload, bits = self.coder.encode(q, self.state, intra)
        if intra:
            self.last_intra_seq = self.seq
            self._intra_requested = False
            dep = 0
        else:
            dep = (self.seq - self.last_intra_seq) & 0xFFFF  # type: ignore[operator]
        pkt = wire.pack(wire.Packet(self.seq, timestamp_ms, intra, self.mode, dep, payload))
        out = EncodedFrame(pkt, self.seq, intra, 8 * len(payload), wire.OVERHEAD_BITS, bits.per_group, q)
        self.seq = (self.seq + 1) & 0xFFFF
        return out


class StreamDecoder:
    """Decodes packets of either mode for one field set."""

    def __init__(self, fields: FieldSet, tables: Tables | None = None) -> None:
        self.fields = fields
        self.tables = tables or default_tables(fields)
        self.coders = {m: FrameCoder(fields, self.tables, m) for m in wire.MODE_IDS}
        self.state = CoderState()
        self.last_seq: int | None = None
        self.intra_seq: int | None = None
        self.mode: str | None = None

    @property
    def synced(self) -> bool:
        return self.last_seq is not None

    def decode(self, data: bytes) -> DecodedFrame:
        pkt = wire.unpack(data)
        if not pkt.intra:
            if self.last_seq is None or self.intra_seq is None:
                raise MissingReference(f"packet {pkt.seq}: no intra frame decoded yet")
            if pkt.seq != (self.last_seq + 1) & 0xFFFF or pkt.depends_on != self.intra_seq or pkt.mode != self.mode:
                self.last_seq = None  # the chain is broken until the next intra frame
                raise MissingReference(f"packet {pkt.seq}: reference frames missing (needs intra {pkt.depends_on})")
        trial = self.state.copy()
        try:
            q = self.coders[pkt.mode].decode(pkt.payload, trial, pkt.intra)
        except CodecError:
            if not pkt.intra:
                self.last_seq = None
            raise
        self.state = trial
        self.last_seq = pkt.seq
        self.mode = pkt.mode
        if pkt.intra:
            self.intra_seq = pkt.seq
        return DecodedFrame(self.coders[pkt.mode].quantizer.dequantize(q), pkt.seq, pkt.timestamp_ms, pkt.intra, q)
