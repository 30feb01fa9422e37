"""Two Python peers on loopback through the real signaling server (frontal.call)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from frontal.call.impair import Impairment
from frontal.call.peer import CallPeer, CallReport, PeerConfig
from receiver.render import LandmarkFrameRenderer
from sender.live import SenderConfig
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import create_room
from signaling.server import ServerThread

FPS = 10.0


@pytest.fixture(scope="module")
def server():
    with ServerThread() as srv:
        yield srv


def make_peer(url: str, room: str, token: str | None, send: bool, **kwargs) -> CallPeer:
    cfg = PeerConfig(url, room, token, sender=SenderConfig(fps=FPS, **kwargs.pop("sender", {})),
                     loopback_only=True, wait_peer_s=20, silence_timeout_s=kwargs.pop("silence", 5.0))
    source = VideoSource(default_video(), FPS) if send else None
    return CallPeer(cfg, source, LandmarkFrameRenderer, **kwargs)


async def call(url: str, room: str, a: dict, b: dict, duration: float,
               during=None) -> tuple[CallPeer, CallPeer, CallReport, CallReport]:
    """A (the sender) joins a new room first (`room`: a label only), then B. Bounded by `duration` + 30 s."""
    invite = await asyncio.to_thread(create_room, url, proxy=None)
    pa = make_peer(url, invite.room, invite.token, True, **a)
    ta = asyncio.create_task(pa.run(duration))
    await asyncio.wait_for(pa.joined.wait(), 10)
    pb = make_peer(url, invite.room, invite.token, False, **b)
    tb = asyncio.create_task(pb.run(duration + 5))
    if during is not None:
        await during(pa, pb)
    ra, rb = await asyncio.wait_for(asyncio.gather(ta, tb), duration + 30)
    return pa, pb, ra, rb


def test_call_renders_at_sender_rate_and_payload_is_codec_bits_plus_framing(server) -> None:
    pa, pb, ra, rb = asyncio.run(call(server.ws_url, "loop1", {"sender": {"frames_per_message": 1}}, {}, 5.0))
    assert ra.reason == "duration" and rb.reason == "bye"
    sa, sb = ra.stats, rb.stats
    assert sa["frames_encoded"] >= 3 * FPS
    # every data-channel byte sent is a range-coded bit or one of the 4 bytes of a compact bundle's
    # header (a codec packet has 9), and every one arrived
    assert 8 * sa["driving_bytes_sent"] == sa["payload_bits"] + 8 * 4 * sa["frames_encoded"]
    assert sa["codec_bits"] == sa["payload_bits"] + 8 * 9 * sa["frames_encoded"]
    assert sb["driving_bytes_received"] == sa["driving_bytes_sent"]
    assert sb["packets_lost"] == 0 and sb["packets_bad"] == 0
    assert sb["views_received"] >= 1
    # the receiver shows frames at the sender's rate (held frames fill any gap)
    shown = sb["frames_rendered"] + sb["frames_held"]
    assert shown >= 0.8 * sa["frames_encoded"] - FPS  # the first view arrives after a few frames
    assert sb["frames_rendered"] >= 0.7 * sa["frames_encoded"] - FPS
    assert sb["latency_ms_p50"] < 1000
    assert sa["wire_kbps"] > sa["payload_kbps"] > 0
    layers = [v for k, v in sa.items() if k.startswith("wire_") and k.endswith("_kbps") and k != "wire_kbps"]
    assert abs(sum(layers) - sa["wire_kbps"]) < 0.01 * sa["wire_kbps"]  # the breakdown adds up
    assert sa["wire_stun_kbps"] > 0 and sa["wire_user_data_kbps"] >= sa["payload_kbps"]
    # the receiver acknowledges about every second packet (delayed SACKs), not every one
    assert 0 < sb["sctp_sacks_sent"] <= 0.6 * sb["sctp_packets_received_needing_sack"]


def test_call_survives_loss_and_jitter_and_resyncs_within_an_intra_period(server) -> None:
    impair = Impairment(loss=0.2, jitter_ms=100, seed=7)
    sent: dict[int, np.ndarray] = {}
    decoded: dict[int, np.ndarray] = {}
    shown: list[float] = []
    marks: dict[str, int] = {}

    async def during(pa: CallPeer, pb: CallPeer) -> None:
        pa.sender.encoded_listeners.append(lambda e: sent.__setitem__(e.seq, e.q))
        pb.receiver.decoded_listeners.append(lambda d: decoded.__setitem__(d.seq, d.q))
        pb.receiver.sinks.append(lambda frame, info: shown.append(time.monotonic()))
        await asyncio.wait_for(pb.connected.wait(), 20)
        await asyncio.sleep(3.5)
        impair.active = False
        marks["end"] = pa.sender.encoder.seq

    pa, pb, ra, rb = asyncio.run(call(server.ws_url, "loss1", {"impairment": impair}, {}, 7.0, during))
    sb = rb.stats
    assert impair.dropped > 5 and sb["packets_lost"] > 0
    assert sb["packets_unusable"] > 0 and sb["intra_requests_sent"] >= 1
    # rendering never stopped: frames kept coming at about the sender's rate
    gaps = np.diff(np.asarray(shown))
    assert len(shown) >= 4 * FPS and gaps.max() < 0.5, (len(shown), gaps.max())
    # exact again within one intra period (plus the 100 ms of jitter) after the losses ended
    period = pa.sender.encoder.intra_period
    unsent = len(pa.sender._bundle)  # frames still waiting for the rest of their message at hang-up
    after = [s for s in sorted(sent)[:len(sent) - unsent] if s >= marks["end"] + period + 2]
    assert len(after) >= FPS
    assert all(s in decoded and np.array_equal(decoded[s], sent[s]) for s in after)


def test_peer_vanishing_mid_call_ends_the_other_cleanly(server) -> None:
    async def during(pa: CallPeer, pb: CallPeer) -> None:
        await asyncio.wait_for(pb.connected.wait(), 20)
        await asyncio.sleep(2.0)
        pa.abort()  # the sender crashes: no bye

    t0 = time.monotonic()
    pa, pb, ra, rb = asyncio.run(call(server.ws_url, "vanish1", {}, {}, 20.0, during))
    assert ra.reason == "aborted"
    assert rb.reason in ("peer-left", "channel-closed", "silence")
    assert time.monotonic() - t0 < 20
    assert rb.stats["frames_rendered"] > 0


def test_bundled_frames_are_played_out_at_the_sender_rate(server) -> None:
    pa, pb, ra, rb = asyncio.run(call(server.ws_url, "bundle1", {"sender": {"frames_per_message": 2}}, {}, 4.0))
    sa, sb = ra.stats, rb.stats
    messages = sa["driving_messages_sent"]
    assert sa["frames_encoded"] == 2 * messages
    # compact bundles: 4 bytes of header, 1 of timestamp delta and 1 of length for the second frame
    assert 8 * sa["driving_bytes_sent"] == sa["payload_bits"] + 8 * (4 + 2) * messages
    assert sb["packets_decoded"] == sa["frames_encoded"]
    assert sb["frames_rendered"] >= 0.8 * sa["frames_encoded"] - FPS and sb["frames_skipped"] <= 2


class _SlowStart(VideoSource):
    """A source whose first frame comes `delay_s` after the call starts (a page warming FaceMesh),
    then frames for `frames_s`, then none while the call stays open (a sender that went quiet)."""

    def __init__(self, delay_s: float, frames_s: float) -> None:
        super().__init__(default_video(), FPS)
        self.delay_s, self.frames_s = delay_s, frames_s

    async def frames(self, executor: Executor) -> AsyncIterator[NDArray[Any]]:
        await asyncio.sleep(self.delay_s)
        end = time.monotonic() + self.frames_s
        async for frame in super().frames(executor):
            if time.monotonic() > end:
                await asyncio.sleep(3600)
            yield frame


def test_silence_timeout_runs_from_the_first_driving_message(server) -> None:
    """A sender whose hello comes seconds before its first frame is not hung up on; once it has
    sent, silence still ends the call."""
    async def run() -> tuple[CallReport, CallReport, float]:
        invite = await asyncio.to_thread(create_room, server.ws_url, proxy=None)
        pa = make_peer(server.ws_url, invite.room, invite.token, True)
        pa.source = _SlowStart(3.0, 1.5)
        ta = asyncio.create_task(pa.run(15.0))
        await asyncio.wait_for(pa.joined.wait(), 10)
        pb = make_peer(server.ws_url, invite.room, invite.token, False, silence=1.5)
        tb = asyncio.create_task(pb.run(30.0))
        await asyncio.wait_for(pb.connected.wait(), 20)
        t0 = time.monotonic()
        rb = await asyncio.wait_for(tb, 40)
        ended_after = time.monotonic() - t0
        return await asyncio.wait_for(ta, 20), rb, ended_after

    ra, rb, ended_after = asyncio.run(run())
    assert rb.stats["packets_decoded"] > 0  # B waited through 3 s without a frame (its timeout: 1.5 s)
    assert rb.reason == "silence"  # then A went quiet for 1.5 s
    assert 3.0 + 1.5 + 1.5 - 0.5 < ended_after < 12.0, ended_after
    assert ra.reason == "bye"
