"""What the two peers of a call send each other on their two data channels (protocol version 1).

`docs/call.md` is the specification. Two SCTP data channels, negotiated out of band (fixed ids, so
both sides have them at once and no `datachannel` event is needed):

    driving  (id 0, unordered, maxRetransmits=0)  binary: one driving packet (`codec/wire.py`), or a
                                                  bundle 0xB1 | count | (len | packet) * count
    control  (id 1, reliable, ordered)            text: one JSON object (`hello`, `view`,
                                                  `intra-request`, `bye`), at most 4 KiB;
                                                  binary: a source-view chunk 0xF5 | index | chunk_no
                                                  (uint16 BE) | bytes

A message that does not parse raises `ValueError` naming the reason; the peer logs it, counts it
and carries on.
"""
from __future__ import annotations

import json
import struct
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from codec.fields import FieldSet

PROTOCOL_VERSION = 1

DRIVING_LABEL = "frontal-driving"
CONTROL_LABEL = "frontal-control"
DRIVING_CHANNEL_ID = 0
CONTROL_CHANNEL_ID = 1

MAX_CONTROL_TEXT = 4096
MAX_VIEWS = 5
MAX_VIEW_BYTES = 65536
VIEW_CHUNK_BYTES = 1024
MAX_BUNDLE = 4

BUNDLE_MAGIC = 0xB1
VIEW_CHUNK_MAGIC = 0xF5
_CHUNK_HEAD = struct.Struct(">BBH")

ViewFormat = Literal["webp", "jpeg", "avif"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FieldSpec(_Message):
    """The driving fields of the stream (`codec.fields.FieldSet`)."""

    n_sup: Annotated[int, Field(ge=0, le=478)]
    n_unsup: Annotated[int, Field(ge=0, le=64)]
    jacobians: Annotated[int, Field(ge=0, le=1)]
    n_expr: Annotated[int, Field(ge=0, le=256)]

    def to_fieldset(self) -> FieldSet:
        return FieldSet.from_dict(self.model_dump())

    @classmethod
    def of(cls, fields: FieldSet) -> FieldSpec:
        return cls(**fields.to_dict())


class Hello(_Message):
    """First control message of each sender: what its driving stream is.

    `epoch_ms`: the sender's Unix time (ms) at stream timestamp 0, so a receiver whose clock is
    synchronised (the same machine, or NTP) can measure capture-to-render latency.
    """

    type: Literal["hello"] = "hello"
    version: Literal[1] = PROTOCOL_VERSION
    fps: Annotated[float, Field(gt=0, le=60)]
    fields: FieldSpec
    mode: Literal["paper", "predictive"]
    frames_per_message: Annotated[int, Field(ge=1, le=MAX_BUNDLE)] = 1
    epoch_ms: Annotated[float, Field(ge=0)]


class ViewStart(_Message):
    """A source view follows as `chunks` binary chunks of the compressed image (`size` bytes)."""

    type: Literal["view"] = "view"
    index: Annotated[int, Field(ge=0, lt=MAX_VIEWS)]
    format: ViewFormat
    size: Annotated[int, Field(ge=1, le=MAX_VIEW_BYTES)]
    chunks: Annotated[int, Field(ge=1, le=MAX_VIEW_BYTES // VIEW_CHUNK_BYTES)]
    yaw: float
    pitch: float
    sup: list[list[float]] | None = None


class IntraRequest(_Message):
    """The receiver lost the reference chain: the next driving frame should be intra."""

    type: Literal["intra-request"] = "intra-request"


class Bye(_Message):
    """The sender hangs up."""

    type: Literal["bye"] = "bye"
    reason: Annotated[str, Field(max_length=256)] | None = None


ControlMessage = Annotated[Union[Hello, ViewStart, IntraRequest, Bye], Field(discriminator="type")]
_CONTROL = TypeAdapter(ControlMessage)


def encode_control(message: BaseModel) -> str:
    return message.model_dump_json()


def parse_control(text: str) -> Hello | ViewStart | IntraRequest | Bye:
    """One control text message; `ValueError` if too long, not JSON or not a known message."""
    if len(text) > MAX_CONTROL_TEXT:
        raise ValueError(f"control message of {len(text)} characters (limit {MAX_CONTROL_TEXT})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"control message is not JSON: {exc.msg}") from None
    try:
        return _CONTROL.validate_python(data, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"bad control message: {where}: {first['msg']}") from None


# --- driving channel -------------------------------------------------------------------------


def pack_driving(packets: list[bytes]) -> bytes:
    """One data-channel message: the packet itself, or a bundle of 2..MAX_BUNDLE packets."""
    if not 1 <= len(packets) <= MAX_BUNDLE:
        raise ValueError(f"a message carries 1..{MAX_BUNDLE} packets, not {len(packets)}")
    if len(packets) == 1:
        return packets[0]
    if any(not 1 <= len(p) <= 255 for p in packets):
        raise ValueError("a bundled packet is 1..255 bytes")
    return bytes([BUNDLE_MAGIC, len(packets)]) + b"".join(bytes([len(p)]) + p for p in packets)


def unpack_driving(message: bytes) -> list[bytes]:
    """The driving packets in one message (a single packet is returned as is, unchecked)."""
    if not message:
        raise ValueError("empty driving message")
    if message[0] != BUNDLE_MAGIC:
        return [message]
    if len(message) < 2 or not 2 <= message[1] <= MAX_BUNDLE:
        raise ValueError("bundle: bad packet count")
    packets, pos = [], 2
    for _ in range(message[1]):
        if pos >= len(message):
            raise ValueError("bundle: truncated")
        n = message[pos]
        if n == 0 or pos + 1 + n > len(message):
            raise ValueError("bundle: bad packet length")
        packets.append(message[pos + 1: pos + 1 + n])
        pos += 1 + n
    if pos != len(message):
        raise ValueError("bundle: trailing bytes")
    return packets


# --- source views ----------------------------------------------------------------------------


def view_chunks(index: int, data: bytes) -> list[bytes]:
    """The binary control messages carrying one compressed view."""
    if not 1 <= len(data) <= MAX_VIEW_BYTES:
        raise ValueError(f"a view is 1..{MAX_VIEW_BYTES} bytes, not {len(data)}")
    return [_CHUNK_HEAD.pack(VIEW_CHUNK_MAGIC, index, k) + data[off: off + VIEW_CHUNK_BYTES]
            for k, off in enumerate(range(0, len(data), VIEW_CHUNK_BYTES))]


def chunk_count(size: int) -> int:
    return -(-size // VIEW_CHUNK_BYTES)


class ViewAssembler:
    """Reassembles views from a `ViewStart` and its chunks (the control channel is ordered)."""

    def __init__(self) -> None:
        self._meta: ViewStart | None = None
        self._parts: list[bytes] = []

    def start(self, meta: ViewStart) -> None:
        if meta.chunks != chunk_count(meta.size):
            raise ValueError(f"view {meta.index}: {meta.chunks} chunks for {meta.size} bytes")
        self._meta, self._parts = meta, []

    def add(self, message: bytes) -> tuple[ViewStart, bytes] | None:
        """Add one chunk; the view's meta and bytes once it is complete, else None."""
        if len(message) <= _CHUNK_HEAD.size:
            raise ValueError("view chunk: truncated")
        magic, index, number = _CHUNK_HEAD.unpack_from(message)
        meta = self._meta
        if magic != VIEW_CHUNK_MAGIC:
            raise ValueError(f"view chunk: bad magic 0x{magic:02x}")
        if meta is None or index != meta.index or number != len(self._parts):
            self._meta = None
            raise ValueError(f"view chunk {index}/{number}: unexpected (no view under way, or out of order)")
        body = message[_CHUNK_HEAD.size:]
        last = number == meta.chunks - 1
        expected = meta.size - number * VIEW_CHUNK_BYTES if last else VIEW_CHUNK_BYTES
        if len(body) != expected:
            self._meta = None
            raise ValueError(f"view chunk {index}/{number}: {len(body)} bytes, expected {expected}")
        self._parts.append(body)
        if not last:
            return None
        self._meta = None
        return meta, b"".join(self._parts)
