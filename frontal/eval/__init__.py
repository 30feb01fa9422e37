"""Measuring tools: quality metrics (PSNR, SSIM, MS-SSIM, VMAF, identity, landmark NME) and
classical-codec baselines (x264, x265, VP9, AV1) at a target bitrate.

Heavy dependencies (torch, dlib, mediapipe, PyAV) are imported by the submodules that need them,
so `import frontal.eval` stays cheap. See docs/metrics.md for definitions.
"""
from __future__ import annotations

from frontal.eval.errors import EvalError, FfmpegError, MetricUnavailableError

__all__ = ["EvalError", "FfmpegError", "MetricUnavailableError"]
