"""`POST /rooms`: the server issues a room and its token together (an invite).

    curl -X POST http://127.0.0.1:8080/rooms
    201 {"room": "Xb3k_9aQ-2mZr0Tq", "token": "..."}     503 {"error": "server-full", "message": "..."}

Whoever holds the invite can join the room (`join` over `/ws`), nobody else: the room's name is as
unguessable as a short token, and a wrong token or a missing room get the same refusal.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse
from starlette.requests import Request

from signaling.protocol import Invite, ProtocolError
from signaling.rooms import RoomRegistry

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}  # an invite is a secret: no cache keeps it


async def create_room(request: Request) -> JSONResponse:
    """Issue a new room: 201 with its `Invite`, or 503 when the server holds `max_rooms` rooms."""
    registry: RoomRegistry = request.app.state.registry
    try:
        room = registry.create()
    except ProtocolError as exc:
        return JSONResponse({"error": exc.code.value, "message": exc.message}, status_code=503, headers=NO_STORE)
    log.info("room %s issued", room.room_id)
    return JSONResponse(Invite(room=room.room_id, token=room.token).model_dump(), status_code=201, headers=NO_STORE)


__all__ = ["create_room"]
