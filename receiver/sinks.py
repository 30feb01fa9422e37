"""Where the rendered remote caller goes: an OpenCV window, an .mp4 file, a WebRTC track."""
from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from aiortc import VideoStreamTrack
from numpy.typing import NDArray

from codec.atomic import AtomicFile
from receiver.live import ShownFrame
from receiver.videoout import encode_mp4

log = logging.getLogger(__name__)


class LatestFrame:
    """Keeps the newest frame (thread-safe): the window and the browser track read it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frame: NDArray[Any] | None = None
        self.count = 0

    def __call__(self, frame: NDArray[Any], info: ShownFrame) -> None:
        with self._lock:
            self.frame, self.count = frame, self.count + 1

    def get(self) -> tuple[NDArray[Any] | None, int]:
        with self._lock:
            return self.frame, self.count


class RecorderError(RuntimeError):
    """The recording failed: the writer cannot keep up, or it stopped with an error."""


class Recorder:
    """Writes every shown frame to an .mp4 at the sender's rate, on its own thread.

    The file appears whole (every frame handed to the recorder, in order) or not at all, never
    half-written. The render thread never waits for the writer: a frame that finds the queue full
    (`max_queue_s` of frames) means the writer cannot keep up, and the recording fails rather than
    losing frames silently. A failure (that, or an encoder error) is logged once, kept in `error`
    and reported to `on_failure` (from whichever thread saw it): the call is expected to end.
    `close` finalises the file within its time limit or abandons it (the temp file is removed).
    """

    def __init__(self, path: Path, fps: float, max_queue_s: float = 4.0,
                 on_failure: Callable[[BaseException], None] | None = None, audio_rate: int | None = None) -> None:
        self.path = path
        self.fps = fps
        self.audio_rate = audio_rate  # with a rate, the speech played (`add_audio`) becomes the file's audio track
        self._audio: list[tuple[float, NDArray[np.int16]]] = []  # (Unix ms it played at, PCM)
        self._first_shown_ms: float | None = None  # Unix ms the first frame was shown: the file's time 0
        self.audio_samples = 0  # samples in the written file's audio track
        self.on_failure = on_failure
        self._queue: queue.Queue[NDArray[Any] | None] = queue.Queue(maxsize=max(8, round(fps * max_queue_s)))
        self._lock = threading.Lock()  # error, abandoning vs. committing the file
        self._closing = False
        self._abandoned = False
        self.frames = 0  # frames in the written file
        self.written = False  # the file is there, whole
        self.error: BaseException | None = None
        self._target: AtomicFile | None = None
        self._thread = threading.Thread(target=self._run, name="call-record", daemon=True)
        self._thread.start()

    def __call__(self, frame: NDArray[Any], info: ShownFrame) -> None:
        if self._closing or self.error is not None:
            return
        if self._first_shown_ms is None:
            self._first_shown_ms = time.time() * 1000.0
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self._fail(RecorderError(f"the recorder cannot keep up: {self._queue.maxsize} frames are waiting"))

    def add_audio(self, pcm: NDArray[np.int16], play_unix_ms: float) -> None:
        """A speech frame played at `play_unix_ms` (an `AudioSink`; any thread)."""
        if self.audio_rate is None or self._closing:
            return
        with self._lock:
            self._audio.append((play_unix_ms, pcm))

    def _audio_track(self) -> NDArray[np.int16]:
        """The speech on the file's clock: sample 0 when the first frame was shown; silence where
        nothing played; what played before the first frame is left out."""
        assert self.audio_rate is not None
        with self._lock:
            chunks = list(self._audio)
        t0 = self._first_shown_ms
        if t0 is None or not chunks:
            return np.zeros(0, np.int16)
        end = max(int(round((t - t0) * self.audio_rate / 1000.0)) + len(p) for t, p in chunks)
        track = np.zeros(max(0, end), np.int16)
        for t, p in chunks:
            pos = int(round((t - t0) * self.audio_rate / 1000.0))
            if pos + len(p) <= 0:
                continue
            cut = max(0, -pos)
            track[pos + cut: pos + len(p)] = p[cut:]
        self.audio_samples = len(track)
        return track

    def close(self, timeout_s: float = 3.0) -> bool:
        """End the recording: True if the file was written whole within `timeout_s`; otherwise it
        is abandoned (no file) and False is returned. Never blocks longer than `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        self._closing = True
        try:
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:  # the writer is stuck or far behind
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if not self.written:
                self._abandoned = True
        if self._thread.is_alive():
            log.error("recording abandoned: the writer did not finish within %.1f s (%s not written)", timeout_s, self.path)
            self._drain()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)  # a writer waiting for a frame ends
            target = self._target
            if target is not None:  # the process may end before the writer: leave no temp file
                with contextlib.suppress(OSError):
                    target.discard()
        return self.written

    # -- writer thread --------------------------------------------------------------------------
    def _frames(self) -> Iterator[NDArray[Any]]:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._abandoned:
                raise RecorderError("recording abandoned")
            yield frame

    def _run(self) -> None:
        target: AtomicFile | None = None
        try:
            target = self._target = AtomicFile(self.path, suffix=".mp4")
            if self.audio_rate is None:
                count = encode_mp4(target.tmp, self._frames(), self.fps)
            else:
                count = encode_mp4(target.tmp, self._frames(), self.fps, audio=self._audio_track, audio_rate=self.audio_rate)
            if count == 0:  # the caller decides whether that is a failure (close() returns False)
                self.error = RecorderError("no frame was shown: nothing recorded")
                log.info("%s not written: no frame was shown", self.path)
                return
            with self._lock:
                if self._abandoned:
                    return
                target.commit()
                self.frames, self.written = count, True
            log.info("recorded %d frames to %s", count, self.path)
        except BaseException as exc:  # an encoder error, a full disk
            self._fail(exc)
            self._drain()
        finally:
            if target is not None:
                target.discard()

    def _drain(self) -> None:
        """Empty the queue (frames no one will write), so no producer or closer waits on it."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is not None or self._abandoned:
                return
            self.error = exc
        log.error("recording failed: %s", exc)
        if self.on_failure is not None:
            self.on_failure(exc)


async def show_window(latest: LatestFrame, title: str, stop: asyncio.Event, fps: float = 30.0) -> None:
    """An OpenCV window showing the newest frame until `stop` (or the window's Esc/q key)."""
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


def rendered_track(latest: LatestFrame, fps: float) -> VideoStreamTrack:
    """An aiortc video track playing the newest rendered frame at `fps` (black before the first)."""
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
