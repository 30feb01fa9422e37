"""One peer's WebSocket session: join, then validate and relay its messages until it leaves.

Refusal policy (see docs/signaling.md): anything wrong *before* a successful join gets an
`error` with `fatal: true` and the socket is closed. *After* the join, a malformed, oversized,
rate-limited or repeated-join message gets a non-fatal `error` and is dropped; it counts as a
strike, and at `max_strikes` the offender is closed with 1008. The room and the other peer are
never affected by what one peer sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from signaling.config import ServerConfig
from signaling.protocol import (
    ClientMessage,
    Error,
    ErrorCode,
    Join,
    Joined,
    PeerJoined,
    PeerLeft,
    ProtocolError,
    RelayMessage,
    encode,
    parse_client_message,
)
from signaling.ratelimit import TokenBucket
from signaling.rooms import Room, RoomRegistry

log = logging.getLogger(__name__)

# WebSocket close codes sent with a fatal error.
CLOSE_CODES: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED: 1008,
    ErrorCode.TOO_LARGE: 1009,
    ErrorCode.RATE_LIMITED: 1008,
    ErrorCode.ROOM_FULL: 1013,
    ErrorCode.BAD_TOKEN: 1008,
    ErrorCode.SERVER_FULL: 1013,
    ErrorCode.EXPECTED_JOIN: 1008,
    ErrorCode.ALREADY_JOINED: 1008,
    ErrorCode.JOIN_TIMEOUT: 1008,
    ErrorCode.NO_PEER: 1008,
    ErrorCode.INTERNAL: 1011,
}
# Errors that count against a joined peer; `no-peer` is a race, not misbehaviour.
STRIKE_CODES = frozenset(
    {ErrorCode.MALFORMED, ErrorCode.TOO_LARGE, ErrorCode.RATE_LIMITED, ErrorCode.ALREADY_JOINED}
)
CLEAN_CLOSE_CODES = frozenset({1000, 1001})


class _Disconnected(Exception):
    """The client went away; `code` is the WebSocket close code uvicorn reported."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PeerSession:
    """The server side of one WebSocket. Implements `rooms.PeerLink`."""

    def __init__(self, websocket: WebSocket, registry: RoomRegistry, config: ServerConfig) -> None:
        self._peer_id = secrets.token_urlsafe(6)
        self._ws = websocket
        self._registry = registry
        self._config = config
        self._bucket = TokenBucket(config.rate_per_s, config.rate_burst)
        self._send_lock = asyncio.Lock()
        self._strikes = 0
        self._room: Room | None = None
        self._leave_reason = "disconnected"

    @property
    def peer_id(self) -> str:
        return self._peer_id

    async def run(self) -> None:
        """Serve the connection until it closes; never raises for anything the client sends."""
        await self._ws.accept()
        try:
            if await self._join():
                await self._relay_loop()
        except _Disconnected as exc:
            self._leave_reason = "closed" if exc.code in CLEAN_CLOSE_CODES else "disconnected"
        except Exception:  # a bug must cost one connection, never the server
            log.exception("peer %s: internal error", self._peer_id)
            await self._refuse(ErrorCode.INTERNAL, "internal server error")
        finally:
            await self._leave()

    # --- sending ----------------------------------------------------------------------------

    async def send(self, text: str) -> bool:
        """Send one message; False (and logged) if the socket is gone or stays unwritable."""
        async with self._send_lock:
            return await self._send_unlocked(text)

    async def _send_unlocked(self, text: str) -> bool:
        if self._ws.application_state != WebSocketState.CONNECTED:
            return False
        try:
            async with asyncio.timeout(self._config.send_timeout_s):  # no extra task per send
                await self._ws.send_text(text)
        except (TimeoutError, OSError, RuntimeError, WebSocketDisconnect) as exc:
            log.info("peer %s: send failed: %r", self._peer_id, exc)
            return False
        return True

    async def _send_error(self, code: ErrorCode, message: str, fatal: bool) -> None:
        await self.send(encode(Error(code=code, message=message, fatal=fatal)))

    async def _refuse(self, code: ErrorCode, message: str) -> None:
        """Send a fatal error and close the socket with the matching close code."""
        log.info("peer %s: refused (%s): %s", self._peer_id, code.value, message)
        await self._send_error(code, message, fatal=True)
        with contextlib.suppress(OSError, RuntimeError, WebSocketDisconnect):
            await self._ws.close(CLOSE_CODES[code], code.value)

    # --- receiving --------------------------------------------------------------------------

    async def _receive(self) -> str | bytes:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise _Disconnected(int(message.get("code", 1005)))
        text = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    def _parse(self, raw: str | bytes) -> ClientMessage:
        if isinstance(raw, bytes):
            raise ProtocolError(ErrorCode.MALFORMED, "binary frames are not accepted")
        return parse_client_message(raw, self._config.max_message_bytes)

    # --- join -------------------------------------------------------------------------------

    async def _join(self) -> bool:
        """Read and apply the first message; False if the peer was refused."""
        try:
            raw = await asyncio.wait_for(self._receive(), self._config.join_timeout_s)
        except TimeoutError:
            await self._refuse(ErrorCode.JOIN_TIMEOUT, "no join message in time")
            return False
        try:
            message = self._parse(raw)
            if not isinstance(message, Join):
                raise ProtocolError(ErrorCode.EXPECTED_JOIN, "the first message must be a join")
            await self._enter(message)
        except ProtocolError as exc:
            await self._refuse(exc.code, exc.message)
            return False
        return True

    async def _enter(self, join: Join) -> None:
        # Hold our own send lock across registering and replying, so a message relayed by the
        # other peer can never reach us before `joined` does.
        async with self._send_lock:
            room = self._registry.join(join.room, join.token, self)
            self._room = room
            other = room.other(self)
            reply = Joined(
                room=room.room_id,
                peer_id=self._peer_id,
                token=room.token,
                peers=len(room.peers),
                initiator=other is None,
            )
            await self._send_unlocked(encode(reply))
        log.info("peer %s joined room %s (%d/2)", self._peer_id, room.room_id, len(room.peers))
        if other is not None:
            await other.send(encode(PeerJoined(peer_id=self._peer_id)))

    # --- relay ------------------------------------------------------------------------------

    async def _relay_loop(self) -> None:
        while True:
            raw = await self._receive()
            try:
                await self._handle(raw)
            except ProtocolError as exc:
                if not await self._strike(exc):
                    return

    async def _handle(self, raw: str | bytes) -> None:
        if not self._bucket.allow():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
        message = self._parse(raw)
        if isinstance(message, Join):
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "this connection already joined a room")
        await self._relay(message)

    async def _relay(self, message: RelayMessage) -> None:
        other = self._room.other(self) if self._room is not None else None
        if other is None:
            raise ProtocolError(ErrorCode.NO_PEER, "no other peer in the room")
        stamped = message.model_copy(update={"from_": self._peer_id})
        if not await other.send(encode(stamped)):
            log.info("peer %s: relay to %s failed", self._peer_id, other.peer_id)

    async def _strike(self, exc: ProtocolError) -> bool:
        """Report a refused message; False once the peer has used up its strikes (closed)."""
        if exc.code in STRIKE_CODES:
            self._strikes += 1
            if self._strikes >= self._config.max_strikes:
                self._leave_reason = "kicked"
                await self._refuse(exc.code, f"{exc.message} (too many refused messages)")
                return False
        await self._send_error(exc.code, exc.message, fatal=False)
        return True

    # --- leave ------------------------------------------------------------------------------

    async def _leave(self) -> None:
        if self._room is None:
            return
        room, self._room = self._room, None
        other = self._registry.leave(room.room_id, self)
        log.info("peer %s left room %s (%s)", self._peer_id, room.room_id, self._leave_reason)
        if other is not None:
            await other.send(encode(PeerLeft(peer_id=self._peer_id, reason=self._leave_reason)))
