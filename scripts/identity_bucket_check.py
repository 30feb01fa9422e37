"""Identity distance per clip on the frames of one |yaw| bucket, against copying the nearest source view.

    python scripts/identity_bucket_check.py --data .cache/faces15c \\
        --model fz=frontalizer-mobile=CKPT --model fom=fom-mobile=CKPT [--lo 30 --hi 45] [--json PATH]

Frames and source views are chosen as `frontal evaluate` chooses them (extremes views, 64 driving
frames per clip); only the driving frames with lo <= |yaw| < hi are rendered. Per clip: how many
frames, each model's mean dlib identity distance to the input frame (and how often dlib found a
face in the output), and the distance the best of the clip's source views has to the frame ("copy
the nearest view": what a renderer that reproduced its sources exactly would score). Shows which
identities a bucket's mean rests on, and how far the renders are from what their sources allow.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import frontal.train.evaluate as ev
from codec.atomic import atomic_write


def check(data: Path, models: list[tuple[str, str, str]], lo: float, hi: float, split: str) -> list[dict]:
    from frontal.eval.identity import FaceIdentity, identity_distance
    from receiver.renderer import Renderer

    ident = FaceIdentity()
    renderers = {label: Renderer(name, weights=weights) for label, name, weights in models}
    st = ev.EvalSettings(split, None, 64, 3, ("extremes",), ("identity",))
    rows = []
    for path, _ in ev.list_clips(data, st):
        clip = ev.load_clip(path)
        views, frames = ev.choose_frames(clip, "extremes", 3, 64)
        yaw = np.abs(clip.yaw_deg[frames])
        sel = frames[(yaw >= lo) & (yaw < hi)]
        if len(sel) == 0:
            continue
        row: dict = {"clip": clip.name, "frames": len(sel),
                     "source_yaw_deg": [round(float(clip.yaw_deg[v]), 1) for v in views],
                     "frame_yaw_deg": [round(float(clip.yaw_deg[sel].min()), 1), round(float(clip.yaw_deg[sel].max()), 1)]}
        refs = clip.crops[sel]
        for label, r in renderers.items():
            scores = identity_distance(refs, ev.render_clip(r, clip, views, sel), ident)
            row[label] = {"identity": scores.mean, "face_found": len(sel) - scores.n_no_face_dist}
        per_view = [identity_distance(refs, np.repeat(clip.crops[v][None], len(sel), axis=0), ident).per_frame
                    for v in views]
        row["copy_nearest_view"] = float(np.min(per_view, axis=0).mean())
        rows.append(row)
        cols = " | ".join(f"{k} {row[k]['identity']:.3f} ({row[k]['face_found']} found)" for k in renderers)
        print(f"{clip.name[:44]:44s} {len(sel):3d} frames, views {row['source_yaw_deg']}: {cols} | "
              f"copy nearest view {row['copy_nearest_view']:.3f}", flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--model", action="append", required=True, help="LABEL=NAME=CHECKPOINT; repeat")
    p.add_argument("--lo", type=float, default=30.0)
    p.add_argument("--hi", type=float, default=45.0)
    p.add_argument("--split", default="val", choices=("train", "val"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    models = [tuple(m.split("=", 2)) for m in args.model]
    if (not args.data.is_dir() or any(len(m) != 3 or not Path(m[2]).is_file() for m in models)
            or not 0 <= args.lo < args.hi):
        print("identity_bucket_check: --data must be a folder, each --model LABEL=NAME=CHECKPOINT an existing "
              "file, and 0 <= --lo < --hi", file=sys.stderr)
        return 1
    try:
        rows = check(args.data, models, args.lo, args.hi, args.split)  # type: ignore[arg-type]
    except ValueError as exc:
        print(f"identity_bucket_check: {exc}", file=sys.stderr)
        return 1
    if args.json:
        atomic_write(args.json, (json.dumps({"lo": args.lo, "hi": args.hi, "split": args.split,
                                             "models": {m[0]: m[2] for m in models}, "clips": rows}, indent=1)
                                 + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
