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
from typing import Protocol

import numpy as np

from sender.video import open_video

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    def frames(self, executor: Executor) -> AsyncIterator[np.ndarray]: ...


class VideoSource:
    """A file (looped) or a camera index, read in `executor` and paced to `fps` in real time."""

    def __init__(self, source: str | Path | int, fps: float, loop: bool = True) -> None:
        self.source = source
        self.fps = fps
        self.loop = loop and not isinstance(source, int)

    def _iterate(self) -> Iterator[np.ndarray]:
        while True:
            count = 0
            with open_video(self.source, fps=self.fps) as video:
                for frame in video:
                    count += 1
                    yield frame
            if not self.loop or count == 0:
                return

    async def frames(self, executor: Executor) -> AsyncIterator[np.ndarray]:
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

    async def frames(self, executor: Executor) -> AsyncIterator[np.ndarray]:
        from aiortc.mediastreams import MediaStreamError

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
