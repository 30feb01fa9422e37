"""What a driving record carries, and how each field is quantized.

A model declares its driving fields (`FieldSet`): supervised landmarks, unsupervised keypoints
(with optional 2x2 Jacobians) and an expression code. The codec carries exactly those.

All positions are normalised crop coordinates in [-1, 1] (grid_sample, align_corners=False).
The record is quantized as groups of integers, in this order on the wire:

    mean   2 values        centroid of the keypoints (sup if any, else unsup), 10 bits in [-1, 1]
    sup    2*n_sup         sup landmarks relative to the decoded mean,          8 bits in [-1, 1]
    unsup  2*n_unsup       unsup keypoints relative to the decoded mean,       12 bits in [-1, 1]
    jac    4*n_unsup       Jacobians,                                          16 bits in [-15, 15]
    expr   n_expr          expression code,                                    10 bits in [-1, 1]
    pose   4               yaw, pitch, roll (rad), log scale (shape sets only), 11 bits in [-2, 2]
    shape  n_shape         dense shape coefficients (`codec.shape`),            9 bits in [-4, 4]

These are the first paper's bit depths (§4.3), used by the `paper` coding mode; the mean's, the
pose's and the shape's are ours (the paper leaves the mean open and has no shape): 10 bits for the
mean is a quarter of a pixel of the 256 crop, finer than the 8-bit relative positions need.

The `predictive` mode (ours) quantizes two groups more coarsely (`PREDICTIVE_BITS`):

    unsup   8 bits   the supervised landmarks' precision: a step of 1/127.5 of the crop half-width,
                     1.0 px of the 256 crop (12 bits is 1/16 px, far below the detector's accuracy)
    expr    7 bits   a step of 0.016 on [-1, 1]

Measured on validation clips with the shipped model (docs/bitstream.md "Predictive-mode bit
depths"): the rendered frames change by less than the 8-bit rounding of the output image.

A *shape* field set (`n_shape` > 0) carries the dense face shape instead of keypoints: the head
pose and `n_shape` coefficients of the shape model (`codec.shape`). Its `mean` group is the pose's
translation (tx, ty), the rigid points' centroid; the `pose` group the rest of the pose; `shape`
the coefficients. Both modes quantize them alike (docs/shape.md for the depths' measurements). The
33 landmarks are among the mesh's points, so a shape stream carries no `sup`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class GroupSpec:
    """One quantized group: `size` integers of `bits` bits over [lo, hi]."""

    name: str
    size: int
    bits: int
    lo: float
    hi: float

    @property
    def levels(self) -> int:
        return (1 << self.bits) - 1

    @property
    def step(self) -> float:
        return (self.hi - self.lo) / self.levels


POSE_BITS = (11, -2.0, 2.0)
SHAPE_BITS = (9, -4.0, 4.0)

GROUP_BITS: dict[str, tuple[int, float, float]] = {
    "mean": (10, -1.0, 1.0),
    "sup": (8, -1.0, 1.0),
    "unsup": (12, -1.0, 1.0),
    "jac": (16, -15.0, 15.0),
    "expr": (10, -1.0, 1.0),
    "pose": POSE_BITS,
    "shape": SHAPE_BITS,
}

# The predictive mode's depths: only unsup and expr differ from the paper's.
PREDICTIVE_BITS: dict[str, tuple[int, float, float]] = {
    **GROUP_BITS,
    "unsup": (8, -1.0, 1.0),
    "expr": (7, -1.0, 1.0),
}

MODE_BITS: dict[str, dict[str, tuple[int, float, float]]] = {"paper": GROUP_BITS, "predictive": PREDICTIVE_BITS}

FIELD_NAMES = ("sup", "unsup", "jac", "expr", "shape")
GROUP_NAMES = ("mean", "sup", "unsup", "jac", "expr", "pose", "shape")  # wire order


@dataclass(frozen=True)
class FieldSet:
    """The driving fields a model needs. `FieldSet.parse("sup,unsup,expr")` builds one.

    `n_shape` > 0: a shape field set (module docstring), without keypoints."""

    n_sup: int = 33
    n_unsup: int = 0
    jacobians: bool = False
    n_expr: int = 0
    n_shape: int = 0

    def __post_init__(self) -> None:
        if self.n_sup < 0 or self.n_unsup < 0 or self.n_expr < 0 or self.n_shape < 0:
            raise ValueError("field sizes must be non-negative")
        if self.n_shape and (self.n_sup or self.n_unsup):
            raise ValueError("a shape field set carries no keypoints (its landmarks are the mesh's)")
        if self.n_sup == 0 and self.n_unsup == 0 and self.n_shape == 0:
            raise ValueError("a field set needs supervised or unsupervised keypoints, or a shape")
        if self.jacobians and self.n_unsup == 0:
            raise ValueError("Jacobians need unsupervised keypoints")

    @classmethod
    def parse(cls, text: str, n_sup: int = 33, n_unsup: int = 10, n_expr: int = 16, n_shape: int = 48) -> FieldSet:
        names = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [n for n in names if n not in FIELD_NAMES]
        if unknown or not names:
            raise ValueError(f"unknown field(s) {unknown or text!r}; choose from {','.join(FIELD_NAMES)}")
        return cls(
            n_sup=n_sup if "sup" in names else 0,
            n_unsup=n_unsup if ("unsup" in names or "jac" in names) else 0,
            jacobians="jac" in names,
            n_expr=n_expr if "expr" in names else 0,
            n_shape=n_shape if "shape" in names else 0,
        )

    @property
    def name(self) -> str:
        """Canonical text form, e.g. 'sup33+unsup10+expr16'."""
        parts = []
        if self.n_sup:
            parts.append(f"sup{self.n_sup}")
        if self.n_unsup:
            parts.append(f"unsup{self.n_unsup}")
        if self.jacobians:
            parts.append("jac")
        if self.n_expr:
            parts.append(f"expr{self.n_expr}")
        if self.n_shape:
            parts.append(f"shape{self.n_shape}")
        return "+".join(parts)

    def groups(self, mode: str = "paper", depths: dict[str, int] | None = None) -> tuple[GroupSpec, ...]:
        """The quantized groups in wire order, with the bit depths of coding `mode`.

        `depths` (group name -> bits) replaces some of the mode's depths, ranges unchanged: for
        studies of what a depth costs (`frontal fit-shape --depths`); the bitstream uses the mode's."""
        try:
            bits = MODE_BITS[mode]
        except KeyError:
            raise ValueError(f"unknown coding mode '{mode}' (choose {', '.join(MODE_BITS)})") from None
        unknown = sorted(set(depths or {}) - set(GROUP_NAMES))
        if unknown:
            raise ValueError(f"unknown field group(s) {unknown}")
        sizes = {
            "mean": 2,
            "sup": 2 * self.n_sup,
            "unsup": 2 * self.n_unsup,
            "jac": 4 * self.n_unsup if self.jacobians else 0,
            "expr": self.n_expr,
            "pose": 4 if self.n_shape else 0,
            "shape": self.n_shape,
        }
        out = []
        for name, size in sizes.items():
            if size > 0:
                depth, lo, hi = bits[name]
                out.append(GroupSpec(name, size, int((depths or {}).get(name, depth)), lo, hi))
        return tuple(out)

    @property
    def size(self) -> int:
        return sum(g.size for g in self.groups())

    def to_dict(self) -> dict[str, int]:
        """JSON form; `n_shape` only when non-zero (so the other field sets' forms never change)."""
        out = {"n_sup": self.n_sup, "n_unsup": self.n_unsup, "jacobians": int(self.jacobians), "n_expr": self.n_expr}
        if self.n_shape:
            out["n_shape"] = self.n_shape
        return out

    @classmethod
    def from_dict(cls, d: dict[str, int]) -> FieldSet:
        return cls(int(d["n_sup"]), int(d["n_unsup"]), bool(d["jacobians"]), int(d["n_expr"]), int(d.get("n_shape", 0)))


LANDMARK_FIELDS = FieldSet(n_sup=33)  # the tracker's 33 landmarks only: what every stream can carry


@dataclass
class DrivingRecord:
    """One frame's driving information (float32 arrays; absent fields are None).

    sup   [n_sup, 2]      supervised landmarks (normalised crop coordinates)
    unsup [n_unsup, 2]    unsupervised keypoints
    jac   [n_unsup, 2, 2] local Jacobians
    expr  [n_expr]        expression code
    pose  [6]             head pose of a shape field set: yaw, pitch, roll (rad), log scale, tx, ty
    shape [n_shape]       shape coefficients (`codec.shape`)
    """

    sup: NDArray[Any] | None = None
    unsup: NDArray[Any] | None = None
    jac: NDArray[Any] | None = None
    expr: NDArray[Any] | None = None
    extra: dict[str, float] = field(default_factory=dict)
    pose: NDArray[Any] | None = None
    shape: NDArray[Any] | None = None

    def check(self, fields: FieldSet) -> None:
        """Raise ValueError naming the first field whose shape or values do not fit `fields`."""
        expected = {
            "sup": (fields.n_sup, 2) if fields.n_sup else None,
            "unsup": (fields.n_unsup, 2) if fields.n_unsup else None,
            "jac": (fields.n_unsup, 2, 2) if fields.jacobians else None,
            "expr": (fields.n_expr,) if fields.n_expr else None,
            "pose": (6,) if fields.n_shape else None,
            "shape": (fields.n_shape,) if fields.n_shape else None,
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if shape is None:
                continue
            if value is None:
                raise ValueError(f"driving record lacks field '{name}' that the model declares")
            if tuple(np.shape(value)) != shape:
                raise ValueError(f"driving field '{name}': expected shape {shape}, found {tuple(np.shape(value))}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"driving field '{name}' holds NaN or infinite values")
