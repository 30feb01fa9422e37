"""FaceMesh as a triangle mesh: the shipped topology, facing, painter's order and a rasteriser.

The topology (`MeshTopology.load()`, from `receiver/mesh_data/facemesh.json`) is generated once by
`frontal.mesh_check.build_mesh_data` from mediapipe's `FACEMESH_TESSELATION` edges and the sender's
frontal mean face (`python -m frontal.mesh_check --write-mesh-data`); nothing here needs mediapipe.
It holds 898 triangles over FaceMesh's first 468 points: the 852 faces of the tessellation
(its 854 3-cliques less two that each span three real faces) and 46 that fill its three holes,
both eyes (14 each) and the mouth (18), so an eye or the mouth can be drawn from another view.

Conventions. Points are `[N, 3]` float arrays with N >= 468 (478 with the iris points, which no
triangle uses), in *pixel index coordinates* of the image they lie on: x right, y down, the centre
of pixel (i, j) at (x, y) = (j, i) (OpenCV's convention); z is depth, positive away from the camera,
in the same units as x (FaceMesh's z is scaled as x). `to_pixels` converts the tracker's normalised
crop coordinates. Triangles are oriented so that a triangle facing the camera has a positive signed
area `cross(b - a, c - a)` in (x right, y down) coordinates, i.e. its normal `(b - a) x (c - a)`
points away from the camera (+z).

Texture coordinates: each triangle corner has its own `uv` in [0, 1]^2 of a square texture atlas
(u right, v down): the face's skin on a cylinder around the head's vertical axis (so the sides of
the face keep some resolution), the eyes and the mouth as separate, wide-open charts below it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

MESH_DATA_VERSION = 1
MESH_POINTS = 468  # the triangles use FaceMesh's first 468 points (478 with the iris)
EYE_LIDS = {  # (corner, corner, [(upper lid, lower lid), ...]) per eye, FaceMesh indices
    "right": (33, 133, ((160, 144), (159, 145), (158, 153))),
    "left": (362, 263, ((385, 380), (386, 374), (387, 373))),
}
INNER_LIPS = (78, 308, ((81, 178), (13, 14), (311, 402)))  # mouth corners and (upper, lower) inner lip pairs


class Region(IntEnum):
    """What part of the face a triangle belongs to (the eyes and mouth are the holes' fills)."""

    SKIN = 0
    RIGHT_EYE = 1  # the person's right eye: image left in a frontal view (FaceMesh 33..133)
    LEFT_EYE = 2
    MOUTH = 3


class MeshDataError(ValueError):
    """A mesh data file that is missing, malformed or of another version."""


@dataclass(frozen=True, eq=False)
class MeshTopology:
    """The triangle mesh over FaceMesh's points.

    triangles: `[T, 3]` int32 point indices, oriented (module docstring).
    regions: `[T]` int8 `Region` of each triangle.
    uv: `[T, 3, 2]` float32 atlas coordinates in [0, 1] of each triangle's corners.
    canonical: `[468, 3]` float32 frontal mean face (x right, y down, z away; face height 1).
    anchors: `[K]` int32 points that move rigidly with the head (upper face outline, eye corners,
        nose bridge): the background follows them.
    """

    triangles: NDArray[np.int32]
    regions: NDArray[np.int8]
    uv: NDArray[np.float32]
    canonical: NDArray[np.float32]
    anchors: NDArray[np.int32]

    def __post_init__(self) -> None:
        t = len(self.triangles)
        if self.triangles.shape != (t, 3) or self.regions.shape != (t,) or self.uv.shape != (t, 3, 2):
            raise MeshDataError(f"inconsistent mesh arrays: triangles {self.triangles.shape}, "
                                f"regions {self.regions.shape}, uv {self.uv.shape}")
        if self.canonical.shape != (MESH_POINTS, 3):
            raise MeshDataError(f"canonical face must be [{MESH_POINTS}, 3], got {self.canonical.shape}")
        if t == 0 or self.triangles.min() < 0 or self.triangles.max() >= MESH_POINTS:
            raise MeshDataError(f"triangle indices must lie in 0..{MESH_POINTS - 1}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> MeshTopology:
        """The shipped topology, or the one in the JSON file `path`."""
        try:
            if path is None:
                text = resources.files("receiver").joinpath("mesh_data/facemesh.json").read_text(encoding="utf-8")
            else:
                text = Path(path).read_text(encoding="utf-8")
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MeshDataError(f"cannot read mesh data {path or 'receiver/mesh_data/facemesh.json'}: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeshTopology:
        if data.get("version") != MESH_DATA_VERSION:
            raise MeshDataError(f"mesh data version {data.get('version')!r}, this code reads {MESH_DATA_VERSION}")
        try:
            return cls(
                triangles=np.asarray(data["triangles"], dtype=np.int32),
                regions=np.asarray(data["regions"], dtype=np.int8),
                uv=np.asarray(data["uv"], dtype=np.float32),
                canonical=np.asarray(data["canonical"], dtype=np.float32),
                anchors=np.asarray(data["anchors"], dtype=np.int32),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MeshDataError(f"malformed mesh data: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (uv and the canonical face rounded to 5 decimals)."""
        return {
            "version": MESH_DATA_VERSION,
            "triangles": self.triangles.tolist(),
            "regions": self.regions.tolist(),
            "uv": np.round(self.uv.astype(np.float64), 5).tolist(),
            "canonical": np.round(self.canonical.astype(np.float64), 5).tolist(),
            "anchors": self.anchors.tolist(),
        }

    @property
    def num_triangles(self) -> int:
        return len(self.triangles)

    def region_mask(self, region: Region) -> NDArray[np.bool_]:
        """`[T]` the triangles of `region`."""
        return np.asarray(self.regions == int(region))

    def ring(self, region: Region) -> NDArray[np.bool_]:
        """`[T]` the skin triangles that touch `region` (its lids or lips)."""
        points = np.unique(self.triangles[self.region_mask(region)])
        touches = np.isin(self.triangles, points).any(axis=1)
        return np.asarray(touches & self.region_mask(Region.SKIN))


def to_pixels(landmarks: NDArray[Any], size: int) -> NDArray[np.float32]:
    """The tracker's normalised crop coordinates `[N, 3]` (x = 2 u - 1, u = pixel coordinate / size,
    z scaled as x) -> pixel index coordinates `[N, 3]` float32 of a `size` x `size` crop."""
    half = 0.5 * size
    out = np.empty(landmarks.shape, dtype=np.float32)
    out[:, :2] = (landmarks[:, :2] + 1.0) * half - 0.5
    out[:, 2] = landmarks[:, 2] * half
    return out


def signed_areas(corners: NDArray[Any]) -> NDArray[np.float64]:
    """`[T]` signed areas of triangles `[T, 3, 2+]` (positive: facing the camera)."""
    e1 = corners[:, 1, :2].astype(np.float64) - corners[:, 0, :2]
    e2 = corners[:, 2, :2].astype(np.float64) - corners[:, 0, :2]
    return np.asarray(0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]))


def facing(points: NDArray[Any], triangles: NDArray[Any]) -> NDArray[np.float64]:
    """`[T]` how squarely each triangle faces the camera: the cosine between its normal and the
    viewing direction, in [0, 1]; 0 for back-facing and degenerate triangles.

    points `[N, 3]` (x, y, z in the same units), triangles `[T, 3]`.
    """
    p = points[triangles].astype(np.float64)
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    length = np.linalg.norm(normal, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(length > 1e-12, normal[:, 2] / length, 0.0)
    return np.asarray(np.clip(cos, 0.0, 1.0))


def painter_order(points: NDArray[Any], triangles: NDArray[Any], keep: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Indices of the kept triangles, farthest first (by mean depth z): the drawing order."""
    depth = points[triangles, 2].mean(axis=1)
    idx = np.flatnonzero(keep)
    return np.asarray(idx[np.argsort(-depth[idx], kind="stable")])


def rasterize(corners: NDArray[Any], order: NDArray[Any], shape: tuple[int, int]) -> NDArray[np.int32]:
    """Which triangle owns each pixel: `[H, W]` int32, -1 where none.

    corners `[T, 3, 2]` pixel index coordinates; the triangles `order` are drawn in that order (a
    later one covers an earlier one: painter's algorithm). A pixel belongs to a triangle when its
    centre is inside it (OpenCV's polygon fill, 1/16 pixel precision; edges shared by two triangles
    go to the one drawn last).
    """
    ids = np.full(shape, -1, dtype=np.int32)
    fixed = np.round(np.asarray(corners, dtype=np.float64) * 16.0).astype(np.int32)
    for t in np.asarray(order, dtype=np.intp).tolist():
        cv2.fillConvexPoly(ids, fixed[t], t, lineType=cv2.LINE_8, shift=4)
    return ids


def barycentric_inverses(corners: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per triangle the `[3, 3]` matrix B with B @ (x, y, 1) = barycentric weights of (x, y), and
    whether it is valid (not degenerate): `([T, 3, 3], [T])`."""
    t = len(corners)
    m = np.ones((t, 3, 3), dtype=np.float64)
    m[:, 0, :] = corners[:, :, 0]
    m[:, 1, :] = corners[:, :, 1]
    det = np.linalg.det(m)
    ok = np.abs(det) > 1e-9
    inv = np.zeros_like(m)
    inv[ok] = np.linalg.inv(m[ok])
    return inv, np.asarray(ok)


def triangle_affines(src: NDArray[Any], dst: NDArray[Any]) -> NDArray[np.float64]:
    """Per triangle the affine map `[2, 3]` taking its corners `src [T, 3, 2]` to `dst [T, 3, 2]`
    (closed form); all zeros for a degenerate `src` triangle: `[T, 2, 3]`."""
    s = src.astype(np.float64)
    d = dst.astype(np.float64)
    ex1, ey1 = s[:, 1, 0] - s[:, 0, 0], s[:, 1, 1] - s[:, 0, 1]
    ex2, ey2 = s[:, 2, 0] - s[:, 0, 0], s[:, 2, 1] - s[:, 0, 1]
    det: NDArray[np.float64] = ex1 * ey2 - ex2 * ey1
    ok = np.abs(det) > 1e-9
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    du1, du2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]  # [T, 2]
    # (x, y) -> d0 + du1 * b1 + du2 * b2, with b = inverse of [e1 e2] applied to (x, y) - s0
    a_x = (du1 * ey2[:, None] - du2 * ey1[:, None]) * inv_det[:, None]  # d/dx  [T, 2]
    a_y = (du2 * ex1[:, None] - du1 * ex2[:, None]) * inv_det[:, None]  # d/dy
    offset = d[:, 0] - a_x * s[:, 0, 0:1] - a_y * s[:, 0, 1:2]
    out = np.stack([a_x, a_y, offset], axis=2)  # [T, 2, 3]
    out[~ok] = 0.0
    return np.asarray(out)


def barycentrics(ids: NDArray[np.int32], inverses: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """The covered pixels of a rasterised image and their barycentric weights in their triangle:
    `(flat pixel indices [P], triangle ids [P], weights [P, 3])`."""
    flat = np.flatnonzero(ids.ravel() >= 0)
    tri = ids.ravel()[flat].astype(np.intp)
    y, x = np.divmod(flat, ids.shape[1])
    b = inverses[tri]
    weights = b[:, :, 0] * x[:, None] + b[:, :, 1] * y[:, None] + b[:, :, 2]
    return flat, tri, weights


def openness(points: NDArray[Any], region: Region) -> float:
    """How open an eye or the mouth is, from points `[N, 2+]`: the mean gap between its upper and
    lower rim pairs across the corner-to-corner axis, over the corners' distance (lid gap / eye
    width; inner lip gap / mouth width). 0 for `Region.SKIN`."""
    if region == Region.SKIN:
        return 0.0
    a, b, pairs = INNER_LIPS if region == Region.MOUTH else EYE_LIDS["right" if region == Region.RIGHT_EYE else "left"]
    axis = points[b, :2].astype(np.float64) - points[a, :2]
    width = float(np.hypot(axis[0], axis[1]))
    if width <= 1e-6:
        return 0.0
    gaps = [abs(float(axis[0] * (points[lo, 1] - points[u, 1]) - axis[1] * (points[lo, 0] - points[u, 0]))) / width
            for u, lo in pairs]
    return float(np.mean(gaps)) / width


def fit_similarity(src: NDArray[Any], dst: NDArray[Any]) -> NDArray[np.float64]:
    """The least-squares similarity (rotation, uniform scale, translation) taking `src [K, 2]` to
    `dst [K, 2]`, as a `[2, 3]` matrix for `cv2.warpAffine` (Umeyama, no reflection)."""
    s, d = src[:, :2].astype(np.float64), dst[:, :2].astype(np.float64)
    ms, md = s.mean(axis=0), d.mean(axis=0)
    s0, d0 = s - ms, d - md
    var = float((s0**2).sum())
    if var <= 1e-12:
        return np.array([[1.0, 0.0, md[0] - ms[0]], [0.0, 1.0, md[1] - ms[1]]])
    # complex-number form: d0 ~ z * s0, z = scale * exp(i angle)
    a = float((s0[:, 0] * d0[:, 0] + s0[:, 1] * d0[:, 1]).sum()) / var
    b = float((s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum()) / var
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])
