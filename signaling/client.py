"""An asyncio signaling client for Python peers (aiortc), built on the `websockets` package.

invite = create_room("ws://127.0.0.1:8080/ws")   # POST /rooms: a new room and its token
async with SignalingClient("ws://127.0.0.1:8080/ws", invite.room, invite.token) as client:
    info = client.info            # JoinInfo: peer_id, token, initiator, ...
    await client.send(Offer(sdp=pc.localDescription.sdp))
    message = await client.receive()
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal
from urllib.parse import urlparse, urlunparse

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from signaling.protocol import (
    Error,
    Invite,
    Join,
    Joined,
    Message,
    RelayMessage,
    encode,
    parse_server_message,
)

log = logging.getLogger(__name__)

__all__ = ["Invite", "JoinInfo", "Message", "SignalingClient", "SignalingClosed", "SignalingError",
           "create_room", "proxy_for", "rooms_url"]


class SignalingError(Exception):
    """The server refused us (`code` is the protocol's error code) or broke the protocol."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SignalingClosed(SignalingError):
    """The WebSocket closed; `close_code` is the WebSocket close code (None if unknown)."""

    def __init__(self, close_code: int | None, reason: str) -> None:
        super().__init__("closed", f"connection closed ({close_code}) {reason}".strip())
        self.close_code = close_code


@dataclass(frozen=True)
class JoinInfo:
    """What the server told us on joining. `initiator`: we are alone, so we send the offer."""

    room: str
    peer_id: str
    token: str
    peers: int
    initiator: bool


def proxy_for(url: str) -> Literal[True] | None:
    """Connect directly to a loopback server (None); honour the proxy settings otherwise (True)."""
    host = urlparse(url).hostname or ""
    return None if host in ("127.0.0.1", "localhost", "::1") else True


def rooms_url(ws_url: str) -> str:
    """The `POST /rooms` URL beside a signaling WebSocket URL: ws://h:p/ws -> http://h:p/rooms."""
    parts = urlparse(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunparse((scheme, parts.netloc, parts.path.rsplit("/", 1)[0] + "/rooms", "", "", ""))


def create_room(ws_url: str, *, timeout_s: float = 10.0, proxy: Literal[True] | None = True) -> Invite:
    """Ask the signaling server of `ws_url` for a new room (blocking): its name and token.

    Raises `SignalingError` if the server refuses (e.g. `server-full`) or answers nonsense, and
    `OSError` if it cannot be reached. `proxy`: as for `SignalingClient` (no proxy URL here).
    """
    url = rooms_url(ws_url)
    handlers = [urllib.request.ProxyHandler({})] if proxy is None else []
    request = urllib.request.Request(url, data=b"", method="POST", headers={"Accept": "application/json"})
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=timeout_s) as response:
            body = response.read(4096)
    except urllib.error.HTTPError as exc:
        raise SignalingError(*_http_error(exc)) from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot reach {url}: {exc.reason}") from None
    try:
        return Invite.model_validate_json(body)
    except ValidationError:
        raise SignalingError("protocol", f"{url} did not answer with a room and a token") from None


def _http_error(exc: urllib.error.HTTPError) -> tuple[str, str]:
    try:
        body = json.loads(exc.read(4096))
        return str(body["error"]), str(body.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return f"http-{exc.code}", f"{exc.url}: {exc.reason}"


class SignalingClient:
    """One peer's connection to the signaling server.

    `room` and `token` are an invite (`create_room`, `POST /rooms`): a join never creates a room.
    `proxy`: True uses the environment's proxy settings, None connects directly, a URL names the
    proxy.
    """

    def __init__(
        self,
        url: str,
        room: str,
        token: str | None = None,
        *,
        open_timeout_s: float = 10.0,
        max_size: int = 1024 * 1024,
        proxy: str | Literal[True] | None = True,
    ) -> None:
        self.url = url
        self.room = room
        self.token = token
        self._open_timeout_s = open_timeout_s
        self._max_size = max_size
        self._proxy = proxy
        self._ws: ClientConnection | None = None
        self._info: JoinInfo | None = None

    @property
    def info(self) -> JoinInfo:
        if self._info is None:
            raise RuntimeError("not joined: call connect() first")
        return self._info

    async def connect(self) -> JoinInfo:
        """Open the WebSocket and join the room; raise `SignalingError` if refused.

        An invalid room name or token raises `ValueError` before anything is sent; a server
        that cannot be reached raises `OSError` or a `websockets.exceptions.WebSocketException`.
        """
        join = Join(room=self.room, token=self.token)
        self._ws = await connect(
            self.url,
            open_timeout=self._open_timeout_s,
            max_size=self._max_size,
            compression=None,
            proxy=self._proxy,
        )
        try:
            await self._ws.send(encode(join))
            reply = await asyncio.wait_for(self._receive(), self._open_timeout_s)
        except BaseException:
            await self.close()
            raise
        return self._accept_join(reply)

    def _accept_join(self, reply: Message) -> JoinInfo:
        if isinstance(reply, Error):
            raise SignalingError(reply.code.value, reply.message)
        if not isinstance(reply, Joined):
            raise SignalingError("protocol", f"expected 'joined', got {reply.type!r}")
        self.token = reply.token
        self._info = JoinInfo(reply.room, reply.peer_id, reply.token, reply.peers, reply.initiator)
        return self._info

    async def send(self, message: RelayMessage) -> None:
        """Send an offer, answer, candidate, bye or app message to the other peer."""
        await self.send_text(encode(message))

    async def send_text(self, text: str) -> None:
        """Send raw text as one message (for tests and tools; prefer `send`)."""
        try:
            await self._connection().send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def receive(self) -> Message:
        """The next message from the server; raise `SignalingClosed` once the socket closes."""
        return await self._receive()

    async def _receive(self) -> Message:
        try:
            text = await self._connection().recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None
        try:
            return parse_server_message(text)
        except ValueError as exc:
            raise SignalingError("protocol", str(exc)) from None

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("not connected: call connect() first")
        return self._ws

    async def close(self) -> None:
        """Leave the room (the other peer is told `peer-left`) and close the socket."""
        if self._ws is not None:
            await self._ws.close()

    async def __aenter__(self) -> SignalingClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def __aiter__(self) -> AsyncIterator[Message]:
        """Messages until the socket closes."""
        while True:
            try:
                yield await self._receive()
            except SignalingClosed:
                return


def _closed(exc: ConnectionClosed) -> SignalingClosed:
    frame = exc.rcvd
    return SignalingClosed(frame.code if frame else None, frame.reason if frame else "")
