"""The signaling server as a FastAPI app: `/ws` (the protocol), `/healthz`, and a web app if given.

All state lives on the app object (`app.state.registry`, `app.state.config`), so two apps in
one process never share rooms. The web app is a folder handed in by the caller (`frontal serve`
passes the `frontal` package's page): signaling ships no page of its own.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from signaling.config import ServerConfig
from signaling.invites import create_room
from signaling.ratelimit import KeyedLimiter
from signaling.rooms import RoomRegistry
from signaling.session import PeerSession

NO_CACHE = {"Cache-Control": "no-cache"}


async def websocket_endpoint(websocket: WebSocket) -> None:
    """One peer: join a room, then relay until it leaves."""
    state = websocket.app.state
    await PeerSession(websocket, state.registry, state.config).run()


async def healthz(request: Request) -> dict[str, object]:
    """Liveness plus the number of rooms and peers."""
    registry: RoomRegistry = request.app.state.registry
    return {"status": "ok", "rooms": registry.room_count, "peers": registry.peer_count}


def add_web_app(app: FastAPI, web_dir: Path) -> None:
    """Serve the single-page web app in `web_dir`: its `index.html` at `/` and at `/r/{room}`
    (an invite link; the token rides in the URL fragment, which never reaches the server), the
    rest of the folder under `/web/`. Raises ValueError when `web_dir` has no index.html."""
    page = web_dir / "index.html"
    if not page.is_file():
        raise ValueError(f"{web_dir}: no index.html (not a web app folder)")

    async def index() -> FileResponse:
        return FileResponse(page, headers=NO_CACHE)

    async def invite(room: str) -> FileResponse:
        return FileResponse(page, headers=NO_CACHE)

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/r/{room}", invite, methods=["GET"], include_in_schema=False)
    app.mount("/web", StaticFiles(directory=web_dir), name="web")


def create_app(config: ServerConfig | None = None, web_dir: Path | None = None) -> FastAPI:
    """A fresh signaling app with its own, empty room registry; with `web_dir`, it also serves
    that web app (`add_web_app`)."""
    config = config if config is not None else ServerConfig()
    app = FastAPI(title="Frontal signaling", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.registry = RoomRegistry(max_rooms=config.max_rooms)
    app.state.room_limiter = (None if config.rooms_per_minute is None
                              else KeyedLimiter(config.rooms_per_minute / 60.0, config.rooms_burst))
    app.add_api_websocket_route("/ws", websocket_endpoint)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/rooms", create_room, methods=["POST"], status_code=201)  # an invite: signaling/invites.py
    if web_dir is not None:
        add_web_app(app, web_dir)
    return app
