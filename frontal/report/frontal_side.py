"""Frontal's side of the comparison: honest bits, the render, and hold-and-resync under loss.

Bits: every driving packet (payload + 9-byte header/CRC) plus the source views
(`frontal.views_live.SourcePlan.view_bytes`): with live views, every view message byte the call's
budget released within the clip (AVIF q35 images, view headers, a view still on its way included);
with the oracle, the chosen views as a recorded file stores them (WebP q80). Two rates are
reported: over the clip's own duration, and amortised over a call of `call_seconds` (the packet
rate is taken as the clip's). Transport overhead is counted for no codec.

Source views: frame t is rendered from the views the receiver holds at t (`SourcedRenderer`);
before the first one arrives the receiver has nothing to show, and the frame is black (scored as
such).

Loss: driving packets are dropped with the same seeded pattern as the classical decoder's
(`loss_mask`). The receiver holds the last decoded pose while `StreamDecoder` raises
`MissingReference` and resyncs at the next intra frame (one per second); no intra requests are
modelled (the classical side gets no keyframe requests either). Source views travel on a reliable
channel and are assumed delivered. Before any pose is decoded (with a view there) the frame is
mid-grey, as for the classical decoder.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codec.errors import CodecError
from codec.fields import DrivingRecord, FieldSet
from codec.stream import EncodedFrame, StreamDecoder, StreamEncoder
from codec.tables import Tables
from frontal.jsonio import optional
from frontal.views_live import SourcedRenderer

log = logging.getLogger(__name__)

NO_POSE = 128  # mid-grey: a view is there but no pose decoded yet (as the classical decoder's)
NO_VIEW = 0  # black: no source view yet, the receiver has nothing to show


@dataclass(frozen=True)
class FrontalRate:
    """The bits Frontal spends on one clip in one coding mode; the rates are worked out from them:
    `kbps_clip`, packets and views over the clip's duration; `kbps_call`, packets at the clip's rate
    and views amortised over a `call_seconds` call."""

    mode: str
    frames: int
    fps: float
    seconds: float = field(init=False)
    packet_bits: int  # whole packets: payload + header/CRC
    payload_bits: int
    bits_per_frame: float = field(init=False)
    view_bytes: tuple[int, ...]
    packet_kbps: float = field(init=False)
    kbps_clip: float = field(init=False)
    kbps_call: float = field(init=False)
    call_seconds: float
    same_decoded_values: bool | None = optional()  # the mode decodes to the primary mode's values

    def __post_init__(self) -> None:  # the derived fields (frozen: set through object.__setattr__)
        seconds = self.frames / self.fps
        view_bits = 8 * sum(self.view_bytes)
        packet_kbps = self.packet_bits / seconds / 1000.0
        derived = {"seconds": seconds, "bits_per_frame": self.packet_bits / self.frames, "packet_kbps": packet_kbps,
                   "kbps_clip": (self.packet_bits + view_bits) / seconds / 1000.0,
                   "kbps_call": packet_kbps + view_bits / max(self.call_seconds, seconds) / 1000.0}
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def encode_stream(records: Sequence[DrivingRecord], fields: FieldSet, tables: Tables, mode: str, fps: float) -> list[EncodedFrame]:
    """Code a clip's records into driving packets (one intra frame per second)."""
    enc = StreamEncoder(fields, tables, mode=mode, fps=fps)
    return [enc.encode(rec, timestamp_ms=int(i * 1000 / fps)) for i, rec in enumerate(records)]


def rate_of(frames: Sequence[EncodedFrame], mode: str, fps: float, views: tuple[int, ...], call_seconds: float) -> FrontalRate:
    return FrontalRate(mode, len(frames), fps, sum(f.bits for f in frames), sum(f.payload_bits for f in frames), views, call_seconds)


def loss_mask(n: int, loss_rate: float, seed: int) -> np.ndarray:
    """[n] bool, True = packet lost; the same draw as `frontal.eval.classical.decode_with_loss`."""
    if not 0.0 <= loss_rate <= 1.0:
        raise ValueError(f"loss_rate must be in [0, 1], got {loss_rate}")
    return np.random.default_rng(seed).random(n) < loss_rate


@dataclass(frozen=True, eq=False)
class HeldStream:
    """A driving stream decoded under loss: per frame, the frame index whose pose is shown."""

    shown: np.ndarray  # [T] int: index of the last decoded frame shown at each frame, -1 = none yet
    lost: np.ndarray  # [T] bool
    frozen: np.ndarray  # [T] bool: not freshly decoded (lost, or waiting for the next intra)
    decoded: list[Any]  # [T] DecodedFrame or None


def decode_held(packets: Sequence[bytes], fields: FieldSet, tables: Tables, lost: np.ndarray | None = None) -> HeldStream:
    """Decode `packets` skipping the lost ones; hold the last pose while the chain is broken."""
    n = len(packets)
    lost = np.zeros(n, dtype=bool) if lost is None else np.asarray(lost, dtype=bool)
    dec = StreamDecoder(fields, tables)
    shown = np.full(n, -1, dtype=np.int64)
    decoded: list[Any] = [None] * n
    last = -1
    for i, data in enumerate(packets):
        if not lost[i]:
            try:
                decoded[i] = dec.decode(data)
                last = i
            except CodecError as exc:  # MissingReference while the chain is broken
                log.debug("frame %d held: %s", i, exc)
        shown[i] = last
    frozen = np.array([d is None for d in decoded], dtype=bool)
    return HeldStream(shown, lost, frozen, decoded)


@dataclass(frozen=True, eq=False)
class Rendered:
    frames: np.ndarray  # [T,256,256,3] uint8
    render_ms: np.ndarray  # [<=T] wall ms of each Renderer.render call (frames with a view)


def render_stream(source: SourcedRenderer, held: HeldStream, progress: Any = None) -> Rendered:
    """Render every freshly decoded record from the views held at its frame; held frames repeat
    the frame they hold (no render); frames before the first view are black."""
    n = len(held.shown)
    frames = np.full((n, 256, 256, 3), NO_POSE, dtype=np.uint8)
    times: list[float] = []
    for i in range(n):
        d = held.decoded[i]
        if d is not None:
            t0 = time.perf_counter()
            image = source.render(i, d.record)
            if image is None:
                frames[i] = NO_VIEW
            else:
                frames[i] = image
                times.append((time.perf_counter() - t0) * 1000.0)
        elif held.shown[i] >= 0:
            frames[i] = frames[held.shown[i]]
        elif source.plan.count_at(i) == 0:
            frames[i] = NO_VIEW
        if progress is not None:
            progress.update(1)
    return Rendered(frames, np.asarray(times, dtype=np.float64))


def held_frames(lossless: HeldStream, rendered: np.ndarray, lossy: HeldStream,
                source: SourcedRenderer | None = None) -> tuple[np.ndarray, int]:
    """The frames a receiver shows under loss. Where the pose shown was decoded to the same values
    as without loss (the coder is closed loop, so after a resync it is) the lossless render is
    reused; otherwise it is rendered anew by `source` (from the views held at that pose's frame).
    Returns (frames, re-rendered count)."""
    frames = np.full_like(rendered, NO_POSE)
    fresh: dict[int, np.ndarray] = {}
    for i, j in enumerate(lossy.shown):
        if j < 0:
            if source is not None and source.plan.count_at(i) == 0:
                frames[i] = NO_VIEW
            continue
        a, b = lossy.decoded[j], lossless.decoded[j]
        if b is not None and np.array_equal(a.q, b.q):
            frames[i] = rendered[j]
            continue
        if source is None:
            raise ValueError(f"frame {j} decoded differently under loss and no renderer was given")
        if j not in fresh:
            image = source.render(int(j), a.record)
            fresh[int(j)] = np.full_like(rendered[0], NO_VIEW) if image is None else image
        frames[i] = fresh[int(j)]
    return frames, len(fresh)
