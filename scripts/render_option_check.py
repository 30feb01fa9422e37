"""One Frontalizer checkpoint rendered with different render options, on the same frames.

    python scripts/render_option_check.py --data .cache/faces15c --weights CKPT \\
        --variants plain,composed,t0.5,t0.25,t0.1,composed+t0.25 [--split train] [--clips 12] [--frames 24]
    python scripts/render_option_check.py --data .cache/faces15c --weights CKPT --fusion-weights [--clips 10]

Variants: "plain" (the paper's two warps), "composed" (`compose_warps`), "tT" (the fusion softmax
over sources sharpened: confidences divided by T), "nearT" (per-frame view selection,
`view_temperature` T; with "composed"), joined with "+"; a variant without "nearT" renders with
view selection off; "pixels" (`ModelConfig.pixel_path`; with "composed" for a Frontalizer, alone
for `--model fom-mobile`). Scored as `frontal evaluate`
does (extremes views; PSNR, dlib identity distance, FaceMesh NME; overall and per |yaw| bucket).
`--fusion-weights` prints, per clip, the mean fusion weight of each view and the mean largest
weight over the face's centre (1/N is uniform: the views averaged).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

import frontal.train.evaluate as ev
from codec.atomic import atomic_write


def _apply(renderer: object, variant: str) -> None:
    model = renderer.model  # type: ignore[attr-defined]
    fr = model.frontalizer
    compose, temperature, view_t, pixels = False, 1.0, 0.0, False
    for part in variant.split("+"):
        if part == "composed":
            compose = True
        elif part == "pixels":
            pixels = True
        elif part.startswith("near"):
            view_t = float(part[4:])
        elif part.startswith("t"):
            temperature = float(part[1:])
        elif part != "plain":
            raise ValueError(f"unknown variant part {part!r}")
    model.cfg = dataclasses.replace(model.cfg, pixel_path=pixels)
    if fr is None:  # FOM: only "pixels" (and "plain") apply
        if compose or view_t or temperature != 1.0:
            raise ValueError(f"variant {variant!r}: only 'pixels' applies to a model without a Frontalizer")
        return
    fr.cfg = dataclasses.replace(fr.cfg, compose_warps=compose, view_temperature=view_t)
    if temperature != 1.0:
        conf = fr.motion.confidence
        with torch.no_grad():  # softmax(c / T): scale the confidence head
            conf.weight.div_(temperature)
            conf.bias.div_(temperature)


def fusion_weights(data: Path, weights: str, clips: int) -> None:
    from receiver.renderer import Renderer

    r = Renderer("frontalizer-mobile", weights=weights)
    st = ev.EvalSettings("val", clips, 8, 3, ("extremes",), ("psnr",))
    for path, _ in ev.list_clips(data, st):
        clip = ev.load_clip(path)
        views, _ = ev.choose_frames(clip, "extremes", 3, 8)
        r.reset()
        for v in views:
            r.add_source(clip.crops[v], sup=clip.sup[v])
        w = r._prepared.fusion.weights[0, :, 0]  # noqa: SLF001  [N, S, S]
        s = w.shape[-1]
        c = w[:, s // 4: 3 * s // 4, s // 4: 3 * s // 4]
        print(f"{clip.name[:48]:48s} views yaw {[round(float(clip.yaw_deg[v]), 1) for v in views]} "
              f"mean weight {[round(float(x), 3) for x in c.mean((1, 2))]} "
              f"mean largest {float(c.max(0).values.mean()):.3f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--weights", required=True, help="a checkpoint of --model")
    p.add_argument("--model", default="frontalizer-mobile", help="registry name of --weights (default %(default)s)")
    p.add_argument("--variants", default="plain,composed")
    p.add_argument("--split", default="train", choices=("train", "val"))
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--fusion-weights", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not args.data.is_dir() or not Path(args.weights).is_file():
        print("render_option_check: --data must be a folder and --weights a file", file=sys.stderr)
        return 1
    if args.fusion_weights:
        fusion_weights(args.data, args.weights, args.clips)
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    orig = ev.build_renderer

    def build(spec: ev.ModelSpec, device: str) -> object:
        r = orig(spec, device)
        _apply(r, spec.label)
        return r

    ev.build_renderer = build
    specs = [ev.ModelSpec(args.model, args.weights, v) for v in variants]
    st = ev.EvalSettings(args.split, args.clips, args.frames, 3, ("extremes",), ("psnr", "identity", "nme"))
    try:
        res = ev.evaluate(specs, args.data, st, progress=False)
    except ValueError as exc:
        print(f"render_option_check: {exc}", file=sys.stderr)
        return 1
    print(ev.format_tables(res))
    if args.json:
        atomic_write(args.json, (json.dumps(res, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
