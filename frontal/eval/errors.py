"""Error types raised by the measuring tools."""
from __future__ import annotations


class EvalError(RuntimeError):
    """Base class: a measurement could not be made."""


class FfmpegError(EvalError):
    """An ffmpeg run failed; the message carries its last stderr line."""


class MetricUnavailableError(EvalError):
    """A metric's backend (libvmaf, dlib models, mediapipe) is missing from this install."""
