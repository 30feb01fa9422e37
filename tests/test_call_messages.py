"""The call's messages and the receiver's handling of bad input, without a network."""
from __future__ import annotations

import json

import numpy as np
import pytest

from codec import wire
from codec.callstats import CallStats, SeqCounter
from codec.fields import DrivingRecord, FieldSet
from codec.messages import (
    COMPACT_TYPE,
    MAX_CONTROL_TEXT,
    MAX_VIEW_LANDMARKS,
    VIEW_MESSAGE_BYTES,
    CompactContext,
    FieldSpec,
    Hello,
    IntraRequest,
    ViewAssembler,
    encode_control,
    pack_driving,
    parse_control,
    parse_driving,
    view_messages,
)
from codec.stream import MissingReference, StreamDecoder, StreamEncoder
from frontal.call.peer import CallPeer, PeerConfig
from receiver.live import ReceiverSide
from receiver.render import LandmarkFrameRenderer
from sender.live import Outgoing, SenderConfig, SenderSide, ViewPacer
from sender.views import ViewCandidate


def _stream(n: int, seed: int = 0, mode: str = "predictive", fps: float = 15, seq0: int = 0,
            ts0: int = 0, gaps: dict[int, int] | None = None) -> list[bytes]:
    """n consecutive codec packets (an intra frame every second at `fps`)."""
    enc = StreamEncoder(FieldSet(n_sup=33), mode=mode, fps=fps)
    enc.seq = seq0
    rng = np.random.default_rng(seed)
    sup = rng.uniform(-0.4, 0.4, (33, 2)).astype(np.float32)
    out, ts = [], ts0
    for i in range(n):
        ts += (gaps or {}).get(i, 67)
        out.append(enc.encode(DrivingRecord(sup=sup + rng.normal(0, 0.01, sup.shape).astype(np.float32)),
                              timestamp_ms=ts & 0xFFFF).packet)
    return out


class _Receiver:
    """Follows a stream as ReceiverSide does: the compact context from what it has rebuilt."""

    def __init__(self, mode: str = "predictive") -> None:
        self.context = CompactContext(mode)

    def receive(self, message: bytes) -> list[bytes]:
        packets = [wire.pack(p) for p in parse_driving(message, self.context)]
        for p in map(wire.unpack, packets):
            self.context.newest_seq = p.seq
            if p.intra:
                self.context.intra_seq = p.seq
        return packets


@pytest.mark.parametrize("mode", ["predictive", "paper"])
def test_compact_bundles_round_trip_exactly(mode: str) -> None:
    # across the seq and timestamp wraps, intra frames anywhere in a message, a long gap in time
    packets = _stream(150, mode=mode, fps=15, seq0=65400, ts0=65400, gaps={5: 300, 6: 40000})
    assert any(wire.unpack(p).intra for p in packets[1:])
    for n in (1, 2, 3, 4):
        rx = _Receiver(mode)
        rx.context.newest_seq = 65399
        for i in range(0, len(packets) - n + 1, n):
            group = packets[i: i + n]
            message = pack_driving(group)
            assert message[0] >> 6 == COMPACT_TYPE >> 6 == 1
            assert rx.receive(message) == group
            if n == 2 and all(len(wire.unpack(p).payload) < 128 for p in group):
                # 4 bytes of header, a 1-byte length and a 1-byte timestamp delta (2-3 for a long gap)
                delta = (wire.unpack(group[1]).timestamp_ms - wire.unpack(group[0]).timestamp_ms) & 0xFFFF
                extra = 1 if delta < 128 else 2 if delta < 16384 else 3
                assert len(message) == sum(len(p) for p in group) - 2 * 9 + 5 + extra
    assert len(pack_driving(packets[:1])) == len(packets[0]) - 5  # one frame: 4 bytes of header, no CRC


def test_compact_bundles_after_losses_and_reordering() -> None:
    packets = _stream(200)  # intra frames at 0, 15, 30, ...
    messages = [pack_driving(packets[i: i + 2]) for i in range(0, 200, 2)]
    rx = _Receiver()
    decoder = StreamDecoder(FieldSet(n_sup=33))
    decoded, rebuilt = {}, {}
    # messages 3..10 lost (the intra frame 15 with them), 20 arrives after 21, 30..89 lost (120 frames)
    order = [m for k, m in enumerate(messages) if not 3 <= k <= 10 and not 30 <= k < 90 and k != 20]
    order.insert(order.index(messages[21]) + 1, messages[20])
    for message in order:
        for p in rx.receive(message):
            seq = wire.unpack(p).seq
            rebuilt[seq] = p
            try:
                decoded[seq] = decoder.decode(p)
            except MissingReference:
                pass
    # usable: up to the first loss, and from each next intra frame (30, 45, 180) on
    expected = [*range(0, 6), *range(30, 40), *range(45, 60), *range(180, 200)]
    assert sorted(decoded) == expected
    original = {wire.unpack(p).seq: p for p in packets}
    assert all(rebuilt[s] == original[s] for s in expected)  # rebuilt exactly, dependency included


def test_compact_bundle_refuses_what_is_not_a_run_of_frames() -> None:
    packets = _stream(20)
    other = _stream(5, mode="paper")
    for bad in ([], packets[:5], [packets[0], packets[2]], [packets[3], packets[2]], [packets[1], other[1]],
                [packets[0][:-1] + bytes([packets[0][-1] ^ 1])], [b"\x00garbage"]):
        with pytest.raises(ValueError):
            pack_driving(bad)


def test_compact_bundle_refuses_malformed_messages() -> None:
    packets = _stream(20)
    context = CompactContext("predictive", newest_seq=2, intra_seq=0)
    good = pack_driving(packets[3:6])
    assert [wire.pack(p) for p in parse_driving(good, context)] == packets[3:6]
    for k in range(len(good)):  # every truncation is refused or yields other, well-formed frames
        try:
            frames = parse_driving(good[:k], context)
        except ValueError:
            continue
        assert len(frames) == 3 and sum(len(f.payload) for f in frames) < sum(len(wire.unpack(p).payload)
                                                                            for p in packets[3:6])
    bad = [
        b"\x42",                                    # header truncated
        bytes([good[0] | 0x20]) + good[1:],         # intra flag of a 4th frame in a 3-frame bundle
        good[:4] + b"\xff\xff\xff\x7f",              # varint over 3 bytes
        good[:4] + b"\x80\x00" + good[5:],          # varint not minimal
        good[:4] + b"\xff\xff\x7f" + good[5:],      # varint over 65535
        good[:6] + b"\x7f" + good[7:],              # payload lengths beyond the message
    ]
    for message in bad:
        with pytest.raises(ValueError):
            parse_driving(message, context)
    with pytest.raises(ValueError):
        parse_driving(good, CompactContext("fancy"))
    for first in (0x00, 0x82, 0xB1, 0xC2, 0xF1):  # not a compact bundle's type
        with pytest.raises(ValueError, match="not a compact bundle"):
            parse_driving(bytes([first]) + good[1:], context)
    # without a usable intra frame, inter frames get a placeholder dependency the decoder refuses
    frames = parse_driving(good, CompactContext("predictive"))
    assert [f.dependency for f in frames] == [1, 1, 1]
    frames = parse_driving(pack_driving(_stream(300, fps=1000)[250:252]), CompactContext("predictive", 249, 0))
    assert [f.dependency for f in frames] == [250, 251]
    frames = parse_driving(pack_driving(_stream(300, fps=1000)[250:252]), CompactContext("predictive", 249, 65000))
    assert [f.dependency for f in frames] == [1, 1]  # over 255 back: placeholder


def test_random_driving_messages_raise_nothing_but_value_error() -> None:
    rng = np.random.default_rng(5)
    packets = _stream(40)
    seeds = [pack_driving(packets[i: i + n]) for n in (1, 2, 3, 4) for i in (0, 7, 14)]
    contexts = [CompactContext("predictive"), CompactContext("paper", 6, 0), CompactContext("predictive", 65535, 65530)]
    accepted = 0
    for trial in range(20000):
        if trial % 2:
            message = bytearray(seeds[trial % len(seeds)])
            for _ in range(int(rng.integers(1, 4))):  # flip, cut or extend a few bytes
                op = int(rng.integers(3))
                if op == 0:
                    message[int(rng.integers(len(message)))] ^= 1 << int(rng.integers(8))
                elif op == 1 and len(message) > 1:
                    del message[int(rng.integers(1, len(message))):]
                else:
                    message += bytes(rng.integers(0, 256, int(rng.integers(1, 4)), dtype=np.uint8))
            message = bytes(message)
        else:
            message = bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8))
        try:
            result = parse_driving(message, contexts[trial % 3])
        except ValueError:
            continue
        accepted += 1
        assert 1 <= len(result) <= 4 and message[0] >> 6 == 1
        for p in result:  # whatever parses, parses into valid codec packets
            wire.unpack(wire.pack(p))
    assert accepted > 0


def test_receiver_decodes_compact_bundles_and_counts_bad_ones() -> None:
    stats = CallStats()
    rx = ReceiverSide(LandmarkFrameRenderer, stats, lambda: None)
    fields = FieldSet(n_sup=33)
    rx.on_hello(Hello(fps=15, fields=FieldSpec.of(fields), mode="predictive", epoch_ms=0.0))
    packets = _stream(12)
    for i in range(0, 12, 3):
        rx.on_driving(pack_driving(packets[i: i + 3]))
    more = _stream(16)[12:]
    rx.on_driving(b"\x42\x07")                                    # truncated
    bad = pack_driving(more[:2])
    rx.on_driving(bytes([bad[0] | 0x10]) + bad[1:])               # intra flag beyond the count
    assert stats.packets_decoded == 12 and stats.packets_lost == 0 and stats.packets_bad == 2
    rx.on_driving(pack_driving(more))                               # the call goes on
    assert stats.packets_decoded == 16 and stats.driving_messages_received == 7


def test_binary_view_starts_round_trip_and_refuse_what_is_malformed() -> None:
    rng = np.random.default_rng(2)
    sup = rng.uniform(-1.2, 1.2, (33, 2)).astype(np.float32)
    for size in (1, 1001, 1002, 1935, 2141, 2142, 65536):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        messages = view_messages(4, "avif", data, 0.123456, -0.0789, sup)
        assert all(len(m) <= VIEW_MESSAGE_BYTES for m in messages)
        asm = ViewAssembler()
        results = [asm.add(m) for m in messages]
        assert results[:-1] == [None] * (len(messages) - 1)
        meta, got = results[-1]
        assert got == data and (meta.index, meta.format, meta.size, meta.chunks) == (4, "avif", size, len(messages))
        assert (meta.yaw, meta.pitch) == (0.1235, -0.0789)
        assert np.abs(meta.landmarks() - sup).max() <= 0.5e-4 + 1e-6
    assert len(view_messages(0, "avif", bytes(1935), 0, 0, sup)) == 2  # a 1.9 KB view: 2 messages
    meta, _ = ViewAssembler().add(view_messages(0, "webp", b"x", 0, 0, None)[0])
    assert meta.sup is None and meta.landmarks() is None
    good = view_messages(1, "webp", bytes(range(256)) * 9, 0.1, 0.2, sup)
    for bad in ([good[0][:10]],                               # header truncated
                [good[0][:11 + 4 * 20]],                     # landmarks truncated
                [good[0][:2] + b"\x07" + good[0][3:]],       # unknown format
                [good[0][:1] + b"\x09" + good[0][2:]],       # view index out of range
                [good[0][:9] + b"\x01\xf0" + good[0][11:]],  # too many landmarks
                [good[0][:-1], good[1]],                      # first chunk short
                [good[0], good[2]],                           # a chunk missing
                [good[0], good[1][:2] + b"\x00\x05" + good[1][4:]],  # chunk number wrong
                [good[1]]):                                   # no view under way
        asm = ViewAssembler()
        with pytest.raises(ValueError):
            for m in bad:
                asm.add(m)
    with pytest.raises(ValueError):
        view_messages(0, "gif", b"x", 0, 0, None)
    most = view_messages(0, "webp", bytes(5000), 0, 0, np.zeros((MAX_VIEW_LANDMARKS, 2)))
    assert len(most[0]) == VIEW_MESSAGE_BYTES and ViewAssembler().add(most[0]) is None  # one image byte
    with pytest.raises(ValueError, match="landmarks"):
        view_messages(0, "webp", bytes(5000), 0, 0, np.zeros((MAX_VIEW_LANDMARKS + 1, 2)))
    # random and mutated messages: nothing but ValueError
    for trial in range(5000):
        asm = ViewAssembler()
        message = bytearray(good[0])
        if trial % 2:
            message[int(rng.integers(len(message)))] ^= 1 << int(rng.integers(8))
            del message[int(rng.integers(1, len(message) + 1)):]
        else:
            message = bytearray([0xF6, *rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8)])
        try:
            asm.add(bytes(message))
        except ValueError:
            pass


def test_version_1_messages_are_refused_and_counted() -> None:
    """Version 1's messages are foreign: a `hello` of version 1, a JSON `view` start and its 1 024-byte
    chunks, a bare codec packet or a 0xB1 bundle of them on the driving channel are dropped and
    counted like any malformed message, and the call goes on."""
    peer = CallPeer(PeerConfig("ws://127.0.0.1:9/", "room"), None, LandmarkFrameRenderer)
    stats, rx = peer.stats, peer.receiver
    hello = {"type": "hello", "version": 1, "fps": 15, "fields": FieldSpec.of(FieldSet(n_sup=33)).model_dump(),
             "mode": "predictive", "frames_per_message": 2, "epoch_ms": 0.0}
    peer._receive_control(json.dumps(hello))
    assert rx.hello is None and stats.control_bad == 1
    packets = _stream(6)
    rx.on_driving(pack_driving(packets[:2]))  # no usable hello yet: the stream is unknown
    assert stats.packets_unusable == 1 and stats.packets_bad == 0
    peer._receive_control(json.dumps({**hello, "version": 2}))
    assert rx.hello is not None and rx.hello.version == 2 and stats.control_bad == 1
    peer._receive_control(json.dumps({"type": "view", "index": 0, "format": "webp", "size": 1100, "chunks": 2,
                                      "yaw": 0.1, "pitch": 0.0, "sup": [[0.5, -0.25]]}))
    peer._receive_control(b"\xf5\x00\x00\x00" + bytes(1024))  # its chunks: no view under way
    peer._receive_control(b"\xf5\x00\x00\x01" + bytes(76))
    assert stats.control_bad == 4 and stats.views_received == 0
    rx.on_driving(packets[0])  # a bare codec packet
    rx.on_driving(bytes([0xB1, 2]) + b"".join(bytes([len(p)]) + p for p in packets[:2]))  # a 0xB1 bundle
    assert stats.packets_bad == 2 and stats.packets_decoded == 0
    for i in range(0, 6, 2):
        rx.on_driving(pack_driving(packets[i: i + 2]))
    assert stats.packets_decoded == 6 and stats.packets_bad == 2
    with pytest.raises(ValueError, match="type"):
        parse_control(json.dumps({"type": "view", "index": 0}))


def test_control_messages_are_validated() -> None:
    hello = Hello(fps=15, fields=FieldSpec.of(FieldSet(n_sup=33)), mode="predictive", epoch_ms=1.0)
    assert parse_control(encode_control(hello)) == hello
    assert isinstance(parse_control('{"type": "intra-request"}'), IntraRequest)
    for bad in ("not json", "[]", '{"type": "nope"}', '{"type": "bye", "extra": 1}',
                '{"type": "hello", "fps": 0}', " " * (MAX_CONTROL_TEXT + 1)):
        with pytest.raises(ValueError):
            parse_control(bad)


def test_view_pacer_keeps_to_its_budget() -> None:
    pacer = ViewPacer(kbps=8.0, burst_bytes=2000)  # 1000 bytes/s
    pacer.push([bytes(1000)] * 6)
    assert len(pacer.take(0.0)) == 2  # the burst
    assert pacer.take(0.5) == []
    assert len(pacer.take(1.0)) == 1
    assert len(pacer.take(3.0)) == 2


def test_views_go_as_binary_view_messages() -> None:
    rng = np.random.default_rng(1)
    sup = rng.uniform(-0.6, 0.6, (33, 2)).astype(np.float32)
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    sender = SenderSide(SenderConfig(), CallStats())
    sender.views.sent.append((0.1, 0.0))
    sender._queue_view(ViewCandidate(image, sup, 0.123456789, -0.01, 0.3))
    messages = list(sender.pacer.queue)
    assert all(isinstance(m, bytes) and len(m) <= VIEW_MESSAGE_BYTES for m in messages)
    asm = ViewAssembler()
    meta, data = [asm.add(m) for m in messages][-1]
    assert meta.format == "avif" and len(data) == meta.size
    assert np.abs(meta.landmarks() - sup).max() <= 0.5e-4 + 1e-7
    assert sender.stats.views_sent == 1


def test_deferred_views_are_handed_out_once_and_sent_when_they_come_back_encoded() -> None:
    from types import SimpleNamespace

    rng = np.random.default_rng(2)
    sup = rng.uniform(-0.6, 0.6, (33, 2)).astype(np.float32)
    ramp = np.linspace(0, 255, 256, dtype=np.float32)
    image = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, -ramp) / 2 + 128,
                      np.full((256, 256), 90.0)], axis=-1).astype(np.uint8)  # smooth: a small file
    sender = SenderSide(SenderConfig(fps=15, frames_per_message=1), CallStats(), defer_views=True)
    sender.hello(epoch_ms=0.0)
    sender.views.consider = lambda tracked: None  # type: ignore[method-assign]  # the test picks the views

    def step(i: int) -> Outgoing:
        return sender.process(SimpleNamespace(face_found=False), capture_unix_ms=i * 66.7, now_s=10.0 + i / 15,
                              record=DrivingRecord(sup=sup))

    sender.views.sent.append((0.3, 0.0))  # one view already out: the next is sent as soon as it is chosen
    sender.views.best = ViewCandidate(image, sup, -0.2, 0.0, 0.3)
    out = step(0)
    assert out.view is not None and out.driving is not None and not out.control and not sender.pacer.busy
    sender.views.best = ViewCandidate(image, sup, 0.1, 0.0, 0.3)
    assert step(1).view is None  # one view at a time: the first is still being encoded
    sender.add_encoded_view(out.view, sender.encode_view(out.view))
    outs = [step(i) for i in range(2, 200)]
    asm = ViewAssembler()
    done = [r for r in map(asm.add, [m for o in outs for m in o.control]) if r is not None]
    assert len(done) == 1 and done[0][0].index == 1 and done[0][0].format == "avif"
    assert abs(done[0][0].yaw + 0.2) < 1e-3  # the handed-out view, not the one chosen meanwhile
    handed = [o.view for o in outs if o.view is not None]
    assert len(handed) == 1 and handed[0].yaw == 0.1  # the next one, once the first had gone out
    sender.add_encoded_view(handed[0], None)  # its encoding failed: dropped, the call goes on
    assert not sender.pacer.busy and sender.stats.views_sent == 1 and step(200).driving is not None


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
    rx.on_driving(pack_driving(good[:1]))
    rx.on_driving(b"\x00garbage")                          # foreign
    rx.on_driving(b"")                                      # empty
    rx.on_driving(b"\x42\x07")                              # truncated bundle
    assert stats.packets_bad == 3 and stats.packets_decoded == 1
    for p in good[3:]:                                      # good[1], good[2] lost
        rx.on_driving(pack_driving([p]))
    assert stats.packets_unusable == 5 and stats.intra_requests_sent >= 1 and requests
    assert stats.packets_lost == 2


def test_sender_moves_its_sends_away_from_the_other_peers_arrivals() -> None:
    from types import SimpleNamespace

    stats = CallStats()
    sender = SenderSide(SenderConfig(fps=15, frames_per_message=2), stats)
    sender.hello(epoch_ms=0.0)
    sender.on_remote_hello(15.0, 2)
    rng = np.random.default_rng(3)
    sup = rng.uniform(-0.4, 0.4, (33, 2)).astype(np.float32)
    period, frame = 2 / 15, 1 / 15
    sends: list[float] = []
    remote_phase = frame + 0.004  # the other's messages arrive 4 ms after ours go: two clocks in step
    for i in range(150):
        now = 10.0 + i * frame
        sender.on_remote_message(np.floor((now - remote_phase) / period) * period + remote_phase)  # the last one
        out = sender.process(SimpleNamespace(face_found=False), capture_unix_ms=now * 1000, now_s=now,
                             record=DrivingRecord(sup=sup))
        if out.driving is not None:
            sends.append(now)
    assert 1 <= sender.phase_shifts <= 2 and stats.phase_shifts == sender.phase_shifts
    late = np.asarray(sends[-20:])
    since = (late - remote_phase) % period
    assert np.all(np.minimum(since, period - since) > period / 4)  # now half a period from the arrivals
    assert len(sends) == (150 + sender.phase_shifts) // 2  # one extra message per shift, no frame held back

    other = SenderSide(SenderConfig(fps=15, frames_per_message=2), CallStats())
    other.hello(epoch_ms=0.0)
    other.on_remote_hello(15.0, 1)  # the other sends every frame: nothing to align with
    for i in range(60):
        now = 10.0 + i * frame
        other.on_remote_message(now - 0.001)
        other.process(SimpleNamespace(face_found=False), now * 1000, now, record=DrivingRecord(sup=sup))
    assert other.phase_shifts == 0


def test_a_half_filled_bundle_is_flushed_when_the_call_ends() -> None:
    from types import SimpleNamespace

    sender = SenderSide(SenderConfig(fps=15, frames_per_message=2), CallStats())
    sender.hello(epoch_ms=0.0)
    assert sender.flush() is None  # nothing waiting
    sup = np.random.default_rng(4).uniform(-0.4, 0.4, (33, 2)).astype(np.float32)
    messages, encoded = [], []
    for i in range(5):
        out = sender.process(SimpleNamespace(face_found=False), capture_unix_ms=i * 66.7, now_s=10.0 + i / 15,
                             record=DrivingRecord(sup=sup))
        encoded += [e.packet for e in out.encoded]
        if out.driving is not None:
            messages.append(out.driving)
    assert len(messages) == 2  # frames 0+1, 2+3; frame 4 waits for a partner that will not come
    last = sender.flush()
    assert last is not None and sender.flush() is None
    rx = _Receiver()
    assert [p for m in [*messages, last] for p in rx.receive(m)] == encoded


def test_views_fall_back_to_webp_without_avif(monkeypatch: pytest.MonkeyPatch) -> None:
    import sender.live as sender_side

    assert SenderConfig().view_format == "avif"
    monkeypatch.setattr(sender_side, "avif_available", lambda: False)
    sender = SenderSide(SenderConfig(), CallStats())
    assert (sender.config.view_format, sender.config.view_quality) == ("webp", sender_side.WEBP_FALLBACK_QUALITY)
