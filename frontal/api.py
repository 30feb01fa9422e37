"""The public API: recorded `.frontal` files and the streaming coder.

    from frontal.api import encode_video, decode_recording, recording_info

    enc = encode_video("talk.mp4", "talk.frontal", fps=15)       # -> EncodeResult
    dec = decode_recording("talk.frontal", "talk.mp4")           # -> DecodeResult (rendered)
    info = recording_info("talk.frontal")                        # -> RecordingInfo

Streaming (what a live call runs, one frame at a time; `codec.stream`):

    from frontal.api import FieldSet, StreamDecoder, StreamEncoder, load_tables

    enc = StreamEncoder(fields, load_tables(), mode="predictive", fps=15)
    frame = enc.encode(record, timestamp_ms=t)                    # -> EncodedFrame (.packet: bytes)
    back = StreamDecoder(fields, load_tables()).decode(frame.packet)  # -> DecodedFrame (.record)

Every failure on bad input is a `CodecError` or a `ValueError` (sender's `VideoError`, `NoFaceError`)
with a one-line message; outputs are written atomically (whole or not at all).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from codec.atomic import atomic_write
from codec.container import Recording, SourceView, read_recording, serialize
from codec.errors import CodecError
from codec.fields import DrivingRecord, FieldSet
from codec.images import VIEW_FORMAT, decode_view, encode_view
from codec.stream import DecodedFrame, EncodedFrame, MissingReference, StreamDecoder, StreamEncoder
from codec.tables import load_tables
from frontal.pipeline import clip_views, model_fields, records, track_clip
from receiver.videoout import write_mp4

__all__ = [
    "DecodeResult", "DecodedFrame", "EncodeResult", "EncodedFrame", "FieldSet", "RecordingInfo",
    "StreamDecoder", "StreamEncoder", "ViewInfo", "decode_recording", "encode_video", "load_tables",
    "recording_info",
]

PathLike = str | os.PathLike[str]
LANDMARKS = "landmarks"  # the model name of a recording that carries the 33 landmarks only


@dataclass(frozen=True)
class EncodeResult:
    path: Path
    frames: int
    views: int
    bytes: int  # the whole file
    packet_bytes: int  # the driving packets
    view_bytes: int  # the source views' images

    @property
    def bits_per_frame(self) -> float:
        return 8.0 * self.packet_bytes / max(1, self.frames)


@dataclass(frozen=True)
class DecodeResult:
    path: Path
    frames: int
    fps: float
    lost: int  # packets that could not be used (their frame holds the last pose)


@dataclass(frozen=True)
class ViewInfo:
    index: int
    frame: int
    yaw: float
    format: str
    bytes: int


@dataclass(frozen=True)
class RecordingInfo:
    header: dict[str, Any]
    frames: int
    decodable: int
    views: tuple[ViewInfo, ...]
    bits_per_frame: float
    kbps: float
    view_bytes: int
    duration_s: float


def encode_video(video: PathLike, out: PathLike, *, fps: float = 15.0, mode: str = "predictive", n_views: int = 3,
                 model: str | None = None, max_frames: int | None = None) -> EncodeResult:
    """Track `video`, choose `n_views` source views over the whole recording, code its driving stream.

    `model` is a registry name (its driving fields are coded; default: the registry's default) or
    "landmarks" (the 33 landmarks only)."""
    model = _model_name(model)
    fields = FieldSet(n_sup=33) if model == LANDMARKS else model_fields(model)
    tables = load_tables()
    clip = track_clip(Path(video), fps=fps, max_frames=max_frames)
    if not any(clip.found):
        raise CodecError(f"{video}: no face found in any frame")
    extractor = None
    if fields.n_unsup or fields.n_expr:
        from models.extractor import DrivingExtractor  # noqa: PLC0415 (torch costs ~2 s at start-up; only a model's fields need it)

        extractor = DrivingExtractor(model)
    views = [SourceView(encode_view(clip.images[i]), VIEW_FORMAT, k, i, clip.yaw[i], clip.sup[i])
             for k, i in enumerate(clip_views(clip, n=n_views))]
    enc = StreamEncoder(fields, tables, mode=mode, fps=clip.fps)
    packets = [enc.encode(r, timestamp_ms=int(i * 1000 / clip.fps)).packet
               for i, r in enumerate(records(clip, fields, extractor))]
    header = {"model": model, "fields": fields.to_dict(), "fps": clip.fps, "mode": mode, "tables": tables.digest,
              "intra_period": enc.intra_period, "size": 256, "created_by": "frontal encode"}
    data = serialize(Recording(header, views, packets))
    atomic_write(out, data)
    return EncodeResult(Path(out), len(packets), len(views), len(data), sum(map(len, packets)),
                        sum(len(v.image_bytes) for v in views))


def decode_records(rec: Recording) -> tuple[FieldSet, list[DrivingRecord | None]]:
    """The decoded driving records of a recording (None where a packet could not be used)."""
    try:
        fields = FieldSet.from_dict(rec.header["fields"])
    except (KeyError, TypeError, ValueError):
        raise CodecError("recording header lacks a valid field set") from None
    tables = load_tables()
    if rec.header.get("tables") != tables.digest:
        raise CodecError("recording was made with different probability tables than this decoder has")
    dec = StreamDecoder(fields, tables)
    out: list[DrivingRecord | None] = []
    for p in rec.packets:
        try:
            out.append(dec.decode(p).record)
        except MissingReference:
            out.append(None)
    return fields, out


def decode_recording(src: PathLike, out: PathLike, *, landmarks_only: bool = False) -> DecodeResult:
    """Decode a `.frontal` file to an .mp4: rendered with its model, or (`landmarks_only`) the decoded
    landmarks drawn over the first view."""
    rec = read_recording(src)
    _, recs = decode_records(rec)
    fps = float(rec.header.get("fps", 15.0))
    frames = _draw_landmarks(rec, recs) if landmarks_only else _render(rec, recs)
    n = write_mp4(out, frames, fps)
    return DecodeResult(Path(out), n, fps, sum(r is None for r in recs))


def recording_info(src: PathLike) -> RecordingInfo:
    """A recording's header and stream statistics."""
    rec = read_recording(src)
    _, recs = decode_records(rec)
    fps = float(rec.header.get("fps", 15.0))
    pbits = sum(8 * len(p) for p in rec.packets)
    n = max(1, len(rec.packets))
    return RecordingInfo(
        header=rec.header, frames=len(rec.packets), decodable=sum(r is not None for r in recs),
        views=tuple(ViewInfo(v.index, v.frame, v.yaw, v.format, len(v.image_bytes)) for v in rec.views),
        bits_per_frame=pbits / n, kbps=pbits / n * fps / 1000.0,
        view_bytes=sum(len(v.image_bytes) for v in rec.views), duration_s=len(rec.packets) / fps)


def draw_landmarks(sup: NDArray[Any], size: int = 256, background: NDArray[Any] | None = None) -> NDArray[np.uint8]:
    """The 33 landmarks `[33, 2]` in [-1, 1] drawn as dots, over a dimmed `background` if given."""
    img = np.zeros((size, size, 3), np.uint8) if background is None else (background.astype(np.float32) * 0.35).astype(np.uint8)
    pts = ((sup + 1.0) * size / 2.0).astype(np.float32)
    for x, y in pts:
        cv2.circle(img, (int(round(x * 4)), int(round(y * 4))), 8, (80, 255, 120), -1, lineType=cv2.LINE_AA, shift=2)
    return img


def _draw_landmarks(rec: Recording, recs: list[DrivingRecord | None]) -> list[NDArray[np.uint8]]:
    bg = decode_view(rec.views[0].image_bytes, rec.views[0].format) if rec.views else None
    frames, last = [], None
    for r in recs:
        last = r if r is not None else last
        if last is not None and last.sup is not None:
            frames.append(draw_landmarks(last.sup, background=bg))
        else:
            frames.append(np.zeros((256, 256, 3), np.uint8))
    return frames


def _render(rec: Recording, recs: list[DrivingRecord | None]) -> list[NDArray[np.uint8]]:
    model = rec.header.get("model")
    if not model or model == LANDMARKS:
        raise CodecError("this recording carries landmarks only (encoded with model 'landmarks'): decode it with --landmarks")
    from receiver.renderer import Renderer  # noqa: PLC0415 (torch costs ~2 s at start-up; only rendering needs it)

    renderer = Renderer(model)
    for v in rec.views:
        renderer.add_source(decode_view(v.image_bytes, v.format), v.sup)
    if renderer.num_sources == 0:
        raise CodecError("recording has no source views to render from")
    frames: list[NDArray[np.uint8]] = []
    last = None
    for r in recs:
        last = r if r is not None else last
        if last is None:
            frames.append(np.zeros((256, 256, 3), np.uint8))
            continue
        frames.append(renderer.render(sup=last.sup, unsup=last.unsup, jac=last.jac, expr=last.expr))
    return frames


def _model_name(name: str | None) -> str:
    from models.registry import DEFAULT_MODEL, model_names  # noqa: PLC0415 (torch costs ~2 s at start-up; decoding needs none)

    name = name or DEFAULT_MODEL
    if name != LANDMARKS and name not in model_names():
        raise ValueError(f"unknown model '{name}' (choose from {LANDMARKS}, {', '.join(model_names())})")
    return name
