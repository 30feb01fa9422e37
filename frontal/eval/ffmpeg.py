"""The ffmpeg binary shipped by imageio-ffmpeg, and a runner that turns failures into one line."""
from __future__ import annotations

import functools
import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg

from frontal.eval.errors import FfmpegError

log = logging.getLogger(__name__)


def ffmpeg_exe() -> str:
    """Path of imageio-ffmpeg's ffmpeg (never the system one, so results do not depend on the host)."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.lru_cache(maxsize=8)
def _listing(exe: str, what: str) -> str:
    done = subprocess.run([exe, "-hide_banner", what], capture_output=True, text=True, check=False)
    return done.stdout


def has_encoder(name: str) -> bool:
    """Whether the bundled ffmpeg was built with encoder `name` (e.g. "libsvtav1")."""
    return any(line.split()[1:2] == [name] for line in _listing(ffmpeg_exe(), "-encoders").splitlines())


def has_filter(name: str) -> bool:
    """Whether the bundled ffmpeg was built with filter `name` (e.g. "libvmaf")."""
    return any(line.split()[1:2] == [name] for line in _listing(ffmpeg_exe(), "-filters").splitlines())


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def run_ffmpeg(args: Sequence[str], cwd: Path | None = None, stdin: bytes | None = None) -> str:
    """Run `ffmpeg -y ARGS` (stdin fed from `stdin` if given); return stderr; FfmpegError on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-y", *args]
    if stdin is None:
        cmd.insert(2, "-nostdin")
    log.debug("ffmpeg: %s", " ".join(cmd))
    done = subprocess.run(cmd, input=stdin, capture_output=True, cwd=cwd, check=False)
    err = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise FfmpegError(f"ffmpeg failed (exit {done.returncode}): {_last_line(err)}")
    return err


def raw_input_args(width: int, height: int, fps: float, pix_fmt: str = "rgb24") -> list[str]:
    """Input options for a headerless raw video file or pipe."""
    return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-r", f"{fps:g}"]
