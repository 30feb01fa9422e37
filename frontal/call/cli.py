"""`frontal call`: join a room and hold a call (desktop peer, or the local peer of a browser page).

    frontal call --room kitchen --video clip.mp4 --no-window --duration 30 --record remote.mp4
    frontal call --room kitchen --token TOKEN --camera 0
    frontal call --room kitchen --browser          # then open the printed http://127.0.0.1 URL

Exit status: 0 after a call that ended normally (duration, bye, source ended), 1 on an error or
a call that ended abnormally (the other peer vanished, the connection failed), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from pathlib import Path

from aiortc import RTCIceServer

from frontal.call.peer import CallPeer, CallReport, PeerConfig
from receiver.live import ReceiverConfig
from receiver.render import make_renderer
from receiver.sinks import LatestFrame, Recorder, show_window
from sender.live import SenderConfig
from sender.sources import VideoSource
from signaling.protocol import ROOM_ID_PATTERN, TOKEN_PATTERN

log = logging.getLogger(__name__)

NORMAL_ENDINGS = ("duration", "bye", "source-ended", "stopped")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal call", description="A live two-party Frontal call.")
    p.add_argument("--room", required=True, help="room name ([A-Za-z0-9_-]{1,64})")
    p.add_argument("--token", help="the room's token (the first joiner gets one issued if omitted)")
    p.add_argument("--signaling", default="ws://127.0.0.1:8080/ws", help="signaling WebSocket URL")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", help="camera device index (e.g. 0)")
    src.add_argument("--video", type=Path, help="play a video file (looped) as the camera; 'default': the embedded clip")
    src.add_argument("--browser", action="store_true", help="serve the call page; the page's camera is the source")
    p.add_argument("--receive-only", action="store_true", help="send nothing, only render the other peer")
    p.add_argument("--record", type=Path, help="record the rendered remote caller to an .mp4")
    p.add_argument("-f", "--force", action="store_true", help="overwrite --record/--json outputs")
    p.add_argument("--duration", type=float, help="hang up after this many seconds of call")
    p.add_argument("--no-window", action="store_true", help="no OpenCV window (desktop peer)")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--frames-per-message", type=int, default=SenderConfig.frames_per_message,
                   help="driving frames per data-channel message (default 2)")
    p.add_argument("--renderer", choices=("neural", "landmarks"), default="neural")
    p.add_argument("--model", help="renderer model name (default: the registry's default)")
    p.add_argument("--view-format", choices=("webp", "jpeg", "avif"), default=SenderConfig.view_format)
    p.add_argument("--view-quality", type=int, default=SenderConfig.view_quality)
    p.add_argument("--view-kbps", type=float, default=1.0, help="byte budget of the source views")
    p.add_argument("--ice", action="append", default=[], metavar="URL",
                   help="STUN/TURN server, e.g. stun:host:3478 or turn:host:3478 (repeatable)")
    p.add_argument("--ice-username", help="TURN username")
    p.add_argument("--ice-credential", help="TURN password")
    p.add_argument("--loopback-only", action="store_true", help="ICE over 127.0.0.1 only (both peers on this host)")
    p.add_argument("--ui-host", default="127.0.0.1", help="--browser: address of the page")
    p.add_argument("--ui-port", type=int, default=8090, help="--browser: port of the page (0: any free port)")
    p.add_argument("--json", type=Path, help="write the final statistics as JSON")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the renderer")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def peer_config(args: argparse.Namespace) -> PeerConfig:
    ice = tuple(RTCIceServer(urls=u, username=args.ice_username, credential=args.ice_credential) for u in args.ice)
    sender = SenderConfig(fps=args.fps, frames_per_message=args.frames_per_message, view_format=args.view_format,
                          view_quality=args.view_quality, view_kbps=args.view_kbps)
    return PeerConfig(args.signaling, args.room, args.token, sender=sender, receiver=ReceiverConfig(),
                      ice_servers=ice, loopback_only=args.loopback_only)


def _check_outputs(args: argparse.Namespace) -> None:
    for path in (args.record, args.json):
        if path is not None and path.exists() and not args.force:
            raise ValueError(f"{path} exists (use -f to overwrite)")
        if path is not None and not path.parent.exists():
            raise ValueError(f"{path.parent} does not exist")


def _status_line(stats: dict[str, float | int]) -> None:
    sys.stderr.write(
        f"\rsend {stats['payload_kbps']:.2f} kbps payload, {stats['wire_kbps']:.2f} wire, "
        f"{stats['view_kbps']:.2f} views | recv {stats['fps']:.1f} fps, lost {stats['packets_lost']}, "
        f"latency p50 {stats['latency_ms_p50']} ms   ")
    sys.stderr.flush()


async def desktop_call(args: argparse.Namespace) -> CallReport:
    source = None
    if not args.receive_only:
        camera = args.camera if args.camera is not None else None
        if camera is None and args.video is None:
            camera = "0"
        if args.video is not None and str(args.video) == "default":
            from sender.video import default_video

            args.video = default_video()
        if args.video is not None and not args.video.is_file():
            raise ValueError(f"{args.video}: no such file")
        source = VideoSource(int(camera) if camera is not None else args.video, args.fps)
    peer = CallPeer(peer_config(args), source, lambda: make_renderer(args.renderer, args.model),
                    on_stats=None if args.verbose else _status_line)
    latest = LatestFrame()
    peer.receiver.sinks.append(latest)
    recorder = Recorder(args.record, args.fps) if args.record else None
    if recorder is not None:
        peer.receiver.sinks.append(recorder)
    stop = asyncio.Event()
    window = None if args.no_window else asyncio.create_task(show_window(latest, f"frontal call: {args.room}", stop))
    task = asyncio.create_task(peer.run(args.duration))
    await asyncio.wait([task, asyncio.create_task(peer.joined.wait())], return_when=asyncio.FIRST_COMPLETED)
    if peer.token and not args.token:
        print(f"room {args.room}, token {peer.token}", file=sys.stderr)
    if window is not None:
        await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        peer.hang_up("stopped")
    try:
        report = await task
    finally:
        stop.set()
        if recorder is not None:
            await asyncio.get_running_loop().run_in_executor(None, recorder.close)
    if recorder is not None and recorder.error is not None:
        log.error("recording failed: %s", recorder.error)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    try:
        _check_outputs(args)
        if not re.fullmatch(ROOM_ID_PATTERN, args.room):
            raise ValueError(f"bad room name {args.room!r}: use 1 to 64 of A-Z a-z 0-9 _ -")
        if args.token is not None and not re.fullmatch(TOKEN_PATTERN, args.token):
            raise ValueError("bad token: use 8 to 128 of A-Z a-z 0-9 _ . ~ -")
        if args.fps <= 0 or args.fps > 60:
            raise ValueError("--fps must be in (0, 60]")
        import torch

        torch.set_num_threads(max(1, args.threads))
        if args.browser:
            from frontal.call.browser import browser_call

            report = asyncio.run(browser_call(args))
        else:
            report = asyncio.run(desktop_call(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # one line, no traceback
        print(f"\nfrontal call: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"\ncall ended: {report.reason}", file=sys.stderr)
    print(json.dumps(report.stats, indent=None), file=sys.stdout)
    if args.json is not None:
        from codec.atomic import atomic_write

        atomic_write(args.json, json.dumps(report.stats, indent=2).encode())
    return 0 if report.reason in NORMAL_ENDINGS else 1


if __name__ == "__main__":
    raise SystemExit(main())
