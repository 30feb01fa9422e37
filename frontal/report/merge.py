"""`frontal merge-reports`: one summary over several `codec-loopback --report` runs.

    frontal merge-reports reports/val_a/report.json reports/val_b/report.json [--json OUT]

A long benchmark can run as several processes over disjoint clip lists (one report each); this
takes their clips together and gives the same frame-weighted means `codec-loopback` prints for one
run (`frontal.report.summary.mean_scores`, each clip weighted by its frames; the after-first-view
scores by the frames after the first view): Frontal's primary mode (kbps over the call, bits per
frame, quality) and each classical setting at Frontal's rate. The runs must share the model, the
view choice, the fields and the call length; a clip in two runs is refused.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from frontal.jsonio import write_json
from frontal.report.summary import mean_scores

SAME = ("model", "view_choice", "fields", "primary_mode")


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable report ({exc})") from None
    if not isinstance(doc, dict) or "clips" not in doc or not doc["clips"] or "comparison" not in doc["clips"][0]:
        raise ValueError(f"{path}: not a codec-loopback --report report.json")
    return doc


def merge(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The merged summary (module docstring)."""
    clips = [c for d in docs for c in d["clips"]]
    names = [c["clip"] for c in clips]
    if len(set(names)) != len(names):
        raise ValueError("a clip appears in more than one report")
    fr = [c["comparison"]["frontal"] for c in clips]
    for key in SAME:
        values = {f[key] for f in fr}
        if len(values) > 1:
            raise ValueError(f"the reports differ in {key}: {sorted(map(str, values))}")
    w = [c["comparison"]["frames"] for c in clips]
    mode = fr[0]["primary_mode"]
    rates = [f["rates"][mode] for f in fr]
    out: dict[str, Any] = {
        "reports": len(docs), "clips": len(clips), "frames": int(sum(w)), "model": fr[0]["model"],
        "view_choice": fr[0]["view_choice"], "fields": fr[0]["fields"], "mode": mode,
        "kbps_call": float(np.average([r["kbps_call"] for r in rates], weights=w)),
        "bits_per_frame": float(np.average([r["bits_per_frame"] for r in rates], weights=w)),
        "frames_after_first_view": int(sum(f["frames_after_first_view"] for f in fr)),
        "quality": mean_scores([f["quality"] for f in fr], w),
        "quality_after_first_view": mean_scores([f.get("quality_after_first_view") or {} for f in fr],
                                                [f["frames_after_first_view"] for f in fr]),
        "classical": {},
    }
    settings = sorted({(r["codec"], r["keyint"]) for c in clips for r in c["comparison"]["classical"]})
    for codec, keyint in settings:
        rows = [(r, c["comparison"]["frames"]) for c in clips for r in c["comparison"]["classical"]
                if (r["codec"], r["keyint"]) == (codec, keyint)]
        out["classical"][f"{codec} {keyint}"] = {
            "clips": len(rows),
            "kbps": float(np.average([r["matched"]["kbps_actual"] for r, _ in rows], weights=[n for _, n in rows])),
            "at_floor": int(sum(not r["matched"]["reachable"] for r, _ in rows)),
            "quality": mean_scores([r["matched"]["quality"] for r, _ in rows], [n for _, n in rows]),
        }
    return out


KEYS = ("psnr", "ssim", "msssim", "vmaf", "nme", "identity_dist", "expr_mouth", "expr_eyes", "expr_brows")


def table(m: dict[str, Any]) -> str:
    def row(label: str, kbps: float, q: dict[str, Any]) -> str:
        cells = " ".join("–".rjust(7) if q.get(k) is None else f"{q[k]:7.3f}" for k in KEYS)
        return f"{label:<44} {kbps:6.2f} {cells}"

    lines = [f"{m['clips']} clips, {m['frames']} frames, from {m['reports']} report(s)",
             f"{'':<44} {'kbps':>6} " + " ".join(f"{k[:7]:>7}" for k in KEYS),
             row(f"Frontal {m['model']} ({m['mode']}, {m['view_choice']} views)", m["kbps_call"], m["quality"]),
             row(f"  after the first view ({m['frames_after_first_view']} frames)", m["kbps_call"], m["quality_after_first_view"])]
    for name, c in m["classical"].items():
        lines.append(row(f"{name} ({c['at_floor']} of {c['clips']} at floor)", c["kbps"], c["quality"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="frontal merge-reports", description="one summary over several codec-loopback reports")
    ap.add_argument("reports", nargs="+", type=Path, help="report.json files of codec-loopback --report runs")
    ap.add_argument("--json", type=Path, default=None, help="write the merged summary here")
    args = ap.parse_args(argv)
    try:
        merged = merge([load(p) for p in args.reports])
    except ValueError as exc:
        print(f"frontal merge-reports: {exc}", file=sys.stderr)
        return 1
    print(table(merged))
    if args.json:
        write_json(args.json, merged)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
