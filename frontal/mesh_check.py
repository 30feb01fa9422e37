"""The geometry renderer checked on tracked meshes, and the generator of its mesh data.

    frontal bench-mesh-render [VIDEO ...] [--fps 15 --max-frames 300 --expressions --json OUT]
    python -m frontal.mesh_check --write-mesh-data [PATH]

Bench (an UPPER BOUND: each frame is drawn from its *tracked* 478-point mesh, not from a coded
one). Each clip (default: the embedded carphone clip) is tracked; source views are taken live, as a
call takes them (`sender.views.ViewSelector` with `SenderConfig().view_policy()`, a view usable
from the frame it was taken on; the view byte budget's pacing is not modelled), each added to a
`receiver.atlas.MeshRenderer`; every frame after the first view's is rendered from its tracked mesh
and compared with the input crop: PSNR / SSIM (`frontal.eval.fidelity`) over the whole 256x256
frame and PSNR inside the drawn face, plus the render time (ms/frame, one OpenCV thread).
Baselines on the same frames: the first view as it is (a still picture) and moved whole by the
similarity from its face to the frame's. Frames on which a view is taken are not scored. The render time is measured in a second pass
over the same meshes (one OpenCV thread; run under `taskset -c 0` for one core).
`--expressions` adds FaceMesh on the input and on the render and the Pearson correlation over time
of mouth opening (inner-lip gap / inter-ocular), eye opening (lid gap / eye width) and brow height
(brow to upper lid / inter-ocular).

`--write-mesh-data` regenerates `receiver/mesh_data/facemesh.json` (`build_mesh_data`): the
triangles from mediapipe's `FACEMESH_TESSELATION` edges, their orientation, hole fills and the
atlas layout from the sender's frontal mean face. Deterministic; run it only when these change.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import json
import logging
import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from frontal.eval.expression import expression_fidelity, expression_signals
from frontal.eval.landmarks import FaceMeshLandmarker
from receiver.atlas import MeshRenderer
from receiver.mesh import MESH_POINTS, MeshTopology, Region, signed_areas, to_pixels
from sender.live import SenderConfig
from sender.tracker import track_video
from sender.video import default_video
from sender.views import ViewSelector

log = logging.getLogger(__name__)

MESH_DATA_PATH = Path(__file__).resolve().parent.parent / "receiver" / "mesh_data" / "facemesh.json"
AXIS_DEPTH = 0.4  # the skin chart's cylinder axis: this far behind the face centre (face heights)
SKIN_SCALE = 0.5  # atlas width per face height in the skin chart
# the hole charts below the skin: (region, width as a fraction of the atlas, half-height / width)
HOLE_CHARTS = ((Region.RIGHT_EYE, 0.28, 0.4), (Region.LEFT_EYE, 0.28, 0.4), (Region.MOUTH, 0.36, 0.45))
HOLE_POINTS = {Region.RIGHT_EYE: 159, Region.LEFT_EYE: 386, Region.MOUTH: 13}  # a point on each hole's rim
ANCHOR_EXTRA = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1)  # eye corners and nose bridge
NOSE_TIP = 1


# ---------------------------------------------------------------------------------------------
# Mesh data generation


def derive_triangles(edges: Iterable[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The faces of a triangulated surface given only its edges: every 3-clique of the edge graph,
    less the cliques that are not faces (each of whose three edges already bounds two other
    cliques: a triangle drawn around a vertex, as FaceMesh's edge list has two). Sorted tuples."""
    unique = {(min(a, b), max(a, b)) for a, b in edges if a != b}
    neighbours: dict[int, set[int]] = collections.defaultdict(set)
    for a, b in unique:
        neighbours[a].add(b)
        neighbours[b].add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in unique for c in neighbours[a] & neighbours[b]}
    uses = collections.Counter(e for t in cliques for e in itertools.combinations(t, 2))
    faces = [t for t in cliques if not all(uses[e] > 2 for e in itertools.combinations(t, 2))]
    return sorted((int(t[0]), int(t[1]), int(t[2])) for t in faces)


def orient(triangles: Sequence[Sequence[int]], points: NDArray[Any]) -> NDArray[np.int32]:
    """Consistently oriented triangles `[T, 3]` (neighbours cross their shared edge in opposite
    directions), the majority with a positive signed area on `points [N, 2+]` (x right, y down)."""
    tris = [list(t) for t in triangles]
    by_edge: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    for i, t in enumerate(tris):
        for a, b in itertools.combinations(t, 2):
            by_edge[(min(a, b), max(a, b))].append(i)
    done = [False] * len(tris)
    for seed in range(len(tris)):
        if done[seed]:
            continue
        done[seed], queue = True, [seed]
        while queue:
            i = queue.pop()
            t = tris[i]
            for k in range(3):
                a, b = t[k], t[(k + 1) % 3]
                for j in by_edge[(min(a, b), max(a, b))]:
                    if done[j]:
                        continue
                    u = tris[j]
                    if any(u[r] == a and u[(r + 1) % 3] == b for r in range(3)):  # same direction: flip
                        tris[j] = [u[0], u[2], u[1]]
                    done[j] = True
                    queue.append(j)
    out = np.asarray(tris, dtype=np.int32)
    if np.sum(signed_areas(points[out])) < 0:
        out = out[:, [0, 2, 1]]
    return out


def boundary_loops(triangles: NDArray[Any]) -> list[list[int]]:
    """The closed loops of edges that bound only one triangle, each as its ordered points."""
    uses = collections.Counter((min(a, b), max(a, b)) for t in triangles.tolist() for a, b in itertools.combinations(t, 2))
    nxt: dict[int, list[int]] = collections.defaultdict(list)
    for (a, b), n in uses.items():
        if n == 1:
            nxt[a].append(b)
            nxt[b].append(a)
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            step = [p for p in nxt[cur] if p != prev]
            if not step or step[0] == start:
                break
            prev, cur = cur, step[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


def hole_chains(loop: list[int], template: NDArray[Any]) -> tuple[int, int, list[int], list[int]]:
    """A hole's rim split at its leftmost and rightmost points: (left corner, right corner, upper
    chain, lower chain), each chain ordered left to right, corners excluded."""
    xs = template[loop, 0]
    i, j = int(np.argmin(xs)), int(np.argmax(xs))
    n = len(loop)
    first = [loop[(i + k) % n] for k in range(1, (j - i) % n)]
    second = [loop[(j + k) % n] for k in range(1, (i - j) % n)][::-1]
    upper, lower = (first, second) if template[first, 1].mean() < template[second, 1].mean() else (second, first)
    return loop[i], loop[j], upper, lower


def fill_hole(loop: list[int], template: NDArray[Any]) -> list[tuple[int, int, int]]:
    """A strip of triangles across a hole, between its upper and lower rims (len(loop) - 2 of them)."""
    left, right, upper, lower = hole_chains(loop, template)
    top, bottom = [left, *upper, right], [left, *lower, right]
    out: list[tuple[int, int, int]] = []
    i = j = 0
    while i < len(top) - 1 or j < len(bottom) - 1:
        advance_top = j == len(bottom) - 1 or (i < len(top) - 1 and template[top[i + 1], 0] <= template[bottom[j + 1], 0])
        if advance_top:
            out.append((top[i], top[i + 1], bottom[j]))
            i += 1
        else:
            out.append((top[i], bottom[j + 1], bottom[j]))
            j += 1
    return [t for t in out if len(set(t)) == 3]


def skin_uv(template: NDArray[Any]) -> NDArray[np.float64]:
    """`[N, 2]` the skin chart: the face on a cylinder around a vertical axis AXIS_DEPTH behind it,
    unrolled (arc length, height), in atlas units, centred in x, at the top."""
    angle = np.arctan2(template[:, 0], AXIS_DEPTH - template[:, 2])
    radius = AXIS_DEPTH - template[:, 2].min()
    u = 0.5 + SKIN_SCALE * radius * angle
    v = 0.02 + SKIN_SCALE * (template[:, 1] - template[:, 1].min())
    return np.stack([u, v], axis=1)


def hole_uv(loop: list[int], template: NDArray[Any], x0: float, top: float, width: float, half_height: float) -> dict[int, tuple[float, float]]:
    """A hole's chart: its rim on a wide-open ellipse of `width` (atlas units) with its top at `top`."""
    left, right, upper, lower = hole_chains(loop, template)
    xl, xr = template[left, 0], template[right, 0]
    cy = top + half_height * width
    out = {left: (x0, cy), right: (x0 + width, cy)}
    for chain, sign in ((upper, -1.0), (lower, 1.0)):
        for p in chain:
            t = float(np.clip((template[p, 0] - xl) / (xr - xl), 0.02, 0.98))
            out[p] = (x0 + width * t, cy + sign * half_height * width * math.sin(math.pi * t))
    return out


def build_mesh_data(edges: Iterable[tuple[int, int]], template: NDArray[Any]) -> MeshTopology:
    """The receiver's mesh (`receiver.mesh.MeshTopology`) from FaceMesh's tessellation edges and a
    frontal mean face `template [468, 3]` (x right, y down, z away; face height 1)."""
    template = np.asarray(template, dtype=np.float64)
    skin = orient(derive_triangles(edges), template)
    loops = boundary_loops(skin)
    holes = {region: next(lp for lp in loops if point in lp) for region, point in HOLE_POINTS.items()}
    fills = {region: fill_hole(loop, template) for region, loop in holes.items()}
    every = [t for t in skin.tolist()] + [list(t) for region in HOLE_POINTS for t in fills[region]]
    triangles = orient(every, template)
    if not np.array_equal(triangles[: len(skin)], skin):  # the fills follow the skin's orientation
        raise RuntimeError("the hole fills flipped the skin's orientation")
    regions = np.zeros(len(triangles), dtype=np.int8)
    start = len(skin)
    for region in HOLE_POINTS:
        regions[start:start + len(fills[region])] = int(region)
        start += len(fills[region])
    per_point = skin_uv(template)
    uv = per_point[triangles].copy()
    x0, row_top = 0.02, 0.04 + SKIN_SCALE * float(np.ptp(template[:, 1]))
    for region, width, half in HOLE_CHARTS:
        chart = hole_uv(holes[region], template, x0, row_top, width, half)
        for t in np.flatnonzero(regions == int(region)):
            uv[t] = [chart[p] for p in triangles[t]]
        x0 += width + 0.02
    areas = signed_areas(uv)
    if (areas <= 0).any() or uv.min() < 0 or uv.max() > 1:
        raise RuntimeError(f"atlas layout: {int((areas <= 0).sum())} flipped triangles, uv range {uv.min():.3f}..{uv.max():.3f}")
    oval = max(loops, key=len)
    anchors = sorted({p for p in oval if template[p, 1] < template[NOSE_TIP, 1]} | set(ANCHOR_EXTRA))
    return MeshTopology(triangles=triangles, regions=regions, uv=uv.astype(np.float32),
                        canonical=template.astype(np.float32), anchors=np.asarray(anchors, dtype=np.int32))


def mediapipe_mesh_data() -> MeshTopology:
    """`build_mesh_data` on mediapipe's tessellation and the sender's frontal mean face."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION  # noqa: PLC0415 (mediapipe costs ~1 s at start-up; only the generator needs it)

    from sender.face_template import TEMPLATE  # noqa: PLC0415 (kept beside the mediapipe import: generation only)

    template = np.asarray(TEMPLATE, dtype=np.float64)
    if template.shape != (MESH_POINTS, 3):
        raise RuntimeError(f"sender template has shape {template.shape}, expected ({MESH_POINTS}, 3)")
    return build_mesh_data(FACEMESH_TESSELATION, template)


def write_mesh_data(path: Path = MESH_DATA_PATH) -> MeshTopology:
    """Regenerates the receiver's mesh data file (compact JSON, one line per array)."""
    topo = mediapipe_mesh_data()
    data = topo.to_dict()
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in data.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{\n" + body + "\n}\n", encoding="utf-8")
    return topo


# ---------------------------------------------------------------------------------------------
# Bench: render tracked clips from live-selected views


def masked_psnr(ref: NDArray[Any], out: NDArray[Any], mask: NDArray[Any]) -> float:
    """PSNR (dB, peak 255, RGB) over the pixels where `mask [H, W]` is set."""
    diff = ref[mask].astype(np.float64) - out[mask].astype(np.float64)
    mse = float(np.mean(diff**2)) if diff.size else float("nan")
    return 100.0 if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def bench_clip(path: Path, fps: float | None = 15.0, max_frames: int | None = 300, expressions: bool = False,
               progress: bool = False) -> dict[str, Any]:
    """Tracks `path`, takes views live and renders every frame after the first view's from its
    tracked mesh (module docstring); returns the figures as a JSON-ready dict."""
    from frontal.eval.fidelity import psnr, ssim  # noqa: PLC0415 (torch costs ~2 s at start-up; only the bench needs it)

    selector = ViewSelector(SenderConfig().view_policy())
    renderer = MeshRenderer()
    size = renderer.config.size
    best_frame: Any = None
    first_view = np.zeros((size, size, 3), dtype=np.uint8)
    views: list[dict[str, Any]] = []
    inputs, outputs, baselines, face_psnr, meshes = [], [], [], [], []
    tracked = 0
    for tf in tqdm(track_video(path, fps=fps, max_frames=max_frames), desc=Path(path).name, unit="f", disable=not progress):
        tracked += 1
        previous = selector.best
        selector.consider(tf)
        if selector.best is not None and selector.best is not previous:
            best_frame = tf  # the frame the candidate view was made from (its mesh)
        if selector.ready():
            view = selector.take()
            renderer.add_view(best_frame.image, to_pixels(best_frame.landmarks, size))
            if not views:
                first_view = best_frame.image
            views.append({"taken_at": tf.index, "frame": best_frame.index, "yaw": round(view.yaw, 3),
                          "pitch": round(view.pitch, 3), "eye_openness": round(view.openness, 3)})
            continue
        if not views:
            continue
        points = to_pixels(tf.landmarks, size)
        frame = renderer.render(points)
        meshes.append(points)
        inputs.append(tf.image)
        outputs.append(frame.image)
        baselines.append(renderer.background(points))  # the whole first view moved by the similarity
        face_psnr.append(masked_psnr(tf.image, frame.image, frame.mask))
    if not outputs:
        raise ValueError(f"{path}: no frame to render after the first view ({tracked} tracked)")
    render_ms, render_cpu_ms = time_renders(renderer, meshes)
    ref, out, base = np.stack(inputs), np.stack(outputs), np.stack(baselines)
    still = np.repeat(first_view[None], len(ref), axis=0)
    result: dict[str, Any] = {
        "clip": str(path), "upper_bound": "tracked meshes (not coded)", "fps": fps,
        "frames_tracked": tracked, "frames_rendered": len(out), "views": views,
        "psnr_db": round(float(np.mean(psnr(ref, out))), 2),
        "ssim": round(float(np.mean(ssim(ref, out))), 4),
        "face_psnr_db": round(float(np.nanmean(face_psnr)), 2),
        "baseline_first_view_similarity_psnr_db": round(float(np.mean(psnr(ref, base))), 2),
        "baseline_first_view_similarity_ssim": round(float(np.mean(ssim(ref, base))), 4),
        "baseline_first_view_still_psnr_db": round(float(np.mean(psnr(ref, still))), 2),
        "baseline_first_view_still_ssim": round(float(np.mean(ssim(ref, still))), 4),
        "render_ms_median": round(float(np.median(render_ms)), 2),
        "render_ms_p95": round(float(np.percentile(render_ms, 95)), 2),
        "render_fps": round(1000.0 / float(np.median(render_ms)), 1),
        "render_cpu_ms_median": round(float(np.median(render_cpu_ms)), 2),
    }
    if expressions:
        result["expression_correlation"] = expression_correlations(ref, out)
    return result


def time_renders(renderer: MeshRenderer, meshes: list[NDArray[Any]]) -> tuple[list[float], list[float]]:
    """(wall-clock ms, CPU ms) per `renderer.render` of each mesh, one OpenCV thread, in a pass of
    its own (after tracking, so FaceMesh's threads do not share the core). CPU time leaves out the
    waits for a core that other processes hold."""
    cv2.setNumThreads(1)
    wall, cpu = [], []
    for points in meshes:
        start, start_cpu = time.perf_counter(), time.thread_time()
        renderer.render(points)
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.thread_time() - start_cpu) * 1000.0)
    return wall, cpu


def expression_correlations(ref: NDArray[Any], out: NDArray[Any]) -> dict[str, Any]:
    """Pearson over time between FaceMesh's expression signals on `ref` and on `out` `[T, H, W, 3]`
    (`frontal.eval.expression`, as the benchmark measures them), and how much the input moves."""
    with FaceMeshLandmarker() as landmarker:
        a = expression_signals([landmarker.landmarks(f) for f in ref])
        b = expression_signals([landmarker.landmarks(f) for f in out])
    scores = expression_fidelity(a, b)
    result: dict[str, Any] = {"frames_scored": scores.n_pairs}
    for name, r, series in (("mouth", scores.mouth, a.mouth), ("eyes", scores.eyes, a.eyes), ("brows", scores.brows, a.brows)):
        result[name] = round(r, 3)
        finite = series[np.isfinite(series)]
        result[name + "_input_std"] = round(float(np.std(finite)), 4) if len(finite) else float("nan")  # how much there is to follow
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="frontal bench-mesh-render", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, help="clips (default: the embedded carphone clip)")
    parser.add_argument("--fps", type=float, default=15.0, help="tracking rate (default 15, a call's)")
    parser.add_argument("--max-frames", type=int, default=300)
    parser.add_argument("--expressions", action="store_true", help="also FaceMesh expression correlations (slower)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--write-mesh-data", nargs="?", type=Path, const=MESH_DATA_PATH, metavar="PATH",
                        help=f"regenerate the receiver's mesh data (default {MESH_DATA_PATH.name}) and exit")
    args = parser.parse_args(argv)
    if args.write_mesh_data is not None:
        topo = write_mesh_data(args.write_mesh_data)
        print(f"wrote {args.write_mesh_data}: {topo.num_triangles} triangles "
              f"({int((topo.regions == 0).sum())} skin + {int((topo.regions != 0).sum())} eye/mouth fills)")
        return 0
    results = []
    for video in args.videos or [default_video()]:
        try:
            result = bench_clip(video, args.fps, args.max_frames, args.expressions, progress=sys.stderr.isatty())
        except (ValueError, OSError) as exc:
            print(f"frontal bench-mesh-render: error: {exc}", file=sys.stderr)
            return 1
        results.append(result)
        line = (f"{video.name}: {result['frames_rendered']} frames, {len(result['views'])} views; "
                f"PSNR {result['psnr_db']} dB, SSIM {result['ssim']}, face PSNR {result['face_psnr_db']} dB "
                f"(first view still {result['baseline_first_view_still_psnr_db']} dB, by similarity "
                f"{result['baseline_first_view_similarity_psnr_db']} dB); {result['render_ms_median']} ms/frame "
                f"({result['render_cpu_ms_median']} ms CPU)")
        if "expression_correlation" in result:
            e = result["expression_correlation"]
            line += f"; expression r mouth {e['mouth']}, eyes {e['eyes']}, brows {e['brows']}"
        print(line + "  [upper bound: tracked meshes]")
    text = json.dumps(results if len(results) > 1 else results[0], indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
