"""Where the sending peer's frames come from: a video file played in real time, a camera, or a
WebRTC track (the browser's camera, over loopback). Each yields RGB uint8 `[H, W, 3]` frames at
(at most) the call's frame rate.

Speech. A video file's audio track (`VideoSource(..., audio=True)`) plays on the video's clock: the
sender anchors each loop's first video frame at its capture time (`AudioTrack.anchor`) and takes
the samples up to now (`AudioTrack.take`), so sound and picture keep the file's own sync however
the loop's start falls."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from aiortc.mediastreams import MediaStreamError
from numpy.typing import NDArray

from codec.audio import SAMPLE_RATE, AudioError, load_audio
from sender.tracker import FaceTracker, NoFaceError
from sender.video import open_video

log = logging.getLogger(__name__)


PROBE_S = 5.0  # a video file must show a face within its first seconds to be a call's camera


class FrameSource(Protocol):
    def frames(self, executor: Executor) -> AsyncIterator[NDArray[Any]]: ...

    def probe(self, tracker: FaceTracker) -> None:
        """Check the source before the call starts (blocking; raises `ValueError`, one line)."""


class SpeechSource(Protocol):
    """Where a call's speech comes from: a file's track (`AudioTrack`) or a microphone
    (`sender.mic.Microphone`)."""

    def anchor(self, unix_ms: float) -> None:
        """A video loop's first frame was captured at `unix_ms`."""

    def take(self, until_ms: float) -> tuple[float, NDArray[np.int16]] | None:
        """The samples not taken yet, up to `until_ms`, and the Unix time of the first (None: none due)."""


class AudioTrack:
    """A file's speech (int16 mono at `rate`), played against the video's loops: a sample at Unix
    time t is the track's sample at t minus the capture time of the current loop's first frame
    (silence past the track's end)."""

    def __init__(self, pcm: NDArray[Any], rate: int = SAMPLE_RATE) -> None:
        self.pcm = np.asarray(pcm, np.int16).reshape(-1)
        self.rate = rate
        self.anchors: list[float] = []  # Unix ms of each loop's first video frame (the last two)
        self.next_ms: float | None = None  # the Unix time of the next sample to take

    def anchor(self, unix_ms: float) -> None:
        """A loop's first video frame was captured at `unix_ms`."""
        self.anchors = self.anchors[-1:] + [unix_ms]
        if self.next_ms is None:
            self.next_ms = unix_ms

    def take(self, until_ms: float) -> tuple[float, NDArray[np.int16]] | None:
        """The samples from where the last take ended up to `until_ms`, and the Unix time of the
        first (None before the first anchor or when none is due)."""
        if self.next_ms is None:
            return None
        n = int((until_ms - self.next_ms) * self.rate / 1000.0)
        if n <= 0:
            return None
        times = self.next_ms + np.arange(n) * 1000.0 / self.rate
        anchors = np.asarray(self.anchors)
        which = np.clip(np.searchsorted(anchors, times, side="right") - 1, 0, None)
        pos = np.rint((times - anchors[which]) * self.rate / 1000.0).astype(np.int64)
        inside = (pos >= 0) & (pos < len(self.pcm))
        out = np.where(inside, self.pcm[np.clip(pos, 0, max(0, len(self.pcm) - 1))] if len(self.pcm) else 0, 0).astype(np.int16)
        start, self.next_ms = self.next_ms, self.next_ms + n * 1000.0 / self.rate
        return start, out


class VideoSource:
    """A file (looped) or a camera index, read in `executor` and paced to `fps` in real time.
    With `audio`, a file's audio track (if it has one) is loaded as `self.audio` (`AudioTrack`);
    `frame_index` is the index in its loop of the frame last yielded."""

    def __init__(self, source: str | Path | int, fps: float, loop: bool = True, audio: bool = False) -> None:
        self.source = source
        self.fps = fps
        self.loop = loop and not isinstance(source, int)
        self.frame_index = -1
        self.audio: SpeechSource | None = None
        if audio and not self.is_camera:
            try:
                pcm = load_audio(source)  # type: ignore[arg-type]  # a file here
            except AudioError:
                with open_video(source, fps=fps, max_frames=1) as video:  # not a video at all: say that first (VideoError)
                    next(iter(video), None)
                raise
            if pcm is not None and len(pcm):
                self.audio = AudioTrack(pcm)

    @property
    def is_camera(self) -> bool:
        return isinstance(self.source, int) or (isinstance(self.source, str) and self.source.isdigit())

    def probe(self, tracker: FaceTracker, seconds: float = PROBE_S) -> None:
        """A file must open, decode and show a face within its first `seconds`, as `frontal encode`
        and `codec-loopback` require: raises `VideoError` or `NoFaceError` (one line) otherwise.
        A camera is not checked (the face may come later). Resets `tracker` afterwards."""
        if self.is_camera:
            return
        found = False
        with open_video(self.source, fps=self.fps, max_frames=max(1, round(seconds * self.fps))) as video:
            for frame in video:  # VideoError if there is no decodable frame
                if tracker.track(frame).face_found:
                    found = True
                    break
        tracker.reset()
        if not found:
            raise NoFaceError(f"{self.source}: no face found in its first {seconds:g} s")

    def _iterate(self) -> Iterator[NDArray[Any]]:
        while True:
            count = 0
            with open_video(self.source, fps=self.fps) as video:
                for frame in video:
                    self.frame_index = count
                    count += 1
                    yield frame
            if not self.loop or count == 0:
                return

    async def frames(self, executor: Executor) -> AsyncIterator[NDArray[Any]]:
        loop = asyncio.get_running_loop()
        it = self._iterate()
        period = 1.0 / self.fps
        due = time.monotonic()
        while True:
            frame = await loop.run_in_executor(executor, next, it, None)
            if frame is None:
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -period:
                due = time.monotonic()  # we fell behind: do not try to catch up with a burst
            due += period
            yield frame


class TrackSource:
    """Frames of an aiortc `MediaStreamTrack` (e.g. the browser's camera), thinned to `fps`."""

    def __init__(self, track: object, fps: float) -> None:
        self.track = track
        self.fps = fps

    def probe(self, tracker: FaceTracker) -> None:
        """Nothing to check before the call: the track is live (a camera)."""

    async def frames(self, executor: Executor) -> AsyncIterator[NDArray[Any]]:

        period = 1.0 / self.fps
        due = 0.0
        while True:
            try:
                frame = await self.track.recv()  # type: ignore[attr-defined]
            except MediaStreamError:
                return
            now = time.monotonic()
            if now < due:
                continue
            due = max(due + period, now - period)
            yield frame.to_ndarray(format="rgb24")
