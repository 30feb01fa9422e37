"""Tracking speed: ms/frame of `FaceTracker.track` (FaceMesh + pose fit + crop), decoding excluded.

    python -m sender.bench [VIDEO...] [--frames 300] [--fps F]

With no video, the embedded default clip. The first frame (graph warm-up) is left out.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sender.tracker import FaceTracker, TrackerConfig
from sender.video import VideoError, VideoFile, default_video


def bench(path: Path, frames: int, fps: float | None, config: TrackerConfig) -> dict[str, float]:
    """{'frames', 'face_rate', 'mean_ms', 'p50_ms', 'p95_ms', 'width', 'height'} for one video."""
    with VideoFile(path, fps=fps, max_frames=frames + 1) as video:
        images = list(video)  # decode first: only tracking is timed
        width, height = video.info.width, video.info.height
    with FaceTracker(config) as tracker:
        tracked = [tracker.track(image) for image in images]
    ms = np.array([t.track_ms for t in tracked[1:]] or [tracked[0].track_ms])
    return {
        "frames": float(len(tracked)),
        "face_rate": float(np.mean([t.face_found for t in tracked])),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "width": float(width),
        "height": float(height),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sender.bench", description=__doc__.split("\n")[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--frames", type=int, default=300, help="frames per video at most")
    parser.add_argument("--fps", type=float, default=None, help="resample first")
    parser.add_argument("--max-faces", type=int, default=TrackerConfig.max_faces)
    args = parser.parse_args(argv)
    if not args.videos:

        args.videos = [default_video()]
    config = TrackerConfig(max_faces=args.max_faces)
    print("video\tsize\tframes\tface_rate\tmean_ms\tp50_ms\tp95_ms")
    for path in args.videos:
        try:
            r = bench(path, args.frames, args.fps, config)
        except VideoError as exc:
            print(f"python -m sender.bench: {exc}", file=sys.stderr)
            return 1
        print(f"{path.name}\t{r['width']:.0f}x{r['height']:.0f}\t{r['frames']:.0f}\t{r['face_rate']:.2f}"
              f"\t{r['mean_ms']:.2f}\t{r['p50_ms']:.2f}\t{r['p95_ms']:.2f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
