"""The packet parser: every malformed input raises CodecError, never anything else (fuzzed)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import wire
from codec.errors import CodecError
from codec.fields import FieldSet
from codec.stream import StreamDecoder, StreamEncoder
from tests.test_codec_roundtrip import make_records

FIELDS = FieldSet(n_sup=33)


def _stream(n: int = 20) -> list[bytes]:
    enc = StreamEncoder(FIELDS, fps=15)
    return [enc.encode(r).packet for r in make_records(FIELDS, n)]


PACKETS = _stream()


def test_pack_unpack() -> None:
    p = wire.Packet(seq=65535, timestamp_ms=70000, intra=False, mode="predictive", dependency=3, payload=b"\x01\x02")
    q = wire.unpack(wire.pack(p))
    assert (q.seq, q.timestamp_ms, q.intra, q.mode, q.dependency, q.payload) == (65535, 70000 & 0xFFFF, False, "predictive", 3, b"\x01\x02")
    assert q.depends_on == 65532


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:5], "truncated"),
        (lambda b: b"\x00" + b[1:], "magic"),
        (lambda b: bytes([0xF2]) + b[1:], "version"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "CRC"),
        (lambda b: b"", "truncated"),
    ],
)
def test_bad_packets(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CodecError, match=message):
        wire.unpack(mutate(PACKETS[0]))


def _decode_all(packets: list[bytes]) -> None:
    dec = StreamDecoder(FIELDS)
    for p in packets:
        try:
            dec.decode(p)
        except CodecError:
            pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_all([PACKETS[0], data, PACKETS[1]])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(PACKETS) - 1), st.integers(0, 10_000), st.integers(0, 7))
def test_fuzz_bit_flips(index: int, pos: int, bit: int) -> None:
    pkts = list(PACKETS)
    b = bytearray(pkts[index])
    b[pos % len(b)] ^= 1 << bit
    pkts[index] = bytes(b)
    _decode_all(pkts)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(PACKETS) - 1), st.integers(0, 60))
def test_fuzz_truncations(index: int, cut: int) -> None:
    pkts = list(PACKETS)
    pkts[index] = pkts[index][: max(0, len(pkts[index]) - cut)]
    _decode_all(pkts)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(PACKETS) - 1), st.binary(min_size=0, max_size=40))
def test_fuzz_valid_crc_garbage_payload(index: int, payload: bytes) -> None:
    """Garbage that passes the CRC (as a foreign encoder could send) still only raises CodecError."""
    p = wire.unpack(PACKETS[index])
    forged = wire.pack(wire.Packet(p.seq, p.timestamp_ms, p.intra, p.mode, p.dependency, payload))
    pkts = list(PACKETS)
    pkts[index] = forged
    _decode_all(pkts)
