"""VMAF through the bundled ffmpeg's `libvmaf` filter, with libvmaf's built-in model.

Both sequences are written losslessly as raw rgb24 files to a temporary folder; ffmpeg converts each
to yuv420p (swscale's default BT.601 limited-range matrix, the same for both) and feeds
`libvmaf=log_fmt=json` with the distorted stream first and the reference second. The default model
`version=vmaf_v0.6.1` is compiled into libvmaf: nothing is downloaded. It was trained for 1080p
viewing; on 256x256 face crops treat the numbers as relative, not as absolute quality.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontal.eval.errors import EvalError, MetricUnavailableError
from frontal.eval.ffmpeg import has_filter, raw_input_args, run_ffmpeg
from frontal.eval.fidelity import check_pair

log = logging.getLogger(__name__)

DEFAULT_VMAF_MODEL = "version=vmaf_v0.6.1"


@dataclass(frozen=True, eq=False)
class VmafResult:
    """Per-frame VMAF [T] (0..100) and libvmaf's pooled mean."""

    per_frame: np.ndarray
    mean: float
    model: str


def _filtergraph(model: str, threads: int) -> str:
    model_arg = model.replace("=", r"\=").replace(":", r"\:")
    return (
        "[0:v]format=yuv420p[d];[1:v]format=yuv420p[r];"
        f"[d][r]libvmaf=model={model_arg}:log_fmt=json:log_path=vmaf.json:n_threads={threads}"
    )


def _parse_log(path: Path, n_frames: int) -> tuple[np.ndarray, float]:
    data = json.loads(path.read_text())
    per_frame = np.array([f["metrics"]["vmaf"] for f in data["frames"]], dtype=np.float64)
    if len(per_frame) != n_frames:
        raise EvalError(f"libvmaf scored {len(per_frame)} frames, expected {n_frames}")
    return per_frame, float(data["pooled_metrics"]["vmaf"]["mean"])


def vmaf(
    ref: np.ndarray, dist: np.ndarray, fps: float = 15.0, model: str = DEFAULT_VMAF_MODEL, threads: int = 1
) -> VmafResult:
    """VMAF of `dist` against `ref` (both [T,H,W,3] uint8, H and W even)."""
    check_pair(ref, dist)
    if not has_filter("libvmaf"):
        raise MetricUnavailableError("this ffmpeg has no libvmaf filter: VMAF is unavailable")
    t, h, w, _ = ref.shape
    with tempfile.TemporaryDirectory(prefix="frontal-vmaf-") as tmp:
        folder = Path(tmp)
        (folder / "dist.rgb").write_bytes(np.ascontiguousarray(dist).tobytes())
        (folder / "ref.rgb").write_bytes(np.ascontiguousarray(ref).tobytes())
        raw = raw_input_args(w, h, fps)
        args = [*raw, "-i", "dist.rgb", *raw, "-i", "ref.rgb", "-lavfi", _filtergraph(model, threads), "-f", "null", "-"]
        run_ffmpeg(args, cwd=folder)
        per_frame, mean = _parse_log(folder / "vmaf.json", t)
    log.debug("VMAF mean %.2f over %d frames", mean, t)
    return VmafResult(per_frame=per_frame, mean=mean, model=model)
