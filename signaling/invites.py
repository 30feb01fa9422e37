"""`POST /rooms`: the server issues a room and its token together (an invite).

    curl -X POST http://127.0.0.1:8080/rooms
    201 {"room": "Xb3k_9aQ-2mZr0Tq", "token": "..."}     503 {"error": "server-full", "message": "..."}
    429 {"error": "rate-limited", "message": "..."}  (Retry-After: seconds): too many rooms from one address

Whoever holds the invite can join the room (`join` over `/ws`), nobody else: the room's name is as
unguessable as a short token, and a wrong token or a missing room get the same refusal.
"""

from __future__ import annotations

import logging
import math

from fastapi.responses import JSONResponse
from starlette.requests import Request

from signaling.protocol import ErrorCode, Invite, ProtocolError
from signaling.ratelimit import KeyedLimiter
from signaling.rooms import RoomRegistry

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}  # an invite is a secret: no cache keeps it


async def create_room(request: Request) -> JSONResponse:
    """Issue a new room: 201 with its `Invite`, 429 when this client's address has had
    `ServerConfig.rooms_per_minute` (after a burst), or 503 when the server holds `max_rooms` rooms."""
    registry: RoomRegistry = request.app.state.registry
    limiter: KeyedLimiter | None = request.app.state.room_limiter
    address = request.client.host if request.client is not None else "unknown"
    wait_s = limiter.allow(address) if limiter is not None else 0.0
    if wait_s > 0:
        log.info("room refused to %s: rate limited", address)
        return JSONResponse({"error": ErrorCode.RATE_LIMITED.value,
                             "message": f"too many rooms from this address: try again in {math.ceil(wait_s)} s"},
                            status_code=429, headers={**NO_STORE, "Retry-After": str(math.ceil(wait_s))})
    try:
        room = registry.create()
    except ProtocolError as exc:
        return JSONResponse({"error": exc.code.value, "message": exc.message}, status_code=503, headers=NO_STORE)
    log.info("room %s issued", room.room_id)
    return JSONResponse(Invite(room=room.room_id, token=room.token).model_dump(), status_code=201, headers=NO_STORE)


__all__ = ["create_room"]
