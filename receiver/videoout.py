"""Writing frames to an .mp4 (H.264 via PyAV), atomically."""
from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np


def write_mp4(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float, crf: int = 18) -> int:
    """Encode RGB uint8 frames [H,W,3] to `path`; returns the frame count. The file appears whole or not at all."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix="." + p.stem, suffix=".mp4")
    os.close(fd)
    count = 0
    try:
        with av.open(tmp, "w", format="mp4") as out:
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
        if count == 0:
            raise ValueError("no frames to write")
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return count
