"""Recorded Frontal files (`.frontal`): a header, the source views, the driving packets.

    "FRONTAL\\0"  8 bytes magic
    version       1 byte (1)
    header_len    4 bytes big-endian, then a UTF-8 JSON header:
                  {"model", "fields", "fps", "mode", "tables", "intra_period", "frames", "views",
                   "size", "created_by"} (+ "shape_model", the shape model's digest, for a shape
                   field set)
    records       each: type (1 byte), length (LEB128 varint), body
                  1 = source view: meta_len (2 bytes BE), meta JSON {"index","frame","yaw","sup","format"}
                      (+ "shape": the view's record, one intra payload of the file's field set
                      (`codec.stream.encode_intra_record`), base64, in a shape field set's file),
                      then the compressed image bytes (in its `format`: webp, jpeg or avif)
                  2 = driving packet (codec/wire.py bytes)
                  3 = end: CRC-32 of every byte before this record (4 bytes BE), packet count (4 bytes BE)
                  4 = audio section header (optional, at most one, before any record 5): UTF-8 JSON
                      {"version": 1, "codec": "opus", "rate", "frame_ms", "bitrate", "start_ms", "frames"}
                  5 = audio frame: one Opus packet (frame k plays from start_ms + k x frame_ms)

A file without an audio section (every file written before it existed) decodes as before, silent.

Record types 64..127 are optional: a reader that does not know one skips it (`skipped_records`), so
a later section that a decoder can do without does not make older decoders refuse the file. Types
4 and 5 predate this rule: decoders from before the audio section refuse a file with speech
(`frontal encode --no-audio` writes one they read).

A file without its end record, with a bad CRC, an unknown record type below 64 or from 128, or
trailing bytes is refused with a `CodecError`. Files are written atomically (temp file + rename): a failed run never leaves
a half-written file behind. docs/bitstream.md specifies every byte.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.errors import CodecError

MAGIC = b"FRONTAL\x00"
VERSION = 1
REC_VIEW, REC_PACKET, REC_END, REC_AUDIO_HEADER, REC_AUDIO = 1, 2, 3, 4, 5
OPTIONAL_RECORDS = range(64, 128)  # types a reader that does not know them skips (docs/bitstream.md)
AUDIO_SECTION_VERSION = 1
MAX_HEADER = 1 << 20


@dataclass
class SourceView:
    image_bytes: bytes
    format: str
    index: int
    frame: int
    yaw: float
    sup: NDArray[Any]  # [n_sup, 2] float32
    record: bytes | None = None  # a shape field set's view: its record, one intra payload

    def meta(self) -> dict[str, Any]:
        out = {"index": self.index, "frame": self.frame, "yaw": round(float(self.yaw), 5), "format": self.format, "sup": np.round(self.sup.astype(np.float64), 6).tolist()}
        if self.record is not None:  # only then: the other files' bytes never change
            out["shape"] = base64.b64encode(self.record).decode("ascii")
        return out


@dataclass
class AudioSection:
    """A recording's speech: its settings (`codec.audio.AudioConfig.to_dict()`), where it starts on
    the driving stream's clock (`start_ms`) and one Opus packet per frame."""

    settings: dict[str, Any]
    packets: list[bytes] = field(default_factory=list)
    start_ms: int = 0

    def header(self) -> dict[str, Any]:
        return {**self.settings, "version": AUDIO_SECTION_VERSION, "start_ms": self.start_ms, "frames": len(self.packets)}


@dataclass
class Recording:
    header: dict[str, Any]
    views: list[SourceView] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)
    audio: AudioSection | None = None
    skipped_records: int = 0  # optional records (types 64..127) this reader does not know


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    n, shift = 0, 0
    while True:
        if pos >= len(data):
            raise CodecError("file truncated inside a record length")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 35:
            raise CodecError("corrupt record length")


def serialize(rec: Recording) -> bytes:
    header = json.dumps({**rec.header, "frames": len(rec.packets), "views": len(rec.views)}, sort_keys=True).encode()
    out = bytearray(MAGIC + bytes([VERSION]) + struct.pack(">I", len(header)) + header)

    def record(kind: int, body: bytes) -> None:
        out.extend(bytes([kind]) + _varint(len(body)) + body)

    for v in rec.views:
        meta = json.dumps(v.meta(), sort_keys=True).encode()
        record(REC_VIEW, struct.pack(">H", len(meta)) + meta + v.image_bytes)
    for p in rec.packets:
        record(REC_PACKET, p)
    if rec.audio is not None:
        record(REC_AUDIO_HEADER, json.dumps(rec.audio.header(), sort_keys=True).encode())
        for p in rec.audio.packets:
            record(REC_AUDIO, p)
    crc = zlib.crc32(bytes(out))
    record(REC_END, struct.pack(">II", crc, len(rec.packets)))
    return bytes(out)


def parse(data: bytes) -> Recording:
    if len(data) < len(MAGIC) + 5 or data[: len(MAGIC)] != MAGIC:
        raise CodecError("not a Frontal recording (bad magic)")
    version = data[len(MAGIC)]
    if version != VERSION:
        raise CodecError(f"unsupported recording version {version} (this decoder reads {VERSION})")
    (hlen,) = struct.unpack_from(">I", data, len(MAGIC) + 1)
    pos = len(MAGIC) + 5
    if hlen > MAX_HEADER or pos + hlen > len(data):
        raise CodecError("file truncated or corrupt header length")
    try:
        header = json.loads(data[pos : pos + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CodecError("corrupt recording header") from None
    if not isinstance(header, dict):
        raise CodecError("corrupt recording header")
    pos += hlen
    rec = Recording(header)
    audio_frames = 0  # what the audio section's header announces
    while True:
        if pos >= len(data):
            raise CodecError("file truncated: no end record")
        kind, start = data[pos], pos
        length, pos = _read_varint(data, pos + 1)
        if pos + length > len(data):
            raise CodecError("file truncated inside a record")
        body = data[pos : pos + length]
        pos += length
        if kind == REC_VIEW:
            rec.views.append(_parse_view(body))
        elif kind == REC_PACKET:
            rec.packets.append(body)
        elif kind == REC_END:
            if length != 8:
                raise CodecError("corrupt end record")
            crc, count = struct.unpack(">II", body)
            if crc != zlib.crc32(data[:start]):
                raise CodecError("recording integrity check failed (CRC mismatch)")
            if count != len(rec.packets):
                raise CodecError("recording packet count mismatch")
            if pos != len(data):
                raise CodecError("trailing bytes after the end record")
            if rec.audio is not None and len(rec.audio.packets) != audio_frames:
                raise CodecError("recording audio frame count mismatch")
            return rec
        elif kind == REC_AUDIO_HEADER:
            if rec.audio is not None:
                raise CodecError("a second audio section")
            rec.audio, audio_frames = _parse_audio_header(body)
        elif kind == REC_AUDIO:
            if rec.audio is None:
                raise CodecError("an audio frame before the audio section's header")
            if not body:
                raise CodecError("an empty audio frame")
            rec.audio.packets.append(body)
        elif kind in OPTIONAL_RECORDS:
            rec.skipped_records += 1  # a later writer's optional section: the CRC still covers it
        else:
            raise CodecError(f"unknown record type {kind}")


def _parse_audio_header(body: bytes) -> tuple[AudioSection, int]:
    try:
        meta = json.loads(body.decode())
        if not isinstance(meta, dict):
            raise ValueError("not an object")
        version = meta.pop("version")
        if version != AUDIO_SECTION_VERSION:
            raise CodecError(f"unsupported audio section version {version} (this decoder reads {AUDIO_SECTION_VERSION})")
        start, frames = int(meta.pop("start_ms")), int(meta.pop("frames"))
        if start < 0 or frames < 0:
            raise ValueError("negative start or count")
        return AudioSection(meta, [], start), frames
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError("corrupt audio section header") from None


def _parse_view(body: bytes) -> SourceView:
    if len(body) < 2:
        raise CodecError("corrupt source view record")
    (mlen,) = struct.unpack_from(">H", body)
    try:
        meta = json.loads(body[2 : 2 + mlen].decode())
        record = base64.b64decode(meta["shape"], validate=True) if "shape" in meta else None
        if record is not None and not record:
            raise ValueError("empty shape record")
        return SourceView(body[2 + mlen :], str(meta["format"]), int(meta["index"]), int(meta["frame"]), float(meta["yaw"]),
                          np.asarray(meta["sup"], np.float32), record)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error):
        raise CodecError("corrupt source view metadata") from None


def read_recording(path: str | os.PathLike[str]) -> Recording:
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise CodecError(f"{path} is a directory") from None
    except OSError as exc:
        raise CodecError(f"cannot read {path}: {exc.strerror}") from None
    return parse(data)
