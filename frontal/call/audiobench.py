"""`frontal bench-audio`: the speech quality a call delivers, as PESQ (ITU-T P.862.2, wideband).

    frontal bench-audio CLIP.mp4 [CLIP ...] [--frame-ms 20,40,60] [--bitrate 5500] [--loss 0.1] [--json OUT]

Each clip's audio track (16 kHz mono) is coded with the call's Opus settings (`codec.audio`),
decoded, and scored against the original with the `pesq` package (wideband mode, MOS-LQO 1.04 to
4.64). With `--loss`, whole driving messages are dropped as the network would drop them: the frames
of one message period (2 video frames at 15 FPS: 133 ms) go together, each period lost with
probability `--loss` (seeded), and the lost frames are concealed (Opus PLC) as the receiver does.
PESQ rather than ViSQOL: `pesq` installs from PyPI here (a C extension) and its wideband mode
covers 16 kHz speech; no ViSQOL package installs without Bazel.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from codec.atomic import atomic_write
from codec.audio import BITRATE, AudioConfig, decode_packets, encode_pcm, load_audio


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal bench-audio", description="Speech quality (PESQ WB) of the call's Opus coding.")
    p.add_argument("clips", nargs="+", type=Path, help="videos or audio files with speech")
    p.add_argument("--frame-ms", default="40", help="comma-separated frame lengths to compare (20, 40, 60)")
    p.add_argument("--bitrate", default=str(BITRATE), help="comma-separated Opus target bitrates (bit/s)")
    p.add_argument("--loss", type=float, default=0.0, help="share of message periods lost")
    p.add_argument("--period-ms", type=float, default=1000 * 2 / 15, help="message period (default 2 frames at 15 FPS)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-s", type=float, default=60.0, help="seconds of each clip to use")
    p.add_argument("--json", type=Path)
    p.add_argument("-f", "--force", action="store_true")
    return p


def score(pcm: np.ndarray, config: AudioConfig, loss: float, period_ms: float, seed: int) -> dict[str, Any]:
    from pesq import pesq  # noqa: PLC0415 (an optional dependency: pip install '.[audio]'; main() checks for it first)

    packets: list[bytes | None] = list(encode_pcm(pcm, config))
    rng = random.Random(seed)
    lost_periods: dict[int, bool] = {}
    lost = 0
    for k in range(len(packets)):
        period = int(k * config.frame_ms // period_ms)
        if period not in lost_periods:
            lost_periods[period] = rng.random() < loss
        if lost_periods[period]:
            packets[k] = None
            lost += 1
    kbps = 8 * sum(len(p) for p in packets if p is not None) / (len(pcm) / config.rate) / 1000
    out = decode_packets(packets, config)[: len(pcm)]
    return {"frame_ms": config.frame_ms, "bitrate": config.bitrate, "kbps": round(kbps, 3),
            "pesq_wb": round(float(pesq(config.rate, pcm, out, "wb")), 3), "frames": len(packets), "concealed": lost}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if importlib.util.find_spec("pesq") is None:
            raise ValueError("the pesq package is not installed: pip install '.[audio]'")
        if args.json is not None and args.json.exists() and not args.force:
            raise ValueError(f"{args.json} exists (use -f to overwrite)")
        if not 0 <= args.loss < 1:
            raise ValueError("--loss must be in [0, 1)")
        configs = [AudioConfig(frame_ms=int(f), bitrate=int(b)) for f in args.frame_ms.split(",") for b in args.bitrate.split(",")]
        rows: list[dict[str, Any]] = []
        for clip in args.clips:
            if not clip.is_file():
                raise ValueError(f"{clip}: no such file")
            pcm = load_audio(clip, 16000, max_s=args.max_s)
            if pcm is None or len(pcm) < 16000:
                raise ValueError(f"{clip}: no audio track of at least 1 s")
            for cfg in configs:
                rows.append({"clip": str(clip), "seconds": round(len(pcm) / 16000, 2),
                             **score(pcm, cfg, args.loss, args.period_ms, args.seed)})
    except ValueError as exc:
        print(f"frontal bench-audio: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    summary = []
    for cfg in configs:
        mine = [r for r in rows if r["frame_ms"] == cfg.frame_ms and r["bitrate"] == cfg.bitrate]
        summary.append({"frame_ms": cfg.frame_ms, "bitrate": cfg.bitrate, "clips": len(mine), "loss": args.loss,
                        "kbps": round(float(np.mean([r["kbps"] for r in mine])), 3),
                        "pesq_wb": round(float(np.mean([r["pesq_wb"] for r in mine])), 3)})
    for row in summary:
        print(f"frame {row['frame_ms']} ms, target {row['bitrate']} bit/s, loss {row['loss']:.0%}: "
              f"{row['kbps']:.2f} kbps, PESQ WB {row['pesq_wb']:.2f} (mean of {row['clips']} clips)")
    if args.json is not None:
        atomic_write(args.json, json.dumps({"summary": summary, "clips": rows}, indent=1).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
