"""The page's geometry renderer (frontal/web/render/) against receiver.render.MeshFrameRenderer.

Python builds a deterministic call: the shipped shape model, three 256x256 source views (a
face-like texture painted on the mesh of a chosen record, yaw 0 and +-20 degrees, over a textured
background) and a few frame records (turned, tilted, an open mouth, closed eyes, a small head
off centre). Python renders them with `MeshFrameRenderer`; Node renders the same inputs with
`PageMeshRenderer` (tests/js/render_cli.mjs, through a temporary folder of .json and raw .bin
files); the meshes, face masks, blend weights and images must agree.

    python -m pytest -q tests/test_js_render.py
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codec.fields import DrivingRecord
from codec.shape import ShapeModel, load_shape_model
from receiver.atlas import MeshFrame
from receiver.mesh import MeshTopology, Region, barycentric_inverses, barycentrics, openness, painter_order, rasterize, signed_areas
from receiver.render import MeshFrameRenderer

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / "tests" / "js" / "render_cli.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (`node`) is not on PATH: the page's renderer cannot be checked")

SIZE = 256
MIN_MASK_AGREEMENT = 0.999  # measured: 1.0 (OpenCV's polygon fill, ported exactly)
MIN_PSNR_DB = 55.0  # measured: identical images (infinite PSNR); the margin is for float rounding elsewhere
MAX_PIXEL_ERROR = 3  # levels; measured 0 (a lost depth test alone puts 8 levels on the nose's shadow)
MAX_ALPHA_ERROR = 1e-5  # measured 6e-8 (float32 sums of the chamfer steps in another order)
MAX_MESH_ERROR = 1e-9  # measured 1e-16 (the brief asked 1e-4; float64 both sides)


def record(model: ShapeModel, yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0, scale: float = 0.8,
           shift: tuple[float, float] = (0.0, 0.02), coeffs: dict[int, float] | None = None) -> DrivingRecord:
    """A shape record as the decoder yields it (float32): pose in degrees here, coefficients in standard deviations."""
    shape = np.zeros(model.k)
    for k, sigmas in (coeffs or {}).items():
        shape[k] = sigmas * model.std[k]
    pose = [math.radians(yaw_deg), math.radians(pitch_deg), math.radians(roll_deg), math.log(scale), *shift]
    return DrivingRecord(pose=np.asarray(pose, np.float32), shape=shape.astype(np.float32))


def strongest(model: ShapeModel, region: Region, sign: float) -> dict[int, float]:
    """The two coefficients (at +-3 sigma) that move `region`'s openness most in the direction of `sign`."""
    base = openness(model.shape(np.zeros(model.k)), region)
    moves = []
    for k in range(model.k):
        for s in (3.0, -3.0):
            c = np.zeros(model.k)
            c[k] = s * model.std[k]
            moves.append((sign * (openness(model.shape(c), region) - base), k, s))
    out: dict[int, float] = {}
    for _, k, s in sorted(moves, reverse=True):
        if k not in out:
            out[k] = s
        if len(out) == 2:
            break
    return out


def paint_view(mesh: np.ndarray, topology: MeshTopology, canonical: np.ndarray, seed: int) -> np.ndarray:
    """A face-like RGB view: skin colour gradients and fine texture painted on the surface (a function
    of the canonical point, so every view shows the same face), dark eyes and mouth, in a light of
    the view's own (a colour cast per `seed`: the atlas's fusion weights show), over a textured
    background (smooth colours plus seeded noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE
    noise = rng.normal(0, 12, (SIZE // 4, SIZE // 4, 3)).repeat(4, 0).repeat(4, 1)
    background = np.stack([60 + 120 * xx, 90 + 80 * yy, 140 - 60 * xx * yy], axis=2) + noise
    tris = topology.triangles
    corners = mesh[tris][:, :, :2]
    ids = rasterize(corners, painter_order(mesh, tris, signed_areas(corners) > 0.01), (SIZE, SIZE))
    inv, _ = barycentric_inverses(corners)
    flat, tri, bary = barycentrics(ids, inv)
    x, y, z = np.einsum("pk,pkc->pc", bary, canonical[tris[tri]]).T
    skin = np.stack([190 + 40 * np.sin(6 * x) + 15 * np.sin(70 * x + 50 * y),
                     140 + 35 * np.cos(5 * y) + 15 * np.sin(60 * y - 40 * z),
                     115 + 30 * np.sin(4 * (x + y)) + 15 * np.cos(80 * x * y)], axis=1)
    fill = topology.regions[tri] != int(Region.SKIN)
    skin[fill] = np.stack([40 + 30 * np.sin(40 * x[fill]), 25 + 20 * np.cos(50 * y[fill]), 30 + 10 * np.sin(30 * z[fill])], axis=1)
    image = background.reshape(-1, 3)
    image[flat] = skin + np.array([(0, 0, 0), (30, -20, 10), (-25, 15, -20)][seed % 3])
    return np.clip(np.rint(image), 0, 255).astype(np.uint8).reshape(SIZE, SIZE, 3)


def as_json(r: DrivingRecord) -> dict[str, list[float]]:
    """A record's pose and shape as JSON numbers (float32 values, exactly)."""
    return {"pose": np.asarray(r.pose).tolist(), "shape": np.asarray(r.shape).tolist()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The call rendered by both renderers: {python: [MeshFrame], js: [...], meshes, frames, result}."""
    model = load_shape_model()
    topology = MeshTopology.load()
    canonical = model.shape(np.zeros(model.k))[:468]
    identity = {2: 1.0, 5: -0.8, 9: 0.6}
    mouth, eyes = strongest(model, Region.MOUTH, 1.0), strongest(model, Region.RIGHT_EYE, -1.0)
    views = [record(model, 0, 0, coeffs=identity), record(model, 20, 3, coeffs=identity), record(model, -20, -4, coeffs=identity)]
    frames = [
        record(model, 0, 0, coeffs=identity),
        record(model, 12, -6, 4, coeffs=identity),
        record(model, -25, 8, -6, scale=0.85, coeffs=identity),
        record(model, 5, 0, coeffs={**identity, **mouth}),
        record(model, -8, 2, coeffs={**identity, **eyes}),
        record(model, 30, 10, 12, scale=0.55, shift=(0.25, -0.2), coeffs=identity),
    ]
    python = MeshFrameRenderer(model)
    meshes = [python.mesh(frames[3]), python.mesh(frames[4])]
    assert openness(meshes[0], Region.MOUTH) > 0.3, "the open-mouth frame must open the mouth"
    assert max(openness(meshes[1], Region.RIGHT_EYE), openness(meshes[1], Region.LEFT_EYE)) < 0.15, "the closed-eye frame must close the eyes"

    out = tmp_path_factory.mktemp("js_render")
    spec: dict[str, Any] = {"views": [], "frames": []}
    for i, view in enumerate(views):
        image = paint_view(python.mesh(view), topology, canonical, seed=i)
        rgba = np.concatenate([image, np.full((SIZE, SIZE, 1), 255, np.uint8)], axis=2)
        (out / f"view{i}.bin").write_bytes(rgba.tobytes())
        python.add_source_record(image, view)
        spec["views"].append({"image": f"view{i}.bin", **as_json(view)})
    spec["frames"] = [as_json(f) for f in frames]
    (out / "case.json").write_text(json.dumps(spec))
    proc = subprocess.run([str(NODE), str(CLI), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    js = []
    for i in range(len(frames)):
        js.append({
            "image": np.frombuffer((out / f"frame{i}.rgba").read_bytes(), np.uint8).reshape(SIZE, SIZE, 4),
            "mask": np.frombuffer((out / f"frame{i}.mask").read_bytes(), np.uint8).reshape(SIZE, SIZE),
            "alpha": np.frombuffer((out / f"frame{i}.alpha").read_bytes(), np.float32).reshape(SIZE, SIZE),
            "mesh": np.frombuffer((out / f"frame{i}.mesh").read_bytes(), np.float64).reshape(-1, 3),
        })
    return {"model": model, "frames": frames, "python": [python.draw(f) for f in frames], "js": js,
            "result": json.loads((out / "result.json").read_text()), "describe": python.describe()}


FRAMES = range(6)


@pytest.mark.parametrize("i", FRAMES)
def test_same_mesh(case: dict[str, Any], i: int) -> None:
    f = case["frames"][i]
    model = case["model"].truncated(len(f.shape))
    assert np.abs(case["js"][i]["mesh"] - model.reconstruct(f.pose, f.shape)).max() <= MAX_MESH_ERROR


@pytest.mark.parametrize("i", FRAMES)
def test_same_face_mask_and_blend(case: dict[str, Any], i: int) -> None:
    py: MeshFrame = case["python"][i]
    js = case["js"][i]
    assert py.mask.any(), "the frame must show a face"
    assert float(np.mean(js["mask"].astype(bool) == py.mask)) >= MIN_MASK_AGREEMENT
    assert float(np.abs(js["alpha"] - py.alpha).max()) <= MAX_ALPHA_ERROR


@pytest.mark.parametrize("i", FRAMES)
def test_same_image(case: dict[str, Any], i: int) -> None:
    py: MeshFrame = case["python"][i]
    js = case["js"][i]["image"]
    assert (js[:, :, 3] == 255).all()
    value = psnr(js[:, :, :3], py.image)
    assert value >= MIN_PSNR_DB, f"frame {i}: JS vs Python PSNR {value:.1f} dB"
    face = py.mask
    assert psnr(js[:, :, :3][face], py.image[face]) >= MIN_PSNR_DB, f"frame {i}: over the face"
    worst = int(np.abs(js[:, :, :3].astype(np.int16) - py.image).max())
    assert worst <= MAX_PIXEL_ERROR, f"frame {i}: a pixel {worst} levels off"


def test_same_description(case: dict[str, Any]) -> None:
    assert case["result"]["describe"] == json.loads(json.dumps(case["describe"]))
