"""Which format makes the smallest source view at equal quality: JPEG, WebP or AVIF.

    python -m frontal.call.viewbench [VIDEO] [--psnr 36 --views 5]

Tracks the clip (default: the embedded talking head), takes `--views` crops spread over it, encodes
each at every quality of a sweep and interpolates the bytes each format needs to reach `--psnr` dB
(on the 256x256 RGB crop). Prints one line per format and the JSON summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from frontal.call.sender_side import encode_view
from frontal.call.receiver_side import _decode_avif
from codec.cli import decode_image

QUALITIES = (20, 30, 40, 50, 60, 70, 80, 90, 95)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def bytes_at_psnr(image: np.ndarray, fmt: str, target: float) -> tuple[float, list[tuple[int, int, float]]]:
    """Bytes needed to reach `target` dB (linear interpolation over the quality sweep)."""
    curve = []
    for q in QUALITIES:
        data = encode_view(image, fmt, q)
        back = _decode_avif(data) if fmt == "avif" else decode_image(data)
        curve.append((q, len(data), psnr(image, back)))
    sizes = np.array([c[1] for c in curve], float)
    quals = np.array([c[2] for c in curve], float)
    order = np.argsort(quals)
    if target > quals.max():
        return float("nan"), curve
    return float(np.interp(target, quals[order], sizes[order])), curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="frontal bench-views", description=__doc__.splitlines()[0])
    p.add_argument("video", nargs="?", type=Path)
    p.add_argument("--psnr", type=float, default=36.0)
    p.add_argument("--views", type=int, default=5)
    args = p.parse_args(argv)
    from frontal.paths import default_video
    from sender.tracker import track_video

    video = args.video or default_video()
    try:
        tracked = [t for t in track_video(video, fps=5) if t.face_found]
    except Exception as exc:
        print(f"frontal bench-views: error: {exc}", file=sys.stderr)
        return 1
    picks = [tracked[i] for i in np.linspace(0, len(tracked) - 1, args.views).astype(int)]
    result: dict[str, float] = {}
    for fmt in ("jpeg", "webp", "avif"):
        sizes = [bytes_at_psnr(t.image, fmt, args.psnr)[0] for t in picks]
        result[fmt] = round(float(np.nanmean(sizes)), 1)
        print(f"{fmt:5s} {result[fmt]:8.1f} bytes per 256x256 view at {args.psnr} dB PSNR")
    print(json.dumps({"psnr_db": args.psnr, "views": len(picks), "bytes": result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
