"""Sound devices (`frontal call --mic/--speaker`): ALSA through PyAV. This machine has no sound
card, so the tests use ALSA's `null` device (silence in, anything out): they check the plumbing,
the clock stamps and the errors, not what a real card sounds like. Skipped where PyAV has no ALSA."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from codec.audio import AudioError
from frontal.call.peer import CallPeer, PeerConfig
from receiver.render import LandmarkFrameRenderer
from receiver.speaker import Speaker
from sender.live import SenderConfig
from sender.mic import Microphone
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import create_room
from signaling.server import ServerThread

pytestmark = pytest.mark.skipif("alsa" not in av.formats_available, reason="PyAV without ALSA")


def _null_works() -> bool:
    try:
        Speaker("null").close()
    except AudioError:
        return False
    return True


needs_null = pytest.mark.skipif(not _null_works(), reason="ALSA's null device does not open here")


@needs_null
def test_microphone_stamps_samples_with_their_capture_time() -> None:
    mic = Microphone("null")
    try:
        time.sleep(0.4)
        now = time.time() * 1000.0
        taken = mic.take(now)
        assert taken is not None
        start, pcm = taken
        assert pcm.dtype == np.int16 and len(pcm) > 0
        assert now - 1500 < start < now  # captured in the last moments, not at some other clock's zero
        again = mic.take(time.time() * 1000.0)
        if again is not None:  # continuous: the next take starts where this one ended
            assert again[0] == pytest.approx(start + len(pcm) / 16.0, abs=mic.resync_ms + 1)
    finally:
        mic.close()


@needs_null
def test_speaker_plays_what_it_is_given_and_never_blocks() -> None:
    speaker = Speaker("null", max_queue_s=0.2)
    t = time.perf_counter()
    for _ in range(50):
        speaker(np.zeros(640, np.int16), 0.0)
    assert time.perf_counter() - t < 0.5
    speaker.close()
    assert speaker.error is None
    assert speaker.played_samples + speaker.dropped_frames * 640 == 50 * 640
    assert speaker.played_samples > 0


def test_a_device_that_does_not_exist_is_one_line() -> None:
    with pytest.raises(AudioError, match=r"^microphone 'no-such-device': cannot open it") as info:
        Microphone("no-such-device")
    assert "\n" not in str(info.value)
    with pytest.raises(AudioError, match=r"^speaker 'no-such-device': cannot open it"):
        Speaker("no-such-device")


def test_call_refuses_a_missing_microphone_and_no_audio_with_devices() -> None:
    for extra, message in ((["--mic", "no-such-device"], "microphone 'no-such-device'"),
                           (["--no-audio", "--speaker"], "--no-audio makes a video-only call")):
        run = subprocess.run([sys.executable, "-m", "frontal.call", "--room", "r1", "--token", "tttttttt",
                              "--video", "default", "--no-window", "--signaling", "ws://127.0.0.1:9/ws", *extra],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1, run.stderr
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith("frontal call: error:") and message in last, run.stderr
        assert "Traceback" not in run.stderr


@needs_null
def test_microphone_speech_reaches_the_other_speaker() -> None:
    """A call whose speech comes from a microphone and plays on the other's speaker (both `null`)."""
    with ServerThread() as server:
        room = create_room(server.ws_url, proxy=None)
        source = VideoSource(default_video(), 10.0, audio=False)
        mic = Microphone("null")
        source.audio = mic  # as `frontal call --mic` does
        speaker = Speaker("null")

        def peer(src: VideoSource | None) -> CallPeer:
            cfg = PeerConfig(server.ws_url, room.room, room.token, sender=SenderConfig(fps=10.0), loopback_only=True, wait_peer_s=20)
            return CallPeer(cfg, src, LandmarkFrameRenderer)

        a, b = peer(source), peer(None)
        b.audio_sinks.append(speaker)

        async def call():
            ta = asyncio.create_task(a.run(4.0))
            await asyncio.wait_for(a.joined.wait(), 20)
            tb = asyncio.create_task(b.run(9.0))
            return await asyncio.wait_for(asyncio.gather(ta, tb), 60)

        try:
            ra, rb = asyncio.run(call())
        finally:
            mic.close()
            speaker.close()
    assert ra.stats["audio_frames_sent"] > 20, ra.stats
    assert rb.stats["audio_frames_played"] > 10, rb.stats
    assert speaker.error is None and speaker.played_samples >= 10 * 640
