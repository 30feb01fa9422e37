"""Writing frames to an .mp4 (H.264 via PyAV), atomically."""
from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from codec.atomic import AtomicFile


def encode_mp4(path: str | os.PathLike[str], frames: Iterable[NDArray[Any]], fps: float, crf: int = 18) -> int:
    """Encode RGB uint8 frames [H,W,3] to `path` as they come (not atomic); returns the frame count.
    An odd width or height loses its last column or row (yuv420p)."""
    count = 0
    with av.open(str(path), "w", format="mp4") as out:
        stream = None
        for frame in frames:
            if stream is None:
                h, w = frame.shape[:2]
                stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[: stream.height, : stream.width]), format="rgb24")
            for pkt in stream.encode(vf):
                out.mux(pkt)
            count += 1
        if stream is not None:
            for pkt in stream.encode():
                out.mux(pkt)
    return count


def write_mp4(path: str | os.PathLike[str], frames: Iterable[NDArray[Any]], fps: float, crf: int = 18) -> int:
    """Encode RGB uint8 frames [H,W,3] to `path`; returns the frame count. The file appears whole or
    not at all, with the mode a new file gets (0666 less the umask)."""
    target = AtomicFile(path, suffix=".mp4")
    try:
        count = encode_mp4(target.tmp, frames, fps, crf)
        if count == 0:
            raise ValueError("no frames to write")
        target.commit()
    finally:
        target.discard()
    return count
