"""What the predictive mode's coarser depths and the sender's smoothing do to the rendered face.

    python scripts/driving_fields_study.py --data .cache/faces15c [--clips 8] [--frames 90] [--json PATH]

On validation-identity clips of a `frontal prepare` folder (with crops), for the default model's
fields (33 sup + 10 unsup + 16 expr): the detector's raw fields, the paper mode's quantization, the
predictive mode's quantization, and the sender's smoothing + predictive quantization. For each:
PSNR of the render against the real frame, PSNR against the render of the raw fields (how much the
render changed), and the frame-to-frame change of the rendered frames (shimmer, mean absolute
difference in 8-bit levels; the real frames' own is printed for reference), and the keypoint
filter's lag when run on the real landmark tracks (a stand-in for a well-trained detector's keypoints). Also the predictive coder's payload bits/frame with the shipped tables.
Each clip is rendered from one source view (its most frontal frame) at 15 FPS.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--model", default="frontalizer-mobile")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"driving_fields_study: no such folder: {args.data}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    from codec.fields import DrivingRecord, FieldSet
    from frontal.loopback import code_sequence
    from codec.quant import Quantizer
    from codec.tables import load_tables
    from frontal.dataset import is_validation
    from models.extractor import DrivingExtractor
    from receiver.renderer import Renderer
    from sender.smoothing import DrivingSmoother, SmoothingConfig

    fields = FieldSet.parse("sup,unsup,expr")
    tables = load_tables()
    extractor = DrivingExtractor(args.model)
    renderer = Renderer(args.model)
    files = []
    for f in sorted(args.data.glob("*.npz")):
        with np.load(f) as z:
            if "crops" in z.files and is_validation(str(z["identity_label"])):
                files.append(f)
    files = files[:: max(1, len(files) // args.clips)][: args.clips]
    if not files:
        print(f"driving_fields_study: no validation clips with crops in {args.data}", file=sys.stderr)
        return 1
    variants = ("raw", "paper-quantized", "predictive-quantized", "smoothed+predictive")
    real_shimmer: list[float] = []
    lag_px: list[float] = []
    motion_px: dict[str, list[float]] = {"landmarks": [], "keypoints_raw": [], "keypoints_smoothed": []}
    rows: dict[str, dict[str, list[float]]] = {v: {"psnr_vs_real": [], "psnr_vs_raw_render": [], "shimmer": [], "bits": []} for v in variants}
    for f in files:
        with np.load(f) as z:
            found = z["face_found"].astype(bool)
            run = np.flatnonzero(found)[: args.frames]
            crops, sup, yaw = z["crops"][run], z["sup"][run].astype(np.float32), z["pose"][run, 0]
        code = extractor.extract_batch(crops)
        raw = [DrivingRecord(sup=sup[t], unsup=code.unsup[t], expr=code.expr[t]) for t in range(len(run))]
        smoothed = DrivingSmoother(SmoothingConfig.default(), 15.0).run(raw)
        def motion(x: np.ndarray) -> float:  # mean per-point move between consecutive frames, px of the 256 crop
            return float(np.linalg.norm(np.diff(x, axis=0), axis=-1).mean() * 128)
        motion_px["landmarks"].append(motion(sup))
        motion_px["keypoints_raw"].append(motion(code.unsup))
        motion_px["keypoints_smoothed"].append(motion(np.stack([r.unsup for r in smoothed])))
        # The keypoint filter run on the real landmark tracks: how far behind real motion it puts them.
        on_sup = DrivingSmoother(SmoothingConfig(unsup=SmoothingConfig.default().unsup), 15.0).run([DrivingRecord(unsup=s) for s in sup])
        lag_px.append(float(np.linalg.norm(np.stack([r.unsup for r in on_sup]) - sup, axis=-1).mean() * 128))
        def quantized(recs: list[DrivingRecord], mode: str) -> list[DrivingRecord]:
            q = Quantizer(fields, mode=mode)
            return [q.dequantize(q.quantize(r)) for r in recs]
        streams = {"raw": raw, "paper-quantized": quantized(raw, "paper"), "predictive-quantized": quantized(raw, "predictive"),
                   "smoothed+predictive": quantized(smoothed, "predictive")}
        bits = {"raw": None, "paper-quantized": code_sequence(raw, sup, fields, tables, "paper", 15.0)[0].payload_bits_per_frame,
                "predictive-quantized": code_sequence(raw, sup, fields, tables, "predictive", 15.0)[0].payload_bits_per_frame,
                "smoothed+predictive": code_sequence(smoothed, sup, fields, tables, "predictive", 15.0)[0].payload_bits_per_frame}
        src = int(np.argmin(np.abs(yaw)))
        renderer.reset()
        renderer.add_source(crops[src], sup[src])
        frames = [t for t in range(len(run)) if t != src]
        renders = {v: np.stack([renderer.render(sup=r[t].sup, unsup=r[t].unsup, expr=r[t].expr) for t in frames]) for v, r in streams.items()}
        real_shimmer.append(float(np.abs(np.diff(crops[frames].astype(np.float64), axis=0)).mean()))
        for v in variants:
            rows[v]["psnr_vs_real"].append(float(np.mean([_psnr(renders[v][k], crops[t]) for k, t in enumerate(frames)])))
            rows[v]["psnr_vs_raw_render"].append(float(np.mean([_psnr(renders[v][k], renders["raw"][k]) for k in range(len(frames))])))
            rows[v]["shimmer"].append(float(np.abs(np.diff(renders[v].astype(np.float64), axis=0)).mean()))
            if bits[v] is not None:
                rows[v]["bits"].append(float(bits[v]))
        print(f"{f.stem}: {len(frames)} frames", file=sys.stderr)
    summary = {v: {k: (float(np.mean(x)) if x else None) for k, x in r.items()} for v, r in rows.items()}
    print(f"{'stream':24s} {'PSNR vs real':>12s} {'PSNR vs raw render':>19s} {'shimmer':>8s} {'bits/frame':>10s}")
    for v, s in summary.items():
        vs_raw = "—" if v == "raw" else f"{s['psnr_vs_raw_render']:.2f}"
        bits_txt = "—" if s["bits"] is None else f"{s['bits']:.1f}"
        print(f"{v:24s} {s['psnr_vs_real']:12.3f} {vs_raw:>19s} {s['shimmer']:8.3f} {bits_txt:>10s}")
    print(f"{'(the real frames)':24s} {'':12s} {'':>19s} {np.mean(real_shimmer):8.3f}")
    print(f"the keypoint filter on the real landmark tracks: {np.mean(lag_px):.2f} px mean lag (256 crop)")
    print("move per frame (px, mean per clip): " + "; ".join(f"{k} {np.mean(v):.2f} (clips {min(v):.1f}-{max(v):.1f})" for k, v in motion_px.items()))
    if args.json:
        from codec.atomic import atomic_write

        doc = {"clips": [f.stem for f in files], "frames_per_clip": args.frames, "model": args.model, "tables": tables.digest[:16],
               "summary": summary, "per_clip": rows, "real_shimmer": float(np.mean(real_shimmer)), "filter_lag_px_on_landmarks": float(np.mean(lag_px)),
               "move_px_per_frame": motion_px}
        atomic_write(args.json, (json.dumps(doc, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
