"""A frontal texture atlas fused from the source views, and the geometry renderer that draws it.

    renderer = MeshRenderer()
    renderer.add_view(view_image, to_pixels(view_landmarks, 256))   # per source view
    frame = renderer.render(to_pixels(frame_landmarks, 256))         # per frame
    frame.image  # [256, 256, 3] uint8;  frame.mask [256, 256] bool (where the face was drawn)

`TextureAtlas`: each view's pixels are unwrapped into one atlas laid out on the canonical mesh
(`receiver.mesh`), and fused per atlas pixel with weights: how squarely the surface faces that view
(the cosine of its normal, interpolated smoothly from the points and raised to `sharpness`), times
whether the view really saw it (a depth test against the view's own painter's rasterisation: the
nose hides part of a cheek). So a cheek seen only in the left view comes from the left view. The
eyes' and the mouth's fills are chosen whole, from the one view where that eye / the mouth is most
open (openness from the mesh, times how squarely the ring of skin around it faces the view).

`MeshRenderer`: the atlas drawn on the frame's mesh, triangles far to near (painter's order by mean
depth, back-facing culled), through one `cv2.remap`. Outside the face, the first view: next to the
face it moves with the least-squares similarity from the view's face to the frame's
(`MeshTopology.anchors`: upper face outline, eye corners, nose bridge), so hair and neck follow the
head; farther out it stays still, as the scene behind a caller does (the displacement fades as
exp(-(d / reach)^2), d the distance from the drawn face in face widths). The face is blended over
it along a `feather`-pixel ramp inside the face's border.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from receiver.mesh import (
    MESH_POINTS,
    MeshTopology,
    Region,
    barycentric_inverses,
    barycentrics,
    facing,
    fit_similarity,
    openness,
    painter_order,
    rasterize,
    signed_areas,
)

FILL_REGIONS = (Region.RIGHT_EYE, Region.LEFT_EYE, Region.MOUTH)


@dataclass(frozen=True)
class AtlasConfig:
    """size: the atlas side in pixels (the face is about size / 2 tall in it).
    sharpness: the facing cosine's exponent in a view's weight (higher: the best view dominates).
    depth_tolerance: a point counts as seen by a view when it is no more than this (a fraction of
        the view's width) behind what the view shows there.
    pad: pixels the texture is extended past its charts' edges (bilinear sampling reads them).
    max_views: views kept (later ones are refused)."""

    size: int = 512
    sharpness: float = 4.0
    depth_tolerance: float = 0.02
    pad: int = 3
    max_views: int = 8

    def __post_init__(self) -> None:
        if self.size < 32 or self.sharpness <= 0 or self.depth_tolerance < 0 or self.pad < 0 or self.max_views < 1:
            raise ValueError("AtlasConfig: size >= 32, sharpness > 0, depth_tolerance >= 0, pad >= 0, max_views >= 1")


@dataclass(eq=False)
class _View:
    texture: NDArray[np.uint8]  # [P, 3] the view's colour at each covered atlas pixel
    weight: NDArray[np.float32]  # [P] its skin weight there (0: not seen)
    region_score: dict[Region, float] = field(default_factory=dict)


def check_points(points: NDArray[Any]) -> NDArray[np.float64]:
    """The first 468 points of `points [N >= 468, 3]` as float64 (ValueError otherwise)."""
    if points.ndim != 2 or points.shape[0] < MESH_POINTS or points.shape[1] != 3:
        raise ValueError(f"expected mesh points [>= {MESH_POINTS}, 3], got {points.shape}")
    out = np.asarray(points[:MESH_POINTS], dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError("mesh points must be finite")
    return out


def check_image(image: NDArray[Any]) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 [H, W, 3] image, got {image.dtype} {image.shape}")


class TextureAtlas:
    """The views' pixels fused into one atlas in the canonical mesh's texture coordinates.

    texture: `[A, A, 3]` uint8 (A = config.size), black outside the charts (plus `pad`).
    covered: `[A, A]` bool, the charts' pixels.
    source: `[T]` int, per triangle the view it comes from most (-1 before any view).
    quality: `[T]` float, that view's weight there: its facing^sharpness times the share of the
        triangle it saw; for the eye and mouth fills, the chosen view's openness score.
    """

    def __init__(self, topology: MeshTopology | None = None, config: AtlasConfig | None = None) -> None:
        self.topology = topology or MeshTopology.load()
        self.config = config or AtlasConfig()
        a, topo = self.config.size, self.topology
        self._uv_px = topo.uv.astype(np.float64) * a - 0.5  # [T, 3, 2] pixel index coordinates
        ids = rasterize(self._uv_px, np.arange(topo.num_triangles), (a, a))
        inv, _ = barycentric_inverses(self._uv_px)
        self._flat, self._tri, bary = barycentrics(ids, inv)
        self._bary = np.clip(bary, 0.0, 1.0)
        self._bary /= self._bary.sum(axis=1, keepdims=True)
        self._pixels_per_tri = np.maximum(np.bincount(self._tri, minlength=topo.num_triangles), 1)
        self._is_skin = topo.regions[self._tri] == int(Region.SKIN)
        skin = topo.region_mask(Region.SKIN)
        incidence = np.zeros((MESH_POINTS, topo.num_triangles), dtype=np.float64)
        for k in range(3):
            incidence[topo.triangles[skin, k], np.flatnonzero(skin)] = 1.0
        self._vertex_mean = incidence / np.maximum(incidence.sum(axis=1, keepdims=True), 1.0)  # [468, T]
        self._rings = {r: topo.ring(r) for r in FILL_REGIONS}
        self._views: list[_View] = []
        self.covered = np.zeros((a, a), dtype=bool)
        self.covered.ravel()[self._flat] = True
        self.texture = np.zeros((a, a, 3), dtype=np.uint8)
        self.source = np.full(topo.num_triangles, -1, dtype=np.int64)
        self.quality = np.zeros(topo.num_triangles, dtype=np.float64)

    @property
    def num_views(self) -> int:
        return len(self._views)

    def add_view(self, image: NDArray[Any], points: NDArray[Any]) -> int:
        """Adds a view: `image [H, W, 3]` uint8 and its mesh `points [>= 468, 3]` (pixel index
        coordinates, `receiver.mesh`); refuses more than `max_views`. Returns the view's index."""
        check_image(image)
        p = check_points(points)
        if len(self._views) >= self.config.max_views:
            raise ValueError(f"the atlas holds at most {self.config.max_views} views")
        src = np.einsum("pk,pkc->pc", self._bary, p[self.topology.triangles[self._tri]])  # [P, 3]
        seen = self._seen(src, p, image.shape[:2])
        self._views.append(_View(self._sample(image, src), self._weights(p) * seen, self._region_scores(p, seen)))
        self._fuse()
        return len(self._views) - 1

    def _sample(self, image: NDArray[Any], src: NDArray[np.float64]) -> NDArray[np.uint8]:
        """The image's colour at the source positions `src [P, 2+]` (bilinear) -> `[P, 3]`."""
        a = self.config.size
        map_x = np.full(a * a, -1.0, dtype=np.float32)
        map_y = np.full(a * a, -1.0, dtype=np.float32)
        map_x[self._flat], map_y[self._flat] = src[:, 0], src[:, 1]
        warped = cv2.remap(image, map_x.reshape(a, a), map_y.reshape(a, a), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(warped.reshape(-1, 3)[self._flat])

    def _seen(self, src: NDArray[np.float64], p: NDArray[np.float64], shape: tuple[int, ...]) -> NDArray[np.float32]:
        """`[P]` 1 where the view saw the atlas pixel's surface point `src [P, 3]`: inside the image,
        on a front-facing triangle, and not behind what the view's painter's rasterisation shows."""
        h, w = int(shape[0]), int(shape[1])
        tris = self.topology.triangles
        corners = p[tris]
        front = signed_areas(corners) > 0
        ids = rasterize(corners[:, :, :2], painter_order(p, tris, front), (h, w))
        xi = np.clip(np.round(src[:, 0]).astype(np.intp), 0, w - 1)
        yi = np.clip(np.round(src[:, 1]).astype(np.intp), 0, h - 1)
        owner = ids[yi, xi]
        inside = (src[:, 0] >= -0.5) & (src[:, 0] <= w - 0.5) & (src[:, 1] >= -0.5) & (src[:, 1] <= h - 0.5)
        inv, _ = barycentric_inverses(corners[:, :, :2])
        safe = np.maximum(owner, 0)
        b = inv[safe]
        bary = b[:, :, 0] * src[:, 0:1] + b[:, :, 1] * src[:, 1:2] + b[:, :, 2]
        owner_depth = np.einsum("pk,pk->p", bary, corners[safe, :, 2])
        tolerance = self.config.depth_tolerance * w
        ok = inside & front[self._tri] & (owner >= 0) & ((owner == self._tri) | (src[:, 2] <= owner_depth + tolerance))
        return np.asarray(ok, dtype=np.float32)

    def _weights(self, p: NDArray[np.float64]) -> NDArray[np.float32]:
        """`[P]` the skin weight of each atlas pixel in this view: facing^sharpness, the facing
        averaged at the points and interpolated (smooth across triangles), 0 on back-facing ones."""
        topo = self.topology
        tri_facing = facing(p, topo.triangles)
        vertex = self._vertex_mean @ tri_facing  # [468]
        corner = vertex[topo.triangles] * (tri_facing > 0)[:, None]  # [T, 3]
        pixel = np.einsum("pk,pk->p", self._bary, corner[self._tri])
        return np.asarray(np.where(self._is_skin, pixel**self.config.sharpness, 0.0), dtype=np.float32)

    def _region_scores(self, p: NDArray[np.float64], seen: NDArray[np.float32]) -> dict[Region, float]:
        """Per eye / mouth: openness times how squarely (and visibly) its ring of skin faces the view."""
        tri_facing = facing(p, self.topology.triangles)
        seen_share = np.bincount(self._tri, weights=seen, minlength=self.topology.num_triangles) / self._pixels_per_tri
        out = {}
        for region, ring in self._rings.items():
            out[region] = openness(p, region) * float(np.mean(tri_facing[ring] * seen_share[ring]))
        return out

    def _fuse(self) -> None:
        """Recomputes the texture, `source` and `quality` from all views."""
        topo = self.topology
        weights = np.stack([v.weight for v in self._views]).astype(np.float64)  # [V, P]
        for region in FILL_REGIONS:
            best = int(np.argmax([v.region_score[region] for v in self._views]))
            in_region = topo.regions[self._tri] == int(region)
            weights[:, in_region] = 0.0
            weights[best, in_region] = 1.0
        total = weights.sum(axis=0)
        unseen = total <= 1e-6
        weights[0, unseen] = 1.0  # never seen: the first view (the most frontal) as it is
        weights /= weights.sum(axis=0, keepdims=True)
        colour = np.zeros((len(self._flat), 3), dtype=np.float64)
        for k, view in enumerate(self._views):
            colour += weights[k][:, None] * view.texture
        texture = np.zeros((self.config.size**2, 3), dtype=np.float32)
        texture[self._flat] = colour
        self.texture = pad_texture(texture.reshape(self.config.size, self.config.size, 3), self.covered, self.config.pad)
        sums = np.stack([np.bincount(self._tri, weights=v.weight, minlength=topo.num_triangles) for v in self._views])
        per_tri = sums.astype(np.float64) / self._pixels_per_tri
        for region in FILL_REGIONS:
            scores = np.array([v.region_score[region] for v in self._views])
            per_tri[:, topo.region_mask(region)] = scores[:, None]
        self.source = np.argmax(per_tri, axis=0)
        self.quality = per_tri.max(axis=0)


def pad_texture(texture: NDArray[np.float32], covered: NDArray[np.bool_], steps: int) -> NDArray[np.uint8]:
    """`texture [A, A, 3]` extended `steps` pixels past the `covered [A, A]` pixels (each new ring
    the mean of its covered 3x3 neighbours); uint8."""
    mask = covered.astype(np.float32)
    premultiplied = texture * mask[:, :, None]
    for _ in range(steps):
        m = cv2.blur(mask, (3, 3))
        t = cv2.blur(premultiplied, (3, 3))
        new = (mask == 0) & (m > 0)
        premultiplied[new] = t[new] / m[new][:, None]
        mask[new] = 1.0
    return np.clip(np.rint(premultiplied), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class RenderConfig:
    """size: the output side (the crop's). feather: the blend ramp's width inside the face border, pixels.
    min_area: triangles smaller than this (pixels, signed: back-facing < 0) are not drawn.
    background_reach: how far from the face (in face widths) the background still follows the head
        (module docstring); 0: a still background, inf: the whole view moves with the face."""

    size: int = 256
    feather: float = 6.0
    min_area: float = 0.01
    background_reach: float = 0.3
    atlas: AtlasConfig = field(default_factory=AtlasConfig)

    def __post_init__(self) -> None:
        if self.size < 16 or self.feather < 0 or self.background_reach < 0:
            raise ValueError("RenderConfig: size >= 16, feather >= 0 and background_reach >= 0 are required")


class MeshFrame(NamedTuple):
    """image `[S, S, 3]` uint8; mask `[S, S]` bool, where the face was drawn; alpha `[S, S]`
    float32, the face's blend weight (0 outside the mask, ramping to 1 `feather` pixels inside)."""

    image: NDArray[np.uint8]
    mask: NDArray[np.bool_]
    alpha: NDArray[np.float32]


class MeshRenderer:
    """Draws the face from the source views' atlas at a frame's mesh (module docstring)."""

    def __init__(self, config: RenderConfig | None = None, topology: MeshTopology | None = None) -> None:
        self.config = config or RenderConfig()
        self.topology = topology or MeshTopology.load()
        self.atlas = TextureAtlas(self.topology, self.config.atlas)
        self._uv_px = self.topology.uv.astype(np.float64) * self.config.atlas.size - 0.5  # [T, 3, 2]
        self._background: tuple[NDArray[np.uint8], NDArray[np.float64]] | None = None
        grid = np.mgrid[0 : self.config.size, 0 : self.config.size].astype(np.float32)
        self._grid_y, self._grid_x = grid[0], grid[1]

    @property
    def num_views(self) -> int:
        return self.atlas.num_views

    def add_view(self, image: NDArray[Any], points: NDArray[Any]) -> int:
        """A source view: `image [S, S, 3]` uint8 and its mesh `points [>= 468, 3]` in its pixels.
        The first one also gives the background."""
        if image.shape[:2] != (self.config.size, self.config.size):
            raise ValueError(f"expected a {self.config.size}x{self.config.size} view, got {image.shape[:2]}")
        index = self.atlas.add_view(image, points)
        if self._background is None:
            self._background = (image.copy(), check_points(points)[self.topology.anchors])
        return index

    def draw_face(self, points: NDArray[Any]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
        """The atlas drawn at the mesh `points [>= 468, 3]`: (face `[S, S, 3]` uint8, black where
        not drawn; mask `[S, S]` bool)."""
        p = check_points(points)
        s, tris = self.config.size, self.topology.triangles
        corners = p[tris][:, :, :2]
        keep = signed_areas(corners) > self.config.min_area
        ids = rasterize(corners, painter_order(p, tris, keep), (s, s))
        face = np.zeros((s, s, 3), dtype=np.uint8)
        mask = ids >= 0
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows) == 0:
            return face, mask
        window = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        # per pixel: its barycentric weights in its triangle, then the atlas position. A pixel centre
        # just outside a sliver (a closing eye's or mouth's fill) would extrapolate far off the
        # sliver's chart: the fills' weights, and any below -0.2, are clamped to the triangle (the
        # skin's continue smoothly into the neighbouring triangle's texture: kept)
        table = np.zeros((len(tris) + 1, 16), dtype=np.float32)  # the last row: pixels not drawn
        inverses, _ = barycentric_inverses(corners)
        table[:-1, :9] = inverses.reshape(-1, 9)
        table[:-1, 9:15] = self._uv_px.transpose(0, 2, 1).reshape(-1, 6)  # u0 u1 u2 v0 v1 v2
        table[-1, 2] = 1.0  # ... weight 1 on a corner at (-1, -1): outside the atlas
        table[-1, 9], table[-1, 12] = -1.0, -1.0
        table[:-1, 15] = self.topology.regions != int(Region.SKIN)
        m = table[ids[window]]  # [h, w, 16]; ids == -1 picks the last row
        x, y = self._grid_x[window], self._grid_y[window]
        b = m[:, :, 0:9:3] * x[:, :, None] + m[:, :, 1:9:3] * y[:, :, None] + m[:, :, 2:9:3]
        far = (b.min(axis=2) < np.where(m[:, :, 15] > 0, 0.0, -0.2))
        if far.any():
            clamped = np.clip(b[far], 0.0, None)
            b[far] = clamped / np.maximum(clamped.sum(axis=1, keepdims=True), 1e-6)
        map_x = np.einsum("hwk,hwk->hw", b, m[:, :, 9:12])
        map_y = np.einsum("hwk,hwk->hw", b, m[:, :, 12:15])
        face[window] = cv2.remap(self.atlas.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return face, mask

    def background(self, points: NDArray[Any], mask: NDArray[np.bool_] | None = None) -> NDArray[np.uint8]:
        """The first view, moved with the head near the face drawn at `mask [S, S]` (module
        docstring; without a mask, or with an infinite reach, all of it moves): `[S, S, 3]` uint8."""
        if self._background is None:
            raise RuntimeError("no source view yet: call add_view first")
        image, anchors = self._background
        p = check_points(points)
        matrix = fit_similarity(anchors, p[self.topology.anchors])
        s, reach = self.config.size, self.config.background_reach
        if mask is None or math.isinf(reach):
            warped = cv2.warpAffine(image, matrix, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            return np.asarray(warped, dtype=np.uint8)
        inverse = cv2.invertAffineTransform(matrix)
        x, y = self._grid_x, self._grid_y
        face_width = max(float(np.ptp(p[:, 0])), 1.0)
        distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) / face_width
        follow = np.exp(-((distance / reach) ** 2)) if reach > 0 else (distance == 0).astype(np.float32)
        map_x = x + follow * (inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2] - x)
        map_y = y + follow * (inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2] - y)
        warped = cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        return np.asarray(warped, dtype=np.uint8)

    def render(self, points: NDArray[Any]) -> MeshFrame:
        """The frame at mesh `points [>= 468, 3]` (pixel index coordinates of the output)."""
        face, mask = self.draw_face(points)
        background = self.background(points, mask)
        alpha = feather(mask, self.config.feather)
        out = background.astype(np.float32)
        out += alpha[:, :, None] * (face.astype(np.float32) - out)
        return MeshFrame(np.clip(np.rint(out), 0, 255).astype(np.uint8), mask, alpha)


def feather(mask: NDArray[np.bool_], width: float) -> NDArray[np.float32]:
    """`[H, W]` float32: 0 outside `mask`, rising linearly to 1 at `width` pixels inside its border."""
    if width <= 0:
        return mask.astype(np.float32)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.asarray(np.clip(distance / width, 0.0, 1.0), dtype=np.float32)
