"""`frontal call --browser`: the participant's window is a page served on this machine.

The page (`frontal/web/`, the same web app `frontal serve` serves) takes the camera with
getUserMedia and sends it to *this* process over a loopback WebRTC connection (video track + a
`ui` data channel); this process tracks and encodes it and holds the real call with the other
participant (`CallPeer`: data channels only). The rendered remote caller comes back to the page
as a video track, the live statistics as JSON on the `ui` channel. Routes: `GET /` and
`GET /r/ROOM` (the page), `GET /web/*` (its files), `GET /config` (`mode: "agent"`, which puts the
page in its call mode, and room, token, fps, signaling URL from the command line), `POST /offer`
(`{sdp, type, room, token}` -> the answer; one call per run).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from codec.callstats import json_safe
from frontal.call.cli import peer_config
from frontal.call.peer import CallPeer, CallReport, loopback_ice
from frontal.call.transport import install
from frontal.serve import WEB_DIR
from receiver.render import make_renderer
from receiver.sinks import LatestFrame, Recorder, rendered_track
from sender.sources import TrackSource
from signaling.app import add_web_app
from signaling.protocol import ROOM_ID_PATTERN, TOKEN_PATTERN
from signaling.server import bind_socket, socket_url

log = logging.getLogger(__name__)


class OfferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=1, max_length=60000)
    type: str = Field(pattern="^offer$")
    room: str = Field(pattern=ROOM_ID_PATTERN)
    token: str | None = Field(default=None, pattern=TOKEN_PATTERN)


class BrowserSession:
    """The one browser page of this run and the call it drives."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.local_pc: RTCPeerConnection | None = None
        self.ui_channel: Any = None
        self.peer: CallPeer | None = None
        self.latest = LatestFrame()
        self.recorder: Recorder | None = None
        self.started = asyncio.Event()
        self.call_task: asyncio.Task[CallReport] | None = None

    def app(self) -> FastAPI:
        app = FastAPI(title="Frontal call page", docs_url=None, redoc_url=None, openapi_url=None)
        app.add_api_route("/config", self.config, methods=["GET"])
        app.add_api_route("/offer", self.offer, methods=["POST"])
        add_web_app(app, WEB_DIR)
        return app

    async def config(self) -> dict[str, object]:
        return {"mode": "agent", "room": self.args.room, "token": self.args.token, "fps": self.args.fps,
                "signaling": self.args.signaling}

    async def offer(self, request: OfferRequest) -> JSONResponse:
        if self.local_pc is not None:
            return JSONResponse({"error": "this peer already has a page in a call"}, status_code=409)
        pc = self.local_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        args = self.args

        @pc.on("datachannel")
        def _channel(channel: Any) -> None:
            self.ui_channel = channel

        @pc.on("track")
        def _track(track: Any) -> None:
            if track.kind != "video" or self.peer is not None:
                return
            cfg = peer_config(args)
            cfg = type(cfg)(**{**cfg.__dict__, "room": request.room, "token": request.token or None})
            self.peer = CallPeer(cfg, TrackSource(track, args.fps), lambda: make_renderer(args.renderer, args.model),
                                 on_stats=self.push_stats)
            self.peer.receiver.sinks.append(self.latest)
            if args.record is not None:
                peer = self.peer
                self.recorder = Recorder(args.record, args.fps, on_failure=lambda exc: peer.fail("recorder-failed", exc))
                self.peer.receiver.sinks.append(self.recorder)
            pc.addTrack(rendered_track(self.latest, args.fps))

        await pc.setRemoteDescription(RTCSessionDescription(request.sdp, "offer"))
        if pc.sctp is not None:
            install(pc)  # delayed and bundled SACKs towards Chromium's SCTP too (transport.py)
        if self.peer is None:
            return JSONResponse({"error": "the offer carries no video track"}, status_code=400)
        await pc.setLocalDescription(await pc.createAnswer())
        self.call_task = asyncio.create_task(self.peer.run(args.duration))
        self.started.set()
        return JSONResponse({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

    def push_stats(self, stats: dict[str, float | int]) -> None:
        self.send_ui({"type": "stats", "stats": stats, "token": self.peer.token if self.peer else None})

    def send_ui(self, message: dict[str, object]) -> None:
        channel = self.ui_channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(json_safe(message), allow_nan=False, default=str))  # NaN (no sample yet): null


async def browser_call(args: argparse.Namespace, on_ready: Callable[[str], None] | None = None) -> CallReport:
    """Serve the page until its call ends; `on_ready(url)` once the page can be opened."""
    session = BrowserSession(args)
    sock = bind_socket(args.ui_host, args.ui_port)
    url = f"{socket_url(sock)}/r/{args.room}"
    server = uvicorn.Server(uvicorn.Config(session.app(), log_level="warning", lifespan="off"))
    with loopback_ice(args.loopback_only):
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if serving.done():
                    raise RuntimeError("the page server did not start")
                await asyncio.sleep(0.02)
            (on_ready or _print_url)(url)
            await session.started.wait()
            assert session.call_task is not None
            report = await session.call_task
            session.send_ui({"type": "ended", "reason": report.reason})
            await asyncio.sleep(0.2)
            return report
        finally:
            if session.local_pc is not None:
                await session.local_pc.close()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(serving, 5)
            sock.close()
            if session.recorder is not None:
                await asyncio.get_running_loop().run_in_executor(None, session.recorder.close)


def _print_url(url: str) -> None:
    print(f"open {url} in a browser on this machine", file=sys.stderr)
    sys.stderr.flush()


__all__ = ["BrowserSession", "browser_call"]
