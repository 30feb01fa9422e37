"""`frontal bench-render`: renderer speed, per stage, plus parameters and MACs per network.

    frontal bench-render [--model NAME ...] [--json PATH] [--frames N] [--sources N]
                         [--threads T] [--compare] [--onnx] [--compile]

`--model mesh` times the geometry renderer (`receiver.render.MeshFrameRenderer`, as the call and
the benchmarks build it), `--model mesh-refined` the same finished by its refiner network, on
synthetic shape records (the shape model's mean face, turned and with random expression
coefficients, over textured views): ms for drawing the frame, for the refiner, and for a whole
`render` call.

For each network model (default: frontalizer-mobile and frontalizer-dense) it reports, at batch 1 on the
CPU: ms per stage on the per-frame path (dense motion, warp, decoder), ms and FPS for a whole
`Renderer.render` call (numpy record in, uint8 frame out), the source-set cost (encode + fuse, off
the per-frame path), the sender-side keypoint + expression ms/frame, and parameters and MACs of each
network (MACs counted with forward hooks on Conv2d and Linear). `--compare` also times the
inference variants (plain eval, inference_mode, channels-last, folded BN) and, with `--onnx` /
`--compile`, ONNX Runtime and torch.compile of the per-frame path. Times are medians.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from codec.fields import DrivingRecord
from codec.shape import load_shape_model
from models.extractor import DrivingExtractor
from models.frames import tensor_to_image
from models.generator import FrontalModel
from models.optimize import prepare_for_inference
from models.registry import load_model, model_names
from receiver.render import REFINER_WEIGHTS, MeshFrameRenderer
from receiver.renderer import Renderer

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("frontalizer-mobile", "frontalizer-dense")
NETWORKS = ("keypoint_detector", "expression", "encoder", "frontalizer", "dense_motion",
            "aggregator", "decoder")


def median_ms(fn: Callable[[], object], frames: int, warmup: int = 3) -> float:
    """Median wall time of `fn()` in milliseconds over `frames` calls, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


# -- counting ---------------------------------------------------------------------------------------
def count_macs(model: FrontalModel, run: Callable[[], object]) -> dict[str, int]:
    """MACs per top-level network during `run()`, from hooks on every Conv2d and Linear."""
    macs: dict[str, int] = {}
    handles = []
    for top, child in model.named_children():
        for mod in child.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                handles.append(mod.register_forward_hook(_mac_hook(macs, top)))
    try:
        with torch.inference_mode():
            run()
    finally:
        for h in handles:
            h.remove()
    return macs


def _mac_hook(macs: dict[str, int], name: str) -> Callable[..., None]:
    def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            per_out = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            n = output.numel() * per_out
        elif isinstance(mod, nn.Linear):
            n = output.numel() * mod.in_features
        else:
            return
        macs[name] = macs.get(name, 0) + int(n)
    return hook


def params_per_network(model: FrontalModel) -> dict[str, int]:
    return {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}


# -- inputs -----------------------------------------------------------------------------------------
def synthetic_inputs(model: FrontalModel, n_sources: int, seed: int = 0) -> dict[str, Any]:
    """Random source crops/landmarks and one driving record matching the model's driving fields."""
    rng = np.random.default_rng(seed)
    f = model.cfg.driving_fields

    def crop() -> NDArray[np.uint8]:
        return rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)

    def pts(n: int) -> NDArray[np.float32]:
        return rng.uniform(-0.7, 0.7, (n, 2)).astype(np.float32)

    n = min(n_sources, model.cfg.max_sources or n_sources)
    sources = [(crop(), pts(f.n_sup) if f.n_sup else None) for _ in range(n)]
    record = {
        "sup": pts(f.n_sup) if f.n_sup else None,
        "unsup": pts(f.n_unsup) if f.n_unsup else None,
        "jac": (np.eye(2, dtype=np.float32)[None].repeat(f.n_unsup, 0)
                + rng.normal(0, 0.05, (f.n_unsup, 2, 2)).astype(np.float32)) if f.jacobians else None,
        "expr": rng.uniform(0, 1, f.n_expr).astype(np.float32) if f.n_expr else None,
    }
    return {"sources": sources, "record": record, "driving_crop": crop()}


# -- one model ------------------------------------------------------------------------------------
def bench_model(name: str, frames: int, n_sources: int, compare: bool, onnx: bool,
                compile_: bool) -> dict[str, Any]:
    """All measurements for one registry model."""
    loaded = load_model(name)
    base = loaded.model
    inputs = synthetic_inputs(base, n_sources)
    renderer = Renderer(base, name=name)
    t0 = time.perf_counter()
    for image, sup in inputs["sources"]:
        renderer.add_source(image, sup)
    add_all_ms = (time.perf_counter() - t0) * 1e3
    rec = inputs["record"]
    net = renderer.model
    prepared = renderer._prepared  # noqa: SLF001 - the bench times the renderer's own stages
    image0, sup0 = inputs["sources"][0]

    def refuse() -> None:
        with torch.inference_mode():
            renderer._refuse()  # noqa: SLF001

    def add_one() -> None:
        renderer.reset()
        renderer.add_source(image0, sup0)

    stages = _stage_times(net, prepared, renderer, rec, frames)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    render_ms = median_ms(lambda: renderer.render(**rec), frames)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / (frames + 3)
    extractor = DrivingExtractor(base)
    extract_ms = median_ms(lambda: extractor.extract(inputs["driving_crop"]), frames)
    fuse_ms = median_ms(refuse, max(3, frames // 5))
    # rebuild the full source set after timing
    renderer.reset()
    for image, sup in inputs["sources"]:
        renderer.add_source(image, sup)
    out: dict[str, Any] = {
        "model": name,
        "form": base.cfg.form,
        "fusion": base.cfg.fusion,
        "trained": loaded.trained,
        "num_sources": renderer.num_sources,
        "fps": 1000.0 / render_ms,
        "ms_per_frame": render_ms,
        "stages_ms": stages,
        "page_faults_per_frame": faults,
        "source_set_ms": {"add_source_one": median_ms(add_one, max(3, frames // 5), 1),
                          "fuse_source_set": fuse_ms, "add_all_sources_first_call": add_all_ms},
        "sender_ms_per_frame": {"keypoint_and_expression": extract_ms},
        "networks": _network_table(base, inputs),
        "driving_fields": dataclasses.asdict(base.cfg.driving_fields),
    }
    if compare:
        out["variants_ms_per_frame"] = _variants(base, inputs, frames, onnx, compile_)
    return out


MESH = "mesh"
MESH_REFINED = "mesh-refined"


def mesh_records(n: int, k: int = 48, seed: int = 0) -> list[DrivingRecord]:
    """`n` shape records: the mean face about 0.9 of the crop wide, yaw and pitch within +-0.35 rad,
    coefficients drawn within +-1.5 standard deviations."""
    model = load_shape_model().truncated(k)
    rng = np.random.default_rng(seed)
    width = float(np.ptp(model.mean[:, 0]))
    out = []
    for _ in range(n):
        pose = np.array([*rng.uniform(-0.35, 0.35, 2), rng.uniform(-0.1, 0.1), np.log(0.9 / width), *rng.uniform(-0.05, 0.05, 2)])
        coeffs = rng.uniform(-1.5, 1.5, k) * model.std
        out.append(DrivingRecord(pose=pose.astype(np.float32), shape=coeffs.astype(np.float32)))
    return out


def bench_mesh(frames: int, n_sources: int, refined: bool = False) -> dict[str, Any]:
    """The geometry renderer's times (module docstring)."""
    renderer = MeshFrameRenderer(refiner=REFINER_WEIGHTS if refined else None)
    rng = np.random.default_rng(1)
    views = mesh_records(n_sources, seed=2)
    t0 = time.perf_counter()
    for rec in views:
        texture = cv2_texture(rng)
        renderer.add_source_record(texture, rec)
    add_ms = (time.perf_counter() - t0) * 1e3 / n_sources
    records = mesh_records(frames + 3, seed=3)
    it = iter(records * 4)
    draw_ms = median_ms(lambda: renderer.draw(next(it)), frames)
    frame = renderer.draw(records[0])
    refine_ms = median_ms(lambda: renderer.refine(frame), frames) if renderer.refined else 0.0
    it = iter(records * 4)
    render_ms = median_ms(lambda: renderer.render(next(it)), frames)
    return {"model": MESH_REFINED if refined else MESH, "refined": renderer.refined, "num_sources": renderer.num_sources, "fps": 1000.0 / render_ms,
            "ms_per_frame": render_ms, "stages_ms": {"draw": draw_ms, "refine": refine_ms},
            "source_set_ms": {"add_source_one": add_ms}}


def cv2_texture(rng: np.random.Generator, size: int = 256) -> NDArray[np.uint8]:
    """A smooth random colour texture `[size, size, 3]` uint8 (a view's stand-in)."""
    coarse = rng.integers(0, 256, (size // 16, size // 16, 3)).astype(np.float32)
    big = np.kron(coarse, np.ones((16, 16, 1), np.float32))
    return np.clip(big + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)


def _stage_times(net: FrontalModel, prepared: Any, renderer: Renderer, rec: dict[str, Any],
                 frames: int) -> dict[str, float]:
    """Per-frame stages of the (frontalizer / single-source) path, in ms."""
    with torch.inference_mode():
        out = renderer.render_output(**rec)
        kp = net.join_keypoints(*(None if v is None else torch.from_numpy(v)[None]
                                  for v in (rec["sup"], rec["unsup"])))
        expr = None if rec["expr"] is None else torch.from_numpy(rec["expr"])[None]
        jac = None if rec["jac"] is None else torch.from_numpy(rec["jac"])[None]
        stages: dict[str, float] = {}
        if prepared.embedding is not None:
            stages["dense_motion"] = median_ms(lambda: net.dense_motion(prepared.kp, kp), frames)
            motion = net.dense_motion(prepared.kp, kp)
            stages["warp"] = median_ms(lambda: net.deform(prepared, motion, kp), frames)
        deformed = out.deformed
        stages["decoder"] = median_ms(lambda: net.decoder(deformed, expr), frames)
        stages["model_render"] = median_ms(lambda: net.render(prepared, kp, jac, expr), frames)
    img = out.image
    stages["to_uint8"] = median_ms(lambda: tensor_to_image(img), frames)
    return stages


def _network_table(model: FrontalModel, inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Params and MACs per network: per source (encode + fuse) and per frame (render)."""
    r = Renderer(model, optimize=False)
    per_source = count_macs(r.model, lambda: r.add_source(*inputs["sources"][0]))
    r.reset()
    for image, sup in inputs["sources"]:
        r.add_source(image, sup)
    per_frame = count_macs(r.model, lambda: r.render(**inputs["record"]))
    ex = DrivingExtractor(model, optimize=False)
    sender = count_macs(ex._net, lambda: ex.extract(inputs["driving_crop"]))  # noqa: SLF001
    params = params_per_network(model)
    table = {}
    for name in NETWORKS:
        if name not in params:
            continue
        table[name] = {"params": params[name],
                       "macs_per_source": per_source.get(name, 0),
                       "macs_per_frame_receiver": per_frame.get(name, 0),
                       "macs_per_frame_sender": sender.get(name, 0)}
    table["total"] = {k: sum(v[k] for v in table.values()) for k in
                      ("params", "macs_per_source", "macs_per_frame_receiver", "macs_per_frame_sender")}
    return table


# -- variants -------------------------------------------------------------------------------------
class _RenderPath(nn.Module):
    """The per-frame path of a Frontalizer model as one module (for export / compile); the prepared
    source set is held as constants."""

    def __init__(self, net: FrontalModel, prepared: Any) -> None:
        super().__init__()
        self.net = net
        self.prepared = prepared

    def forward(self, kp: torch.Tensor, expr: torch.Tensor) -> torch.Tensor:
        return self.net.render(self.prepared, kp, None, expr).image


def _variants(base: FrontalModel, inputs: dict[str, Any], frames: int, onnx: bool,
              compile_: bool) -> dict[str, Any]:
    """ms/frame of the per-frame path (batch 1) under each inference setting.

    The variants are timed interleaved (one frame of each in turn, `frames` rounds), so that a
    change of machine load during the run hits all of them alike; medians are reported.
    """
    rec = inputs["record"]
    calls: dict[str, Callable[[], object]] = {}
    extra: dict[str, dict[str, Any]] = {}

    def renderer_call(net: FrontalModel, mode: str) -> tuple[Callable[[], object], Any, Any]:
        r = Renderer(net, optimize=False)
        for image, sup in inputs["sources"]:
            r.add_source(image, sup)
        prepared = r._prepared  # noqa: SLF001
        if prepared is None:
            raise RuntimeError("the renderer prepared no sources")
        kp = net.join_keypoints(*(None if v is None else torch.from_numpy(v)[None]
                                  for v in (rec["sup"], rec["unsup"])))
        expr = None if rec["expr"] is None else torch.from_numpy(rec["expr"])[None]
        jac = None if rec["jac"] is None else torch.from_numpy(rec["jac"])[None]
        ctx = torch.inference_mode if mode == "inference_mode" else torch.no_grad

        def call() -> object:
            with ctx():
                return net.render(prepared, kp, jac, expr)
        return call, prepared, (kp, expr)

    plain = base.eval()
    calls["eval_no_grad"], _, _ = renderer_call(plain, "no_grad")
    calls["inference_mode"], _, _ = renderer_call(plain, "inference_mode")
    calls["inference_mode+channels_last"], _, _ = renderer_call(
        prepare_for_inference(base, fold_bn=False, channels_last=True), "inference_mode")
    calls["inference_mode+fold_bn"], _, _ = renderer_call(
        prepare_for_inference(base, fold_bn=True, channels_last=False), "inference_mode")
    best = prepare_for_inference(base)
    key = "inference_mode+channels_last+fold_bn (default)"
    calls[key], prepared, (kp, expr) = renderer_call(best, "inference_mode")
    if (onnx or compile_) and prepared.embedding is not None and expr is not None:
        path = _RenderPath(best, prepared).eval()
        args = (kp, expr)
        for name, enabled, make in (("onnxruntime", onnx, _onnx_variant),
                                    ("torch.compile", compile_, _compile_variant)):
            if enabled:
                fn, info = make(path, args)
                extra[name] = info
                if fn is not None:
                    calls[name] = fn
    times: dict[str, list[float]] = {k: [] for k in calls}
    for fn in calls.values():
        fn()
        fn()
    for _ in range(frames):
        for k, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    results: dict[str, Any] = {k: float(np.median(v) * 1e3) for k, v in times.items()}
    for k, info in extra.items():
        results[k + " (info)"] = info
    return results


def _onnx_variant(path: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[Callable[[], object] | None, dict[str, Any]]:
    """Export the per-frame path to ONNX (needs the `onnx` package) and run it in ONNX Runtime."""
    try:
        import onnxruntime as ort  # noqa: PLC0415 (optional dependency: onnxruntime is needed only for --onnx)
    except ImportError:
        return None, {"error": "onnxruntime is not installed"}

    names = ["kp", "expr"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            file = os.path.join(tmp, "render.onnx")
            with torch.no_grad():
                torch.onnx.export(path, args, file, dynamo=False, opset_version=17, input_names=names)
            so = ort.SessionOptions()
            so.intra_op_num_threads = torch.get_num_threads()
            sess = ort.InferenceSession(file, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - report an exporter failure as a result
        return None, {"error": f"{type(exc).__name__}: {exc}"[:300]}
    feed = {k: v.contiguous().numpy() for k, v in zip(names, args)}
    with torch.inference_mode():
        ref = path(*args)
    diff = float((torch.from_numpy(sess.run(None, feed)[0]) - ref).abs().max())
    return (lambda: sess.run(None, feed)), {"max_abs_diff": diff, "onnxruntime": ort.__version__}


def _compile_variant(path: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[Callable[[], object] | None, dict[str, Any]]:
    """torch.compile (inductor) of the per-frame path; reports the compile time."""
    t0 = time.perf_counter()
    try:
        compiled = torch.compile(path)
        with torch.no_grad():
            compiled(*args)
    except Exception as exc:  # noqa: BLE001 - report any backend failure as a result
        return None, {"error": f"{type(exc).__name__}: {exc}"[:300]}
    info = {"compile_s": time.perf_counter() - t0}

    def call() -> object:
        with torch.no_grad():
            return compiled(*args)
    return call, info


# -- command ----------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal bench-render", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", choices=[*model_names(), MESH, MESH_REFINED],
                   help="model to benchmark (repeatable; mesh: the geometry renderer; mesh-refined: with its refiner; "
                        "default: frontalizer-mobile and frontalizer-dense)")
    p.add_argument("--json", type=Path, help="write the results as JSON to PATH")
    p.add_argument("--frames", type=int, default=50, help="timed frames per measurement (default 50)")
    p.add_argument("--sources", type=int, default=3, help="source views (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--compare", action="store_true", help="also time the inference variants")
    p.add_argument("--onnx", action="store_true", help="with --compare: time an ONNX Runtime export")
    p.add_argument("--compile", action="store_true", help="with --compare: time torch.compile")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.frames < 1 or not 1 <= args.sources <= 16 or args.threads < 1:
        print("frontal bench-render: --frames >= 1, --sources in 1..16, --threads >= 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    models = args.model or list(DEFAULT_MODELS)
    results = []
    for name in models:
        frames = args.frames if "dense" not in name else max(3, args.frames // 10)
        print(f"benchmarking {name} ({frames} frames)...", file=sys.stderr)
        if name in (MESH, MESH_REFINED):
            results.append(bench_mesh(frames, args.sources, refined=name == MESH_REFINED))
            print(_mesh_summary(results[-1]))
            continue
        results.append(bench_model(name, frames, args.sources, args.compare, args.onnx, args.compile))
        print(_summary(results[-1]))
    report = {
        "model": results[0]["model"], "fps": results[0]["fps"], "ms_per_frame": results[0]["ms_per_frame"],
        "models": results,
        "machine": {"threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                    "loadavg_at_end": list(os.getloadavg()), "torch": torch.__version__},
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def _mesh_summary(r: dict[str, Any]) -> str:
    return (f"{r['model']} (geometry renderer{', refined' if r['refined'] else ''}, {r['num_sources']} sources): "
            f"{r['ms_per_frame']:.1f} ms/frame = {r['fps']:.1f} FPS\n"
            f"  per frame: draw {r['stages_ms']['draw']:.2f} ms, refine {r['stages_ms']['refine']:.2f} ms\n"
            f"  source set: add one view {r['source_set_ms']['add_source_one']:.1f} ms")


def _summary(r: dict[str, Any]) -> str:
    lines = [f"{r['model']} ({r['form']}, {r['fusion']}, {r['num_sources']} sources"
             f"{'' if r['trained'] else ', untrained'}): {r['ms_per_frame']:.1f} ms/frame = {r['fps']:.1f} FPS"]
    lines.append(f"  minor page faults per frame: {r['page_faults_per_frame']:.0f}")
    lines.append("  per frame: " + ", ".join(f"{k} {v:.2f} ms" for k, v in r["stages_ms"].items()))
    lines.append("  source set: " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["source_set_ms"].items()))
    lines.append(f"  sender keypoint+expression: {r['sender_ms_per_frame']['keypoint_and_expression']:.2f} ms/frame")
    for net, row in r["networks"].items():
        lines.append(f"  {net:<18} params {row['params'] / 1e6:7.3f} M  MACs/source "
                     f"{row['macs_per_source'] / 1e6:8.1f} M  MACs/frame rx {row['macs_per_frame_receiver'] / 1e6:8.1f} M"
                     f"  tx {row['macs_per_frame_sender'] / 1e6:7.1f} M")
    for k, v in r.get("variants_ms_per_frame", {}).items():
        lines.append(f"  variant {k}: {v if isinstance(v, dict) else f'{v:.2f} ms'}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
