"""Where the sending peer's frames come from: a video file played in real time, a camera, or a
WebRTC track (the browser's camera, over loopback). Each yields RGB uint8 `[H, W, 3]` frames at
(at most) the call's frame rate."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

from aiortc.mediastreams import MediaStreamError
from numpy.typing import NDArray

from sender.tracker import FaceTracker, NoFaceError
from sender.video import open_video

log = logging.getLogger(__name__)


PROBE_S = 5.0  # a video file must show a face within its first seconds to be a call's camera


class FrameSource(Protocol):
    def frames(self, executor: Executor) -> AsyncIterator[NDArray[Any]]: ...

    def probe(self, tracker: FaceTracker) -> None:
        """Check the source before the call starts (blocking; raises `ValueError`, one line)."""


class VideoSource:
    """A file (looped) or a camera index, read in `executor` and paced to `fps` in real time."""

    def __init__(self, source: str | Path | int, fps: float, loop: bool = True) -> None:
        self.source = source
        self.fps = fps
        self.loop = loop and not isinstance(source, int)

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
