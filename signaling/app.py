"""The signaling server as a FastAPI app: `/ws` (the protocol), `/healthz`, and the browser page.

All state lives on the app object (`app.state.registry`, `app.state.config`), so two apps in
one process never share rooms.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from signaling.config import ServerConfig
from signaling.rooms import RoomRegistry
from signaling.session import PeerSession

STATIC_DIR = Path(__file__).resolve().parent / "static"
NO_CACHE = {"Cache-Control": "no-cache"}


async def websocket_endpoint(websocket: WebSocket) -> None:
    """One peer: join a room, then relay until it leaves."""
    state = websocket.app.state
    await PeerSession(websocket, state.registry, state.config).run()


async def healthz(request: Request) -> dict[str, object]:
    """Liveness plus the number of rooms and peers."""
    registry: RoomRegistry = request.app.state.registry
    return {"status": "ok", "rooms": registry.room_count, "peers": registry.peer_count}


async def index() -> FileResponse:
    """The browser page."""
    return FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """A fresh signaling app with its own, empty room registry."""
    config = config if config is not None else ServerConfig()
    app = FastAPI(title="Frontal signaling", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.registry = RoomRegistry(max_rooms=config.max_rooms)
    app.add_api_websocket_route("/ws", websocket_endpoint)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
