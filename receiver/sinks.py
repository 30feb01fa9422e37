"""Where the rendered remote caller goes: an OpenCV window, an .mp4 file, a WebRTC track."""
from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import threading
import time
from pathlib import Path

import numpy as np

from receiver.live import ShownFrame

log = logging.getLogger(__name__)


class LatestFrame:
    """Keeps the newest frame (thread-safe): the window and the browser track read it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frame: np.ndarray | None = None
        self.count = 0

    def __call__(self, frame: np.ndarray, info: ShownFrame) -> None:
        with self._lock:
            self.frame, self.count = frame, self.count + 1

    def get(self) -> tuple[np.ndarray | None, int]:
        with self._lock:
            return self.frame, self.count


class Recorder:
    """Writes every shown frame to an .mp4 at the sender's rate (atomically, on its own thread)."""

    def __init__(self, path: Path, fps: float) -> None:
        from receiver.videoout import write_mp4

        self.path = path
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=256)
        self.frames = 0
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.frames = write_mp4(path, iter(self._queue.get, None), fps)
            except BaseException as exc:  # no frame at all, or an encoder error
                self.error = exc

        self._thread = threading.Thread(target=run, name="call-record", daemon=True)
        self._thread.start()

    def __call__(self, frame: np.ndarray, info: ShownFrame) -> None:
        try:
            self._queue.put(frame, timeout=1.0)
        except queue.Full:
            log.warning("recorder is behind: frame dropped")

    def close(self, timeout_s: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)


async def show_window(latest: LatestFrame, title: str, stop: asyncio.Event, fps: float = 30.0) -> None:
    """An OpenCV window showing the newest frame until `stop` (or the window's Esc/q key)."""
    import cv2

    seen = -1
    while not stop.is_set():
        frame, count = latest.get()
        if frame is not None and count != seen:
            seen = count
            cv2.imshow(title, cv2.resize(frame[:, :, ::-1], (512, 512)))
        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
            stop.set()
        await asyncio.sleep(1.0 / fps)
    cv2.destroyWindow(title)


def rendered_track(latest: LatestFrame, fps: float) -> object:
    """An aiortc video track playing the newest rendered frame at `fps` (black before the first)."""
    import av
    from aiortc import VideoStreamTrack

    class RenderedTrack(VideoStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self._t0: float | None = None
            self._n = 0

        async def recv(self) -> av.VideoFrame:
            if self._t0 is None:
                self._t0 = time.monotonic()
            self._n += 1
            delay = self._t0 + self._n / fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            frame, _ = latest.get()
            image = frame if frame is not None else np.zeros((256, 256, 3), np.uint8)
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            out.pts, out.time_base = int(self._n * 90000 / fps), fractions.Fraction(1, 90000)
            return out

    return RenderedTrack()
