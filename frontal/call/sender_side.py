"""The sending half of a peer: tracked frames in, driving messages and source-view chunks out.

    sender = SenderSide(SenderConfig(fps=15))
    out = sender.process(tracked, capture_unix_ms, now_s, congested=channel.bufferedAmount > 0)
    out.driving       # bytes for the driving channel, or None (bundling, or a stale frame dropped)
    out.control       # view messages (JSON text, then binary chunks) for the control channel

Views. The first view is chosen at once: the most frontal frame with the eyes open within the
first `first_view_frames` frames with a face (earlier if one is frontal within `frontal_yaw`).
Later views follow online furthest-point selection in (yaw, pitch): a frame whose pose is at least
`min_view_distance` radians from every view sent, eyes open, becomes a candidate; the furthest
candidate seen is sent as soon as the byte budget allows, up to `max_views`. The budget is a
token bucket of `view_kbps` with room for the first view at once; a view's chunks are released
as the bucket allows, so the views' rate never exceeds the budget and never starves the
driving stream.

Congestion. A frame whose driving message would have to queue behind unsent data (the channel's
`bufferedAmount` above `max_buffered_bytes`) is dropped *before* encoding: the encoder never
sees it, so the receiver's reference chain stays whole (aiortc queues messages rather than
dropping them, which only adds latency: aiortc issue 547).
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codec.cli import encode_image
from codec.fields import DrivingRecord, FieldSet
from codec.stream import EncodedFrame, StreamEncoder
from frontal.call.messages import (
    MAX_VIEW_BYTES,
    MAX_VIEWS,
    FieldSpec,
    Hello,
    ViewStart,
    chunk_count,
    encode_control,
    pack_driving,
    view_chunks,
)
from frontal.call.stats import CallStats
from sender.tracker import TrackedFrame
from sender.views import eye_openness

log = logging.getLogger(__name__)

# a view's landmarks go as JSON numbers with this many decimals: 1e-4 of the [-1, 1] crop
# coordinates is 20x finer than the driving stream's quantization, and half the bytes of float32's
# 17-digit repr (about 600 instead of 1 300 bytes per view)
SUP_DECIMALS = 4


@dataclass(frozen=True)
class SenderConfig:
    fps: float = 15.0
    mode: str = "predictive"
    intra_period_s: float = 1.0
    frames_per_message: int = 1
    max_views: int = MAX_VIEWS
    view_format: str = "webp"
    view_quality: int = 80
    view_kbps: float = 1.0  # long-run budget for source views
    view_burst_bytes: int = 8192  # the first view goes out at once within this
    min_view_distance: float = 0.25  # radians in (yaw, pitch) between views
    first_view_frames: int = 8
    frontal_yaw: float = 0.12
    min_eye_openness: float = 0.18
    max_buffered_bytes: int = 0  # drop a frame if more than this is waiting in the channel

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 60:
            raise ValueError("fps must be in (0, 60]")
        if not 1 <= self.frames_per_message <= 4:
            raise ValueError("frames_per_message must be 1..4")
        if not 1 <= self.max_views <= MAX_VIEWS:
            raise ValueError(f"max_views must be 1..{MAX_VIEWS}")
        if self.view_format not in ("webp", "jpeg", "avif"):
            raise ValueError("view_format must be webp, jpeg or avif")


@dataclass
class Outgoing:
    driving: bytes | None = None
    control: list[str | bytes] = field(default_factory=list)
    encoded: list[EncodedFrame] = field(default_factory=list)


@dataclass(frozen=True)
class ViewCandidate:
    image: np.ndarray
    sup: np.ndarray
    yaw: float
    pitch: float
    openness: float


class ViewSelector:
    """Online furthest-point selection of source views in (yaw, pitch)."""

    def __init__(self, config: SenderConfig) -> None:
        self.config = config
        self.sent: list[tuple[float, float]] = []
        self.best: ViewCandidate | None = None
        self._seen = 0

    def consider(self, tracked: TrackedFrame) -> None:
        if not tracked.face_found or len(self.sent) >= self.config.max_views:
            return
        openness = eye_openness(tracked.landmarks)
        if openness < self.config.min_eye_openness and self.sent:
            return
        cand = ViewCandidate(tracked.image.copy(), tracked.sup.copy(), float(tracked.pose.yaw),
                             float(tracked.pose.pitch), openness)
        self._seen += 1
        if not self.sent:
            if self.best is None or self._first_score(cand) < self._first_score(self.best):
                self.best = cand
        elif self.distance(cand) >= self.config.min_view_distance:
            if self.best is None or self.distance(cand) > self.distance(self.best):
                self.best = cand

    def _first_score(self, c: ViewCandidate) -> float:
        closed = 1.0 if c.openness < self.config.min_eye_openness else 0.0
        return closed + math.hypot(c.yaw, c.pitch)

    def distance(self, c: ViewCandidate) -> float:
        return min((math.hypot(c.yaw - y, c.pitch - p) for y, p in self.sent), default=math.inf)

    def ready(self) -> bool:
        """A view should be sent now (the first one: frontal enough, or its window is over)."""
        if self.best is None:
            return False
        if self.sent:
            return True
        b = self.best
        frontal = abs(b.yaw) <= self.config.frontal_yaw and b.openness >= self.config.min_eye_openness
        return frontal or self._seen >= self.config.first_view_frames

    def take(self) -> ViewCandidate:
        assert self.best is not None
        best, self.best = self.best, None
        self.sent.append((best.yaw, best.pitch))
        return best


class ViewPacer:
    """Token bucket over view bytes: chunks wait until the budget allows them."""

    def __init__(self, kbps: float, burst_bytes: int) -> None:
        self.rate = kbps * 1000.0 / 8.0
        self.burst = float(burst_bytes)
        self.tokens = float(burst_bytes)
        self.queue: deque[str | bytes] = deque()
        self._t: float | None = None

    @property
    def busy(self) -> bool:
        return bool(self.queue)

    def push(self, messages: list[str | bytes]) -> None:
        self.queue.extend(messages)

    def take(self, now: float) -> list[str | bytes]:
        if self._t is not None:
            self.tokens = min(self.burst, self.tokens + (now - self._t) * self.rate)
        self._t = now
        out: list[str | bytes] = []
        while self.queue and self.tokens >= len(self.queue[0]):
            message = self.queue.popleft()
            self.tokens -= len(message)
            out.append(message)
        return out


class SenderSide:
    def __init__(self, config: SenderConfig, stats: CallStats, fields: FieldSet | None = None) -> None:
        self.config = config
        self.stats = stats
        self.fields = fields or FieldSet(n_sup=33)
        self.encoder = StreamEncoder(self.fields, mode=config.mode, fps=config.fps,
                                     intra_period_s=config.intra_period_s)
        self.views = ViewSelector(config)
        self.pacer = ViewPacer(config.view_kbps, config.view_burst_bytes)
        self._bundle: list[EncodedFrame] = []
        self.epoch_ms: float | None = None
        self.encoded_listeners: list[Callable[[EncodedFrame], None]] = []

    def hello(self, epoch_ms: float) -> str:
        self.epoch_ms = epoch_ms
        return encode_control(Hello(fps=self.config.fps, fields=FieldSpec.of(self.fields), mode=self.config.mode,
                                    frames_per_message=self.config.frames_per_message, epoch_ms=epoch_ms))

    def request_intra(self) -> None:
        self.stats.add(intra_requests_received=1)
        self.encoder.request_intra()

    def process(self, tracked: TrackedFrame, capture_unix_ms: float, now_s: float,
                congested: bool = False, record: DrivingRecord | None = None) -> Outgoing:
        """One tracked frame. `record` overrides the driving record (default: sup from the tracker)."""
        if self.epoch_ms is None:
            raise RuntimeError("send hello() first")
        out = Outgoing()
        self.views.consider(tracked)
        if not self.pacer.busy and self.views.ready():
            self._queue_view(self.views.take())
        out.control = self.pacer.take(now_s)
        self.stats.add(view_bytes_sent=sum(len(m) if isinstance(m, bytes) else len(m.encode()) for m in out.control))
        if congested and not self._bundle:
            self.stats.add(frames_stale_dropped=1)
            return out
        rec = record if record is not None else DrivingRecord(sup=tracked.sup if self.fields.n_sup else None)
        enc = self.encoder.encode(rec, timestamp_ms=int(capture_unix_ms - self.epoch_ms))
        self.stats.add(frames_encoded=1, codec_bits=enc.bits, payload_bits=enc.payload_bits, intra_frames=int(enc.intra))
        self._bundle.append(enc)
        out.encoded = [enc]
        for listener in self.encoded_listeners:
            listener(enc)
        if len(self._bundle) >= self.config.frames_per_message:
            out.driving = pack_driving([e.packet for e in self._bundle])
            self._bundle = []
        return out

    def _queue_view(self, view: ViewCandidate) -> None:
        data = encode_view(view.image, self.config.view_format, self.config.view_quality)
        if len(data) > MAX_VIEW_BYTES:
            log.warning("source view of %d bytes is over the limit: not sent", len(data))
            return
        index = len(self.views.sent) - 1
        meta = ViewStart(index=index, format=self.config.view_format, size=len(data),  # type: ignore[arg-type]
                         chunks=chunk_count(len(data)), yaw=round(view.yaw, 4), pitch=round(view.pitch, 4),
                         sup=[[round(float(x), SUP_DECIMALS), round(float(y), SUP_DECIMALS)] for x, y in view.sup])
        self.pacer.push([encode_control(meta), *view_chunks(index, data)])
        self.stats.add(views_sent=1)
        log.info("source view %d queued: %d bytes %s, yaw %.2f pitch %.2f", index, len(data),
                 self.config.view_format, view.yaw, view.pitch)


def encode_view(image: np.ndarray, fmt: str, quality: int) -> bytes:
    """A source view compressed as webp or jpeg (OpenCV) or avif (Pillow)."""
    if fmt != "avif":
        return encode_image(image, fmt=fmt, quality=quality)
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="AVIF", quality=quality)
    return buf.getvalue()
