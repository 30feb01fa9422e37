"""The geometry renderer (`receiver.mesh`, `receiver.atlas`) on a synthetic textured face.

The canonical mesh is given a known texture (a smooth colour pattern, a function of the surface
point), drawn directly at a pose (`direct_render`), unwrapped into the atlas from one or more posed
views and drawn back at another pose; the two must agree within the stated error.
"""
from __future__ import annotations

import collections
import json
import math

import numpy as np
import pytest

from receiver.atlas import AtlasConfig, MeshRenderer, RenderConfig, TextureAtlas, feather
from receiver.mesh import (
    EYE_LIDS,
    MESH_POINTS,
    MeshDataError,
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
    to_pixels,
)

SIZE = 256
FACE_HEIGHT_PX = 120.0


@pytest.fixture(scope="module")
def topology() -> MeshTopology:
    return MeshTopology.load()


@pytest.fixture(scope="module")
def frontal_renderer(topology: MeshTopology) -> MeshRenderer:
    """A renderer holding one frontal view of the textured face."""
    return with_views(topology, [(0.0, 0.0)])


def rotation(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Head rotation in (x right, y down, z away): yaw about y, pitch about x, roll about z."""
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def posed(topology: MeshTopology, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
          shift: tuple[float, float] = (0.0, 0.0), points: np.ndarray | None = None) -> np.ndarray:
    """The canonical face (or `points [468, 3]` in its frame) rotated, scaled to FACE_HEIGHT_PX and
    centred in the image: pixel coordinates `[468, 3]`."""
    base = topology.canonical.astype(np.float64) if points is None else points
    out = base @ rotation(yaw, pitch, roll).T * FACE_HEIGHT_PX
    out[:, 0] += SIZE / 2 + shift[0]
    out[:, 1] += SIZE / 2 + shift[1]
    return out


def pattern(surface: np.ndarray) -> np.ndarray:
    """The known texture: a colour `[P, 3]` for canonical surface points `[P, 3]` (smooth, ~30 px periods)."""
    x, y, z = surface[:, 0], surface[:, 1], surface[:, 2]
    r = 128 + 90 * np.sin(2 * np.pi * x / 0.25)
    g = 128 + 90 * np.sin(2 * np.pi * y / 0.3)
    b = 128 + 90 * np.sin(2 * np.pi * (x + y + z) / 0.35)
    return np.stack([r, g, b], axis=1)


def direct_render(topology: MeshTopology, points: np.ndarray, canonical: np.ndarray | None = None,
                  background: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The textured face drawn straight at `points [468, 3]`: (image [S, S, 3] uint8, mask [S, S]).
    `canonical`: the surface the pattern is painted on (default: the topology's)."""
    canonical = topology.canonical.astype(np.float64) if canonical is None else canonical
    tris = topology.triangles
    corners = points[tris][:, :, :2]
    ids = rasterize(corners, painter_order(points, tris, signed_areas(corners) > 0.01), (SIZE, SIZE))
    inv, _ = barycentric_inverses(corners)
    flat, tri, bary = barycentrics(ids, inv)
    surface = np.einsum("pk,pkc->pc", bary, canonical[tris[tri]])
    image = np.full((SIZE * SIZE, 3), background, dtype=np.float64)
    image[flat] = pattern(surface)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8).reshape(SIZE, SIZE, 3), ids >= 0


def erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    return cv2.erode(mask.astype(np.uint8), np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)).astype(bool)


def mean_abs_error(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(a[where].astype(np.float64) - b[where].astype(np.float64)).mean())


def psnr_over(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(np.mean((a[where].astype(np.float64) - b[where].astype(np.float64)) ** 2))
    return 10 * math.log10(255**2 / mse)


def with_views(topology: MeshTopology, poses: list[tuple[float, float]]) -> MeshRenderer:
    renderer = MeshRenderer(topology=topology)
    for yaw, pitch in poses:
        points = posed(topology, yaw, pitch)
        renderer.add_view(direct_render(topology, points)[0], points)
    return renderer


# ---------------------------------------------------------------------------------------------
# The triangle list


def test_triangle_list_is_facemesh_with_its_holes_filled(topology: MeshTopology) -> None:
    tris = topology.triangles
    assert tris.shape == (898, 3)  # FaceMesh's canonical model: 852 faces + the eyes' and mouth's fills
    assert np.bincount(topology.regions).tolist() == [852, 14, 14, 18]
    assert tris.min() >= 0 and tris.max() < MESH_POINTS
    assert np.array_equal(np.unique(tris), np.arange(MESH_POINTS))  # every point is used
    assert all(len(set(t)) == 3 for t in tris.tolist())
    assert len({tuple(sorted(t)) for t in tris.tolist()}) == len(tris)  # no duplicates


def test_triangle_orientation_is_consistent(topology: MeshTopology) -> None:
    directed = collections.Counter((a, b) for t in topology.triangles.tolist() for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    assert max(directed.values()) == 1  # a shared edge is crossed once each way: one orientation
    undirected = collections.Counter((min(a, b), max(a, b)) for a, b in directed.elements())
    assert max(undirected.values()) == 2
    boundary = sum(1 for n in undirected.values() if n == 1)
    assert boundary == 36  # only the face oval is left open
    skin = topology.region_mask(Region.SKIN)
    assert (signed_areas(topology.canonical[topology.triangles[skin]]) > 0).all()  # all face the camera


def test_atlas_layout_is_flat_and_disjoint(topology: MeshTopology) -> None:
    uv = topology.uv
    assert uv.min() >= 0 and uv.max() <= 1
    assert (signed_areas(uv) > 0).all()
    size = 512
    corners = uv.astype(np.float64) * size - 0.5
    ids = rasterize(corners, np.arange(len(uv)), (size, size))
    drawn = int((ids >= 0).sum())
    assert drawn == pytest.approx(float(signed_areas(corners).sum()), rel=0.05)  # no two charts overlap


def test_shipped_mesh_data_regenerates() -> None:
    pytest.importorskip("mediapipe")
    from frontal.mesh_check import mediapipe_mesh_data

    shipped, fresh = MeshTopology.load(), mediapipe_mesh_data()
    assert np.array_equal(shipped.triangles, fresh.triangles)
    assert np.array_equal(shipped.regions, fresh.regions)
    assert np.array_equal(shipped.anchors, fresh.anchors)
    np.testing.assert_allclose(shipped.uv, fresh.uv, atol=1e-5)
    np.testing.assert_allclose(shipped.canonical, fresh.canonical, atol=1e-5)


def test_mesh_data_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = MeshTopology.load().to_dict()
    with pytest.raises(MeshDataError, match="version"):
        MeshTopology.from_dict({**data, "version": 99})
    with pytest.raises(MeshDataError, match="malformed"):
        MeshTopology.from_dict({k: v for k, v in data.items() if k != "uv"})
    with pytest.raises(MeshDataError, match="indices"):
        MeshTopology.from_dict({**data, "triangles": [[0, 1, 500]] + data["triangles"][1:]})
    bad = tmp_path / "mesh.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(MeshDataError, match="cannot read"):
        MeshTopology.load(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(data), encoding="utf-8")
    assert MeshTopology.load(good).num_triangles == 898


# ---------------------------------------------------------------------------------------------
# Geometry helpers


def test_facing_is_the_cosine_and_zero_when_back_facing(topology: MeshTopology) -> None:
    tri = np.array([[0, 1, 2]])
    flat = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    assert facing(flat, tri)[0] == pytest.approx(1.0)
    assert facing(flat, tri[:, [0, 2, 1]])[0] == 0.0  # reversed: back-facing
    tilted = flat @ rotation(0.0, 0.5).T
    assert facing(tilted, tri)[0] == pytest.approx(math.cos(0.5))
    assert facing(np.zeros((3, 3)), tri)[0] == 0.0  # degenerate
    skin = topology.triangles[topology.region_mask(Region.SKIN)]
    front = facing(posed(topology), skin)
    assert (front > 0).all() and np.median(front) > 0.7
    assert (facing(posed(topology, yaw=math.pi), skin) == 0).all()  # the back of the head: nothing faces us
    turned = facing(posed(topology, yaw=1.2), skin)
    assert 0 < (turned == 0).mean() < 0.6  # turned far: the far side faces away


def test_to_pixels_and_similarity() -> None:
    lm = np.array([[-1.0, -1.0, 0.5], [1.0, 1.0, -0.5]])
    px = to_pixels(lm, 256)
    np.testing.assert_allclose(px, [[-0.5, -0.5, 64.0], [255.5, 255.5, -64.0]])
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (20, 2))
    angle, scale, shift = 0.3, 1.4, np.array([5.0, -7.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = fit_similarity(src, src @ rot.T + shift)
    np.testing.assert_allclose(matrix, np.hstack([rot, shift[:, None]]), atol=1e-9)


def test_openness_from_the_mesh(topology: MeshTopology) -> None:
    points = posed(topology)
    for region in (Region.RIGHT_EYE, Region.LEFT_EYE):
        assert 0.15 < openness(points, region) < 0.6
    closed = close_eye(points, "right")
    assert openness(closed, Region.RIGHT_EYE) < 0.02
    assert openness(closed, Region.LEFT_EYE) == pytest.approx(openness(points, Region.LEFT_EYE))
    assert openness(points, Region.SKIN) == 0.0


def close_eye(points: np.ndarray, side: str) -> np.ndarray:
    """The mesh with one eye's hole shut: every rim point moved onto the line between its corners."""
    topo = MeshTopology.load()
    region = Region.RIGHT_EYE if side == "right" else Region.LEFT_EYE
    rim = np.unique(topo.triangles[topo.region_mask(region)])
    a, b, _ = EYE_LIDS[side]
    out = points.copy()
    d = out[b, :2] - out[a, :2]
    t = ((out[rim, :2] - out[a, :2]) @ d) / (d @ d)
    out[rim, :2] = out[a, :2] + t[:, None] * d
    return out


# ---------------------------------------------------------------------------------------------
# Atlas round trips


def test_round_trip_same_pose_is_nearly_exact(topology: MeshTopology) -> None:
    points = posed(topology, 0.1, -0.05)
    image, mask = direct_render(topology, points)
    face, drawn = with_views(topology, [(0.1, -0.05)]).draw_face(points)
    assert np.array_equal(drawn, mask)
    # over the face less 2 px at its border; measured 0.40 and 44.9 dB (two bilinear resamplings)
    assert mean_abs_error(face, image, erode(mask, 2)) < 1.0
    assert psnr_over(face, image, erode(mask, 2)) > 40.0


@pytest.mark.parametrize("target", [(0.35, 0.0), (-0.3, 0.15), (0.0, -0.2)])
def test_round_trip_to_another_pose(topology: MeshTopology, frontal_renderer: MeshRenderer, target: tuple[float, float]) -> None:
    """One frontal view, drawn back turned: matches the direct render."""
    points = posed(topology, *target)
    image, mask = direct_render(topology, points)
    face, drawn = frontal_renderer.draw_face(points)
    assert np.array_equal(drawn, mask)
    # measured MAE 0.53-0.96 (of 255), PSNR 33.9-42.2 dB over the face less 2 px at its border
    assert mean_abs_error(face, image, erode(mask, 2)) < 2.0
    assert psnr_over(face, image, erode(mask, 2)) > 31.0


def test_fusion_takes_each_side_from_the_view_that_sees_it(topology: MeshTopology) -> None:
    """Two views turned 0.7 rad each way, drawn frontal: what only one view faces comes from it,
    most of what faces one view clearly better comes from that one (not all: the nose hides the far
    eye's inner corner, which faces the far view), and the picture matches the direct render."""
    poses = [(0.7, 0.0), (-0.7, 0.0)]
    renderer = with_views(topology, poses)
    skin = topology.region_mask(Region.SKIN)
    scores = np.stack([facing(posed(topology, *pose), topology.triangles) for pose in poses])
    only_one = skin & ((scores[0] == 0) != (scores[1] == 0))
    assert only_one.sum() > 50
    assert np.array_equal(renderer.atlas.source[only_one], np.argmax(scores[:, only_one], axis=0))
    clearly = skin & (np.abs(scores[0] - scores[1]) > 0.3)
    agree = renderer.atlas.source[clearly] == np.argmax(scores[:, clearly], axis=0)
    assert clearly.sum() > 300 and agree.mean() > 0.98  # measured 638 of 644
    points = posed(topology)
    image, mask = direct_render(topology, points)
    face, _ = renderer.draw_face(points)
    assert mean_abs_error(face, image, erode(mask, 2)) < 1.5  # measured 0.59
    assert psnr_over(face, image, erode(mask, 2)) > 38.0  # measured 43.5 dB


def test_single_turned_view_leaves_the_far_side_unseen_but_filled(topology: MeshTopology) -> None:
    atlas = TextureAtlas(topology)
    points = posed(topology, 0.9)
    atlas.add_view(direct_render(topology, points)[0], points)
    skin = topology.region_mask(Region.SKIN)
    away = skin & (facing(points, topology.triangles) == 0)
    assert away.any() and (atlas.quality[away] == 0).all()
    assert (atlas.source == 0).all()


def test_eyes_come_from_the_view_where_they_are_open(topology: MeshTopology) -> None:
    """View 0 has the right eye shut, view 1 both open: the right eye's fill comes from view 1
    whatever the order; drawn with the eye open, it matches the open-eyed face."""
    open_points = posed(topology)
    shut_canonical = close_eye(topology.canonical.astype(np.float64), "right")
    shut_points = posed(topology, points=shut_canonical)
    shut_image = direct_render(topology, shut_points, canonical=topology.canonical.astype(np.float64))[0]
    open_image, mask = direct_render(topology, open_points)
    right = topology.region_mask(Region.RIGHT_EYE)
    for order in ((shut_image, shut_points, open_image, open_points), (open_image, open_points, shut_image, shut_points)):
        renderer = MeshRenderer(topology=topology)
        renderer.add_view(order[0], order[1])
        renderer.add_view(order[2], order[3])
        open_index = 1 if order[0] is shut_image else 0
        assert (renderer.atlas.source[right] == open_index).all()
    eye_ids = rasterize(open_points[topology.triangles][:, :, :2], np.flatnonzero(right), mask.shape)
    eye = erode(eye_ids >= 0, 1)
    assert eye.sum() > 40
    face, _ = renderer.draw_face(open_points)
    assert mean_abs_error(face, open_image, eye) < 3.0  # measured 0.72
    only_shut = MeshRenderer(topology=topology)
    only_shut.add_view(shut_image, shut_points)
    assert mean_abs_error(only_shut.draw_face(open_points)[0], open_image, eye) > 8.0  # measured 13.5


# ---------------------------------------------------------------------------------------------
# The rendered frame


def test_coverage_mask_and_blend(topology: MeshTopology, frontal_renderer: MeshRenderer) -> None:
    import cv2

    renderer = frontal_renderer
    points = posed(topology, 0.2, 0.1, 0.1, shift=(6.0, -4.0))
    frame = renderer.render(points)
    assert frame.image.shape == (SIZE, SIZE, 3) and frame.image.dtype == np.uint8
    assert frame.mask.shape == (SIZE, SIZE) and frame.mask.dtype == bool
    hull = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(points[:, :2]).astype(np.int32)), 1)
    hull_mask = hull.astype(bool)
    assert not (frame.mask & erode(~hull_mask, 1)).any()  # never outside the face (+1 px)
    assert frame.mask.sum() > 0.95 * hull_mask.sum()  # the face oval is convex: the mask fills its hull
    assert frame.alpha.min() == 0 and frame.alpha.max() == 1
    assert (frame.alpha[~frame.mask] == 0).all()
    inside = erode(frame.mask, int(renderer.config.feather) + 1)
    assert (frame.alpha[inside] == 1).all()
    background = renderer.background(points, frame.mask)
    assert np.array_equal(frame.image[~frame.mask], background[~frame.mask])
    face, _ = renderer.draw_face(points)
    assert np.array_equal(frame.image[inside], face[inside])


def test_background_follows_the_head_near_the_face_only(topology: MeshTopology) -> None:
    view = posed(topology)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[:, :, 0] = np.arange(SIZE, dtype=np.uint8)[None, :]  # a horizontal ramp: shows x shifts
    renderer = MeshRenderer(RenderConfig(background_reach=0.3), topology=topology)
    renderer.add_view(image, view)
    moved = posed(topology, shift=(10.0, 0.0))
    _, mask = renderer.draw_face(moved)
    out = renderer.background(moved, mask)
    row = int(moved[1, 1])
    right_of_face = int(moved[:, 0].max()) + 2
    assert int(image[row, right_of_face, 0]) - int(out[row, right_of_face, 0]) == pytest.approx(10, abs=1.5)
    assert np.array_equal(out[:, -3:], image[:, -3:])  # far away: still
    whole = renderer.background(moved)  # no mask: everything moves
    assert int(image[row, 250, 0]) - int(whole[row, 250, 0]) == pytest.approx(10, abs=1.5)


def test_feather_ramps_inside_the_mask() -> None:
    mask = np.zeros((40, 40), bool)
    mask[5:35, 5:35] = True
    alpha = feather(mask, 4.0)
    assert alpha[0, 0] == 0 and alpha[20, 20] == 1 and 0 < alpha[5, 20] < 0.5
    assert np.array_equal(feather(mask, 0.0), mask.astype(np.float32))


def test_bad_inputs(topology: MeshTopology) -> None:
    renderer = MeshRenderer(topology=topology)
    with pytest.raises(RuntimeError, match="add_view"):
        renderer.render(posed(topology))
    with pytest.raises(ValueError, match="mesh points"):
        renderer.add_view(np.zeros((SIZE, SIZE, 3), np.uint8), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="RGB uint8"):
        renderer.add_view(np.zeros((SIZE, SIZE), np.uint8), posed(topology))
    with pytest.raises(ValueError, match="256x256"):
        renderer.add_view(np.zeros((128, 128, 3), np.uint8), posed(topology))
    with pytest.raises(ValueError, match="finite"):
        renderer.add_view(np.zeros((SIZE, SIZE, 3), np.uint8), np.full((478, 3), np.nan))
    atlas = TextureAtlas(topology, AtlasConfig(size=64, max_views=1))
    atlas.add_view(np.zeros((SIZE, SIZE, 3), np.uint8), posed(topology))
    with pytest.raises(ValueError, match="at most 1"):
        atlas.add_view(np.zeros((SIZE, SIZE, 3), np.uint8), posed(topology))
    with pytest.raises(ValueError):
        AtlasConfig(size=8)


def test_cli_registers_the_bench() -> None:
    from frontal.cli import SUBCOMMANDS

    assert SUBCOMMANDS["bench-mesh-render"][0] == "frontal.mesh_check"


@pytest.mark.slow
def test_bench_on_the_embedded_clip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from frontal.mesh_check import main

    out = tmp_path / "bench.json"
    assert main(["--max-frames", "30", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames_rendered"] > 20 and result["views"]
    assert 10 < result["psnr_db"] < 60 and 0 < result["ssim"] <= 1
    assert result["render_ms_median"] > 0
