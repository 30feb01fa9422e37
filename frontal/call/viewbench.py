"""Which format makes the smallest source view at equal quality: JPEG, WebP or AVIF.

    python -m frontal.call.viewbench [VIDEO] [--psnr 36 --views 5]
    python -m frontal.call.viewbench [VIDEO] --render 80,60,50,40 [--format webp --frames 30 --json OUT]

Tracks the clip (default: the embedded talking head), takes `--views` crops spread over it, encodes
each at every quality of a sweep and interpolates the bytes each format needs to reach `--psnr` dB
(on the 256x256 RGB crop). Prints one line per format and the JSON summary.

`--render Q,Q,...`: what a view's quality does to the *rendered* call. The source views a call
would send (the sender's `ViewSelector` over the clip at 15 FPS) are compressed at each quality; a
`NeuralFrameRenderer` per quality (and one with the uncompressed views, the reference) renders
`--frames` frames spread over the clip from their tracked landmarks; reported per quality: view
bytes, PSNR of the render against the reference render and against the first quality's render.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from codec.atomic import atomic_write
from codec.fields import DrivingRecord
from codec.images import decode_view, encode_view
from receiver.render import NeuralFrameRenderer
from sender.live import SenderConfig
from sender.tracker import track_video
from sender.video import default_video
from sender.views import ViewSelector

QUALITIES = (20, 30, 40, 50, 60, 70, 80, 90, 95)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def bytes_at_psnr(image: np.ndarray, fmt: str, target: float) -> tuple[float, list[tuple[int, int, float]]]:
    """Bytes needed to reach `target` dB (linear interpolation over the quality sweep)."""
    curve = []
    for q in QUALITIES:
        data = encode_view(image, fmt, q)
        back = decode_view(data, fmt)
        curve.append((q, len(data), psnr(image, back)))
    sizes = np.array([c[1] for c in curve], float)
    quals = np.array([c[2] for c in curve], float)
    order = np.argsort(quals)
    if target > quals.max():
        return float("nan"), curve
    return float(np.interp(target, quals[order], sizes[order])), curve


def render_comparison(video: Path, qualities: list[int], fmt: str = "webp", frames: int = 30,
                      model: str | None = None) -> dict[str, object]:
    """Renders with source views compressed at each quality; PSNR against the uncompressed views'
    render and against the first quality's render (see the module docstring)."""

    import torch  # noqa: PLC0415 (torch costs ~2 s at start-up; only --render needs it)


    torch.set_num_threads(1)
    tracked = [t for t in track_video(video, fps=15) if t.face_found]
    selector = ViewSelector(SenderConfig().view_policy())
    views = []
    for t in tracked:
        selector.consider(t)
        if selector.ready():
            views.append(selector.take())
    picks = [tracked[i] for i in np.linspace(0, len(tracked) - 1, frames).astype(int)]

    def renders(images: list[np.ndarray]) -> list[np.ndarray]:
        r = NeuralFrameRenderer(model)
        for img, v in zip(images, views):
            r.add_source(img, v.sup)
        return [r.render(DrivingRecord(sup=t.sup)) for t in picks]

    t0 = time.perf_counter()
    reference = renders([v.image for v in views])
    reference_truth = round(float(np.mean([psnr(t.image, b) for t, b in zip(picks, reference)])), 3)
    repeat = renders([v.image for v in views])  # a fresh renderer, same views: is rendering deterministic?
    rows, first = [], None
    for q in qualities:
        data = [encode_view(v.image, fmt, q) for v in views]
        decoded = [decode_view(d, fmt) for d in data]
        out = renders(decoded)
        first = first or out
        rows.append({
            "quality": q,
            "view_bytes": [len(d) for d in data],
            "view_psnr_db": [round(psnr(v.image, d), 2) for v, d in zip(views, decoded)],
            "render_psnr_vs_uncompressed_db": round(float(np.mean([psnr(a, b) for a, b in zip(reference, out)])), 2),
            "render_psnr_vs_driving_frame_db": round(float(np.mean([psnr(t.image, b) for t, b in zip(picks, out)])), 3),
            "render_psnr_vs_first_db": round(float(np.mean([psnr(a, b) for a, b in zip(first, out)])), 2),
            "render_psnr_vs_first_min_db": round(float(np.min([psnr(a, b) for a, b in zip(first, out)])), 2),
        })
    return {"format": fmt, "views": len(views), "view_yaw": [round(v.yaw, 3) for v in views],
            "frames": len(picks),
            "render_psnr_vs_driving_frame_uncompressed_views_db": reference_truth,
            "render_repeat_psnr_db": round(float(np.mean([psnr(a, b) for a, b in zip(reference, repeat)])), 2),
            "seconds": round(time.perf_counter() - t0, 1), "qualities": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="frontal bench-views", description=__doc__.splitlines()[0])
    p.add_argument("video", nargs="?", type=Path)
    p.add_argument("--psnr", type=float, default=36.0)
    p.add_argument("--views", type=int, default=5)
    p.add_argument("--render", help="qualities to compare through the renderer, e.g. 80,60,50,40")
    p.add_argument("--format", choices=("webp", "jpeg", "avif"), default="webp")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--model", help="renderer model (default: the registry's default)")
    p.add_argument("--json", type=Path, help="--render: write the results here")
    args = p.parse_args(argv)

    video = args.video or default_video()
    if args.render:
        try:
            result = render_comparison(video, [int(q) for q in args.render.split(",")], args.format,
                                       args.frames, args.model)
        except Exception as exc:
            print(f"frontal bench-views: error: {exc}", file=sys.stderr)
            return 1
        for row in result["qualities"]:  # type: ignore[union-attr]
            print(f"q{row['quality']:<3d} views {row['view_bytes']} bytes, view PSNR {row['view_psnr_db']}; "
                  f"render PSNR vs uncompressed views {row['render_psnr_vs_uncompressed_db']} dB, "
                  f"vs q{args.render.split(',')[0]} {row['render_psnr_vs_first_db']} dB "
                  f"(min {row['render_psnr_vs_first_min_db']}); vs the driving frame "
                  f"{row['render_psnr_vs_driving_frame_db']} dB")
        print(json.dumps({k: v for k, v in result.items() if k != "qualities"}))
        if args.json is not None:

            atomic_write(args.json, json.dumps(result, indent=2).encode())
        return 0
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
