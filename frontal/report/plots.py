"""Rate-distortion plots: one PNG per metric, every codec on one axis, Frontal as points."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from frontal.report.quality import SCORE_KEYS, SCORE_LABELS
from frontal.report.types import LossResult, Summary

log = logging.getLogger(__name__)

COLORS = {"x264": "tab:blue", "x265": "tab:orange", "vp9": "tab:green", "av1": "tab:purple"}
KEYINT_STYLE = {"1s": "-", "clip": "--"}
KEYINT_TEXT = {"1s": "keyframe 1/s", "clip": "1 keyframe/clip"}


def _figure() -> Any:
    import matplotlib  # noqa: PLC0415 (matplotlib costs ~0.7 s at start-up; loaded when a plot is drawn)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (matplotlib costs ~0.7 s at start-up; loaded when a plot is drawn)

    return plt


def rd_plot(summary: Summary, key: str, path: Path) -> bool:
    """Plot metric `key` against actual kbps (log axis). False (no file) when nothing has the metric."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    drawn = False
    for c in summary.classical:
        pts = [(p.kbps_actual, p.quality.get(key)) for p in c.rd if p.quality.get(key) is not None]
        color, style = COLORS.get(c.codec, "grey"), KEYINT_STYLE.get(c.keyint, ":")
        label = f"{c.codec} ({KEYINT_TEXT.get(c.keyint, c.keyint)})"
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, style, color=color, marker=".", label=label)
            drawn = True
        fq = c.floor_quality.get(key)
        if fq is not None:
            ax.plot([c.floor_kbps], [fq], "v", color=color, mfc="none" if c.keyint == "clip" else color, ms=8)
        mq = c.matched_quality.get(key)
        if mq is not None:
            ax.plot([c.matched_kbps], [mq], "o", color=color, mfc="none" if c.keyint == "clip" else color, ms=7,
                    label=None if pts else label)
            drawn = True
    f = summary.frontal
    fq = f.quality.get(key)
    if fq is not None:
        r = f.rates[f.primary_mode]
        tag = f", {f.view_choice} views" + ("" if f.trained else ", untrained")
        ax.plot([r.kbps_call], [fq], "*", color="red", ms=15, label=f"Frontal {f.primary_mode}{tag} ({summary.call_seconds:g}-s call)")
        ax.plot([r.kbps_clip], [fq], "*", color="red", mfc="none", ms=15, label=f"Frontal {f.primary_mode}{tag} (views over the clip)")
        for m, rr in f.rates.items():
            if m != f.primary_mode:
                ax.plot([rr.kbps_call], [fq], "P", color="darkred", ms=9, label=f"Frontal {m} ({summary.call_seconds:g}-s call)")
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xscale("log")
    ax.set_xlabel("bitrate, kbps (actual payload bits; log scale)")
    ax.set_ylabel(SCORE_LABELS.get(key, key))
    better = "higher" if SCORE_KEYS.get(key, True) else "lower"
    ax.set_title(f"{SCORE_LABELS.get(key, key)} vs bitrate — {better} is better\n"
                 f"▼ floor (lowest reachable), ● at Frontal's bitrate; filled = keyframe 1/s, hollow = 1/clip", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def loss_plot(summary: Summary, key: str, path: Path) -> bool:
    """Metric `key` against packet-loss rate at Frontal's bitrate (0 % = no loss)."""
    plt = _figure()
    f = summary.frontal
    if f.quality.get(key) is None or not f.loss:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)

    def curve(base: float | None, loss: list[LossResult]) -> tuple[list[float], list[float]]:
        pts = [(0.0, base)] + [(100 * r.loss, r.quality.get(key)) for r in loss]
        return [x for x, y in pts if y is not None], [y for _, y in pts if y is not None]

    for c in summary.classical:
        xs, ys = curve(c.matched_quality.get(key), c.loss)
        ax.plot(xs, ys, KEYINT_STYLE.get(c.keyint, ":"), color=COLORS.get(c.codec, "grey"), marker="o",
                label=f"{c.codec} ({KEYINT_TEXT.get(c.keyint, c.keyint)}), {c.matched_kbps:.1f} kbps")
    xs, ys = curve(f.quality.get(key), f.loss)
    ax.plot(xs, ys, "-", color="red", marker="*", ms=12,
            label=f"Frontal (hold and resync, {f.view_choice} views){'' if f.trained else ', untrained'}")
    ax.set_xlabel("packet loss, % (independent, same seeded pattern for every codec)")
    ax.set_ylabel(SCORE_LABELS.get(key, key))
    ax.set_title(f"{SCORE_LABELS.get(key, key)} under packet loss at Frontal's bitrate", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_plots(summary: Summary, folder: Path) -> dict[str, str]:
    """All plots into `folder`; returns {name: file name}."""
    out: dict[str, str] = {}
    for key in SCORE_KEYS:
        name = f"rd_{key}.png"
        if rd_plot(summary, key, folder / name):
            out[f"rd_{key}"] = name
    for key in ("psnr", "vmaf"):
        name = f"loss_{key}.png"
        if loss_plot(summary, key, folder / name):
            out[f"loss_{key}"] = name
    return out
