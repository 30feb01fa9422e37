"""`frontal encode`, `frontal decode` and `frontal info`: recorded .frontal files.

    frontal encode VIDEO OUT.frontal [--fps 15] [--mode predictive] [--views 3] [-f]
    frontal decode IN.frontal OUT.mp4 [--landmarks] [-f]
    frontal info IN.frontal [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codec.container import (
    Recording,
    SourceView,
    read_recording,
    serialize,
    write_atomic,
)
from codec.errors import CodecError
from codec.fields import FieldSet
from codec.images import VIEW_FORMAT, decode_view, encode_view
from codec.stream import MissingReference, StreamDecoder, StreamEncoder
from codec.tables import load_tables


class CliError(Exception):
    """A one-line reason to exit non-zero."""


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise CliError(f"{path} exists (use -f to overwrite)")
    if not path.parent.exists():
        raise CliError(f"output folder {path.parent} does not exist")


def encode_file(video: Path, out: Path, fps: float, mode: str, n_views: int, model: str, max_frames: int | None = None) -> dict[str, Any]:
    """Track, choose views, code; `model` is a registry name (its driving fields are coded) or "landmarks"."""
    from frontal.loopback import model_fields
    from frontal.pipeline import clip_views, records, track_clip

    fields = FieldSet(n_sup=33) if model == "landmarks" else model_fields(model)
    tables = load_tables()
    clip = track_clip(video, fps=fps, max_frames=max_frames)
    if not any(clip.found):
        raise CodecError(f"{video}: no face found in any frame")
    extractor = None
    if fields.n_unsup or fields.n_expr:
        from models.extractor import DrivingExtractor

        extractor = DrivingExtractor(model)
    views = []
    for k, i in enumerate(clip_views(clip, n=n_views)):
        views.append(SourceView(encode_view(clip.images[i]), VIEW_FORMAT, k, i, clip.yaw[i], clip.sup[i]))
    enc = StreamEncoder(fields, tables, mode=mode, fps=clip.fps)
    packets = [enc.encode(r, timestamp_ms=int(i * 1000 / clip.fps)).packet for i, r in enumerate(records(clip, fields, extractor))]
    header = {
        "model": model,
        "fields": fields.to_dict(),
        "fps": clip.fps,
        "mode": mode,
        "tables": tables.digest,
        "intra_period": enc.intra_period,
        "size": 256,
        "created_by": "frontal encode",
    }
    data = serialize(Recording(header, views, packets))
    write_atomic(out, data)
    return {"frames": len(packets), "views": len(views), "bytes": len(data), "packet_bytes": sum(map(len, packets)), "view_bytes": sum(len(v.image_bytes) for v in views)}


def decode_records(rec: Recording) -> tuple[FieldSet, list[Any]]:
    """Decoded driving records of a recording (None where a packet could not be used)."""
    h = rec.header
    try:
        fields = FieldSet.from_dict(h["fields"])
    except (KeyError, TypeError, ValueError):
        raise CodecError("recording header lacks a valid field set") from None
    tables = load_tables()
    if h.get("tables") != tables.digest:
        raise CodecError("recording was made with different probability tables than this decoder has")
    dec = StreamDecoder(fields, tables)
    out: list[Any] = []
    for p in rec.packets:
        try:
            out.append(dec.decode(p).record)
        except MissingReference:
            out.append(None)
    return fields, out


def draw_landmarks(sup: np.ndarray, size: int = 256, background: np.ndarray | None = None) -> np.ndarray:
    import cv2

    img = np.zeros((size, size, 3), np.uint8) if background is None else (background.astype(np.float32) * 0.35).astype(np.uint8)
    pts = ((sup + 1.0) * size / 2.0).astype(np.float32)
    for x, y in pts:
        cv2.circle(img, (int(round(x * 4)), int(round(y * 4))), 8, (80, 255, 120), -1, lineType=cv2.LINE_AA, shift=2)
    return img


def decode_file(src: Path, out: Path, landmarks_only: bool) -> dict[str, Any]:
    from receiver.videoout import write_mp4

    rec = read_recording(src)
    fields, recs = decode_records(rec)
    fps = float(rec.header.get("fps", 15.0))
    if landmarks_only:
        bg = decode_view(rec.views[0].image_bytes) if rec.views else None
        frames = []
        last = None
        for r in recs:
            last = r if r is not None else last
            frames.append(draw_landmarks(last.sup, background=bg) if last is not None and last.sup is not None else np.zeros((256, 256, 3), np.uint8))
    else:
        frames = _render(rec, recs)
    n = write_mp4(out, frames, fps)
    return {"frames": n, "fps": fps, "lost": sum(r is None for r in recs)}


def _render(rec: Recording, recs: list[Any]) -> list[np.ndarray]:
    try:
        from receiver.renderer import Renderer
    except ImportError:
        raise CliError("the renderer is not available in this build: use --landmarks") from None
    model = rec.header.get("model")
    if not model or model == "landmarks":
        raise CliError("this recording carries landmarks only (encoded with --model landmarks): decode it with --landmarks")
    renderer = Renderer(model)
    for v in rec.views:
        renderer.add_source(decode_view(v.image_bytes), v.sup)
    if renderer.num_sources == 0:
        raise CodecError("recording has no source views to render from")
    frames, last = [], None
    for r in recs:
        last = r if r is not None else last
        if last is None:
            frames.append(np.zeros((256, 256, 3), np.uint8))
            continue
        frames.append(renderer.render(sup=last.sup, unsup=last.unsup, jac=last.jac, expr=last.expr))
    return frames


def info(src: Path) -> dict[str, Any]:
    rec = read_recording(src)
    fields, recs = decode_records(rec)
    fps = float(rec.header.get("fps", 15.0))
    pbits = sum(8 * len(p) for p in rec.packets)
    vbytes = sum(len(v.image_bytes) for v in rec.views)
    n = max(1, len(rec.packets))
    return {
        "header": rec.header,
        "frames": len(rec.packets),
        "decodable": sum(r is not None for r in recs),
        "views": [{"index": v.index, "frame": v.frame, "yaw": v.yaw, "format": v.format, "bytes": len(v.image_bytes)} for v in rec.views],
        "bits_per_frame": pbits / n,
        "kbps": pbits / n * fps / 1000.0,
        "view_bytes": vbytes,
        "duration_s": len(rec.packets) / fps,
    }


def _model_name(name: str | None) -> str:
    from models.registry import DEFAULT_MODEL, model_names

    name = name or DEFAULT_MODEL
    if name != "landmarks" and name not in model_names():
        raise CliError(f"unknown model '{name}' (choose from landmarks, {', '.join(model_names())})")
    return name


def _parser(cmd: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"frontal {cmd}")
    if cmd == "encode":
        ap.add_argument("video", type=Path)
        ap.add_argument("out", type=Path)
        ap.add_argument("--fps", type=float, default=15.0, help="frame rate to code at (default 15)")
        ap.add_argument("--mode", choices=("paper", "predictive"), default="predictive")
        ap.add_argument("--views", type=int, default=3, help="source views to store (1-5, default 3)")
        ap.add_argument("--model", default=None, help="model to code for: a registry name (default: the registry's default) or 'landmarks' (sup only)")
        ap.add_argument("--max-frames", type=int, default=None, help="encode at most this many frames")
        ap.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
    elif cmd == "decode":
        ap.add_argument("src", type=Path)
        ap.add_argument("out", type=Path)
        ap.add_argument("--landmarks", action="store_true", help="draw the decoded landmarks instead of rendering")
        ap.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
    else:
        ap.add_argument("src", type=Path)
        ap.add_argument("--json", action="store_true")
    return ap


def _run(cmd: str, argv: Sequence[str]) -> int:
    args = _parser(cmd).parse_args(list(argv))
    try:
        if cmd == "encode":
            if not 1 <= args.views <= 5:
                raise CliError("--views must be between 1 and 5")
            if not args.video.is_file():
                raise CliError(f"no such file: {args.video}")
            _check_output(args.out, args.force)
            args.model = _model_name(args.model)
            r = encode_file(args.video, args.out, args.fps, args.mode, args.views, args.model, args.max_frames)
            print(f"wrote {args.out}: {r['frames']} frames, {r['views']} views, {r['bytes']} bytes "
                  f"(packets {r['packet_bytes']} B = {8 * r['packet_bytes'] / max(1, r['frames']):.1f} bits/frame, views {r['view_bytes']} B)")
        elif cmd == "decode":
            if not args.src.is_file():
                raise CliError(f"no such file: {args.src}")
            _check_output(args.out, args.force)
            r = decode_file(args.src, args.out, args.landmarks)
            print(f"wrote {args.out}: {r['frames']} frames at {r['fps']:g} FPS ({r['lost']} undecodable packets held)")
        else:
            if not args.src.is_file():
                raise CliError(f"no such file: {args.src}")
            r = info(args.src)
            if args.json:
                print(json.dumps(r, indent=1))
            else:
                h = r["header"]
                print(f"{args.src}: {r['frames']} frames ({r['decodable']} decodable) at {h.get('fps')} FPS, {r['duration_s']:.1f} s, "
                      f"mode {h.get('mode')}, fields {FieldSet.from_dict(h['fields']).name}, model {h.get('model')}")
                print(f"driving stream: {r['bits_per_frame']:.1f} bits/frame = {r['kbps']:.2f} kbps; views: {len(r['views'])}, {r['view_bytes']} bytes")
    except (CliError, CodecError, ValueError, OSError) as exc:
        print(f"frontal {cmd}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # sender errors (VideoError, NoFaceError) are ValueErrors; anything else is a bug
        print(f"frontal {cmd}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 0


def command_encode(argv: Sequence[str]) -> int:
    return _run("encode", argv)


def command_decode(argv: Sequence[str]) -> int:
    return _run("decode", argv)


def command_info(argv: Sequence[str]) -> int:
    return _run("info", argv)

