"""Per-frame cost of composed warps against the paper's two warps, same weights, interleaved.

    python scripts/compose_warps_speed.py [--sources 3] [--frames 150] [--threads 1] [--json PATH]

Two `Renderer`s of the shipped `frontalizer-mobile` (inference settings as in a call), one with
`compose_warps` on and one with it off, the same random source views and driving record; one
frame of each in turn, `--frames` rounds after 5 warm-up rounds; medians in ms. Speed does not
depend on what the picture shows, so random inputs are enough.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from codec.atomic import atomic_write

from receiver.renderer import Renderer


def measure(sources: int, frames: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    views = [(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
              ((rng.random((33, 2)) - 0.5) * 0.8).astype(np.float32)) for _ in range(sources)]
    record = {"sup": ((rng.random((33, 2)) - 0.5) * 0.8).astype(np.float32),
              "unsup": ((rng.random((10, 2)) - 0.5) * 0.5).astype(np.float32),
              "expr": rng.random(16).astype(np.float32)}
    renderers = {}
    for name, compose in (("composed", True), ("two_warps", False)):
        r = Renderer("frontalizer-mobile")
        r.model.frontalizer.cfg = dataclasses.replace(r.model.frontalizer.cfg, compose_warps=compose)
        r.model.cfg = dataclasses.replace(r.model.cfg, pixel_path=False)  # the warp of the features only
        for image, sup in views:
            r.add_source(image, sup=sup)
        renderers[name] = r
    times: dict[str, list[float]] = {k: [] for k in renderers}
    for i in range(frames + 5):
        for name, r in renderers.items():
            t0 = time.perf_counter()
            r.render(**record)
            if i >= 5:
                times[name].append(time.perf_counter() - t0)
    return {f"{k}_ms_per_frame": round(float(np.median(v)) * 1e3, 3) for k, v in times.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sources", type=int, default=3)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not 1 <= args.sources <= 16 or args.frames < 1 or args.threads < 1:
        print("compose_warps_speed: --sources in 1..16, --frames >= 1, --threads >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    res = {"sources": args.sources, "frames": args.frames, "threads": args.threads, **measure(args.sources, args.frames)}
    print(json.dumps(res))
    if args.json:
        atomic_write(args.json, (json.dumps(res, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
