"""The call's messages and the receiver's handling of bad input, without a network."""
from __future__ import annotations

import numpy as np
import pytest

from codec.fields import DrivingRecord, FieldSet
from codec.stream import StreamEncoder
from frontal.call.messages import (
    MAX_CONTROL_TEXT,
    VIEW_CHUNK_BYTES,
    FieldSpec,
    Hello,
    IntraRequest,
    ViewAssembler,
    ViewStart,
    chunk_count,
    encode_control,
    pack_driving,
    parse_control,
    unpack_driving,
    view_chunks,
)
from frontal.call.receiver_side import ReceiverSide
from frontal.call.render import LandmarkFrameRenderer
from frontal.call.sender_side import SenderConfig, SenderSide, ViewCandidate, ViewPacer
from frontal.call.stats import CallStats, SeqCounter


def test_bundles_round_trip_and_single_packets_pass_as_is() -> None:
    a, b = b"\xf1" + bytes(10), b"\xf1" + bytes(20)
    assert pack_driving([a]) == a and unpack_driving(a) == [a]
    bundle = pack_driving([a, b])
    assert len(bundle) == 2 + 2 + len(a) + len(b)
    assert unpack_driving(bundle) == [a, b]
    for bad in (b"", b"\xb1", b"\xb1\x02\x05abc", bundle + b"x", b"\xb1\x09"):
        with pytest.raises(ValueError):
            unpack_driving(bad)


def test_control_messages_are_validated() -> None:
    hello = Hello(fps=15, fields=FieldSpec.of(FieldSet(n_sup=33)), mode="predictive", epoch_ms=1.0)
    assert parse_control(encode_control(hello)) == hello
    assert isinstance(parse_control('{"type": "intra-request"}'), IntraRequest)
    for bad in ("not json", "[]", '{"type": "nope"}', '{"type": "bye", "extra": 1}',
                '{"type": "hello", "fps": 0}', " " * (MAX_CONTROL_TEXT + 1)):
        with pytest.raises(ValueError):
            parse_control(bad)


def test_views_are_chunked_and_reassembled() -> None:
    data = bytes(range(256)) * 9
    meta = ViewStart(index=1, format="webp", size=len(data), chunks=chunk_count(len(data)), yaw=0.1, pitch=0.0)
    chunks = view_chunks(1, data)
    assert len(chunks) == meta.chunks == -(-len(data) // VIEW_CHUNK_BYTES)
    asm = ViewAssembler()
    asm.start(meta)
    results = [asm.add(c) for c in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1) and results[-1] == (meta, data)
    asm.start(meta)
    with pytest.raises(ValueError):
        asm.add(chunks[1])  # out of order
    with pytest.raises(ValueError):
        asm.add(chunks[0])  # no view under way any more


def test_view_pacer_keeps_to_its_budget() -> None:
    pacer = ViewPacer(kbps=8.0, burst_bytes=2000)  # 1000 bytes/s
    pacer.push([bytes(1000)] * 6)
    assert len(pacer.take(0.0)) == 2  # the burst
    assert pacer.take(0.5) == []
    assert len(pacer.take(1.0)) == 1
    assert len(pacer.take(3.0)) == 2


def test_view_meta_carries_landmarks_compactly() -> None:
    rng = np.random.default_rng(1)
    sup = rng.uniform(-0.6, 0.6, (33, 2)).astype(np.float32)
    sender = SenderSide(SenderConfig(), CallStats())
    sender.views.sent.append((0.1, 0.0))
    sender._queue_view(ViewCandidate(np.zeros((256, 256, 3), np.uint8), sup, 0.123456789, -0.01, 0.3))
    text = sender.pacer.queue[0]
    assert isinstance(text, str) and len(text) < 800  # float32 reprs: ~1 400
    meta = parse_control(text)
    assert isinstance(meta, ViewStart) and meta.sup is not None
    assert np.abs(np.asarray(meta.sup) - sup).max() <= 0.5e-4 + 1e-7


def test_seq_counter_counts_gaps_across_the_wrap() -> None:
    c = SeqCounter()
    for s in (65533, 65534, 0, 1, 3):
        c.add(s)
    assert c.lost == 2  # 65535 and 2


def test_receiver_drops_foreign_and_malformed_packets_and_keeps_decoding() -> None:
    stats = CallStats()
    requests: list[int] = []
    rx = ReceiverSide(LandmarkFrameRenderer, stats, lambda: requests.append(1))
    fields = FieldSet(n_sup=33)
    rx.on_hello(Hello(fps=15, fields=FieldSpec.of(fields), mode="predictive", epoch_ms=0.0))
    enc = StreamEncoder(fields, fps=15)
    rng = np.random.default_rng(0)
    sup = rng.uniform(-0.4, 0.4, (33, 2)).astype(np.float32)
    good = [enc.encode(DrivingRecord(sup=sup + 0.001 * i), timestamp_ms=66 * i).packet for i in range(8)]
    rx.on_driving(good[0])
    rx.on_driving(b"\x00garbage")                          # foreign
    rx.on_driving(good[1][:-1] + bytes([good[1][-1] ^ 1]))  # CRC mismatch
    rx.on_driving(b"\xb1\x07")                              # malformed bundle
    assert stats.packets_bad == 3 and stats.packets_decoded == 1
    for p in good[3:]:                                      # good[1], good[2] lost
        rx.on_driving(p)
    assert stats.packets_unusable == 5 and stats.intra_requests_sent >= 1 and requests
    assert stats.packets_lost == 2
