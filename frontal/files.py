"""`frontal encode`, `frontal decode` and `frontal info`: recorded .frontal files (a thin layer over
`frontal.api`).

    frontal encode VIDEO OUT.frontal [--fps 15] [--mode predictive] [--views 3] [--model NAME|landmarks|mesh] [--no-audio] [-f]
    frontal decode IN.frontal OUT.mp4 [--landmarks] [-f]
    frontal info IN.frontal [--json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from codec.errors import CodecError
from codec.fields import FieldSet
from frontal.api import decode_recording, encode_video, recording_info


class CliError(Exception):
    """A one-line reason to exit non-zero."""


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise CliError(f"{path} exists (use -f to overwrite)")
    if not path.parent.exists():
        raise CliError(f"output folder {path.parent} does not exist")


def _check_input(path: Path) -> None:
    if not path.is_file():
        raise CliError(f"no such file: {path}")


def _parser(cmd: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"frontal {cmd}")
    if cmd == "encode":
        ap.add_argument("video", type=Path)
        ap.add_argument("out", type=Path)
        ap.add_argument("--fps", type=float, default=15.0, help="frame rate to code at (default 15)")
        ap.add_argument("--mode", choices=("paper", "predictive"), default="predictive")
        ap.add_argument("--views", type=int, default=3, help="source views to store (1-5, default 3)")
        ap.add_argument("--model", default=None, help="model to code for: 'mesh' (the default: the dense face shape, drawn by the "
                        "geometry renderer), a registered network, or 'landmarks' (sup only)")
        ap.add_argument("--max-frames", type=int, default=None, help="encode at most this many frames")
        ap.add_argument("--no-audio", action="store_true", help="leave the clip's speech out (default: kept as 6 kbit/s Opus)")
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


def _encode(args: argparse.Namespace) -> None:
    if not 1 <= args.views <= 5:
        raise CliError("--views must be between 1 and 5")
    _check_input(args.video)
    _check_output(args.out, args.force)
    r = encode_video(args.video, args.out, fps=args.fps, mode=args.mode, n_views=args.views, model=args.model,
                     max_frames=args.max_frames, audio=not args.no_audio)
    speech = f", audio {r.audio_bytes} B in {r.audio_frames} Opus frames" if r.audio_frames else ", no audio"
    print(f"wrote {args.out}: {r.frames} frames, {r.views} views, {r.bytes} bytes "
          f"(packets {r.packet_bytes} B = {r.bits_per_frame:.1f} bits/frame, views {r.view_bytes} B{speech})")


def _decode(args: argparse.Namespace) -> None:
    _check_input(args.src)
    _check_output(args.out, args.force)
    r = decode_recording(args.src, args.out, landmarks_only=args.landmarks)
    speech = f", {r.audio_s:.1f} s of audio" if r.audio_s else ", no audio"
    print(f"wrote {args.out}: {r.frames} frames at {r.fps:g} FPS ({r.lost} undecodable packets held{speech})")


def _info(args: argparse.Namespace) -> None:
    _check_input(args.src)
    r = recording_info(args.src)
    if args.json:
        print(json.dumps(dataclasses.asdict(r), indent=1))
        return
    h = r.header
    print(f"{args.src}: {r.frames} frames ({r.decodable} decodable) at {h.get('fps')} FPS, {r.duration_s:.1f} s, "
          f"mode {h.get('mode')}, fields {FieldSet.from_dict(h['fields']).name}, model {h.get('model')}")
    print(f"driving stream: {r.bits_per_frame:.1f} bits/frame = {r.kbps:.2f} kbps; views: {len(r.views)}, {r.view_bytes} bytes")
    if r.audio is not None:
        a = r.audio
        print(f"audio: {a['codec']} {a['rate']} Hz, {a['frame_ms']} ms frames, {a['frames']} frames = {r.audio_kbps:.2f} kbps")


COMMANDS = {"encode": _encode, "decode": _decode, "info": _info}


def _run(cmd: str, argv: Sequence[str]) -> int:
    args = _parser(cmd).parse_args(list(argv))
    try:
        COMMANDS[cmd](args)
    except (CliError, CodecError, ValueError, OSError) as exc:  # VideoError and NoFaceError are ValueErrors
        print(f"frontal {cmd}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else is a bug: still one line, and a distinct exit code
        print(f"frontal {cmd}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 0


def command_encode(argv: Sequence[str]) -> int:
    return _run("encode", argv)


def command_decode(argv: Sequence[str]) -> int:
    return _run("decode", argv)


def command_info(argv: Sequence[str]) -> int:
    return _run("info", argv)
