"""The signaling wire protocol: JSON text messages over one WebSocket, validated by pydantic.

A room and its token are issued together over HTTP (`POST /rooms` answers an `Invite`); a peer
joins an existing room with its token. Every WebSocket message is a JSON object with a `type`. A
peer's first message is `join`; after `joined` it may send `offer`, `answer`, `candidate`, `bye` and `message`, which the server validates and
relays to the other peer with `from` set to the sender's peer id. The server itself sends
`joined`, `peer-joined`, `peer-left` and `error`. `docs/signaling.md` is the full specification;
`PROTOCOL_VERSION` is bumped on any incompatible change.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

PROTOCOL_VERSION = 2  # 2: rooms are issued by `POST /rooms`; a join never creates one

ROOM_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TOKEN_PATTERN = r"^[A-Za-z0-9_.~-]{8,128}$"
PEER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
MAX_SDP_CHARS = 60_000
MAX_CANDIDATE_CHARS = 2_048

RoomId = Annotated[str, StringConstraints(pattern=ROOM_ID_PATTERN)]
Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
PeerId = Annotated[str, StringConstraints(pattern=PEER_ID_PATTERN)]
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SDP_CHARS)]
ShortText = Annotated[str, StringConstraints(max_length=256)]


class ErrorCode(enum.StrEnum):
    """The `code` of an `error` message. Values are part of the wire format: never reuse one."""

    MALFORMED = "malformed"
    TOO_LARGE = "too-large"
    RATE_LIMITED = "rate-limited"
    ROOM_FULL = "room-full"
    BAD_TOKEN = "bad-token"
    SERVER_FULL = "server-full"
    EXPECTED_JOIN = "expected-join"
    ALREADY_JOINED = "already-joined"
    JOIN_TIMEOUT = "join-timeout"
    NO_PEER = "no-peer"
    INTERNAL = "internal"


class ProtocolError(Exception):
    """A message or request the server refuses, with the wire `code` to report."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _wire_name(name: str) -> Any:
    """An optional field called `name` on the wire (Python code uses the snake_case name)."""
    return Field(default=None, validation_alias=name, serialization_alias=name)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


# --- client -> server ---------------------------------------------------------------------


class Join(_Message):
    """Join the existing `room` with its `token` (None, or a wrong token, is refused as `bad-token`,
    exactly as a room that does not exist is)."""

    type: Literal["join"] = "join"
    room: RoomId
    token: Token | None = None


class _Relayed(_Message):
    """A message relayed to the other peer; the server overwrites `from` with the sender's id."""

    from_: PeerId | None = _wire_name("from")


class Offer(_Relayed):
    type: Literal["offer"] = "offer"
    sdp: Sdp


class Answer(_Relayed):
    type: Literal["answer"] = "answer"
    sdp: Sdp


class Candidate(_Relayed):
    """An ICE candidate (field names as in the browser's `RTCIceCandidateInit`).

    An empty `candidate` string means end-of-candidates.
    """

    type: Literal["candidate"] = "candidate"
    candidate: Annotated[str, StringConstraints(max_length=MAX_CANDIDATE_CHARS)]
    sdp_mid: Annotated[str, StringConstraints(max_length=64)] | None = _wire_name("sdpMid")
    sdp_mline_index: Annotated[int, Field(ge=0, le=1023)] | None = _wire_name("sdpMLineIndex")
    username_fragment: ShortText | None = _wire_name("usernameFragment")


class Bye(_Relayed):
    """The sender hangs up the call; it stays in the room (closing the socket leaves it)."""

    type: Literal["bye"] = "bye"
    reason: ShortText | None = None


class AppMessage(_Relayed):
    """Application data for the other peer (any JSON value within the size limit)."""

    type: Literal["message"] = "message"
    data: JsonValue = None


# --- server -> client ---------------------------------------------------------------------


class Invite(_Message):
    """The answer to `POST /rooms` (HTTP 201): a new room and its token, issued together."""

    room: RoomId
    token: Token


class Joined(_Message):
    """Reply to `join`. `initiator` is True for a peer that is alone: it sends the offer."""

    type: Literal["joined"] = "joined"
    room: RoomId
    peer_id: PeerId
    token: Token
    peers: int
    initiator: bool
    version: int = PROTOCOL_VERSION


class PeerJoined(_Message):
    """The other peer arrived; the receiver (the initiator) should now send its offer."""

    type: Literal["peer-joined"] = "peer-joined"
    peer_id: PeerId


class PeerLeft(_Message):
    """The other peer left (`reason`: `closed`, `disconnected` or `kicked`); its slot is free."""

    type: Literal["peer-left"] = "peer-left"
    peer_id: PeerId
    reason: ShortText


class Error(_Message):
    """A refusal. When `fatal`, the server closes the WebSocket right after."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: ShortText
    fatal: bool


RelayMessage = Offer | Answer | Candidate | Bye | AppMessage
"""A message a peer sends for the other peer; the server relays it."""
ClientMessage = Join | RelayMessage
"""Anything a client sends to the server."""
Message = Joined | PeerJoined | PeerLeft | Error | Offer | Answer | Candidate | Bye | AppMessage
"""Anything the server sends to a client."""

_CLIENT_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(
    Annotated[ClientMessage, Field(discriminator="type")]
)
_SERVER_ADAPTER: TypeAdapter[Message] = TypeAdapter(Annotated[Message, Field(discriminator="type")])


def check_size(text: str, max_bytes: int) -> None:
    """Raise `ProtocolError(TOO_LARGE)` if `text` is longer than `max_bytes` in UTF-8."""
    if len(text) > max_bytes or len(text.encode("utf-8")) > max_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message larger than {max_bytes} bytes")


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{where}: {first['msg']}" if where else first["msg"]
    return text[:200]


def parse_client_message(text: str, max_bytes: int) -> ClientMessage:
    """Parse and validate one client message; raise `ProtocolError` (too-large or malformed)."""
    check_size(text, max_bytes)
    try:
        return _CLIENT_ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.MALFORMED, _describe(exc)) from None


def parse_server_message(text: str | bytes) -> Message:
    """Parse one server message (client side); raise `ValueError` on anything unexpected."""
    try:
        return _SERVER_ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"bad message from server: {_describe(exc)}") from None


def encode(message: _Message) -> str:
    """The JSON text of a message, with wire field names (`from`, `sdpMid`, ...)."""
    return message.model_dump_json(by_alias=True)
