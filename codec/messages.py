"""What the two peers of a call send each other on their two data channels (protocol version 2).

`docs/bitstream.md` specifies every byte. Two SCTP data channels, negotiated out of band (fixed
ids, so both sides have them at once and no `datachannel` event is needed):

    driving  (id 0, unordered, maxRetransmits=0)  binary: a compact bundle of 1..4 consecutive
                                                  frames (first byte 0x40..0x7F, below)
    control  (id 1, reliable, ordered)            text: one JSON object (`hello`, `intra-request`,
                                                  `bye`), at most 4 096 characters;
                                                  binary: a view start 0xF6 (0xF7 with a shape
                                                  record) or a view chunk 0xF5 (below)

View start. One binary control message opens a view and carries its first image bytes:

    offset  size  field
    0       1     0xF6
    1       1     view index (0..4)
    2       1     format: 0 webp, 1 jpeg, 2 avif
    3       2     size of the compressed image - 1, uint16 BE (1..65536 bytes)
    5       2     yaw, int16 BE, units of 1e-4 rad
    7       2     pitch, int16 BE, units of 1e-4 rad
    9       2     n, the number of landmarks (0: none; at most 283)
    11      4n    the landmarks, (x, y) int16 BE pairs in units of 1e-4 (crop coordinates in [-1, 1])
    11+4n   ..    the image's first bytes, min(size, 1 144 - 11 - 4n) of them

A call of a shape field set (`hello` fields with `n_shape`) opens its views with a *shape view
start* 0xF7 instead: the same bytes as a view start up to the landmarks, then the view's own
driving record, coded as one intra payload of the call's field set and coding mode with a fresh
coder state (`codec.stream.encode_intra_record`), then the image's first bytes:

    0       1     0xF7
    1       10    as a view start's bytes 1..10
    11      4n    the landmarks (n may be 0)
    11+4n   1     L, the record's length (1..255)
    12+4n   L     the record payload
    12+4n+L ..    the image's first bytes, min(size, 1 144 - 12 - 4n - L) of them

View chunk k (k = 1, 2, ...), carrying the next image bytes, min(1 140, what is left) of them:

    0       1     0xF5
    1       1     view index
    2       2     k, uint16 BE
    4       ..    image bytes

1 144 bytes is the largest data-channel message that still fits in one SCTP packet of aiortc's
(1 189 bytes) with a SACK bundled in front of it: a 1.9 KB view (AVIF q35) is 2 messages.

Compact bundle. The frames of one message are consecutive (seq, seq+1, ...) and of the coding
mode the sender's `hello` announced, so one small header describes them all. Left out, because
the receiver knows them: the codec packets' CRC-16 (SCTP's CRC32c and the DTLS record's AEAD tag
already protect the message), the coding mode (`hello`), the high byte of the sequence number and
the dependency (below):

    offset  size  field
    0       1     bits 6-7: 01 (the type: first bytes 0x40..0x7F); bits 0-1: frame count - 1
                  (1..4 frames); bit 2+k: frame k is intra (zero for frames beyond the count)
    1       1     sequence number of frame 0, low 8 bits (frame k: seq + k)
    2       2     timestamp of frame 0, uint16 BE, ms (wrapping)
    4       ..    frames 1..n-1: timestamp minus the previous frame's, mod 65536 (varint)
            ..    frames 0..n-2: payload length (varint); the last payload runs to the end
            ..    the range-coded payloads, back to back

A varint is LEB128 (7 bits a byte, low group first, high bit = more), minimal, at most 3 bytes,
at most 65535. One frame costs 4 bytes of framing, two frames 6.

The receiver rebuilds the codec packets (`codec.wire.pack`) from a `CompactContext`: the full
sequence number is the one nearest the newest it has seen (as RTP receivers extend theirs;
unambiguous while fewer than 128 frames in a row are lost, 8.5 s at 15 FPS, and a call ends after
5 s without driving messages); an inter frame's dependency is its distance to the intra frame of
the receiver's decoder (or to an intra frame earlier in the message). The decoder accepts an
inter frame only if it directly follows the last frame it decoded, and then that intra frame *is*
the one the frame depends on; when the chain is broken the rebuilt dependency may be wrong, but
the frame is refused (`MissingReference`) all the same. So every frame the decoder can use is
rebuilt exactly as the sender's encoder made it.

Audio (driving channel). Speech frames (Opus, one packet per frame, the settings in the sender's
`hello` `audio`) travel in front of a compact bundle in the same message (0xA1), or alone (0xA0)
when no driving frame is due (the face is lost, or `audio_transport` is "separate"):

    offset  size  field
    0       1     0xA0 audio only, 0xA1 audio then a compact bundle
    1       1     bits 0-3: audio frame count - 1 (1..16); bits 4-7 zero
    2       2     sequence number of audio frame 0, uint16 BE (frame k: seq + k)
    4       2     timestamp of audio frame 0, uint16 BE, ms on the driving stream's clock (frame k:
                  + k x frame_ms)
    6       ..    the frames' lengths (varint each, 1..1275)
            ..    the Opus packets, back to back
            ..    (0xA1 only) a compact bundle, to the end of the message

A message that does not parse (a foreign one included) raises `ValueError` naming the reason; the
peer logs it, counts it and carries on.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from codec import wire
from codec.errors import CodecError
from codec.fields import FieldSet

PROTOCOL_VERSION: Final = 2  # a `hello` of any other version is refused

DRIVING_LABEL = "frontal-driving"
CONTROL_LABEL = "frontal-control"
DRIVING_CHANNEL_ID = 0
CONTROL_CHANNEL_ID = 1

MAX_CONTROL_TEXT = 4096
MAX_VIEWS = 5
MAX_VIEW_BYTES = 65536
MAX_BUNDLE = 4

AUDIO_ONLY_TYPE = 0xA0  # a driving-channel message of speech frames alone
AUDIO_DRIVING_TYPE = 0xA1  # speech frames, then a compact bundle, in one message
MAX_AUDIO_FRAMES = 16
MAX_AUDIO_PACKET = 1275  # RFC 6716: the largest Opus frame
COMPACT_TYPE = 0x40  # a driving message's first byte is 0b01xxxxxx: one header for consecutive frames
VIEW_CHUNK_MAGIC = 0xF5
VIEW_START_MAGIC = 0xF6  # a view's header and its first image bytes in one binary message
SHAPE_VIEW_START_MAGIC = 0xF7  # a view start that also carries the view's shape record
MAX_VIEW_RECORD = 255  # bytes of a shape view start's record (one length byte)
SHAPE_MODEL_DIGEST = r"^[0-9a-f]{64}$"
VIEW_FORMATS = ("webp", "jpeg", "avif")  # format ids of a view start
VIEW_UNIT = 1e-4  # a view start's angles (rad) and landmark coordinates, as int16
_VIEW_START = struct.Struct(">BBBHhhH")  # magic, index, format, size - 1, yaw, pitch, landmarks
_CHUNK_HEAD = struct.Struct(">BBH")  # magic, index, chunk number
VIEW_MESSAGE_BYTES = 1144  # a view start or chunk: SACK + DATA still in one SCTP packet
MAX_VIEW_LANDMARKS = (VIEW_MESSAGE_BYTES - _VIEW_START.size - 1) // 4  # 283: the view start keeps an image byte

ViewFormat = Literal["webp", "jpeg", "avif"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FieldSpec(_Message):
    """The driving fields of the stream (`codec.fields.FieldSet`)."""

    n_sup: Annotated[int, Field(ge=0, le=478)]
    n_unsup: Annotated[int, Field(ge=0, le=64)]
    jacobians: Annotated[int, Field(ge=0, le=1)]
    n_expr: Annotated[int, Field(ge=0, le=256)]
    n_shape: Annotated[int, Field(ge=1, le=64)] | None = None  # a shape field set (left out otherwise)
    shape_model: Annotated[str, Field(pattern=SHAPE_MODEL_DIGEST)] | None = None  # its shape model's digest

    @model_validator(mode="after")
    def _shape_needs_model(self) -> FieldSpec:
        if (self.n_shape is None) != (self.shape_model is None):
            raise ValueError("n_shape and shape_model come together")
        return self

    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A landmark call's field set serialises as before: no `n_shape`, no `shape_model`."""
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if v is not None or k not in ("n_shape", "shape_model")}

    def to_fieldset(self) -> FieldSet:
        return FieldSet(self.n_sup, self.n_unsup, bool(self.jacobians), self.n_expr, self.n_shape or 0)

    @classmethod
    def of(cls, fields: FieldSet, shape_model: str | None = None) -> FieldSpec:
        """`shape_model`: the shape model's digest, required with a shape field set."""
        d: dict[str, Any] = dict(fields.to_dict())
        if fields.n_shape:
            if shape_model is None:
                raise ValueError("a shape field set needs its shape model's digest")
            d["shape_model"] = shape_model
        return cls(**d)


class AudioSpec(_Message):
    """The sender's speech stream (`codec.audio.AudioConfig`): Opus, mono."""

    codec: Literal["opus"] = "opus"
    rate: Literal[8000, 16000]
    frame_ms: Literal[20, 40, 60]
    bitrate: Annotated[int, Field(ge=2500, le=64000)]


class Hello(_Message):
    """First control message of each sender: what its driving stream is.

    `epoch_ms`: the sender's Unix time (ms) at stream timestamp 0, so a receiver whose clock is
    synchronised (the same machine, or NTP) can measure capture-to-render latency.
    """

    type: Literal["hello"] = "hello"
    version: Literal[2] = PROTOCOL_VERSION
    fps: Annotated[float, Field(gt=0, le=60)]
    fields: FieldSpec
    mode: Literal["paper", "predictive"]
    frames_per_message: Annotated[int, Field(ge=1, le=MAX_BUNDLE)] = 1
    epoch_ms: Annotated[float, Field(ge=0)]
    audio: AudioSpec | None = None  # the sender sends speech (left out of a hello without it)

    @model_serializer(mode="wrap")
    def _leave_out_no_audio(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A video-only hello serialises as before: no `audio` key."""
        out: dict[str, Any] = handler(self)
        if out.get("audio") is None:
            out.pop("audio", None)
        return out


class ViewStart(_Message):
    """What a binary view start says of its view (`parse_view_start`): the compressed image
    (`size` bytes) comes in `chunks` messages, the view start included."""

    index: Annotated[int, Field(ge=0, lt=MAX_VIEWS)]
    format: ViewFormat
    size: Annotated[int, Field(ge=1, le=MAX_VIEW_BYTES)]
    chunks: Annotated[int, Field(ge=1)]
    yaw: float
    pitch: float
    sup: Annotated[list[Annotated[list[float], Field(min_length=2, max_length=2)]],
                   Field(max_length=MAX_VIEW_LANDMARKS)] | None = None
    record: Annotated[bytes, Field(min_length=1, max_length=MAX_VIEW_RECORD)] | None = None  # a shape view's record payload

    def landmarks(self) -> NDArray[np.float32] | None:
        """The view's landmarks, (n, 2) float32 crop coordinates in [-1, 1], or None."""
        if self.sup is None:
            return None
        arr = np.asarray(self.sup, np.float32).reshape(-1, 2)
        if not np.isfinite(arr).all():
            raise ValueError("view landmarks: not finite")
        return arr


class IntraRequest(_Message):
    """The receiver lost the reference chain: the next driving frame should be intra."""

    type: Literal["intra-request"] = "intra-request"


class Bye(_Message):
    """The sender hangs up."""

    type: Literal["bye"] = "bye"
    reason: Annotated[str, Field(max_length=256)] | None = None


ControlMessage = Annotated[Hello | IntraRequest | Bye, Field(discriminator="type")]
_CONTROL = TypeAdapter(ControlMessage)


def encode_control(message: BaseModel) -> str:
    return message.model_dump_json()


def parse_control(text: str) -> Hello | IntraRequest | Bye:
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


_COMPACT_HEAD = struct.Struct(">BBH")  # type and intra flags, seq low byte, timestamp


@dataclass
class CompactContext:
    """What a receiver knows that a compact bundle leaves out (see the module docstring)."""

    mode: str  # the coding mode of the sender's `hello`
    newest_seq: int | None = None  # the newest 16-bit sequence number received (None: none yet)
    intra_seq: int | None = None  # the intra frame the receiver's decoder holds (None: none)

    def extend(self, seq8: int) -> int:
        """The 16-bit sequence number nearest the newest one received with these low 8 bits."""
        if self.newest_seq is None:
            return seq8
        delta = ((seq8 - self.newest_seq + 0x80) & 0xFF) - 0x80
        return (self.newest_seq + delta) & 0xFFFF


MAX_VARINT = 0xFFFF


def _varint(n: int) -> bytes:
    if not 0 <= n <= MAX_VARINT:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(message: bytes, pos: int, what: str = "compact bundle") -> tuple[int, int]:
    value = 0
    for k in range(3):
        if pos + k >= len(message):
            raise ValueError(f"{what}: truncated")
        byte = message[pos + k]
        value |= (byte & 0x7F) << (7 * k)
        if not byte & 0x80:
            if k and byte == 0:
                raise ValueError(f"{what}: varint not minimal")
            if value > MAX_VARINT:
                raise ValueError(f"{what}: varint over 65535")
            return value, pos + k + 1
    raise ValueError(f"{what}: varint over 3 bytes")


def pack_driving(packets: list[bytes]) -> bytes:
    """One driving message: a compact bundle of 1..MAX_BUNDLE consecutive codec packets of one
    coding mode (`ValueError` if they are not; each packet is checked, CRC included)."""
    if not 1 <= len(packets) <= MAX_BUNDLE:
        raise ValueError(f"a compact bundle carries 1..{MAX_BUNDLE} frames, not {len(packets)}")
    try:
        frames = [wire.unpack(p) for p in packets]
    except CodecError as exc:
        raise ValueError(f"not a codec packet: {exc}") from None
    first = frames[0]
    head = COMPACT_TYPE | (len(frames) - 1)
    deltas, lengths = bytearray(), bytearray()
    for k, f in enumerate(frames):
        if f.mode != first.mode:
            raise ValueError("compact bundle: frames of different coding modes")
        if k and f.seq != (frames[k - 1].seq + 1) & 0xFFFF:
            raise ValueError("compact bundle: frames are not consecutive")
        if k and not f.intra and f.dependency != frames[k - 1].dependency + 1:
            raise ValueError("compact bundle: a frame does not depend on the previous frame's intra frame")
        head |= int(f.intra) << (2 + k)
        if k:
            deltas += _varint((f.timestamp_ms - frames[k - 1].timestamp_ms) & 0xFFFF)
        if k < len(frames) - 1:
            lengths += _varint(len(f.payload))
    return (_COMPACT_HEAD.pack(head, first.seq & 0xFF, first.timestamp_ms) + bytes(deltas) + bytes(lengths)
            + b"".join(f.payload for f in frames))


def is_compact(message: bytes) -> bool:
    """Whether a driving message has a compact bundle's type (its first byte 0x40..0x7F)."""
    return bool(message) and message[0] >> 6 == COMPACT_TYPE >> 6


def parse_driving(message: bytes, context: CompactContext) -> list[wire.Packet]:
    """The frames of one driving message, as `codec.wire.Packet`s rebuilt from `context` (pack
    them with `codec.wire.pack` for the decoder); `ValueError` if it is not a well-formed compact
    bundle."""
    if not message:
        raise ValueError("empty driving message")
    if not is_compact(message):
        raise ValueError(f"not a compact bundle (type byte 0x{message[0]:02x})")
    if context.mode not in wire.MODE_IDS:
        raise ValueError(f"compact bundle: unknown coding mode {context.mode!r}")
    if len(message) < _COMPACT_HEAD.size:
        raise ValueError("compact bundle: truncated header")
    head, seq8, ts = _COMPACT_HEAD.unpack_from(message)
    count = (head & 0x3) + 1
    if (head & 0x3F) >> (2 + count):
        raise ValueError("compact bundle: intra flag set for a frame beyond the count")
    intra = [bool(head >> (2 + k) & 1) for k in range(count)]
    pos = _COMPACT_HEAD.size
    deltas, lengths = [], []
    for _ in range(count - 1):
        delta, pos = _read_varint(message, pos)
        deltas.append(delta)
    for _ in range(count - 1):
        n, pos = _read_varint(message, pos)
        lengths.append(n)
    if pos + sum(lengths) > len(message):
        raise ValueError("compact bundle: payloads truncated")
    lengths.append(len(message) - pos - sum(lengths))
    seq, intra_seq = context.extend(seq8), context.intra_seq
    frames = []
    for k in range(count):
        if k:
            seq, ts = (seq + 1) & 0xFFFF, (ts + deltas[k - 1]) & 0xFFFF
        if intra[k]:
            intra_seq, dep = seq, 0
        else:
            dep = (seq - intra_seq) & 0xFFFF if intra_seq is not None else 0
            if not 1 <= dep <= wire.MAX_DEPENDENCY:
                dep = 1  # no usable intra frame: the decoder refuses the frame (MissingReference)
        frames.append(wire.Packet(seq, ts, intra[k], context.mode, dep, bytes(message[pos: pos + lengths[k]])))
        pos += lengths[k]
    return frames


# --- audio -----------------------------------------------------------------------------------


_AUDIO_HEAD = struct.Struct(">BBHH")  # type, count - 1, seq of frame 0, timestamp of frame 0


@dataclass(frozen=True)
class AudioFrames:
    """The speech frames of one driving message, and the compact bundle that came with them."""

    seq: int  # frame 0's sequence number (uint16); frame k is seq + k
    timestamp_ms: int  # frame 0's timestamp (uint16, the driving stream's clock)
    frames: list[bytes]
    driving: bytes | None  # the compact bundle of an 0xA1 message


def is_audio(message: bytes) -> bool:
    return bool(message) and message[0] in (AUDIO_ONLY_TYPE, AUDIO_DRIVING_TYPE)


def pack_audio(seq: int, timestamp_ms: int, frames: list[bytes], driving: bytes | None = None) -> bytes:
    """One driving-channel message of 1..16 speech frames, alone (0xA0) or in front of a compact
    bundle (0xA1); `ValueError` if the frames or the bundle are not what the format carries."""
    if not 1 <= len(frames) <= MAX_AUDIO_FRAMES:
        raise ValueError(f"an audio message carries 1..{MAX_AUDIO_FRAMES} frames, not {len(frames)}")
    if any(not 1 <= len(f) <= MAX_AUDIO_PACKET for f in frames):
        raise ValueError(f"an audio frame is 1..{MAX_AUDIO_PACKET} bytes")
    if driving is not None and not is_compact(driving):
        raise ValueError("audio goes in front of a compact bundle only")
    kind = AUDIO_ONLY_TYPE if driving is None else AUDIO_DRIVING_TYPE
    head = _AUDIO_HEAD.pack(kind, len(frames) - 1, seq & 0xFFFF, timestamp_ms & 0xFFFF)
    return head + b"".join(_varint(len(f)) for f in frames) + b"".join(frames) + (driving or b"")


def parse_audio(message: bytes) -> AudioFrames:
    """An 0xA0 or 0xA1 message; `ValueError` if truncated, malformed or foreign."""
    if len(message) < _AUDIO_HEAD.size:
        raise ValueError("audio message: truncated header")
    kind, count1, seq, ts = _AUDIO_HEAD.unpack_from(message)
    if kind not in (AUDIO_ONLY_TYPE, AUDIO_DRIVING_TYPE):
        raise ValueError(f"not an audio message (type byte 0x{kind:02x})")
    if count1 >> 4:
        raise ValueError("audio message: reserved bits set in the frame count")
    pos, lengths = _AUDIO_HEAD.size, []
    for _ in range(count1 + 1):
        n, pos = _read_varint(message, pos, "audio message")
        if not 1 <= n <= MAX_AUDIO_PACKET:
            raise ValueError(f"audio message: a frame of {n} bytes")
        lengths.append(n)
    if pos + sum(lengths) > len(message):
        raise ValueError("audio message: frames truncated")
    frames = []
    for n in lengths:
        frames.append(bytes(message[pos: pos + n]))
        pos += n
    rest = bytes(message[pos:])
    if kind == AUDIO_ONLY_TYPE:
        if rest:
            raise ValueError("audio message: trailing bytes")
        return AudioFrames(seq, ts, frames, None)
    if not is_compact(rest):
        raise ValueError("audio message: no compact bundle after the frames")
    return AudioFrames(seq, ts, frames, rest)


# --- source views ----------------------------------------------------------------------------


def _q16(value: float | NDArray[Any]) -> NDArray[Any]:
    """Angles or crop coordinates as int16 in units of VIEW_UNIT (saturating)."""
    q: NDArray[Any] = np.clip(np.rint(np.asarray(value, np.float64) / VIEW_UNIT), -32767, 32767).astype(">i2")
    return q


def _view_plan(size: int, header: int) -> list[int]:
    """Image bytes in each message of a view: the view start's (after its `header` bytes), then
    the chunks'."""
    first = min(size, VIEW_MESSAGE_BYTES - header)
    rest = VIEW_MESSAGE_BYTES - _CHUNK_HEAD.size
    return [first] + [min(rest, size - off) for off in range(first, size, rest)]


def view_messages(index: int, fmt: str, data: bytes, yaw: float, pitch: float,
                  sup: NDArray[Any] | None, record: bytes | None = None) -> list[bytes]:
    """One view as binary control messages: a view start (its header and the first image bytes),
    then chunks 1.. (at most VIEW_MESSAGE_BYTES each). With `record` (the view's shape record, an
    intra payload: `codec.stream.encode_intra_record`) the view start is a shape view start 0xF7."""
    if fmt not in VIEW_FORMATS:
        raise ValueError(f"unknown view format {fmt!r}")
    if not 1 <= len(data) <= MAX_VIEW_BYTES:
        raise ValueError(f"a view is 1..{MAX_VIEW_BYTES} bytes, not {len(data)}")
    points = np.zeros((0, 2)) if sup is None else np.asarray(sup, np.float64).reshape(-1, 2)
    if len(points) > MAX_VIEW_LANDMARKS:
        raise ValueError(f"a view carries at most {MAX_VIEW_LANDMARKS} landmarks")
    if record is not None and not 1 <= len(record) <= MAX_VIEW_RECORD:
        raise ValueError(f"a view's shape record is 1..{MAX_VIEW_RECORD} bytes, not {len(record)}")
    magic = VIEW_START_MAGIC if record is None else SHAPE_VIEW_START_MAGIC
    head = _VIEW_START.pack(magic, index, VIEW_FORMATS.index(fmt), len(data) - 1, int(_q16(yaw)),
                            int(_q16(pitch)), len(points)) + _q16(points).tobytes()
    if record is not None:
        head += bytes([len(record)]) + record
        if len(head) >= VIEW_MESSAGE_BYTES:
            raise ValueError("a shape view start's landmarks and record leave no room for the image")
    out, off = [], 0
    for k, n in enumerate(_view_plan(len(data), len(head))):
        out.append((head if k == 0 else _CHUNK_HEAD.pack(VIEW_CHUNK_MAGIC, index, k)) + data[off: off + n])
        off += n
    return out


def parse_view_start(message: bytes) -> tuple[ViewStart, bytes]:
    """A view start (0xF6) or a shape view start (0xF7, its `record` set): the view's meta and its
    first image bytes; `ValueError` if malformed."""
    if len(message) < _VIEW_START.size:
        raise ValueError("view start: truncated")
    magic, index, fmt, size1, yaw, pitch, n = _VIEW_START.unpack_from(message)
    if magic not in (VIEW_START_MAGIC, SHAPE_VIEW_START_MAGIC):
        raise ValueError(f"view start: bad magic 0x{magic:02x}")
    if fmt >= len(VIEW_FORMATS):
        raise ValueError(f"view start: unknown format {fmt}")
    end = _VIEW_START.size + 4 * n
    if n > MAX_VIEW_LANDMARKS or len(message) < end:
        raise ValueError("view start: landmarks truncated or too many")
    sup = np.frombuffer(message[_VIEW_START.size: end], ">i2").reshape(-1, 2) * VIEW_UNIT
    record = None
    if magic == SHAPE_VIEW_START_MAGIC:
        if len(message) <= end:
            raise ValueError("view start: shape record truncated")
        length = message[end]
        if length == 0 or len(message) < end + 1 + length:
            raise ValueError("view start: shape record empty or truncated")
        record = bytes(message[end + 1: end + 1 + length])
        end += 1 + length
    if end >= VIEW_MESSAGE_BYTES:
        raise ValueError("view start: header leaves no room for the image")
    size = size1 + 1
    try:
        meta = ViewStart(index=index, format=VIEW_FORMATS[fmt], size=size,  # type: ignore[arg-type]
                         chunks=len(_view_plan(size, end)),
                         yaw=round(yaw * VIEW_UNIT, 4), pitch=round(pitch * VIEW_UNIT, 4),
                         sup=[[round(float(x), 4), round(float(y), 4)] for x, y in sup] if n else None,
                         record=record)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"view start: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    return meta, bytes(message[end:])


class ViewAssembler:
    """Reassembles views from their binary control messages, a view start then its chunks in
    order (the control channel is ordered). A view start abandons any view under way; a message
    that does not fit refuses the view under way."""

    def __init__(self) -> None:
        self._meta: ViewStart | None = None
        self._plan: list[int] = []  # image bytes expected in each message
        self._parts: list[bytes] = []

    def add(self, message: bytes) -> tuple[ViewStart, bytes] | None:
        """Add one binary message (a view start or a chunk); the view's meta and bytes once it is
        complete, else None."""
        if message[:1] in (bytes([VIEW_START_MAGIC]), bytes([SHAPE_VIEW_START_MAGIC])):
            self._meta = None
            meta, body = parse_view_start(message)
            self._meta, self._parts = meta, []
            self._plan = _view_plan(meta.size, len(message) - len(body))
            return self._add_body(meta.index, 0, body)
        if len(message) <= _CHUNK_HEAD.size:
            raise ValueError("view chunk: truncated")
        magic, index, number = _CHUNK_HEAD.unpack_from(message)
        if magic != VIEW_CHUNK_MAGIC:
            raise ValueError(f"view chunk: bad magic 0x{magic:02x}")
        return self._add_body(index, number, message[_CHUNK_HEAD.size:])

    def _add_body(self, index: int, number: int, body: bytes) -> tuple[ViewStart, bytes] | None:
        meta = self._meta
        if meta is None or index != meta.index or number != len(self._parts):
            self._meta = None
            raise ValueError(f"view chunk {index}/{number}: unexpected (no view under way, or out of order)")
        if len(body) != self._plan[number]:
            self._meta = None
            raise ValueError(f"view chunk {index}/{number}: {len(body)} bytes, expected {self._plan[number]}")
        self._parts.append(body)
        if number < len(self._plan) - 1:
            return None
        self._meta = None
        return meta, b"".join(self._parts)
