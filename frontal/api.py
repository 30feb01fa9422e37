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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from codec.atomic import atomic_write
from codec.audio import AudioConfig, decode_packets, encode_pcm, load_audio
from codec.container import AudioSection, Recording, SourceView, read_recording, serialize
from codec.errors import CodecError
from codec.fields import LANDMARK_FIELDS, DrivingRecord, FieldSet
from codec.images import VIEW_FORMAT, decode_view, encode_view
from codec.shape import load_shape_model
from codec.stream import (
    DecodedFrame,
    EncodedFrame,
    MissingReference,
    StreamDecoder,
    StreamEncoder,
    decode_intra_record,
    encode_intra_record,
)
from codec.tables import Tables, load_tables, tables_path_for
from frontal.pipeline import LANDMARKS, MESH, SHIPPED_MODEL, clip_views, model_fields, records, track_clip
from receiver.render import MeshFrameRenderer
from receiver.videoout import write_mp4
from sender.landmarks import SUP33_INDICES
from sender.shape import ShapeFitter

__all__ = [
    "DecodeResult", "DecodedFrame", "EncodeResult", "EncodedFrame", "FieldSet", "RecordingInfo",
    "StreamDecoder", "StreamEncoder", "ViewInfo", "decode_recording", "encode_video", "load_tables",
    "recording_info",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class EncodeResult:
    path: Path
    frames: int
    views: int
    bytes: int  # the whole file
    packet_bytes: int  # the driving packets
    view_bytes: int  # the source views' images
    audio_bytes: int = 0  # the speech's Opus packets (0: no audio track, or audio=False)
    audio_frames: int = 0

    @property
    def bits_per_frame(self) -> float:
        return 8.0 * self.packet_bytes / max(1, self.frames)


@dataclass(frozen=True)
class DecodeResult:
    path: Path
    frames: int
    fps: float
    lost: int  # packets that could not be used (their frame holds the last pose)
    audio_s: float = 0.0  # seconds of speech written into the .mp4 (0: the recording has none)


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
    audio: dict[str, Any] | None = None  # the audio section's header (None: no speech)
    audio_kbps: float = 0.0  # its Opus packets' rate over the recording


def encode_video(video: PathLike, out: PathLike, *, fps: float = 15.0, mode: str = "predictive", n_views: int = 3,
                 model: str | None = None, max_frames: int | None = None, audio: bool = True) -> EncodeResult:
    """Track `video`, choose `n_views` source views over the whole recording, code its driving stream.

    `model` is a registry name (its driving fields are coded; default: the registry's default),
    "landmarks" (the 33 landmarks only) or "mesh" (the dense face shape: head pose and shape
    coefficients fitted to each frame's tracked mesh, each view with its own record; decoded with
    the geometry renderer `MeshFrameRenderer`). With `audio` (default) the clip's speech, if it
    has an audio track, is kept as Opus (`codec.audio`) in the file's audio section."""
    model = _model_name(model)
    fields = LANDMARK_FIELDS if model == LANDMARKS else FieldSet.parse("shape") if model == MESH else model_fields(model)
    tables = load_tables(tables_path_for(fields))
    clip = track_clip(Path(video), fps=fps, max_frames=max_frames)
    if not any(clip.found):
        raise CodecError(f"{video}: no face found in any frame")
    extractor = None
    if fields.n_unsup or fields.n_expr:
        from models.extractor import DrivingExtractor  # noqa: PLC0415 (torch costs ~2 s at start-up; only a model's fields need it)

        extractor = DrivingExtractor(model)
    fitter = None
    if fields.n_shape:
        shape_model = load_shape_model()
        fitter = ShapeFitter(shape_model, k=fields.n_shape)
        frame_records = [fitter.record(lm) for lm in clip.landmarks]
    else:
        frame_records = records(clip, fields, extractor)
    views = [SourceView(encode_view(clip.images[i]), VIEW_FORMAT, k, i, clip.yaw[i], clip.sup[i],
                        None if fitter is None else encode_intra_record(fields, frame_records[i], mode, tables))
             for k, i in enumerate(clip_views(clip, n=n_views))]
    enc = StreamEncoder(fields, tables, mode=mode, fps=clip.fps)
    packets = [enc.encode(r, timestamp_ms=int(i * 1000 / clip.fps)).packet for i, r in enumerate(frame_records)]
    header = {"model": model, "fields": fields.to_dict(), "fps": clip.fps, "mode": mode, "tables": tables.digest,
              "intra_period": enc.intra_period, "size": 256, "created_by": "frontal encode"}
    if fitter is not None:
        header["shape_model"] = shape_model.digest
    section = _audio_section(Path(video), len(packets) / clip.fps) if audio else None
    data = serialize(Recording(header, views, packets, section))
    atomic_write(out, data)
    return EncodeResult(Path(out), len(packets), len(views), len(data), sum(map(len, packets)),
                        sum(len(v.image_bytes) for v in views),
                        0 if section is None else sum(map(len, section.packets)), 0 if section is None else len(section.packets))


def _audio_section(video: Path, duration_s: float) -> AudioSection | None:
    """The clip's speech over the coded frames' duration, as Opus (None: the clip has no audio track)."""
    config = AudioConfig()
    pcm = load_audio(video, config.rate, max_s=duration_s)
    if pcm is None or not len(pcm):
        return None
    return AudioSection(config.to_dict(), encode_pcm(pcm, config), 0)


def recording_audio(rec: Recording) -> tuple[NDArray[np.int16], int] | None:
    """A recording's speech decoded (int16 mono, sample 0 at driving frame 0) and its rate; None
    without an audio section. A frame that does not decode is concealed."""
    if rec.audio is None:
        return None
    config = AudioConfig.from_dict(rec.audio.settings)
    pcm = decode_packets(list(rec.audio.packets), config)
    lead = np.zeros(rec.audio.start_ms * config.rate // 1000, np.int16)
    return np.concatenate([lead, pcm]), config.rate


def decode_records(rec: Recording) -> tuple[FieldSet, list[DrivingRecord | None]]:
    """The decoded driving records of a recording (None where a packet could not be used)."""
    try:
        fields = FieldSet.from_dict(rec.header["fields"])
    except (KeyError, TypeError, ValueError):
        raise CodecError("recording header lacks a valid field set") from None
    tables = _tables(rec, fields)
    dec = StreamDecoder(fields, tables)
    out: list[DrivingRecord | None] = []
    for p in rec.packets:
        try:
            out.append(dec.decode(p).record)
        except MissingReference:
            out.append(None)
    return fields, out


def _tables(rec: Recording, fields: FieldSet) -> Tables:
    """The tables that decode `rec` (`CodecError` if they are not the ones it was made with, or if
    its shape model is not ours)."""
    tables = load_tables(tables_path_for(fields))
    if rec.header.get("tables") != tables.digest:
        raise CodecError("recording was made with different probability tables than this decoder has")
    if fields.n_shape:
        model = load_shape_model()
        if rec.header.get("shape_model") != model.digest:
            raise CodecError("recording was made with a different shape model than this decoder has")
        if fields.n_shape > model.k:
            raise CodecError(f"recording codes {fields.n_shape} shape coefficients, this decoder's shape model {model.k}")
    return tables


def decode_recording(src: PathLike, out: PathLike, *, landmarks_only: bool = False) -> DecodeResult:
    """Decode a `.frontal` file to an .mp4: rendered with its model, or (`landmarks_only`) the decoded
    landmarks drawn over the first view."""
    rec = read_recording(src)
    _, recs = decode_records(rec)
    fps = float(rec.header.get("fps", 15.0))
    frames = _draw_landmarks(rec, recs) if landmarks_only else _render(rec, recs)
    speech = recording_audio(rec)
    pcm, rate = speech if speech is not None else (None, 16000)
    n = write_mp4(out, frames, fps, audio=pcm, audio_rate=rate)
    audio_s = 0.0 if pcm is None else min(len(pcm) / rate, n / fps)
    return DecodeResult(Path(out), n, fps, sum(r is None for r in recs), audio_s)


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
        view_bytes=sum(len(v.image_bytes) for v in rec.views), duration_s=len(rec.packets) / fps,
        audio=None if rec.audio is None else rec.audio.header(),
        audio_kbps=0.0 if rec.audio is None else 8 * sum(map(len, rec.audio.packets)) / max(1e-9, len(rec.packets) / fps) / 1000)


def draw_landmarks(sup: NDArray[Any], size: int = 256, background: NDArray[Any] | None = None) -> NDArray[np.uint8]:
    """The 33 landmarks `[33, 2]` in [-1, 1] drawn as dots, over a dimmed `background` if given."""
    img = np.zeros((size, size, 3), np.uint8) if background is None else (background.astype(np.float32) * 0.35).astype(np.uint8)
    pts = ((sup + 1.0) * size / 2.0).astype(np.float32)
    for x, y in pts:
        cv2.circle(img, (int(round(x * 4)), int(round(y * 4))), 8, (80, 255, 120), -1, lineType=cv2.LINE_AA, shift=2)
    return img


def _draw_landmarks(rec: Recording, recs: list[DrivingRecord | None]) -> list[NDArray[np.uint8]]:
    bg = decode_view(rec.views[0].image_bytes, rec.views[0].format) if rec.views else None
    shapes = [len(r.shape) for r in recs if r is not None and r.shape is not None]
    shape_model = load_shape_model().truncated(shapes[0]) if shapes else None
    frames, last = [], None
    for r in recs:
        last = r if r is not None else last
        if last is not None and last.sup is None and last.pose is not None and last.shape is not None and shape_model is not None:
            mesh = shape_model.reconstruct(last.pose, last.shape)  # a shape record: its mesh's 33 landmarks
            frames.append(draw_landmarks(mesh[list(SUP33_INDICES), :2], background=bg))
        elif last is not None and last.sup is not None:
            frames.append(draw_landmarks(last.sup, background=bg))
        else:
            frames.append(np.zeros((256, 256, 3), np.uint8))
    return frames


def _render(rec: Recording, recs: list[DrivingRecord | None]) -> list[NDArray[np.uint8]]:
    model = rec.header.get("model")
    if model == MESH:
        return _render_mesh(rec, recs)
    if not model or model == LANDMARKS:
        raise CodecError("this recording carries landmarks only (encoded with model 'landmarks'): decode it with --landmarks")
    from receiver.renderer import Renderer  # noqa: PLC0415 (torch costs ~2 s at start-up; only rendering needs it)

    renderer = Renderer(model)
    for v in rec.views:
        renderer.add_source(decode_view(v.image_bytes, v.format), v.sup)
    if renderer.num_sources == 0:
        raise CodecError("recording has no source views to render from")
    return _hold_last(recs, lambda r: renderer.render(sup=r.sup, unsup=r.unsup, jac=r.jac, expr=r.expr))


def _render_mesh(rec: Recording, recs: list[DrivingRecord | None]) -> list[NDArray[np.uint8]]:
    """A shape recording drawn by the geometry renderer, from its views' own records."""
    fields = FieldSet.from_dict(rec.header["fields"])
    if not fields.n_shape:
        raise CodecError("a 'mesh' recording must carry a shape field set")
    tables = _tables(rec, fields)
    renderer = MeshFrameRenderer()
    for v in rec.views:
        if v.record is None:
            raise CodecError(f"source view {v.index} lacks its shape record")
        record = decode_intra_record(fields, v.record, str(rec.header.get("mode", "predictive")), tables)
        renderer.add_source_record(decode_view(v.image_bytes, v.format), record)
    if renderer.num_sources == 0:
        raise CodecError("recording has no source views to render from")
    return _hold_last(recs, renderer.render)


def _hold_last(recs: list[DrivingRecord | None],
               draw: Callable[[DrivingRecord], NDArray[np.uint8]]) -> list[NDArray[np.uint8]]:
    """One frame a record; an unusable record holds the last pose (black before the first)."""
    frames: list[NDArray[np.uint8]] = []
    last = None
    for r in recs:
        last = r if r is not None else last
        frames.append(np.zeros((256, 256, 3), np.uint8) if last is None else draw(last))
    return frames


def _model_name(name: str | None) -> str:
    name = name or SHIPPED_MODEL
    if name in (LANDMARKS, MESH):
        return name
    from models.registry import model_names  # noqa: PLC0415 (torch costs ~2 s at start-up; decoding needs none)

    if name not in model_names():
        raise ValueError(f"unknown model '{name}' (choose from {LANDMARKS}, {MESH}, {', '.join(model_names())})")
    return name
