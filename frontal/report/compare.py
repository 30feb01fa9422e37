"""One clip through both paths: Frontal (code, render, loss) and the classical codecs (floor,
sweep, matched rate, loss), every output scored against the clip's own 256x256 face tube.

Frontal's source views are chosen live by default (`frontal.views_live`: the call's selector and
byte budget; a view is used from the frame it arrives at, the frames before the first one are
black); `views="oracle"` is the whole-clip choice (`frontal.pipeline.clip_views`), a reference a
call cannot reach, labelled as such in every report. Frontal's headline quality scores every frame
as shown; `quality_after_first_view` scores the frames from the first view's arrival on."""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from codec.fields import DrivingRecord, FieldSet
from codec.tables import Tables
from codec.wire import OVERHEAD_BITS
from frontal.eval.classical import CODECS, KEYINTS, Codec, KeyInt, decode_with_loss
from frontal.pipeline import TrackedClip, clip_views, frame_renderer
from frontal.report.classical_side import SettingRun, describe, run_setting, stream_key
from frontal.report.frontal_side import (
    decode_held,
    encode_stream,
    held_frames,
    loss_mask,
    rate_of,
    render_stream,
)
from frontal.report.quality import REPORT_METRICS, Scorer
from frontal.report.types import (
    ClipComparison,
    FrontalClip,
    FrontalFloor,
    LossResult,
    MatchedPoint,
    SettingResult,
)
from frontal.report.video import write_side_by_side
from frontal.views_live import SourcedRenderer, SourcePlan, ViewRecords, live_views
from sender.live import SenderConfig

log = logging.getLogger(__name__)

REAL_TIME_FPS = 15.0
ViewChoice = Literal["live", "oracle"]
VIEW_CHOICES: tuple[ViewChoice, ...] = ("live", "oracle")


@dataclass(frozen=True)
class CompareOptions:
    """What a comparison runs. `metrics` score every output; `headline_metrics` the headline
    outputs (Frontal's render and each codec at Frontal's bitrate)."""

    model: str
    baselines: tuple[Codec, ...] = CODECS
    keyints: tuple[KeyInt, ...] = KEYINTS
    rates: tuple[float, ...] = (64.0,)
    metrics: tuple[str, ...] = ("psnr", "vmaf", "nme")
    headline_metrics: tuple[str, ...] = REPORT_METRICS
    losses: tuple[float, ...] = (0.05, 0.20)
    loss_seed: int = 0
    call_seconds: float = 60.0
    modes: tuple[str, ...] = ("paper", "predictive")
    views: ViewChoice = "live"
    sender: SenderConfig = field(default_factory=SenderConfig)  # live views: the call's selector and budget
    n_views: int = 3  # the oracle's
    video_dir: Path = Path("reports")
    video_keyint: KeyInt = "1s"
    quiet: bool = False

    @property
    def primary_mode(self) -> str:
        return "predictive" if "predictive" in self.modes else self.modes[0]


def _bar(opts: CompareOptions, **kw: Any) -> Any:

    return tqdm(file=sys.stderr, disable=opts.quiet, leave=False, dynamic_ncols=True, **kw)


def source_plan(clip: TrackedClip, choice: str, sender: SenderConfig | None = None, n_views: int = 3,
                shape: ViewRecords | None = None) -> SourcePlan:
    """The clip's source views: "live" (the call's selector and budget) or "oracle" (whole clip);
    with `shape` (a shape stream), each view with its own coded record."""
    if choice == "live":
        return SourcePlan.live(live_views(clip, sender, shape))
    if choice == "oracle":
        views = [int(v) for v in clip_views(clip, n=n_views)]
        return SourcePlan.oracle(views, [clip.images[i] for i in views], [clip.sup[i] for i in views], shape=shape)
    raise ValueError(f"view choice must be one of {', '.join(VIEW_CHOICES)}, got {choice!r}")


def compare_clip(clip: Any, recs: Sequence[DrivingRecord], fields: FieldSet, tables: Tables, fps: float,
                 opts: CompareOptions) -> ClipComparison:
    """Run both paths on a tracked clip (`frontal.pipeline.TrackedClip` with images, at `fps`)."""
    ref = np.stack(clip.images)
    n = len(ref)
    shape = ViewRecords(recs, fields, tables, opts.primary_mode) if fields.n_shape else None
    plan = source_plan(clip, opts.views, opts.sender, opts.n_views, shape)
    first = plan.first_arrival
    coded = {m: encode_stream(recs, fields, tables, m, fps) for m in opts.modes}
    rates = {m: rate_of(coded[m], m, fps, plan.view_bytes, opts.call_seconds) for m in opts.modes}
    primary = opts.primary_mode
    packets = [f.packet for f in coded[primary]]
    lossless = decode_held(packets, fields, tables)
    same = {m: _same_values(decode_held([f.packet for f in coded[m]], fields, tables).decoded, lossless.decoded) for m in opts.modes}

    renderer = frame_renderer(opts.model)
    source = SourcedRenderer(renderer, plan)
    with _bar(opts, total=n, desc="frontal render", unit="frame") as bar:
        rendered = render_stream(source, lossless, bar)
    goal = rates[primary].kbps_call
    ms = rendered.render_ms if len(rendered.render_ms) else np.full(1, np.nan)  # no view arrived: nothing rendered
    with Scorer(ref, fps) as scorer:
        with _bar(opts, total=1 + len(opts.losses), desc="frontal metrics", unit="output") as bar:
            quality = scorer.score(rendered.frames, opts.headline_metrics)
            after = None if first is None else quality if first == 0 else \
                scorer.tail(first).score(rendered.frames[first:], opts.headline_metrics)
            bar.update(1)
            loss_rows = []
            for rate in opts.losses:
                held = decode_held(packets, fields, tables, loss_mask(n, rate, opts.loss_seed))
                frames, rerendered = held_frames(lossless, rendered.frames, held, source)
                loss_rows.append(LossResult(rate, int(held.lost.sum()), int(held.frozen.sum()), rerendered=rerendered,
                                            quality=scorer.score(frames, opts.metrics)))
                bar.update(1)
        frontal = FrontalClip(
            model=opts.model,
            trained=bool(renderer.trained),
            fields=fields.name,
            view_choice=plan.choice,
            views=plan.frames,
            view_format=plan.view_format,
            view_schedule=plan.report,
            first_view_frame=first,
            frames_after_first_view=0 if first is None else n - first,
            rates={m: replace(r, same_decoded_values=same[m]) for m, r in rates.items()},
            primary_mode=primary,
            render_ms_mean=_num(float(ms.mean())),
            render_ms_median=_num(float(np.median(ms))),
            render_fps=_num(1000.0 / float(np.median(ms))),
            render_fps_mean=_num(1000.0 / float(ms.mean())),
            floor=FrontalFloor(
                fps=fps,
                kbps_call=min(r.kbps_call for r in rates.values()),
                kbps_clip=min(r.kbps_clip for r in rates.values()),
                packet_kbps=min(r.packet_kbps for r in rates.values()),
                header_kbps=OVERHEAD_BITS * fps / 1000.0,
                renders_real_time=bool(1000.0 / float(np.median(ms)) >= REAL_TIME_FPS),
            ),
            quality=quality,
            quality_after_first_view=after,
            loss=loss_rows,
            renderer=renderer.describe() if hasattr(renderer, "describe") else None,
        )
        tiles = [("input", ref), (f"Frontal {goal:.1f} kbps {plan.choice} views" + ("" if renderer.trained else " UNTRAINED"),
                                  rendered.frames)]
        rows = []
        jobs = [(c, k) for c in opts.baselines for k in opts.keyints]
        with _bar(opts, total=len(jobs), desc="classical", unit="setting") as bar:
            for codec, keyint in jobs:
                bar.set_postfix_str(f"{codec} {keyint}")
                run = run_setting(ref, fps, codec, keyint, opts.rates, goal)
                rows.append(_score_setting(run, scorer, opts))
                if run.keyint == opts.video_keyint:  # only these frames are kept (a whole clip's encodes are large)
                    m = run.matched
                    tiles.append((f"{run.codec} {m.kbps_actual:.1f} kbps" + ("" if run.reachable else " (floor)"), m.frames))
                del run
                bar.update(1)
    video = opts.video_dir / f"{Path(clip.path).stem}_compare.mp4"

    write_side_by_side(video, tiles, fps)
    return ClipComparison(frames=n, fps=fps, seconds=n / fps, call_seconds=opts.call_seconds, goal_kbps=goal,
                          goal=f"Frontal {primary}, views amortised over {opts.call_seconds:g} s", frontal=frontal,
                          classical=rows, side_by_side=str(video), side_by_side_tiles=[label for label, _ in tiles])


def _num(x: float) -> float | None:
    return None if np.isnan(x) else x


def _same_values(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return all(x is not None and y is not None and np.array_equal(x.q, y.q) for x, y in zip(a, b))


def _score_setting(run: SettingRun, scorer: Scorer, opts: CompareOptions) -> SettingResult:
    floor_key, matched_key = stream_key(run.floor), stream_key(run.matched)
    points = []
    for r in run.points:
        key = stream_key(r)
        metrics = opts.headline_metrics if key == matched_key else opts.metrics
        points.append(replace(describe(r), floor=key == floor_key, matched=key == matched_key, quality=scorer.score(r.frames, metrics)))
    matched = next(p for p in points if p.matched)
    loss = []
    for rate in opts.losses:
        ld = decode_with_loss(run.matched.bitstream, rate, opts.loss_seed)
        loss.append(LossResult(rate, int(ld.lost.sum()), int(ld.frozen.sum()), quality=scorer.score(ld.frames, opts.metrics)))
    return SettingResult(
        codec=run.codec,
        keyint=run.keyint,
        floor=next(p for p in points if p.floor),
        matched=MatchedPoint(**vars(matched), goal_kbps=run.goal_kbps, reachable=run.reachable,
                             decode_ms_per_frame=run.decode_ms_per_frame,
                             decode_fps=1000.0 / run.decode_ms_per_frame if run.decode_ms_per_frame > 0 else None, loss=loss),
        points=points,
    )
