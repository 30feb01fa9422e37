"""Video sources: frames, rates, resampling, and one clear VideoError for every bad input."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from sender.video import (
    FrameRateSampler,
    VideoError,
    VideoFile,
    default_video,
    open_video,
)


def write_video(path: Path, frames: int, fps: int = 25, size: tuple[int, int] = (64, 48)) -> Path:
    """A small mpeg4 video whose frame i has brightness 4 * i."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size[1], size[0], 3), (4 * i) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_default_clip() -> None:
    with VideoFile(default_video()) as video:
        frames = list(video)
    assert video.info.width == 176 and video.info.height == 144
    assert video.info.fps == pytest.approx(29.97, abs=0.01)
    assert len(frames) == video.info.frame_count == 120
    assert frames[0].shape == (144, 176, 3) and frames[0].dtype == np.uint8


def test_resample_and_max_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", frames=50, fps=25)  # 2 s
    with open_video(path, fps=15) as video:
        frames = list(video)
    assert video.info.fps == 15 and video.info.source_fps == 25
    assert len(frames) == 30
    assert abs(video.info.frame_count - 30) <= 1
    brightness = [int(f.mean()) for f in frames]
    assert brightness == sorted(brightness)  # in order, none repeated
    with open_video(path, fps=60) as video:  # faster than the source: every frame, none doubled
        assert len(list(video)) == 50 and video.info.fps == 25
    with open_video(path, max_frames=7) as video:
        assert len(list(video)) == 7 and video.info.frame_count == 7


def test_sampler_keeps_evenly_spaced_frames() -> None:
    sampler = FrameRateSampler(10.0, 30.0)
    kept = [i for i in range(90) if sampler.keep(i / 30.0)]
    assert kept == list(range(0, 90, 3))
    assert all(FrameRateSampler(None, 30.0).keep(t) for t in (0.0, 0.0, 1.0))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "empty file"), (b"hello, this is not a video\n" * 20, "not a readable video"),
     (np.random.default_rng(1).bytes(50_000), "not a readable video")],
)
def test_bad_inputs_raise_one_line_video_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=message) as info:
        with open_video(path) as video:
            list(video)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_truncated_and_non_video_files(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "whole.mp4", frames=20).read_bytes()
    (tmp_path / "head.mp4").write_bytes(whole[:200])
    with pytest.raises(VideoError):
        with open_video(tmp_path / "head.mp4") as video:
            list(video)
    with pytest.raises(VideoError, match="not a file"):
        open_video(tmp_path)
    with pytest.raises(ValueError):
        open_video(tmp_path / "whole.mp4", fps=0)
