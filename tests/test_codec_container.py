"""Recorded files: round trip, and every kind of damage refused with CodecError."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.container import Recording, SourceView, parse, serialize
from codec.errors import CodecError
from codec.fields import FieldSet
from codec.stream import StreamEncoder
from tests.test_codec_roundtrip import make_records


def _recording() -> Recording:
    fields = FieldSet(n_sup=33)
    enc = StreamEncoder(fields, fps=15)
    packets = [enc.encode(r, timestamp_ms=66 * i).packet for i, r in enumerate(make_records(fields, 10))]
    view = SourceView(b"\x00image-bytes", "webp", 0, 3, 0.1, np.zeros((33, 2), np.float32))
    return Recording({"fields": fields.to_dict(), "fps": 15.0, "mode": "predictive"}, [view], packets)


DATA = serialize(_recording())


def test_round_trip() -> None:
    rec = parse(DATA)
    orig = _recording()
    assert rec.packets == orig.packets
    assert rec.header["frames"] == 10 and rec.header["views"] == 1
    assert rec.views[0].image_bytes == b"\x00image-bytes" and rec.views[0].frame == 3


@pytest.mark.parametrize(
    "data, message",
    [
        (DATA[:-1], "truncated|end record|CRC"),
        (DATA[:20], "truncated"),
        (b"NOTAFILE" + DATA[8:], "magic"),
        (DATA[:8] + b"\x07" + DATA[9:], "version"),
        (DATA + b"x", "trailing"),
        (b"", "magic"),
    ],
)
def test_damaged_files(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        parse(data)


def test_bit_flip_detected() -> None:
    b = bytearray(DATA)
    b[len(b) // 2] ^= 4
    with pytest.raises(CodecError):
        parse(bytes(b))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(DATA) - 1), st.integers(0, 7))
def test_fuzz_flips(pos: int, bit: int) -> None:
    b = bytearray(DATA)
    b[pos] ^= 1 << bit
    with pytest.raises(CodecError):
        parse(bytes(b))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random(data: bytes) -> None:
    try:
        parse(b"FRONTAL\x00" + data)
    except CodecError:
        pass
