"""`frontal evaluate`: models compared on held-out identities, on the same frames.

For each validation clip of a prepared folder, source views are chosen (`--views`):

- `live` (default): as a call chooses and sends them (`frontal.views_live.schedule_views`: the
  call's online selector over the clip's frames in order, its view coding and byte budget); a view
  is used from the frame at which it would have arrived. Driving frames before the first arrival
  have nothing to show: they are black and scored as such; each result also has the same figures
  over the frames after the first view (`after_first_view`).
- `oracle` (= `extremes`) and `furthest`: the whole-clip choice (`sender.views.select_views`: the
  most frontal frame with open eyes plus the yaw extremes, or the furthest-point variant), future
  frames included and there from the first frame: a reference a call cannot reach, labelled
  "oracle" in the JSON (`view_choice`) and in the table.

The driving frames are the valid frames other than the views' own, evenly spaced (at most
`--max-frames`). Each driving record is built from the clip:
the tracked 33 landmarks and, for models that use them, the model's own detector keypoints
(+ Jacobians) and expression code run on the real frame, as a sender would. Every model renders
the same frames through the receiver's `Renderer`; single-source models get the first (frontal)
view. Metrics (`frontal.eval.metrics.measure`): PSNR, SSIM, MS-SSIM, VMAF (per clip sequence),
FaceMesh landmark NME (output vs input, inter-ocular normalised) and the dlib identity distance
(same person below 0.6), each overall and per |yaw| bucket (degrees, the input frame's head yaw).

Model specs: `NAME` (the registry's weights; untrained fallback when none), `NAME=PATH` (a
checkpoint), `NAME=untrained` (the seeded random model, for a trained-vs-untrained check).
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from frontal.dataset import DEFAULT_VAL_PERCENT, is_validation
from frontal.eval.identity import FaceIdentity
from frontal.eval.landmarks import FaceMeshLandmarker
from frontal.eval.metrics import (
    ALL_METRICS,
    DEFAULT_YAW_EDGES,
    aggregate_by_bucket,
    measure,
)
from frontal.jsonio import optional, write_json
from frontal.views_live import SourcedRenderer, SourcePlan, ViewScheduleReport, frames_of_arrays, schedule_views
from models.frames import image_to_tensor
from models.registry import build_untrained, get_config, model_names
from receiver.renderer import Renderer
from sender.views import eye_openness, select_views

log = logging.getLogger(__name__)

VIEW_METHODS = ("live", "oracle", "extremes", "furthest")
ORACLE_METHODS = {"oracle": "extremes", "extremes": "extremes", "furthest": "furthest"}  # -> select_views method


class ModelSpec(NamedTuple):
    """A registry name, optional weights (`None`: the registry's; "untrained"; a path) and a label."""

    name: str
    weights: str | None
    label: str

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        name, _, weights = text.partition("=")
        if not name:
            raise ValueError(f"model spec {text!r}: expected NAME, NAME=PATH or NAME=untrained")
        return cls(name, weights or None, name if not weights else f"{name}[{_weights_tag(weights)}]")


def _weights_tag(weights: str) -> str:
    """A short tag for a weights path: "untrained", a file stem, or RUN/step-N for a run checkpoint."""
    path = Path(weights)
    if weights == "untrained" or path.stem != "model" or not path.parent.name.startswith("step-"):
        return "untrained" if weights == "untrained" else path.stem
    return f"{path.parent.parent.parent.name}/{path.parent.name}"


@dataclass(frozen=True)
class EvalSettings:
    split: str = "val"
    clips: int | None = None  # the N clips with the largest yaw range (None: all)
    max_frames: int = 32
    n_views: int = 3
    view_methods: tuple[str, ...] = ("live",)
    metrics: tuple[str, ...] = ALL_METRICS
    yaw_edges: tuple[float, ...] = DEFAULT_YAW_EDGES
    val_percent: int = DEFAULT_VAL_PERCENT
    device: str = "cpu"


class ClipFrames(NamedTuple):
    """One clip's arrays for evaluation."""

    name: str
    crops: np.ndarray  # [T, 256, 256, 3] uint8
    sup: np.ndarray  # [T, 33, 2]
    yaw_deg: np.ndarray  # [T]
    openness: np.ndarray  # [T]
    valid: np.ndarray  # [T]
    fps: float
    landmarks: np.ndarray  # [T, 478, 3] normalised crop coordinates
    pose: np.ndarray  # [T, 3] yaw, pitch, roll in radians


def list_clips(folder: Path, settings: EvalSettings) -> list[tuple[Path, float]]:
    """(path, yaw range in rad) of the split's clips; the `clips` with the widest yaw range first."""
    out = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            ident = str(z["identity_label"])
            if settings.split != "all" and is_validation(ident, settings.val_percent) != (settings.split == "val"):
                continue
            yaw = z["pose"][:, 0][z["face_found"].astype(bool)]
        out.append((path, float(yaw.max() - yaw.min()) if yaw.size else 0.0))
    if settings.clips is not None:
        out = sorted(out, key=lambda t: -t[1])[: settings.clips]
    return out


def load_clip(path: Path) -> ClipFrames:
    with np.load(path, allow_pickle=False) as z:
        crops, sup, pose = z["crops"], z["sup"].astype(np.float32), z["pose"].astype(np.float32)
        found, marks, fps = z["face_found"].astype(bool), z["landmarks"].astype(np.float32), float(z["fps"])
    valid = found & np.isfinite(sup).all(axis=(1, 2)) & (np.abs(sup) <= 1.5).all(axis=(1, 2))
    openness = np.array([eye_openness(m) if v else 0.0 for m, v in zip(marks, valid)])
    return ClipFrames(path.name.removesuffix(".npz"), crops, sup, np.degrees(pose[:, 0]), openness, valid, fps, marks, pose)


def view_plan(clip: ClipFrames, method: str, n_views: int) -> SourcePlan:
    """The clip's source views: `live` (the call's choice and budget) or an oracle method."""
    if method == "live":
        frames = frames_of_arrays(clip.crops, clip.landmarks, clip.sup, clip.pose, clip.valid)
        return SourcePlan.live(schedule_views(frames, clip.fps))
    if method not in ORACLE_METHODS:
        raise ValueError(f"unknown view method {method!r}; choose from {', '.join(VIEW_METHODS)}")
    views = select_views(np.radians(clip.yaw_deg), clip.openness, clip.valid, n=n_views, method=ORACLE_METHODS[method])
    return SourcePlan.oracle(views, [clip.crops[v] for v in views], [clip.sup[v] for v in views])


def driving_frames(clip: ClipFrames, views: Sequence[int], max_frames: int) -> np.ndarray:
    """The valid frames other than the views', evenly spaced, at most `max_frames`."""
    rest = np.setdiff1d(np.flatnonzero(clip.valid), views)
    if len(rest) > max_frames:
        rest = rest[np.round(np.linspace(0, len(rest) - 1, max_frames)).astype(int)]
    return rest


def choose_frames(clip: ClipFrames, method: str, n_views: int, max_frames: int) -> tuple[list[int], np.ndarray]:
    """(source view indices, driving frame indices) of one clip."""
    views = view_plan(clip, method, n_views).frames
    return views, driving_frames(clip, views, max_frames)


def build_renderer(spec: ModelSpec, device: str) -> Any:

    if spec.weights == "untrained":
        return Renderer(build_untrained(get_config(spec.name)), device=device, name=spec.label)
    return Renderer(spec.name, device=device, weights=spec.weights)


def render_clip(renderer: Any, clip: ClipFrames, plan: SourcePlan, frames: np.ndarray) -> np.ndarray:
    """The frames rendered from the views the receiver holds at each (black before the first),
    driven by the records built from the clip -> uint8 [n, H, W, 3]."""

    f = renderer.driving_fields
    renderer.reset()
    source = SourcedRenderer(renderer, plan)
    out = np.zeros((len(frames), *clip.crops.shape[1:]), np.uint8)
    for i, t in enumerate(frames):
        if not source.prepare(int(t)):
            continue  # no view yet: nothing to show
        unsup = jac = expr = None
        if f.n_unsup:
            with torch.inference_mode():
                u, j, e = renderer.model.extract(image_to_tensor(clip.crops[t], "driving", renderer.device))
            unsup = u[0].cpu().numpy()
            jac = None if j is None else j[0].cpu().numpy()
            expr = None if e is None else e[0].clamp(0, 1).cpu().numpy()
        out[i] = renderer.render(sup=clip.sup[t] if f.n_sup else None, unsup=unsup, jac=jac, expr=expr)
    return out


@dataclass(frozen=True)
class MetricMean:
    mean: float | None  # None: no frame had a value
    n: int


@dataclass(frozen=True)
class BucketMean:
    lo: float  # |yaw| degrees
    hi: float
    n: int
    mean: float | None


@dataclass(frozen=True)
class MethodResult:
    """One model with one view method, over every clip."""

    view_choice: str  # "live" or "oracle"
    frames: int
    frames_after_first_view: int
    render_s: float
    _: KW_ONLY
    identity_no_face_output: int | None = optional()  # with the identity metric
    identity_no_face_input: int | None = optional()
    nme_no_face_output: int | None = optional()  # with NME
    nme_no_face_input: int | None = optional()
    overall: dict[str, MetricMean]  # metric -> mean over every frame
    after_first_view: dict[str, MetricMean]
    buckets: dict[str, list[BucketMean]]  # metric -> per |yaw| bucket


@dataclass(frozen=True)
class RunSettings(EvalSettings):
    folder: str = ""  # the prepared folder


@dataclass(frozen=True)
class ModelInfo:
    name: str
    weights: str | None
    trained: bool


@dataclass(frozen=True)
class ClipUse:
    """One clip with one view method: its source views and driving frames."""

    clip: str
    views: str  # the view method
    view_choice: str
    source_frames: list[int]
    source_yaw_deg: list[float]
    view_schedule: ViewScheduleReport
    frames: int
    frames_after_first_view: int


@dataclass(frozen=True)
class EvalReport:
    settings: RunSettings
    models: dict[str, ModelInfo]  # label -> model
    clips: list[ClipUse]
    results: dict[str, dict[str, MethodResult]]  # label -> view method -> result


@dataclass
class Accumulator:
    """Per-frame values and yaw of one (model, view method)."""

    values: dict[str, list[float]] = field(default_factory=dict)
    yaw: list[float] = field(default_factory=list)
    shown: list[bool] = field(default_factory=list)  # a view was there at the frame
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, report: Any, yaw: np.ndarray, shown: np.ndarray | None = None) -> None:
        self.yaw.extend(float(y) for y in yaw)
        self.shown.extend(bool(x) for x in (np.ones(len(yaw), bool) if shown is None else shown))
        for name, arr in report.per_frame_arrays().items():
            self.values.setdefault(name, []).extend(float(x) for x in arr)
        for name in ("identity", "nme"):
            scores = getattr(report, name, None)
            if scores is not None:
                self.counts[f"{name}_no_face_output"] = self.counts.get(f"{name}_no_face_output", 0) + scores.n_no_face_dist
                self.counts[f"{name}_no_face_input"] = self.counts.get(f"{name}_no_face_input", 0) + scores.n_no_face_ref

    def summary(self, choice: str, edges: Sequence[float]) -> MethodResult:
        yaw = np.asarray(self.yaw)
        shown = np.asarray(self.shown, dtype=bool)
        overall, after_first, buckets = {}, {}, {}
        for name, vals in self.values.items():
            v = np.asarray(vals, dtype=np.float64)
            ok = ~np.isnan(v)
            overall[name] = MetricMean(_num(v[ok].mean()) if ok.any() else None, int(ok.sum()))
            after = ok & shown
            after_first[name] = MetricMean(_num(v[after].mean()) if after.any() else None, int(after.sum()))
            buckets[name] = [BucketMean(b.lo, b.hi, b.n, _num(b.mean)) for b in aggregate_by_bucket(v, yaw, edges)]
        return MethodResult(view_choice=choice, frames=len(self.yaw), frames_after_first_view=int(shown.sum()),
                            render_s=round(self.seconds, 2), **self.counts, overall=overall, after_first_view=after_first,
                            buckets=buckets)


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 5)


def evaluate(specs: list[ModelSpec], folder: Path, settings: EvalSettings, progress: bool = True) -> EvalReport:
    """Run every model on the same clips and frames."""

    clips = list_clips(folder, settings)
    if not clips:
        raise ValueError(f"{folder}: no {settings.split} clips")
    renderers = {s.label: build_renderer(s, settings.device) for s in specs}
    acc = {(s.label, m): Accumulator() for s in specs for m in settings.view_methods}
    ident = FaceIdentity() if "identity" in settings.metrics else None
    mesh = FaceMeshLandmarker() if "nme" in settings.metrics else None
    bar = None
    if progress:

        bar = tqdm(total=len(clips) * len(specs) * len(settings.view_methods), desc="evaluate", mininterval=2.0)
    used = []
    try:
        for path, _ in clips:
            clip = load_clip(path)
            if clip.valid.sum() < settings.n_views + 1:
                continue
            for method in settings.view_methods:
                plan = view_plan(clip, method, settings.n_views)
                views = plan.frames
                frames = driving_frames(clip, views, settings.max_frames)
                shown = np.array([plan.count_at(int(t)) > 0 for t in frames], dtype=bool)
                used.append(ClipUse(clip=clip.name, views=method, view_choice=plan.choice, source_frames=views,
                                    source_yaw_deg=[round(float(clip.yaw_deg[v]), 1) for v in views],
                                    view_schedule=plan.report, frames=len(frames), frames_after_first_view=int(shown.sum())))
                ref = clip.crops[frames]
                for spec in specs:
                    t0 = time.perf_counter()
                    dist = render_clip(renderers[spec.label], clip, plan, frames)
                    a = acc[(spec.label, method)]
                    a.seconds += time.perf_counter() - t0
                    report = measure(ref, dist, settings.metrics, clip.fps, identity_model=ident, landmarker=mesh)
                    a.add(report, clip.yaw_deg[frames], shown)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if mesh is not None:
            mesh.close()
    return EvalReport(
        settings=RunSettings(**vars(settings), folder=str(folder)),
        models={s.label: ModelInfo(s.name, s.weights, s.weights != "untrained" and bool(renderers[s.label].trained)) for s in specs},
        clips=used,
        results={s.label: {m: acc[(s.label, m)].summary(view_choice(m), settings.yaw_edges) for m in settings.view_methods}
                 for s in specs},
    )


def view_choice(method: str) -> str:
    """"live", or "oracle" for the whole-clip methods."""
    return "live" if method == "live" else "oracle"


CHOICE_TEXT = {"live": "live (call's selector and budget)", "oracle": "oracle (whole clip)"}
LOWER_IS_BETTER = {"identity", "nme"}


def format_tables(res: EvalReport) -> str:
    """Overall table (model x views, one column per metric; live views also over the frames after
    the first view) and per-|yaw|-bucket tables."""
    metrics = [m for m in ALL_METRICS if any(m in v.overall for r in res.results.values() for v in r.values())]
    found = "nme" in metrics  # FaceMesh finds a face in the output: NME is over those frames only
    lines = ["| model | views | frames | " + " | ".join(_head(m) for m in metrics)
             + (" | face found in output" if found else "") + " | view choice |",
             "|---|---|---|" + "---|" * (len(metrics) + found + 1)]
    for label, per in res.results.items():
        for method, r in per.items():
            cells = [_fmt(_mean(r.overall, m)) for m in metrics]
            if found:
                cells.append(f"{1 - (r.nme_no_face_output or 0) / max(r.frames, 1):.0%}")
            lines.append(f"| {label} | {method} | {r.frames} | " + " | ".join([*cells, CHOICE_TEXT[r.view_choice]]) + " |")
            if method == "live":
                after = [_fmt(_mean(r.after_first_view, m)) for m in metrics] + ([""] if found else [])
                lines.append(f"| {label} | live, after 1st view | {r.frames_after_first_view} | "
                             + " | ".join([*after, "frames with a view only"]) + " |")
    for m in metrics:
        first = next(iter(next(iter(res.results.values())).values()))
        buckets = first.buckets.get(m)
        if not buckets:
            continue
        heads = [f"{b.lo:g}-{b.hi:g}°" for b in buckets]
        lines += ["", f"{_head(m)} by |yaw|", "| model | views | " + " | ".join(heads) + " |",
                  "|---|---|" + "---|" * len(heads)]
        for label, per in res.results.items():
            for method, r in per.items():
                cells = [f"{_fmt(b.mean)} ({b.n})" for b in r.buckets.get(m, [])]
                lines.append(f"| {label} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(means: dict[str, MetricMean], metric: str) -> float | None:
    m = means.get(metric)
    return None if m is None else m.mean


def _head(m: str) -> str:
    return {"psnr": "PSNR dB", "ssim": "SSIM", "msssim": "MS-SSIM", "vmaf": "VMAF", "identity": "ID dist ↓",
            "nme": "NME ↓"}.get(m, m)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal evaluate", description="compare models on held-out identities")
    p.add_argument("--model", action="append", default=None,
                   help="NAME, NAME=PATH or NAME=untrained; repeat to compare (default frontalizer-mobile)")
    p.add_argument("--data", required=True, help="folder written by `frontal prepare` (with crops)")
    p.add_argument("--split", choices=("val", "train", "all"), default="val")
    p.add_argument("--clips", type=int, help="only the N clips with the widest yaw range")
    p.add_argument("--max-frames", type=int, default=32, help="driving frames per clip (default %(default)s)")
    p.add_argument("--views", default="live",
                   help="view choices, comma-separated: live (the call's selector and byte budget, default), "
                        "oracle (= extremes) or furthest (whole-clip choices, a reference a call cannot reach)")
    p.add_argument("--n-views", type=int, default=3, help="views of the oracle choices (default %(default)s)")
    p.add_argument("--metrics", default=",".join(ALL_METRICS), help="comma-separated subset of %(default)s")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="write the full results here")
    p.add_argument("-f", "--force", action="store_true", help="overwrite --json")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        specs = [ModelSpec.parse(s) for s in (args.model or ["frontalizer-mobile"])]
        for s in specs:
            if s.name not in model_names():
                raise ValueError(f"unknown model {s.name!r}; known: {', '.join(model_names())}")
            if s.weights not in (None, "untrained") and not Path(s.weights).is_file():
                raise ValueError(f"weights file not found: {s.weights}")
        methods = tuple(m.strip() for m in args.views.split(",") if m.strip())
        bad = [m for m in methods if m not in VIEW_METHODS]
        metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
        bad += [m for m in metrics if m not in ALL_METRICS]
        if bad:
            raise ValueError(f"unknown view method or metric: {', '.join(bad)}")
        if args.json and Path(args.json).exists() and not args.force:
            raise ValueError(f"{args.json} exists (use -f to overwrite)")
        if not Path(args.data).is_dir():
            raise ValueError(f"{args.data}: not a folder")
        settings = EvalSettings(args.split, args.clips, args.max_frames, args.n_views, methods, metrics,
                                device=args.device)
        res = evaluate(specs, Path(args.data), settings, progress=not args.no_progress)
    except (ValueError, OSError, KeyError) as exc:
        print(f"frontal evaluate: {exc}", file=sys.stderr)
        return 1
    print(format_tables(res))
    if args.json:
        write_json(args.json, res)
    return 0
