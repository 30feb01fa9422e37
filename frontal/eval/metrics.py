"""Quality metrics between a reference and a distorted RGB sequence [T,H,W,3] uint8, and `measure`,
which runs a chosen set of them into one `QualityReport`.

Definitions live with each metric (fidelity.py: PSNR/SSIM/MS-SSIM; vmaf.py; identity.py;
landmarks.py) and in docs/metrics.md.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from frontal.eval.fidelity import PSNR_CAP_DB, check_pair, luma, msssim, psnr, ssim
from frontal.eval.identity import FaceIdentity, IdentityScores, identity_distance
from frontal.eval.landmarks import FaceMeshLandmarker, NmeScores, landmark_nme
from frontal.eval.vmaf import VmafResult, vmaf

log = logging.getLogger(__name__)

ALL_METRICS = ("psnr", "ssim", "msssim", "vmaf", "identity", "nme")
DEFAULT_YAW_EDGES = (0.0, 15.0, 30.0, 45.0, 90.0)

__all__ = [
    "ALL_METRICS",
    "BucketStat",
    "FaceIdentity",
    "FaceMeshLandmarker",
    "FrameScores",
    "IdentityScores",
    "NmeScores",
    "PSNR_CAP_DB",
    "QualityReport",
    "VmafResult",
    "aggregate_by_bucket",
    "identity_distance",
    "landmark_nme",
    "luma",
    "measure",
    "msssim",
    "psnr",
    "ssim",
    "vmaf",
]


@dataclass(frozen=True, eq=False)
class FrameScores:
    """A per-frame score [T] and its mean over frames."""

    per_frame: np.ndarray
    mean: float

    @classmethod
    def of(cls, per_frame: np.ndarray) -> FrameScores:
        return cls(per_frame=per_frame, mean=float(np.mean(per_frame)))


@dataclass(frozen=True, eq=False)
class QualityReport:
    """The metrics `measure` ran; a metric not asked for is None."""

    n_frames: int
    psnr: FrameScores | None = None  # dB, RGB, capped at PSNR_CAP_DB
    ssim: FrameScores | None = None  # luma, Gaussian 11/1.5
    msssim: FrameScores | None = None  # luma, 5 scales
    vmaf: FrameScores | None = None  # 0..100, vmaf_v0.6.1
    identity: IdentityScores | None = None  # dlib descriptor distance, < 0.6 = same person
    nme: NmeScores | None = None  # FaceMesh landmark error / inter-ocular distance

    def summary(self) -> dict[str, float | int]:
        """Means and counts, flat (may hold NaN; `to_json_dict` turns NaN into None)."""
        out: dict[str, float | int] = {"n_frames": self.n_frames}
        for name in ("psnr", "ssim", "msssim", "vmaf"):
            scores: FrameScores | None = getattr(self, name)
            if scores is not None:
                out[name] = scores.mean
        if self.identity is not None:
            out["identity_dist"] = self.identity.mean
            out["identity_same_frac"] = self.identity.frac_same
            out["identity_no_face_ref"] = self.identity.n_no_face_ref
            out["identity_no_face_dist"] = self.identity.n_no_face_dist
        if self.nme is not None:
            out["nme"] = self.nme.mean
            out["nme_no_face_ref"] = self.nme.n_no_face_ref
            out["nme_no_face_dist"] = self.nme.n_no_face_dist
        return out

    def to_json_dict(self, per_frame: bool = False) -> dict[str, Any]:
        """Summary (and optionally per-frame lists) with NaN replaced by None, ready for json.dumps."""
        out: dict[str, Any] = {k: _nan_to_none(v) for k, v in self.summary().items()}
        if per_frame:
            out["per_frame"] = {
                name: [_nan_to_none(float(x)) for x in arr] for name, arr in self.per_frame_arrays().items()
            }
        return out

    def per_frame_arrays(self) -> dict[str, np.ndarray]:
        """Each metric's per-frame array [T], keyed by metric name."""
        out: dict[str, np.ndarray] = {}
        for name in ALL_METRICS:
            scores = getattr(self, name)
            if scores is not None:
                out[name] = scores.per_frame
        return out


def _nan_to_none(x: float | int) -> float | int | None:
    return None if isinstance(x, float) and math.isnan(x) else x


def measure(
    ref: np.ndarray,
    dist: np.ndarray,
    metrics: Sequence[str] = ALL_METRICS,
    fps: float = 15.0,
    identity_model: FaceIdentity | None = None,
    landmarker: FaceMeshLandmarker | None = None,
) -> QualityReport:
    """Run the chosen metrics of `dist` against `ref` (both [T,H,W,3] uint8, same shape)."""
    check_pair(ref, dist)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {ALL_METRICS}")
    found: dict[str, Any] = {}
    if "psnr" in metrics:
        found["psnr"] = FrameScores.of(psnr(ref, dist))
    if "ssim" in metrics:
        found["ssim"] = FrameScores.of(ssim(ref, dist))
    if "msssim" in metrics:
        found["msssim"] = FrameScores.of(msssim(ref, dist))
    if "vmaf" in metrics:
        result = vmaf(ref, dist, fps=fps)
        found["vmaf"] = FrameScores(per_frame=result.per_frame, mean=result.mean)
    if "identity" in metrics:
        found["identity"] = identity_distance(ref, dist, model=identity_model)
    if "nme" in metrics:
        found["nme"] = landmark_nme(ref, dist, landmarker=landmarker)
    log.info("measured %s over %d frames", ",".join(found), len(ref))
    return QualityReport(n_frames=len(ref), **found)


@dataclass(frozen=True)
class BucketStat:
    """Mean of a per-frame value over frames whose key falls in [lo, hi)."""

    lo: float
    hi: float
    n: int  # frames in the bucket with a valid (non-NaN) value
    mean: float  # NaN when n == 0


def aggregate_by_bucket(
    values: np.ndarray, key: np.ndarray, edges: Sequence[float] = DEFAULT_YAW_EDGES, absolute: bool = True
) -> list[BucketStat]:
    """Bucket a per-frame metric [T] by a per-frame key [T] (e.g. yaw in degrees; |key| by default).

    Buckets are [edges[i], edges[i+1]); the last one also takes key == edges[-1]. Frames whose key
    falls outside all buckets or whose value is NaN are left out.
    """
    values, key = np.asarray(values, dtype=np.float64), np.asarray(key, dtype=np.float64)
    if values.shape != key.shape or values.ndim != 1:
        raise ValueError(f"values {values.shape} and key {key.shape} must be the same 1-D shape")
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be increasing with at least two entries, got {list(edges)}")
    k = np.abs(key) if absolute else key
    out = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
        upper = k <= hi if i == len(edges) - 2 else k < hi
        sel = (k >= lo) & upper & ~np.isnan(values)
        n = int(sel.sum())
        out.append(BucketStat(float(lo), float(hi), n, float(values[sel].mean()) if n else float("nan")))
    return out
