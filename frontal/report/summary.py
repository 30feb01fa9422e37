"""Aggregating per-clip comparisons (frame-weighted means) and the comparison table."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from frontal.report.frontal_side import FrontalRate
from frontal.report.quality import SCORE_KEYS
from frontal.report.types import (
    ClassicalPoint,
    ClassicalSummary,
    ClipComparison,
    FrontalFloor,
    FrontalSummary,
    LossResult,
    MeanScores,
    RateSummary,
    RDPoint,
    SettingResult,
    Summary,
)


def mean_scores(rows: Sequence[Mapping[str, float | int | None]], weights: Sequence[float]) -> MeanScores:
    """Weighted mean of each score key over `rows` (None/NaN left out; None if none is left)."""
    out: MeanScores = {}
    keys = [k for k in SCORE_KEYS if any(k in r for r in rows)]  # measured (None: no value anywhere)
    for k in keys:
        vals = [(v, w) for r, w in zip(rows, weights) if (v := r.get(k)) is not None and not np.isnan(v)]
        out[k] = float(np.average([v for v, _ in vals], weights=[w for _, w in vals])) if vals else None
    return out


def _wmean(values: Sequence[float | None], weights: Sequence[float]) -> float:
    """Weighted mean, None values left out (NaN if none is left)."""
    pairs = [(v, w) for v, w in zip(values, weights) if v is not None]
    if not pairs:
        return float("nan")
    return float(np.average(np.asarray([v for v, _ in pairs], dtype=np.float64),
                            weights=np.asarray([w for _, w in pairs], dtype=np.float64)))


def summarize(comparisons: Sequence[ClipComparison]) -> Summary:
    """Frame-weighted means over clips (rates: equal to total bits over total seconds at one fps)."""
    w = [c.frames for c in comparisons]
    fr = [c.frontal for c in comparisons]
    modes = list(fr[0].rates)
    after_w = [f.frames_after_first_view for f in fr]
    choices = sorted({f.view_choice for f in fr})
    render_ms = _wmean([f.render_ms_median for f in fr], w)
    render_ms_median = None if np.isnan(render_ms) else render_ms  # None: no clip had a view to render from
    frontal = FrontalSummary(
        clips=len(comparisons),
        frames=int(sum(w)),
        view_choice=choices[0] if len(choices) == 1 else "+".join(choices),
        views_mean=float(np.mean([len(f.views) for f in fr])),
        view_format=fr[0].view_format,
        view_kbps=fr[0].view_schedule.view_kbps,
        view_burst_bytes=fr[0].view_schedule.burst_bytes,
        frames_after_first_view=int(sum(after_w)),
        clips_without_view=int(sum(f.first_view_frame is None for f in fr)),
        model=fr[0].model,
        trained=all(f.trained for f in fr),
        fields=fr[0].fields,
        primary_mode=fr[0].primary_mode,
        rates={m: _mean_rate([f.rates[m] for f in fr], w) for m in modes},
        view_bytes_mean=float(np.mean([sum(f.rates[modes[0]].view_bytes) for f in fr])),
        render_ms_median=render_ms_median,
        quality=mean_scores([f.quality for f in fr], w),
        quality_after_first_view=mean_scores([f.quality_after_first_view or {} for f in fr], after_w),
        loss=_loss_means([f.loss for f in fr], w),
        render_fps=None if render_ms_median is None else 1000.0 / render_ms_median,
        floor=FrontalFloor(kbps_call=_wmean([f.floor.kbps_call for f in fr], w), kbps_clip=_wmean([f.floor.kbps_clip for f in fr], w),
                           packet_kbps=_wmean([f.floor.packet_kbps for f in fr], w), header_kbps=_wmean([f.floor.header_kbps for f in fr], w)),
    )
    groups: dict[tuple[str, str], list[tuple[SettingResult, float]]] = defaultdict(list)
    for c, wt in zip(comparisons, w):
        for row in c.classical:
            groups[(row.codec, row.keyint)].append((row, wt))
    classical = [_setting_summary(codec, keyint, items) for (codec, keyint), items in groups.items()]
    return Summary(frontal=frontal, classical=classical, goal_kbps=_wmean([c.goal_kbps for c in comparisons], w),
                   seconds=float(sum(c.seconds for c in comparisons)), call_seconds=comparisons[0].call_seconds)


def _mean_rate(rates: Sequence[FrontalRate], w: Sequence[float]) -> RateSummary:
    return RateSummary(packet_kbps=_wmean([r.packet_kbps for r in rates], w), kbps_clip=_wmean([r.kbps_clip for r in rates], w),
                       kbps_call=_wmean([r.kbps_call for r in rates], w), bits_per_frame=_wmean([r.bits_per_frame for r in rates], w))


def _loss_means(per_clip: Sequence[Sequence[LossResult]], w: Sequence[float]) -> list[LossResult]:
    out = []
    for i, first in enumerate(per_clip[0]):
        rows = [clip[i] for clip in per_clip]
        out.append(LossResult(first.loss, int(sum(r.lost for r in rows)), int(sum(r.frozen for r in rows)), frames=int(sum(w)),
                              quality=mean_scores([r.quality for r in rows], w)))
    return out


def _target_label(p: ClassicalPoint) -> str:
    return "maxq" if p.kbps_target is None else f"{p.kbps_target:g}"


def _setting_summary(codec: str, keyint: str, items: list[tuple[SettingResult, float]]) -> ClassicalSummary:
    rows, w = [r for r, _ in items], [wt for _, wt in items]
    matched = [r.matched for r in rows]
    # rate-distortion points: requested targets every clip has (rate control lands differently per clip)
    by_target: dict[str, list[tuple[ClassicalPoint, float]]] = defaultdict(list)
    for r, wt in items:
        for p in r.points:
            if not p.matched or p.floor:
                by_target[_target_label(p)].append((p, wt))
    rd = [RDPoint(label, _wmean([p.kbps_actual for p, _ in pts], [x for _, x in pts]), mean_scores([p.quality for p, _ in pts], [x for _, x in pts]))
          for label, pts in by_target.items() if len(pts) == len(rows)]
    rd.sort(key=lambda p: p.kbps_actual)
    return ClassicalSummary(
        codec=codec,
        keyint=keyint,
        clips=len(rows),
        floor_kbps=_wmean([r.floor.kbps_actual for r in rows], w),
        floor_kbps_max=float(max(r.floor.kbps_actual for r in rows)),
        floor_quality=mean_scores([r.floor.quality for r in rows], w),
        matched_kbps=_wmean([m.kbps_actual for m in matched], w),
        matched_goal_kbps=_wmean([m.goal_kbps for m in matched], w),
        matched_reachable=int(sum(bool(m.reachable) for m in matched)),
        matched_quality=mean_scores([m.quality for m in matched], w),
        decode_fps=1000.0 / _wmean([m.decode_ms_per_frame for m in matched], w),
        loss=_loss_means([m.loss for m in matched], w),
        rd=rd,
    )


_COLS = (("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"), ("msssim", "MS-SSIM", "{:.3f}"), ("vmaf", "VMAF", "{:.1f}"),
         ("nme", "NME", "{:.3f}"), ("identity_dist", "identity", "{:.3f}"),
         ("expr_mouth", "mouth r", "{:.2f}"), ("expr_eyes", "eyes r", "{:.2f}"), ("expr_brows", "brows r", "{:.2f}"))


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None or np.isnan(v) else spec.format(v)


def frontal_label(f: FrontalSummary, mode: str) -> str:
    """"Frontal (predictive, live views)": the mode, which view choice, untrained if so."""
    return f"Frontal ({mode}, {f.view_choice} views{'' if f.trained else ', untrained'})"


def views_sentence(summary: Summary) -> str:
    """How the source views were chosen and counted, in a sentence or three (plain text)."""
    f = summary.frontal
    if f.view_choice == "oracle":
        return (f"Source views: the ORACLE choice ({f.views_mean:.1f} per clip, picked from the whole clip, future frames "
                f"included: the most frontal one and the yaw extremes), there from the first frame; a call cannot do this. "
                f"Their bytes are counted as {f.view_format}.")
    before = f.frames - f.frames_after_first_view
    return (f"Source views: chosen live, as the call does (its online selector) and sent under the call's view budget "
            f"({f.view_kbps:g} kbps, {f.view_burst_bytes} bytes of burst) as {f.view_format}: "
            f"{f.views_mean:.1f} views arrived per clip ({f.view_bytes_mean / 1000:.1f} kB sent); each is used from the "
            f"frame it arrives at. Before the first view the receiver has nothing to show: those {before} frames are black "
            f"and scored as shown; the 'after 1st view' row scores the other {f.frames_after_first_view}.")


def table_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the headline table: Frontal and each codec at Frontal's bitrate."""
    f = summary.frontal
    losses = [r.loss for r in f.loss]
    header = ["codec", "keyframes", "floor kbps", "kbps", *[c[1] for c in _COLS], "FPS (render/decode)", *[f"PSNR @{loss:.0%} loss" for loss in losses]]
    rows = []
    p = f.primary_mode
    for m, r in f.rates.items():
        label = frontal_label(f, m)
        q = f.quality
        kb = f"{r.kbps_call:.2f} (clip {r.kbps_clip:.1f})"
        rows.append([label, "intra 1/s", f"{r.kbps_call:.2f}", kb, *[_fmt(q.get(k), s) for k, _, s in _COLS],
                     _fmt(f.render_fps, "{:.1f}"), *[_fmt(x.quality.get("psnr"), "{:.2f}") for x in f.loss]] if m == p else
                    [label, "intra 1/s", f"{r.kbps_call:.2f}", kb, *["same pictures" if i == 0 else "" for i in range(len(_COLS))], "",
                     *["" for _ in losses]])
        if m == p and f.view_choice != "oracle":
            qa = f.quality_after_first_view
            rows.append([f"{label} after 1st view ({f.frames_after_first_view}/{f.frames} frames)", "", "", "",
                         *[_fmt(qa.get(k), s) for k, _, s in _COLS], "", *["" for _ in losses]])
    for c in summary.classical:
        q = c.matched_quality
        kb = f"{c.matched_kbps:.2f}" + ("" if c.matched_reachable == c.clips else f" ({c.clips - c.matched_reachable} at floor)")
        rows.append([c.codec, {"clip": "1 per clip", "1s": "1 per second"}.get(c.keyint, c.keyint), f"{c.floor_kbps:.2f}", kb,
                     *[_fmt(q.get(k), s) for k, _, s in _COLS], f"{c.decode_fps:.0f}",
                     *[_fmt(x.quality.get("psnr"), "{:.2f}") for x in c.loss]])
    return header, rows


def text_table(summary: Summary) -> str:
    header, rows = table_rows(summary)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(wd) for c, wd in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), *(line(r) for r in rows)])


def markdown_table(summary: Summary) -> str:
    header, rows = table_rows(summary)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
