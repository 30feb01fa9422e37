"""Writing frames to an .mp4 (H.264 via PyAV, and an AAC speech track if given), atomically."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from codec.atomic import AtomicFile

AudioFeed = Callable[[], NDArray[Any]]  # the whole track, int16 mono, sample 0 at video frame 0
AUDIO_KBPS = 32  # the .mp4's AAC track (the call's speech is 5.5 kbit/s Opus: this adds nothing audible)


def encode_mp4(path: str | os.PathLike[str], frames: Iterable[NDArray[Any]], fps: float, crf: int = 18,
               audio: AudioFeed | None = None, audio_rate: int = 16000) -> int:
    """Encode RGB uint8 frames [H,W,3] to `path` as they come (not atomic); returns the frame count.
    An odd width or height loses its last column or row (yuv420p). With `audio`, called once the
    frames have ended, the file gets an AAC track (mono, `audio_rate`) cut to the video's length."""
    count = 0
    with av.open(str(path), "w", format="mp4") as out:
        stream = None
        astream: Any = None
        for frame in frames:
            if stream is None:
                h, w = frame.shape[:2]
                stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
                if audio is not None:
                    astream = out.add_stream("aac", rate=audio_rate)
                    astream.layout, astream.bit_rate = "mono", AUDIO_KBPS * 1000
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[: stream.height, : stream.width]), format="rgb24")
            for pkt in stream.encode(vf):
                out.mux(pkt)
            count += 1
        if stream is not None:
            for pkt in stream.encode():
                out.mux(pkt)
        if astream is not None and audio is not None:
            _encode_audio(out, astream, audio(), audio_rate, count / fps)
    return count


def _encode_audio(out: Any, astream: Any, pcm: NDArray[Any], rate: int, duration_s: float) -> None:
    n = int(round(duration_s * rate))
    track = np.zeros(n, np.int16)
    pcm = np.asarray(pcm, np.int16).reshape(-1)[:n]
    track[: len(pcm)] = pcm
    step = 1024
    for i in range(0, n, step):
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(track[None, i: i + step]), format="s16", layout="mono")
        af.sample_rate, af.pts = rate, i
        for pkt in astream.encode(af):
            out.mux(pkt)
    for pkt in astream.encode(None):
        out.mux(pkt)


def write_mp4(path: str | os.PathLike[str], frames: Iterable[NDArray[Any]], fps: float, crf: int = 18,
              audio: NDArray[Any] | None = None, audio_rate: int = 16000) -> int:
    """Encode RGB uint8 frames [H,W,3] to `path` (with `audio`, int16 mono from video frame 0, as
    an AAC track); returns the frame count. The file appears whole or not at all, with the mode a
    new file gets (0666 less the umask)."""
    target = AtomicFile(path, suffix=".mp4")
    try:
        feed = None if audio is None else (lambda: audio)
        count = encode_mp4(target.tmp, frames, fps, crf, audio=feed, audio_rate=audio_rate)
        if count == 0:
            raise ValueError("no frames to write")
        target.commit()
    finally:
        target.discard()
    return count
