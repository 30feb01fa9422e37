"""Shape calls (`--renderer mesh`): the hello's shape field set, shape view starts 0xF7, the
sender's fitted records, the receiver's MeshFrameRenderer, and a loopback call."""
from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

import numpy as np
import pytest

from codec.callstats import CallStats
from codec.fields import FieldSet
from codec.messages import (
    MAX_VIEW_RECORD,
    SHAPE_VIEW_START_MAGIC,
    VIEW_MESSAGE_BYTES,
    VIEW_START_MAGIC,
    FieldSpec,
    Hello,
    ViewAssembler,
    encode_control,
    parse_control,
    parse_view_start,
    view_messages,
)
from codec.shape import load_shape_model
from codec.stream import StreamDecoder, StreamEncoder, decode_intra_record, encode_intra_record
from frontal.call.cli import build_parser, call_fields, peer_config
from frontal.call.peer import CallPeer, PeerConfig
from receiver.live import ReceiverSide
from receiver.render import MeshFrameRenderer, make_renderer
from sender.live import SenderConfig, SenderSide
from sender.shape import ShapeFitter
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import create_room
from signaling.server import ServerThread

SHAPE = FieldSet.parse("shape")
FPS = 10.0


@pytest.fixture(scope="module")
def model():
    return load_shape_model()


def _mesh(model, yaw: float = 0.0, mouth: float = 0.0) -> np.ndarray:
    coeffs = np.zeros(model.k)
    coeffs[0] = mouth
    return model.reconstruct(np.array([yaw, 0.02, 0.0, np.log(0.9), 0.01, 0.03]), coeffs).astype(np.float32)


def _image() -> np.ndarray:
    yy, xx = np.mgrid[0:256, 0:256]
    return np.stack([128 + 60 * np.sin(xx / 9.0), 128 + 60 * np.sin(yy / 11.0),
                     128 + 60 * np.sin((xx + yy) / 13.0)], axis=2).astype(np.uint8)


def _tracked(landmarks: np.ndarray, image: np.ndarray, yaw: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(face_found=True, landmarks=landmarks, image=image, sup=landmarks[:33, :2].copy(),
                           pose=SimpleNamespace(yaw=yaw, pitch=0.0))


def _hello(model, **kw) -> Hello:
    return Hello(fps=15, fields=FieldSpec.of(SHAPE, model.digest), mode="predictive", epoch_ms=0.0, **kw)


# ---- codec ----------------------------------------------------------------------------------------
def test_shape_streams_default_to_the_shape_tables_and_records_code_alone(model) -> None:
    record = ShapeFitter(model).record(_mesh(model, 0.1, 0.5))
    packet = StreamEncoder(SHAPE).encode(record, timestamp_ms=0).packet  # no tables named
    back = StreamDecoder(SHAPE).decode(packet).record
    payload = encode_intra_record(SHAPE, record)
    assert 1 <= len(payload) <= MAX_VIEW_RECORD and packet[7:-2] == payload  # the same intra payload
    alone = decode_intra_record(SHAPE, payload)
    np.testing.assert_array_equal(alone.pose, back.pose)
    np.testing.assert_array_equal(alone.shape, back.shape)
    assert np.abs(alone.pose - record.pose).max() < 0.01


# ---- messages -------------------------------------------------------------------------------------
def test_shape_hello_round_trips_and_landmark_hellos_are_unchanged(model) -> None:
    hello = _hello(model)
    text = encode_control(hello)
    assert parse_control(text) == hello and hello.fields.to_fieldset() == SHAPE
    assert json.loads(text)["fields"] == {"n_sup": 0, "n_unsup": 0, "jacobians": 0, "n_expr": 0, "n_shape": 48,
                                          "shape_model": model.digest}
    plain = encode_control(Hello(fps=15, fields=FieldSpec.of(FieldSet(n_sup=33)), mode="predictive", epoch_ms=1.0))
    assert '"fields":{"n_sup":33,"n_unsup":0,"jacobians":0,"n_expr":0}' in plain
    with pytest.raises(ValueError, match="digest"):
        FieldSpec.of(SHAPE)
    bad = json.loads(text)
    for fields in ({**bad["fields"], "shape_model": "xyz"}, {k: v for k, v in bad["fields"].items() if k != "shape_model"},
                   {**bad["fields"], "n_shape": 65}):
        with pytest.raises(ValueError):
            parse_control(json.dumps({**bad, "fields": fields}))


def test_shape_view_start_round_trips_and_0xf6_is_unchanged(model) -> None:
    rng = np.random.default_rng(1)
    record = encode_intra_record(SHAPE, ShapeFitter(model).record(_mesh(model, -0.2)))
    for size in (1, 1000, 1143 - 11 - 1 - len(record), 5000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        messages = view_messages(2, "webp", data, 0.25, -0.1, None, record)
        assert messages[0][0] == SHAPE_VIEW_START_MAGIC and all(len(m) <= VIEW_MESSAGE_BYTES for m in messages)
        asm = ViewAssembler()
        results = [asm.add(m) for m in messages]
        meta, got = results[-1]
        assert got == data and meta.record == record and meta.index == 2 and meta.sup is None
        assert abs(meta.yaw - 0.25) < 1e-4
    plain = view_messages(0, "webp", b"abc", 0.1, 0.0, None)
    assert plain[0][0] == VIEW_START_MAGIC and parse_view_start(plain[0])[0].record is None
    assert plain == [bytes([0xF6, 0, 0, 0, 2, 0x03, 0xE8, 0, 0, 0, 0]) + b"abc"]  # byte-identical to before


def test_malformed_or_oversized_shape_view_starts_are_refused_and_counted(model) -> None:
    with pytest.raises(ValueError, match="shape record"):
        view_messages(0, "webp", b"abc", 0.0, 0.0, None, bytes(MAX_VIEW_RECORD + 1))
    with pytest.raises(ValueError, match="shape record"):
        view_messages(0, "webp", b"abc", 0.0, 0.0, None, b"")
    good = view_messages(0, "webp", b"abcdef", 0.0, 0.0, None, b"\xff\xff\xff")[0]  # a record that does not decode
    head = good[:11]
    for message in (head,                                  # no record length
                    head + b"\x00abc",                     # an empty record
                    head + b"\x09\x01\x02",                # a record past the end
                    bytes([SHAPE_VIEW_START_MAGIC]) + good[1:9] + b"\x01\x1b" + bytes(1200)):  # 283 landmarks + record: no room
        with pytest.raises(ValueError, match="view start"):
            parse_view_start(message)
    peer = CallPeer(PeerConfig("ws://127.0.0.1:9/", "room"), None, MeshFrameRenderer)
    stats, rx = peer.stats, peer.receiver
    peer._receive_control(encode_control(_hello(model)))
    assert rx.hello is not None and stats.control_bad == 0
    peer._receive_control(head + b"\x09\x01\x02")          # malformed: dropped, counted
    peer._receive_control(b"\xf7")                         # truncated
    assert stats.control_bad == 2
    peer._receive_control(good)                            # assembles, but its record does not decode
    assert stats.control_bad == 3 and not rx._views
    peer._receive_control(view_messages(0, "webp", b"abc", 0.0, 0.0, None)[0])  # a shape call's view without its record
    assert stats.control_bad == 4 and not rx._views
    record = encode_intra_record(SHAPE, ShapeFitter(model).record(_mesh(model)))
    peer._receive_control(view_messages(0, "webp", b"abc", 0.0, 0.0, None, record)[0])
    assert stats.control_bad == 4 and len(rx._views) == 1 and rx._views[0][2] is not None


def test_a_hello_of_another_shape_model_is_refused_and_counted(model) -> None:
    peer = CallPeer(PeerConfig("ws://127.0.0.1:9/", "room"), None, MeshFrameRenderer)
    foreign = json.loads(encode_control(_hello(model)))
    foreign["fields"]["shape_model"] = "0" * 64
    peer._receive_control(json.dumps(foreign))
    assert peer.receiver.hello is None and peer.stats.control_bad == 1
    foreign["fields"] = {**foreign["fields"], "shape_model": model.digest, "n_sup": 33}  # keypoints and a shape
    peer._receive_control(json.dumps(foreign))
    assert peer.receiver.hello is None and peer.stats.control_bad == 2
    # a landmark call's view with a shape record is refused too
    peer._receive_control(encode_control(Hello(fps=15, fields=FieldSpec.of(FieldSet(n_sup=33)), mode="predictive",
                                               epoch_ms=0.0)))
    record = encode_intra_record(SHAPE, ShapeFitter(model).record(_mesh(model)))
    peer._receive_control(view_messages(0, "webp", b"abc", 0.0, 0.0, None, record)[0])
    assert peer.stats.control_bad == 3


# ---- sender and receiver, in process --------------------------------------------------------------
def test_shape_sender_to_mesh_receiver_in_process(model) -> None:
    sender = SenderSide(SenderConfig(fps=15, frames_per_message=1, view_format="webp", view_quality=80, first_view_frames=2),
                        CallStats(), SHAPE)
    hello = parse_control(sender.hello(epoch_ms=time.time() * 1000.0))
    assert hello.fields.n_shape == 48 and hello.fields.shape_model == model.digest
    stats = CallStats()
    rx = ReceiverSide(lambda: make_renderer("mesh"), stats, lambda: None)
    shown: list[np.ndarray] = []
    rx.sinks.append(lambda frame, info: shown.append(frame))
    rx.on_hello(hello)
    rx.start()
    try:
        image, asm, now = _image(), ViewAssembler(), time.time() * 1000.0
        for i in range(12):
            out = sender.process(_tracked(_mesh(model, 0.0, 0.3 * np.sin(i)), image), now + 66.7 * i, 10.0 + i / 15)
            for message in out.control:
                view = asm.add(message)
                if view is not None:
                    assert message is out.control[-1] and view[0].record is not None
                    rx.on_view(*view)
            if out.driving is not None:
                rx.on_driving(out.driving)
            time.sleep(1 / 15)  # at the sender's rate: the render thread draws each frame
        deadline = time.monotonic() + 10
        while (stats.frames_rendered < 3 or stats.views_received < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        rx.close()
    assert stats.views_received == 1 and stats.control_bad == 0 and stats.packets_bad == 0
    assert stats.frames_rendered >= 3 and sender.stats.views_sent == 1
    assert shown[-1].shape == (256, 256, 3) and shown[-1].std() > 10  # a drawn face, not a blank frame


# ---- the CLI's option, and a loopback call --------------------------------------------------------
def test_renderer_mesh_selects_the_shape_field_set() -> None:
    args = build_parser().parse_args(["--room", "r", "--token", "t" * 8, "--renderer", "mesh"])
    assert peer_config(args).fields == SHAPE and call_fields("landmarks") is None
    assert isinstance(make_renderer("mesh"), MeshFrameRenderer)


@pytest.fixture(scope="module")
def server():
    with ServerThread() as srv:
        yield srv


def test_loopback_call_with_the_mesh_renderer_shows_frames(server) -> None:
    async def run() -> tuple:
        invite = await asyncio.to_thread(create_room, server.ws_url, proxy=None)

        def peer(send: bool) -> CallPeer:
            cfg = PeerConfig(server.ws_url, invite.room, invite.token, sender=SenderConfig(fps=FPS), loopback_only=True,
                             wait_peer_s=20, fields=call_fields("mesh"))
            return CallPeer(cfg, VideoSource(default_video(), FPS) if send else None, lambda: make_renderer("mesh"))

        pa = peer(True)
        ta = asyncio.create_task(pa.run(5.0))
        await asyncio.wait_for(pa.joined.wait(), 20)
        pb = peer(False)
        shown: list[np.ndarray] = []
        pb.receiver.sinks.append(lambda frame, info: shown.append(frame))
        tb = asyncio.create_task(pb.run(10.0))
        ra, rb = await asyncio.wait_for(asyncio.gather(ta, tb), 45)
        return ra, rb, shown

    ra, rb, shown = asyncio.run(run())
    sa, sb = ra.stats, rb.stats
    assert ra.reason == "duration" and rb.reason == "bye"
    assert rb.remote_hello is not None and rb.remote_hello.fields.n_shape == 48
    assert sb["views_received"] >= 1 and sb["control_bad"] == 0 and sb["packets_bad"] == 0
    assert sb["packets_decoded"] == sa["frames_encoded"] >= 3 * FPS
    assert sb["frames_rendered"] >= 0.5 * sa["frames_encoded"] - FPS
    assert shown and shown[-1].shape == (256, 256, 3) and shown[-1].std() > 10


def test_recorded_view_meta_carries_the_shape_record_only_for_shape_views() -> None:
    from codec.container import Recording, SourceView, parse, serialize
    from codec.errors import CodecError

    sup = np.zeros((33, 2), np.float32)
    plain = SourceView(b"img", "webp", 0, 3, 0.1, sup)
    assert "shape" not in plain.meta()
    shaped = SourceView(b"img", "webp", 1, 5, -0.2, sup, b"\x01\x02\xff")
    back = parse(serialize(Recording({"fields": {}}, [plain, shaped], [])))
    assert back.views[0].record is None and back.views[1].record == b"\x01\x02\xff"
    data = serialize(Recording({"fields": {}}, [shaped], []))
    broken = data.replace(b'"AQL/"', b'"A!L/"')  # not base64
    assert broken != data
    with pytest.raises(CodecError):
        parse(broken)
