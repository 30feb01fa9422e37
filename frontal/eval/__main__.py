"""`python -m frontal.eval REF DIST`: quality metrics of a decoded video against its reference.

Both videos are decoded with PyAV and must have the same frame size (give --size to centre-crop and
resize both); the shorter one sets the frame count. Classical-codec baselines live in
`python -m frontal.eval.classical`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from frontal.eval.clips import crop_resize, read_video
from frontal.eval.errors import EvalError
from frontal.eval.metrics import ALL_METRICS, measure

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:

    p = argparse.ArgumentParser(prog="python -m frontal.eval", description="Quality metrics: REF vs DIST.")
    p.add_argument("ref", type=Path)
    p.add_argument("dist", type=Path)
    p.add_argument("--metrics", nargs="+", choices=ALL_METRICS, default=list(ALL_METRICS))
    p.add_argument("--size", type=int, default=None, help="centre-crop and resize both videos to SIZE x SIZE")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--per-frame", action="store_true", help="include per-frame scores in the JSON")
    p.add_argument("--json", type=Path, help="write the report here instead of stdout")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing --json file")
    return p


def _report(args: argparse.Namespace) -> dict[str, object]:

    ref, fps = read_video(args.ref, max_frames=args.max_frames)
    dist, _ = read_video(args.dist, max_frames=args.max_frames)
    n = min(len(ref), len(dist))
    ref, dist = ref[:n], dist[:n]
    if args.size is not None:
        ref, dist = crop_resize(ref, None, args.size), crop_resize(dist, None, args.size)
    report = measure(ref, dist, metrics=args.metrics, fps=fps)
    return {"ref": str(args.ref), "dist": str(args.dist), "fps": fps, **report.to_json_dict(args.per_frame)}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.json is not None and args.json.exists() and not args.force:
        print(f"evaluate: {args.json} exists (use -f to overwrite)", file=sys.stderr)
        return 1
    try:
        text = json.dumps(_report(args), indent=2)
    except (EvalError, ValueError, OSError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 1
    if args.json is None:
        print(text)
    else:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
