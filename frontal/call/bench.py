"""The loopback call benchmark: two peers in this process, through a real signaling server on
127.0.0.1, each playing the embedded clip to the other (or one-way), for `--duration` seconds.

    python -m frontal.call.bench --duration 60 --fps 15 --json reports/call_bench.json

Per direction, a peer's sending side gives payload, view and wire rates and its receiving side
the rendered FPS and capture-to-render latency; the summary averages the two directions (rates)
and pools the latency samples. Both peers share this machine's CPU (tracking and rendering
twice), so the numbers are upper bounds for one participant on its own machine.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from codec.audio import AudioConfig
from codec.callstats import IP_UDP_HEADER_BYTES
from frontal.call.cli import call_fields
from frontal.call.impair import Impairment
from frontal.call.peer import CallPeer, PeerConfig
from frontal.call.transport import AIORTC_SACKS, SackPolicy
from frontal.jsonio import optional, write_json
from receiver.render import DEFAULT_RENDERER, RENDERERS, make_renderer
from sender.live import SenderConfig
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import create_room

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal bench-call", description="Loopback call benchmark.")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of call (default 60)")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--frames-per-message", type=int, default=SenderConfig.frames_per_message)
    p.add_argument("--renderer", choices=RENDERERS, default=DEFAULT_RENDERER,
                   help="mesh (default): the dense face shape, drawn by the geometry renderer | neural | landmarks (preview)")
    p.add_argument("--model", help="renderer model (default: the registry's default)")
    p.add_argument("--view-format", choices=("webp", "jpeg", "avif"), default=SenderConfig.view_format)
    p.add_argument("--view-quality", type=int, default=SenderConfig.view_quality)
    p.add_argument("--view-kbps", type=float, default=1.0)
    p.add_argument("--one-way", action="store_true", help="only the first peer sends")
    p.add_argument("--sack", choices=("delayed", "aiortc"), default="delayed",
                   help="SCTP acknowledgements: delayed and bundled (default) or aiortc's own, one per packet")
    p.add_argument("--cipher", choices=("chacha20", "aiortc"), default="chacha20",
                   help="DTLS cipher preference: ChaCha20-Poly1305 first (default) or aiortc's (AES-128-GCM)")
    p.add_argument("--video", type=Path, help="clip to play (default: the embedded talking head, which has no sound)")
    p.add_argument("--no-audio", action="store_true", help="video only, even if the clip has speech")
    p.add_argument("--audio-transport", choices=("piggyback", "separate"), default="piggyback",
                   help="speech in the driving messages (default) or in messages of its own")
    p.add_argument("--loss", type=float, default=0.0, help="drop this share of driving-channel messages (both ways)")
    p.add_argument("--no-lip-sync", action="store_true", help="schedule the video as without speech")
    p.add_argument("--audio-frame-ms", type=int, choices=(20, 40, 60), default=AudioConfig.frame_ms,
                   help=f"Opus frame length (default {AudioConfig.frame_ms})")
    p.add_argument("--audio-bitrate", type=int, default=AudioConfig.bitrate,
                   help=f"Opus target bit/s (default {AudioConfig.bitrate})")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("-f", "--force", action="store_true")
    return p


@dataclass(frozen=True)
class CallBench:
    """The benchmark's result: the summary over directions, then each peer's own stats."""

    duration_s: float
    fps_target: float
    frames_per_message: int
    view_format: str
    view_quality: int
    renderer: str
    two_way: bool
    payload_kbps: float
    codec_kbps: float
    view_kbps: float
    wire_kbps: float
    wire_kbps_receiver_only: float | None  # one-way: the receiving peer's SACKs
    wire_kbps_by_layer: dict[str, float]
    sacks_per_received_packet: list[float]
    sack: str
    dtls_cipher: list[str | None]
    latency_ms_p50: float
    latency_ms_p95: float
    fps: float
    fps_rendered: float
    fps_sent: float
    driving_messages_per_s: float
    payload_bytes_per_message: float
    ip_udp_bytes_per_packet: int
    packets_lost: int
    render_ms_mean: float
    track_ms_mean: float
    load_average: list[float]
    cpu_count: int | None
    ended: list[str]
    peers: list[dict[str, Any]]  # each peer's `CallStats` report, as it gives it
    audio: bool = False
    audio_transport: str = "piggyback"
    loss: float = 0.0
    audio_kbps: float = 0.0  # Opus packets sent per direction
    audio_framing_kbps: float = 0.0
    audio_alone_messages: int = 0
    audio_latency_ms_p50: float | None = None  # mouth to ear (both directions pooled)
    audio_latency_ms_p95: float | None = None
    av_offset_ms: float | None = None  # median audio latency - median video latency (> 0: voice after face)
    audio_frames_played: int = 0
    audio_concealed: int = 0
    audio_late: int = 0
    audio_stretched: int = 0
    wall_s: float | None = optional()
    load_average_start: list[float] | None = optional()


async def run_bench(args: argparse.Namespace, url: str) -> CallBench:
    video = args.video or default_video()
    sender = SenderConfig(fps=args.fps, frames_per_message=args.frames_per_message, view_format=args.view_format,
                          view_quality=args.view_quality, view_kbps=args.view_kbps, audio_transport=args.audio_transport)

    invite = await asyncio.to_thread(create_room, url, proxy=None)  # POST /rooms: the room and its token

    def peer(send: bool) -> CallPeer:
        policy = AIORTC_SACKS if args.sack == "aiortc" else SackPolicy()
        cfg = PeerConfig(url, invite.room, invite.token, sender=sender, loopback_only=True, wait_peer_s=60, sack_policy=policy,
                         chacha20=args.cipher == "chacha20", audio=not args.no_audio, lip_sync=not args.no_lip_sync,
                         fields=call_fields(args.renderer), audio_config=AudioConfig(frame_ms=args.audio_frame_ms, bitrate=args.audio_bitrate))
        impair = Impairment(loss=args.loss, seed=len(seeds)) if args.loss > 0 else None
        seeds.append(1)
        return CallPeer(cfg, VideoSource(video, args.fps, audio=not args.no_audio) if send else None,
                        lambda: make_renderer(args.renderer, args.model), impairment=impair)

    seeds: list[int] = []

    a = peer(True)
    ta = asyncio.create_task(a.run(args.duration))
    await asyncio.wait_for(a.joined.wait(), 120)
    b = peer(not args.one_way)
    tb = asyncio.create_task(b.run(args.duration + 10))
    latencies: list[float] = []
    ra, rb = await asyncio.wait_for(asyncio.gather(ta, tb), args.duration + 240)
    directions = [(ra.stats, rb.stats)] + ([] if args.one_way else [(rb.stats, ra.stats)])
    latencies = b.stats.latencies_ms + ([] if args.one_way else a.stats.latencies_ms)
    alat = np.asarray(b.stats.audio_latencies_ms + ([] if args.one_way else a.stats.audio_latencies_ms))
    vlat = np.asarray(latencies) if latencies else np.asarray([np.nan])
    audio_on = bool(alat.size)
    apct = lambda q: round(float(np.percentile(alat, q)), 1) if audio_on else None  # noqa: E731
    senders = [s for s, _ in directions]
    receivers = [r for _, r in directions]
    mean = lambda key, rows: round(float(np.mean([r[key] for r in rows])), 3)  # noqa: E731
    lat = np.asarray(latencies) if latencies else np.asarray([np.nan])
    messages = sum(s["driving_messages_sent"] for s in senders)
    # wire bytes of a peer that only receives (SACKs) are part of the other direction's cost
    wire = [ra.stats["wire_kbps"]] + ([] if args.one_way else [rb.stats["wire_kbps"]])
    return CallBench(
        duration_s=args.duration,
        fps_target=args.fps,
        frames_per_message=args.frames_per_message,
        view_format=args.view_format,
        view_quality=args.view_quality,
        renderer=args.renderer,
        two_way=not args.one_way,
        payload_kbps=mean("payload_kbps", senders),
        codec_kbps=mean("codec_kbps", senders),
        view_kbps=mean("view_kbps", senders),
        wire_kbps=round(float(np.mean(wire)), 3),
        wire_kbps_receiver_only=rb.stats["wire_kbps"] if args.one_way else None,
        wire_kbps_by_layer={key[5:-5]: mean(key, [ra.stats] + ([] if args.one_way else [rb.stats]))
                            for key in ra.stats if key.startswith("wire_") and key.endswith("_kbps") and key != "wire_kbps"},
        sacks_per_received_packet=[
            round(r.stats["sctp_sacks_sent"] / max(1, r.stats["sctp_packets_received_needing_sack"]), 3)
            for r in (ra, rb)],
        sack=args.sack,
        dtls_cipher=[a.dtls_cipher, b.dtls_cipher],
        latency_ms_p50=round(float(np.percentile(lat, 50)), 1),
        latency_ms_p95=round(float(np.percentile(lat, 95)), 1),
        fps=mean("fps", receivers),
        fps_rendered=mean("fps_rendered", receivers),
        fps_sent=mean("fps_sent", senders),
        driving_messages_per_s=round(messages / len(senders) / args.duration, 2),
        payload_bytes_per_message=round(sum(s["driving_bytes_sent"] for s in senders) / max(1, messages), 1),
        ip_udp_bytes_per_packet=IP_UDP_HEADER_BYTES,
        packets_lost=int(sum(r["packets_lost"] for r in receivers)),
        render_ms_mean=mean("render_ms_mean", receivers),
        track_ms_mean=mean("track_ms_mean", senders),
        load_average=list(os.getloadavg()),
        cpu_count=os.cpu_count(),
        ended=[ra.reason, rb.reason],
        peers=[ra.stats, rb.stats],
        audio=audio_on,
        audio_transport=args.audio_transport,
        loss=args.loss,
        audio_kbps=mean("audio_kbps", senders),
        audio_framing_kbps=mean("audio_framing_kbps", senders),
        audio_alone_messages=int(sum(s["audio_alone_messages"] for s in senders)),
        audio_latency_ms_p50=apct(50),
        audio_latency_ms_p95=apct(95),
        av_offset_ms=round(float(np.median(alat) - np.median(vlat)), 1) if audio_on else None,
        audio_frames_played=int(sum(r["audio_frames_played"] for r in receivers)),
        audio_concealed=int(sum(r["audio_concealed"] for r in receivers)),
        audio_late=int(sum(r["audio_late"] for r in receivers)),
        audio_stretched=int(sum(r["audio_stretched"] for r in receivers)),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.json is not None and args.json.exists() and not args.force:
        print(f"frontal bench-call: error: {args.json} exists (use -f to overwrite)", file=sys.stderr)
        return 1
    if not 0 <= args.loss < 1:
        print("frontal bench-call: error: --loss must be in [0, 1)", file=sys.stderr)
        return 2
    if not 0 < args.duration <= 3600:
        print("frontal bench-call: error: --duration must be in (0, 3600]", file=sys.stderr)
        return 2
    import torch  # noqa: PLC0415 (torch costs ~2 s at start-up; not for --help or a refused argument)

    from signaling.server import ServerThread  # noqa: PLC0415 (uvicorn and FastAPI load only when the bench runs)

    torch.set_num_threads(max(1, args.threads))
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ.pop(name, None)
    t0, load_start = time.monotonic(), list(os.getloadavg())
    try:
        with ServerThread() as server:
            result = asyncio.run(run_bench(args, server.ws_url))
    except Exception as exc:
        print(f"frontal bench-call: error: {exc}", file=sys.stderr)
        return 1
    result = replace(result, wall_s=round(time.monotonic() - t0, 1), load_average_start=load_start)
    for f in fields(result):
        if f.name != "peers":
            print(f"{f.name:28s} {getattr(result, f.name)}")
    if args.json is not None:
        write_json(args.json, result, indent=2)
    return 0 if all(r in ("duration", "bye") for r in result.ended) else 1


if __name__ == "__main__":
    raise SystemExit(main())
