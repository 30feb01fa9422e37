"""Speech in a live call: two peers on loopback, one playing a clip with speech (the embedded clip
with a synthetic voiced signal muxed in), the other recording what it plays into an .mp4."""
from __future__ import annotations

import asyncio
from pathlib import Path

import av
import numpy as np
import pytest

from frontal.call.impair import Impairment
from frontal.call.peer import CallPeer, PeerConfig
from receiver.render import LandmarkFrameRenderer
from receiver.sinks import Recorder
from sender.live import SenderConfig
from sender.sources import VideoSource
from signaling.client import create_room
from signaling.server import ServerThread
from tests.test_audio_codec import clip_with_speech

FPS = 10.0


@pytest.fixture(scope="module")
def server():
    with ServerThread() as srv:
        yield srv


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_with_speech(tmp_path_factory.mktemp("speech"), 3.0)


def _peer(url: str, room, source: VideoSource | None, audio: bool = True, **kwargs) -> CallPeer:
    cfg = PeerConfig(url, room.room, room.token, sender=SenderConfig(fps=FPS, **kwargs.pop("sender", {})),
                     loopback_only=True, wait_peer_s=20, audio=audio)
    return CallPeer(cfg, source, LandmarkFrameRenderer, **kwargs)


async def _call(url: str, a: CallPeer, b: CallPeer, duration: float):
    ta = asyncio.create_task(a.run(duration))
    await asyncio.wait_for(a.joined.wait(), 20)
    tb = asyncio.create_task(b.run(duration + 5))
    return await asyncio.wait_for(asyncio.gather(ta, tb), duration + 40)


def _tracks(path: Path) -> tuple[int, np.ndarray]:
    with av.open(str(path)) as f:
        frames = sum(1 for _ in f.decode(video=0))
    with av.open(str(path)) as f:
        assert f.streams.audio, "the recording has no audio track"
        pcm = np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)])
    return frames, pcm


def test_call_with_speech_records_an_audio_track_in_sync(server, clip: Path, tmp_path: Path) -> None:
    room = create_room(server.ws_url, proxy=None)
    a = _peer(server.ws_url, room, VideoSource(clip, FPS, audio=True))
    b = _peer(server.ws_url, room, None)
    out = tmp_path / "remote.mp4"
    recorder = Recorder(out, FPS, audio_rate=16000)
    b.receiver.sinks.append(recorder)
    b.audio_sinks.append(recorder.add_audio)
    ra, rb = asyncio.run(_call(server.ws_url, a, b, 6.0))
    assert recorder.close(5.0)
    assert ra.reason == "duration" and rb.reason == "bye"
    sa, sb = ra.stats, rb.stats
    assert rb.remote_hello is not None and rb.remote_hello.audio is not None
    assert sa["audio_frames_sent"] >= 0.9 * 6.0 * 25 - 10  # 40-ms frames for the whole call
    assert 2.0 < sa["audio_kbps"] <= 6.5
    assert sa["audio_alone_messages"] <= 3  # the speech rode with the driving frames
    # every frame sent arrived (loopback, no loss) and was played, none concealed mid-stream
    assert sb["audio_frames_received"] >= sa["audio_frames_sent"] - 2
    assert sb["audio_concealed"] <= 3 and sb["audio_bad"] == 0
    assert abs(sb["av_offset_ms"]) <= 80  # lip sync
    assert sb["audio_latency_ms_p95"] <= 400
    frames, pcm = _tracks(out)
    assert frames >= 3 * FPS
    assert abs(len(pcm) / 16000 - frames / FPS) < 0.2  # the audio track spans the video
    assert np.abs(pcm.astype(np.float64)).mean() > 0.005 * (1 if pcm.dtype.kind == "f" else 32768)  # speech, not silence


def test_speech_keeps_playing_under_loss_and_concealment_is_counted(server, clip: Path) -> None:
    room = create_room(server.ws_url, proxy=None)
    a = _peer(server.ws_url, room, VideoSource(clip, FPS, audio=True), impairment=Impairment(loss=0.1, seed=3))
    b = _peer(server.ws_url, room, None)
    played: list[int] = []
    b.audio_sinks.append(lambda pcm, t: played.append(len(pcm)))
    ra, rb = asyncio.run(_call(server.ws_url, a, b, 6.0))
    assert ra.reason == "duration"
    sa, sb = ra.stats, rb.stats
    assert a.impairment is not None and a.impairment.dropped >= 2
    lost = sa["audio_frames_sent"] - sb["audio_frames_received"]
    assert lost > 0
    assert sb["audio_concealed"] >= 0.8 * lost  # the lost frames were concealed, not waited for
    assert len(played) >= 0.9 * sa["audio_frames_sent"] - 10  # and the playout went on through them
    assert sb["packets_lost"] > 0  # the face's frames in the lost messages are lost too


def test_no_audio_call_sends_no_speech_and_records_no_track(server, clip: Path, tmp_path: Path) -> None:
    room = create_room(server.ws_url, proxy=None)
    a = _peer(server.ws_url, room, VideoSource(clip, FPS, audio=False), audio=False)
    b = _peer(server.ws_url, room, None, audio=False)
    ra, rb = asyncio.run(_call(server.ws_url, a, b, 3.0))
    assert ra.stats["audio_frames_sent"] == 0 and rb.stats["audio_frames_received"] == 0
    assert rb.remote_hello is not None and rb.remote_hello.audio is None
    # video-only messages are compact bundles exactly as before: codec bits + 6 bytes per 2 frames
    assert ra.stats["driving_bytes_sent"] == rb.stats["driving_bytes_received"]
