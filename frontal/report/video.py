"""The side-by-side video: input | Frontal | each classical codec, each tile labelled."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from receiver.videoout import write_mp4

LABEL_HEIGHT = 24


def labelled(frames: np.ndarray, text: str) -> np.ndarray:
    """Frames [T,H,W,3] with a black caption bar of LABEL_HEIGHT px underneath."""

    t, h, w, _ = frames.shape
    bar = np.zeros((LABEL_HEIGHT, w, 3), dtype=np.uint8)
    scale = 0.42
    while scale > 0.25 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > w - 6:
        scale -= 0.02
    cv2.putText(bar, text, (3, LABEL_HEIGHT - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([frames, np.broadcast_to(bar, (t, *bar.shape))], axis=1)


def write_side_by_side(path: Path, tiles: Sequence[tuple[str, np.ndarray]], fps: float) -> int:
    """Write labelled tiles (each [T,H,W,3], same shape) left to right as an H.264 mp4."""

    panels = [labelled(frames, label) for label, frames in tiles]
    n = min(len(p) for p in panels)
    return write_mp4(path, (np.concatenate([p[i] for p in panels], axis=1) for i in range(n)), fps)
