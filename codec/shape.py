"""The dense face shape model: a FaceMesh mesh from a head pose and a few linear coefficients.

    model = load_shape_model()                       # the shipped one (`codec/shape_data/`)
    mesh = model.reconstruct(pose, coeffs)           # [478, 3] normalised crop coordinates

A frame's 478-point FaceMesh mesh `X [478, 3]` (the tracker's normalised crop coordinates, z scaled
as x) is described as

    X ≈ s · R(yaw, pitch, roll) · (mean + Σ_k c_k · basis_k) + (tx, ty, tz)

`mean [478, 3]` is the training frames' mean shape after their head pose is removed, in the frame of
the sender's frontal template (`sender.face_template`: face height 1; its rigid points' centroid at
the origin), so the angles are the sender's head pose (`sender.pose`: R = Rz(roll) · Ry(-yaw) ·
Rx(-pitch)). `basis [K, 478, 3]` are the principal components of the remaining shape (identity and
expression), strongest first, in the metric of the per-point weights `weight [478]` (a weighted PCA:
the points that carry expression, the eyes' and the inner lips' rims and the brows, weigh more, so
few coefficients follow blinks and speech): orthonormal as 1434-vectors under that weight,
Σ_p weight_p · basis_i[p] · basis_j[p] = δ_ij. A pose-free shape's coefficients are its weighted
least-squares projection, c = Σ_p weight_p · basis[p] · (shape[p] − mean[p]). The pose is fitted on
the rigid points (`rigid`) only, so talking and blinking move the coefficients, not the pose.

A frame's shape parameters are the pose `[6]` = (yaw, pitch, roll in radians, log s, tx, ty) and
the coefficients `[K]`; the sender fits them (`sender.shape.ShapeFitter`), the codec codes them as
the `pose` and `shape` field groups (`codec.fields`), the receiver rebuilds the mesh here. tz is not
sent: a rebuilt mesh has its rigid points' mean depth at 0 (the renderer needs depth only relative).

The model file is safetensors (`mean`, `basis`, `std`, `weight` float32, `rigid` int32) with metadata
`format` = "frontal-shape", `version`, `k` and `provenance` (JSON). `ShapeModel.digest` (sha256 of
the arrays) names it: both ends must use the same model, as they must the same tables. Written by
`frontal fit-shape --data DIR` (training identities only).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from safetensors import SafetensorError
from safetensors.numpy import load, save

from codec.atomic import atomic_write

SHAPE_FORMAT = "frontal-shape"
SHAPE_VERSION = 1
NUM_POINTS = 478  # FaceMesh's 468 mesh points and 10 iris points
POSE_SIZE = 6  # yaw, pitch, roll, log scale, tx, ty
DEFAULT_SHAPE_MODEL = Path(__file__).resolve().parent / "shape_data" / "facemesh_shape.safetensors"


class ShapeModelError(ValueError):
    """A shape model file that is missing, foreign, malformed or of another version."""


class ShapeParams(NamedTuple):
    """One mesh's parameters: pose `[6]` (yaw, pitch, roll rad, log scale, tx, ty) and coefficients `[K]`."""

    pose: NDArray[np.float64]
    coeffs: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ShapeModel:
    """mean `[478, 3]`, basis `[K, 478, 3]` (orthonormal under `weight`), std `[K]` (each
    coefficient's standard deviation on the training frames), weight `[478]` (> 0, per point: the
    PCA's metric), rigid `[R]` (point indices the pose is fitted on), provenance (how it was
    fitted: JSON-ready). Module docstring for the formulas."""

    mean: NDArray[np.float32]
    basis: NDArray[np.float32]
    std: NDArray[np.float32]
    weight: NDArray[np.float32]
    rigid: NDArray[np.int32]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.basis)
        if self.mean.shape != (NUM_POINTS, 3):
            raise ShapeModelError(f"shape model mean must be [{NUM_POINTS}, 3], got {self.mean.shape}")
        if self.basis.shape != (k, NUM_POINTS, 3) or self.std.shape != (k,):
            raise ShapeModelError(f"shape model basis {self.basis.shape} and std {self.std.shape} disagree")
        if self.weight.shape != (NUM_POINTS,) or not (self.weight > 0).all():
            raise ShapeModelError(f"shape model weight must be [{NUM_POINTS}] positive values")
        if self.rigid.ndim != 1 or len(self.rigid) < 3 or self.rigid.min() < 0 or self.rigid.max() >= NUM_POINTS:
            raise ShapeModelError(f"shape model rigid points must be >= 3 indices in 0..{NUM_POINTS - 1}")
        for name in ("mean", "basis", "std", "weight"):
            if not np.isfinite(getattr(self, name)).all():
                raise ShapeModelError(f"shape model {name} holds NaN or infinite values")

    @property
    def k(self) -> int:
        """The number of coefficients."""
        return len(self.basis)

    @property
    def digest(self) -> str:
        """sha256 of the arrays (little-endian float32 / int32 bytes, in the order mean, basis, weight, rigid)."""
        h = hashlib.sha256()
        for array, dtype in ((self.mean, "<f4"), (self.basis, "<f4"), (self.weight, "<f4"), (self.rigid, "<i4")):
            h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
        return h.hexdigest()

    def truncated(self, k: int) -> ShapeModel:
        """The same model with its first `k` coefficients only."""
        if not 0 <= k <= self.k:
            raise ValueError(f"k must be in 0..{self.k}, got {k}")
        return ShapeModel(self.mean, self.basis[:k], self.std[:k], self.weight, self.rigid, {**self.provenance, "k": k})

    def shape(self, coeffs: NDArray[Any]) -> NDArray[np.float64]:
        """The pose-free shape `[478, 3]` of coefficients `[K]` (model frame)."""
        c = np.asarray(coeffs, dtype=np.float64).reshape(-1)
        if c.shape != (self.k,):
            raise ValueError(f"expected {self.k} shape coefficients, got {c.shape[0]}")
        flat = self.basis.reshape(self.k, -1).astype(np.float64)
        out: NDArray[np.float64] = self.mean.astype(np.float64) + (c @ flat).reshape(NUM_POINTS, 3)
        return out

    def reconstruct(self, pose: NDArray[Any], coeffs: NDArray[Any]) -> NDArray[np.float64]:
        """The mesh `[478, 3]` (normalised crop coordinates, z relative) of pose `[6]` and coefficients `[K]`."""
        p = np.asarray(pose, dtype=np.float64).reshape(-1)
        if p.shape != (POSE_SIZE,):
            raise ValueError(f"expected a pose of {POSE_SIZE} values, got {p.shape[0]}")
        rotation = rotation_matrix(p[0], p[1], p[2])
        out: NDArray[np.float64] = np.exp(p[3]) * self.shape(coeffs) @ rotation.T
        out[:, 0] += p[4]
        out[:, 1] += p[5]
        return out

    def project(self, normalised: NDArray[Any]) -> NDArray[np.float64]:
        """Coefficients `[K]` of a pose-free shape `normalised [478, 3]`: its weighted least-squares
        projection (the basis is orthonormal under `weight`)."""
        d = (np.asarray(normalised, dtype=np.float64) - self.mean) * self.weight[:, None].astype(np.float64)
        out: NDArray[np.float64] = self.basis.reshape(self.k, -1).astype(np.float64) @ d.reshape(-1)
        return out

    def to_bytes(self) -> bytes:
        """The safetensors file (module docstring)."""
        tensors = {
            "mean": np.ascontiguousarray(self.mean, dtype=np.float32),
            "basis": np.ascontiguousarray(self.basis, dtype=np.float32),
            "std": np.ascontiguousarray(self.std, dtype=np.float32),
            "weight": np.ascontiguousarray(self.weight, dtype=np.float32),
            "rigid": np.ascontiguousarray(self.rigid, dtype=np.int32),
        }
        metadata = {"format": SHAPE_FORMAT, "version": str(SHAPE_VERSION), "k": str(self.k),
                    "provenance": json.dumps(self.provenance, sort_keys=True)}
        return bytes(save(tensors, metadata=metadata))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<memory>") -> ShapeModel:
        """Reads `to_bytes`' format; `ShapeModelError` naming `source` on anything else."""
        try:
            tensors = load(data)
            metadata = _metadata(data)
        except (SafetensorError, ValueError, KeyError) as exc:
            raise ShapeModelError(f"{source}: not a safetensors file ({exc})") from None
        if metadata.get("format") != SHAPE_FORMAT:
            raise ShapeModelError(f"{source}: not a Frontal shape model")
        if metadata.get("version") != str(SHAPE_VERSION):
            raise ShapeModelError(f"{source}: shape model version {metadata.get('version')} unsupported (expected {SHAPE_VERSION})")
        missing = [n for n in ("mean", "basis", "std", "weight", "rigid") if n not in tensors]
        if missing:
            raise ShapeModelError(f"{source}: shape model lacks {', '.join(missing)}")
        try:
            provenance = json.loads(metadata.get("provenance", "{}"))
        except json.JSONDecodeError:
            raise ShapeModelError(f"{source}: shape model provenance is not JSON") from None
        return cls(tensors["mean"].astype(np.float32), tensors["basis"].astype(np.float32),
                   tensors["std"].astype(np.float32), tensors["weight"].astype(np.float32), tensors["rigid"].astype(np.int32),
                   provenance)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the model file atomically."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, self.to_bytes())


def load_shape_model(path: str | os.PathLike[str] | None = None) -> ShapeModel:
    """The shipped shape model, or the one at `path`."""
    p = Path(path) if path is not None else DEFAULT_SHAPE_MODEL
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ShapeModelError(f"cannot read shape model {p}: {exc.strerror}") from None
    return ShapeModel.from_bytes(data, source=str(p))


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's JSON header."""
    if len(data) < 8:
        raise ValueError("truncated header")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("header length past the end")
    header = json.loads(data[8 : 8 + n])
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return {str(k): str(v) for k, v in meta.items()}


def rotation_matrix(yaw: float, pitch: float, roll: float) -> NDArray[np.float64]:
    """`[3, 3]` head rotation (template frame -> camera frame): Rz(roll) · Ry(-yaw) · Rx(-pitch),
    the convention of `sender.pose` (x right, y down, z away from the camera)."""
    cy, sy = np.cos(-yaw), np.sin(-yaw)
    cp, sp = np.cos(-pitch), np.sin(-pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    rz = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    out: NDArray[np.float64] = rz @ ry @ rx
    return out


def angles_from_rotation(rotation: NDArray[Any]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of a rotation made by `rotation_matrix` (for |yaw| < 90°)."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = float(np.arcsin(np.clip(r[2, 0], -1.0, 1.0)))
    pitch = -float(np.arctan2(r[2, 1], r[2, 2]))
    roll = float(np.arctan2(r[1, 0], r[0, 0]))
    return yaw, pitch, roll
