"""`frontal call`: join a room and hold a call (desktop peer, or the local peer of a browser page).

    frontal call --create --video clip.mp4 --no-window --duration 30 --record remote.mp4
    frontal call --room ROOM --token TOKEN --camera 0     # the invite printed by --create
    frontal call --room ROOM --token TOKEN --camera 0 --mic hw:1 --speaker hw:1   # ALSA sound devices
    frontal call --room ROOM --token TOKEN --browser      # then open the printed http://127.0.0.1 URL

`--create` asks the signaling server for a new room (`POST /rooms`) and prints its invite (room
and token) before joining; a room is never made by joining it (docs/signaling.md).

Exit status: 0 after a call that ended normally (duration, bye, hang-up, source ended), 1 on an
error or a call that ended abnormally (the other peer vanished, the connection failed, a part of
the call failed: renderer, recorder, sender...), 130 / 143 after Ctrl-C / SIGTERM (the call is
hung up cleanly and the recording finalised), 2 on bad arguments. A recording is written whole
or not at all; one that could not be written makes the exit status 1.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from aiortc import RTCIceServer

from codec.atomic import atomic_write
from codec.audio import AudioConfig, AudioError
from codec.callstats import json_safe
from codec.fields import FieldSet
from frontal.call.peer import CallPeer, CallReport, PeerConfig
from receiver.live import ReceiverConfig
from receiver.render import DEFAULT_RENDERER, RENDERERS, make_renderer
from receiver.sinks import LatestFrame, Recorder, show_window
from receiver.speaker import Speaker
from sender.live import SenderConfig
from sender.mic import Microphone
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import create_room, proxy_for
from signaling.protocol import ROOM_ID_PATTERN, TOKEN_PATTERN

log = logging.getLogger(__name__)

NORMAL_ENDINGS = ("duration", "bye", "source-ended", "stopped")
HANG_UP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
SIGNAL_EXIT = {"interrupted": 128 + signal.SIGINT, "terminated": 128 + signal.SIGTERM}
RECORDER_CLOSE_S = 2.0  # the recording is finalised within this after the call (or abandoned)


def exit_status(reason: str) -> int:
    """0 for a normal ending, 128 + the signal for Ctrl-C / SIGTERM, 1 for anything else."""
    return 0 if reason in NORMAL_ENDINGS else SIGNAL_EXIT.get(reason, 1)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal call", description="A live two-party Frontal call.")
    p.add_argument("--create", action="store_true", help="make a new room on the server, print its invite, join it")
    p.add_argument("--room", help="the room of an invite (printed by --create)")
    p.add_argument("--token", help="the room's token (printed by --create with the room)")
    p.add_argument("--signaling", default="ws://127.0.0.1:8080/ws", help="signaling WebSocket URL")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", help="camera device index (e.g. 0)")
    src.add_argument("--video", type=Path, help="play a video file (looped) as the camera; 'default': the embedded clip")
    src.add_argument("--browser", action="store_true", help="serve the call page; the page's camera is the source")
    p.add_argument("--receive-only", action="store_true", help="send nothing, only render the other peer")
    p.add_argument("--record", type=Path, help="record the rendered remote caller (and their speech) to an .mp4")
    p.add_argument("--no-audio", action="store_true", help="a video-only call: send no speech, play none")
    p.add_argument("--mic", nargs="?", const="default", metavar="DEVICE",
                   help="send speech from this ALSA capture device ('default' if none is named; with --camera the "
                        "default is tried anyway); it replaces a --video file's own track")
    p.add_argument("--speaker", nargs="?", const="default", metavar="DEVICE",
                   help="play the other's speech on this ALSA device ('default' if none is named; with --camera the "
                        "default is tried anyway)")
    p.add_argument("--audio-bitrate", type=int, default=AudioConfig.bitrate,
                   help=f"Opus target bit/s of our speech (default {AudioConfig.bitrate})")
    p.add_argument("-f", "--force", action="store_true", help="overwrite --record/--json outputs")
    p.add_argument("--duration", type=float, help="hang up after this many seconds of call")
    p.add_argument("--no-window", action="store_true", help="no OpenCV window (desktop peer)")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--frames-per-message", type=int, default=SenderConfig.frames_per_message,
                   help="driving frames per data-channel message (default 2)")
    p.add_argument("--renderer", choices=RENDERERS, default=DEFAULT_RENDERER,
                   help="mesh (default): send the dense face shape and draw with the geometry renderer | neural: the "
                        "learned-warp model (sends the 33 landmarks) | landmarks (preview)")
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
                      ice_servers=ice, loopback_only=args.loopback_only, fields=call_fields(args.renderer),
                      audio=not getattr(args, "no_audio", False),
                      audio_config=AudioConfig(bitrate=getattr(args, "audio_bitrate", AudioConfig.bitrate)))


def call_fields(renderer: str) -> FieldSet | None:
    """The driving fields our stream carries for a `--renderer`: the shape field set for `mesh`
    (the other peer learns it from our hello), else the default (the 33 landmarks)."""
    return FieldSet.parse("shape") if renderer == "mesh" else None


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
        f"latency p50 {stats['latency_ms_p50']} ms | audio {stats['audio_kbps']:.2f} kbps sent, "
        f"{stats['audio_concealed']} concealed   ")
    sys.stderr.flush()


@dataclass
class SoundDevices:
    mic: Microphone | None = None
    speaker: Speaker | None = None

    def close(self) -> None:
        if self.mic is not None:
            self.mic.close()
        if self.speaker is not None:
            self.speaker.close()


def open_sound_devices(args: argparse.Namespace, camera: bool) -> SoundDevices:
    """The microphone and speaker of the call: those named (`--mic`, `--speaker`; one that cannot be
    opened is an error), else with a camera the defaults where they open (a warning where they do
    not: the call goes on without them); none with --no-audio, or for a --video file's call (whose
    speech is its own track); no microphone with --receive-only."""
    out = SoundDevices()
    if args.no_audio:
        if args.mic is not None or args.speaker is not None:
            raise ValueError("--no-audio makes a video-only call: leave out --mic and --speaker")
        return out
    for name, opener, hint in (("mic", Microphone, "your speech is not sent"), ("speaker", Speaker, "the other's speech is not played")):
        device = getattr(args, name)
        if (device is None and not camera) or (name == "mic" and args.receive_only):
            continue
        try:
            setattr(out, name, opener(device or "default"))
        except AudioError as exc:
            if device is not None:
                out.close()
                raise
            log.warning("%s: %s (name a device with --%s, or --no-audio)", exc, hint, name)
    return out


async def desktop_call(args: argparse.Namespace) -> CallReport:
    source = None
    if not args.receive_only:
        camera = args.camera if args.camera is not None else None
        if camera is None and args.video is None:
            camera = "0"
        if args.video is not None and str(args.video) == "default":
            args.video = default_video()
        if args.video is not None and not args.video.is_file():
            raise ValueError(f"{args.video}: no such file")
        source = VideoSource(int(camera) if camera is not None else args.video, args.fps, audio=not args.no_audio)
    devices = open_sound_devices(args, camera=source is not None and source.is_camera)
    if source is not None and devices.mic is not None:
        source.audio = devices.mic  # a microphone replaces the file's own track
    peer = CallPeer(peer_config(args), source, lambda: make_renderer(args.renderer, args.model),
                    on_stats=None if args.verbose else _status_line)
    latest = LatestFrame()
    peer.receiver.sinks.append(latest)
    recorder = None
    if args.record:  # a recorder that fails (cannot keep up, encoder error) ends the call
        recorder = Recorder(args.record, args.fps, on_failure=lambda exc: peer.fail("recorder-failed", exc),
                            audio_rate=None if args.no_audio else peer.config.audio_config.rate)
        peer.receiver.sinks.append(recorder)
        peer.audio_sinks.append(recorder.add_audio)
    if devices.speaker is not None:
        peer.audio_sinks.append(devices.speaker)
    loop = asyncio.get_running_loop()
    for signum, reason in HANG_UP_SIGNALS.items():  # Ctrl-C / SIGTERM hang up cleanly (bye, recording)
        loop.add_signal_handler(signum, peer.hang_up, reason)
    stop = asyncio.Event()
    window = None if args.no_window else asyncio.create_task(show_window(latest, f"frontal call: {args.room}", stop))
    task = asyncio.create_task(peer.run(args.duration))
    try:
        if window is not None:
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            peer.hang_up("stopped")
        report = await task
    finally:
        stop.set()
        for signum in HANG_UP_SIGNALS:
            loop.remove_signal_handler(signum)
        if recorder is not None:
            await loop.run_in_executor(None, recorder.close, RECORDER_CLOSE_S)
        await loop.run_in_executor(None, devices.close)
    if devices.speaker is not None and devices.speaker.error is not None and exit_status(report.reason) == 0:
        log.error("%s", devices.speaker.error)
        report.reason = "speaker-failed"
    if source is not None and source.is_camera and report.reason == "source-ended":
        log.error("the camera stopped giving frames")
        report.reason = "source-failed"
    if recorder is not None and not recorder.written and exit_status(report.reason) == 0:
        log.error("%s was not written: %s", args.record, recorder.error)
        report.reason = "recorder-failed"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    try:
        _check_outputs(args)
        AudioConfig(bitrate=args.audio_bitrate)  # a bad --audio-bitrate is refused before any room is made
        if args.create:
            if args.room is not None or args.token is not None:
                raise ValueError("--create makes a new room: leave out --room and --token")
            invite = create_room(args.signaling, proxy=proxy_for(args.signaling))
            args.room, args.token = invite.room, invite.token
            print(f"room {invite.room} token {invite.token}\n"
                  f"the other peer joins with: frontal call --room {invite.room} --token {invite.token}", file=sys.stderr)
            sys.stderr.flush()
        elif args.room is None or args.token is None:
            raise ValueError("give the room's invite (--room and --token), or make a room with --create")
        if not re.fullmatch(ROOM_ID_PATTERN, args.room):
            raise ValueError(f"bad room name {args.room!r}: use 1 to 64 of A-Z a-z 0-9 _ -")
        if args.token is not None and not re.fullmatch(TOKEN_PATTERN, args.token):
            raise ValueError("bad token: use 8 to 128 of A-Z a-z 0-9 _ . ~ -")
        if args.fps <= 0 or args.fps > 60:
            raise ValueError("--fps must be in (0, 60]")
        import torch  # noqa: PLC0415 (torch costs ~2 s at start-up: not before the arguments are checked)

        torch.set_num_threads(max(1, args.threads))
        if args.browser:
            from frontal.call.browser import browser_call  # noqa: PLC0415 (browser.py imports this module)

            report = asyncio.run(browser_call(args))
        else:
            report = asyncio.run(desktop_call(args))
    except KeyboardInterrupt:  # before the call's own handler was in place
        print("\ninterrupted", file=sys.stderr)
        return SIGNAL_EXIT["interrupted"]
    except Exception as exc:  # one line, no traceback
        print(f"\nfrontal call: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"\ncall ended: {report.reason}", file=sys.stderr)
    stats = json_safe(report.stats)  # a percentile with no sample (NaN) as null: strict JSON
    print(json.dumps(stats, indent=None, allow_nan=False), file=sys.stdout)
    if args.json is not None:
        atomic_write(args.json, json.dumps(stats, indent=2, allow_nan=False).encode())
    return exit_status(report.reason)


if __name__ == "__main__":
    raise SystemExit(main())
