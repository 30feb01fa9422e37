"""Source views as a call sends them, replayed over a clip for the benchmarks.

    schedule = live_views(clip, SenderConfig())      # a frontal.pipeline.TrackedClip with images
    schedule.pairs()                                  # [(arrival_frame, frame_index), ...]
    for view in schedule.arrived: renderer.add_source(view.image, view.sup)   # from view.arrival_frame on

The call's own pieces, in the order `sender.live.SenderSide.process` runs them at each frame:
the online selector (`sender.views.ViewSelector` with `SenderConfig.view_policy()`) sees the frame;
when the selector has a view ready and no view is on its way, the view is coded as the call codes
it (`codec.images.encode_view` at `view_format`/`view_quality`; WebP at the sender's fallback
quality where this Pillow has no AVIF), cut into the call's control messages
(`codec.messages.view_messages`) and queued on the token bucket (`sender.live.ViewPacer`:
`view_kbps`, `view_burst_bytes` of burst); then the bucket releases what its tokens allow at the
frame's time, `index / fps`. The released messages go through the receiver's `ViewAssembler` and
`decode_view`: a view *arrives* at the frame whose release completes it, and the receiver renders
that frame and every later one with it (the decoded image and the landmarks its view start
carries; in a shape call, the view's own record, intra-coded in its shape view start 0xF7 as the
sender codes it: `ViewRecords`). No network delay and no decode time are modelled, and the frames before the first
arrival have no picture (the receiver shows nothing until it has a view).

`frontal.pipeline.clip_views` (`sender.views.select_views`) is the whole-clip *oracle* instead.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.fields import DrivingRecord, FieldSet
from codec.images import VIEW_FORMAT, VIEW_QUALITY, decode_view, encode_view
from codec.messages import MAX_VIEW_BYTES, ViewAssembler, view_messages
from codec.stream import decode_intra_record, encode_intra_record
from codec.tables import Tables
from frontal.pipeline import TrackedClip
from receiver.render import RecordSourceRenderer
from sender.live import WEBP_FALLBACK_QUALITY, SenderConfig, ViewPacer, avif_available
from sender.pose import Pose
from sender.tracker import Box, TrackedFrame
from sender.views import ViewSelector

log = logging.getLogger(__name__)


@dataclass(eq=False)
class LiveView:
    """One view the sender queued during the clip."""

    frame: int  # the clip frame the view is a picture of
    queued_frame: int  # the frame at which the sender coded and queued it
    image_bytes: int  # the coded image
    messages: int  # control messages it is cut into
    bytes_sent: int = 0  # message bytes (headers included) the bucket released within the clip
    arrival_frame: int | None = None  # first frame rendered with it; None: still on its way at the end
    image: NDArray[np.uint8] | None = field(default=None, repr=False)  # the receiver's picture [256, 256, 3]
    sup: NDArray[np.float32] | None = field(default=None, repr=False)  # landmarks as its view start carries them
    record: DrivingRecord | None = field(default=None, repr=False)  # a shape call's: the view's record as decoded


@dataclass(frozen=True, eq=False)
class ViewRecords:
    """A shape call's per-frame records (`records[i]`: frame i's pose and shape), with what codes
    them: each view travels with its frame's record, intra-coded (`codec.stream.encode_intra_record`)."""

    records: Sequence[DrivingRecord]
    fields: FieldSet
    tables: Tables
    mode: str = "predictive"

    def encode(self, frame: int) -> bytes:
        return encode_intra_record(self.fields, self.records[frame], self.mode, self.tables)

    def decode(self, payload: bytes) -> DrivingRecord:
        return decode_intra_record(self.fields, payload, self.mode, self.tables)


@dataclass(frozen=True)
class ViewReport:
    """One view in a report: its frame, when it was queued and arrived, its bytes."""

    frame: int
    queued_frame: int | None  # None: the oracle (no sender)
    arrival_frame: int | None  # None: still on its way at the clip's end
    image_bytes: int
    bytes_sent: int  # what the rate counts


@dataclass(frozen=True)
class ViewScheduleReport:
    """How a clip's source views were chosen and delivered (`choice`: "live" or "oracle")."""

    choice: str
    view_format: str
    view_quality: int
    view_kbps: float | None  # the live budget; None for the oracle (views assumed there at frame 0)
    burst_bytes: int | None
    first_arrival_frame: int | None
    first_arrival_s: float | None
    bytes_sent: int
    views: list[ViewReport]


@dataclass(frozen=True, eq=False)
class ViewSchedule:
    """The views a call would have sent over one clip, and when each arrived."""

    views: tuple[LiveView, ...]
    frames: int
    fps: float
    view_format: str
    view_quality: int
    view_kbps: float
    burst_bytes: int

    @property
    def arrived(self) -> list[LiveView]:
        """The views that arrived within the clip, in arrival order."""
        return [v for v in self.views if v.arrival_frame is not None]

    @property
    def first_arrival(self) -> int | None:
        """The first frame the receiver can render (None: no view arrived within the clip)."""
        return next((v.arrival_frame for v in self.views if v.arrival_frame is not None), None)

    @property
    def bytes_sent(self) -> int:
        """Every view byte released within the clip, a view still on its way included."""
        return sum(v.bytes_sent for v in self.views)

    def pairs(self) -> list[tuple[int, int]]:
        """(arrival_frame, frame_index) of each view that arrived."""
        return [(v.arrival_frame, v.frame) for v in self.views if v.arrival_frame is not None]

    def available(self, frame: int) -> int:
        """How many views the receiver holds when it renders `frame`."""
        return sum(1 for v in self.views if v.arrival_frame is not None and v.arrival_frame <= frame)

    def describe(self) -> ViewScheduleReport:
        """The JSON-ready facts (no images)."""
        return ViewScheduleReport(
            choice="live", view_format=self.view_format, view_quality=self.view_quality, view_kbps=self.view_kbps,
            burst_bytes=self.burst_bytes, first_arrival_frame=self.first_arrival,
            first_arrival_s=None if self.first_arrival is None else self.first_arrival / self.fps,
            bytes_sent=self.bytes_sent,
            views=[ViewReport(v.frame, v.queued_frame, v.arrival_frame, v.image_bytes, v.bytes_sent) for v in self.views])


def view_coding(config: SenderConfig) -> tuple[str, int]:
    """(format, quality) the call codes views with: the config's, or the sender's WebP fallback
    where this Pillow cannot write AVIF (as `sender.live.SenderSide` does)."""
    if config.view_format == "avif" and not avif_available():
        return "webp", WEBP_FALLBACK_QUALITY
    return config.view_format, config.view_quality


def schedule_views(frames: Iterable[TrackedFrame], fps: float, config: SenderConfig | None = None,
                   shape: ViewRecords | None = None) -> ViewSchedule:
    """Run the call's view selection and byte budget over tracked frames in order, at `fps`; with
    `shape` (a shape call), each view goes with its frame's record instead of its landmarks."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    config = config or SenderConfig()
    fmt, quality = view_coding(config)
    selector = ViewSelector(config.view_policy())
    pacer = ViewPacer(config.view_kbps, config.view_burst_bytes)
    assembler = ViewAssembler()
    views: list[LiveView] = []
    best_frame = -1
    n = 0
    for i, tracked in enumerate(frames):
        before = selector.best
        selector.consider(tracked)
        if selector.best is not None and selector.best is not before:
            best_frame = i  # the candidate held now is this frame's
        if not pacer.busy and selector.ready():
            view = selector.take()
            data = encode_view(view.image, fmt, quality)
            if len(data) > MAX_VIEW_BYTES:  # the sender drops it too (its index is spent)
                log.warning("frame %d: a source view of %d bytes is over the limit: not sent", best_frame, len(data))
            else:
                sup, record = (view.sup, None) if shape is None else (None, shape.encode(best_frame))
                messages = view_messages(len(selector.sent) - 1, fmt, data, view.yaw, view.pitch, sup, record)
                pacer.push(messages)
                views.append(LiveView(best_frame, i, len(data), len(messages)))
        for message in pacer.take(i / fps):
            current = views[-1]  # one view on its way at a time: the bucket is FIFO
            current.bytes_sent += len(message)
            done = assembler.add(message)
            if done is not None:
                meta, body = done
                current.arrival_frame, current.image, current.sup = i, decode_view(body, meta.format), meta.landmarks()
                if shape is not None and meta.record is not None:
                    current.record = shape.decode(meta.record)
        n = i + 1
    return ViewSchedule(tuple(views), n, float(fps), fmt, quality, config.view_kbps, config.view_burst_bytes)


def clip_frames(clip: TrackedClip) -> Iterator[TrackedFrame]:
    """A tracked clip's frames again as the tracker gave them (crop box not kept: a dummy)."""
    if len(clip.images) != len(clip):
        raise ValueError(f"{clip.path}: the clip was tracked without its images")
    box = Box(0.0, 0.0, float(clip.images[0].shape[0]) if clip.images else 0.0)
    for i in range(len(clip)):
        yield TrackedFrame(index=i, image=clip.images[i], landmarks=clip.landmarks[i], sup=clip.sup[i],
                           pose=Pose(clip.yaw[i], clip.pitch[i], 0.0), face_found=clip.found[i], box=box,
                           track_ms=clip.track_ms[i])


def live_views(clip: TrackedClip, config: SenderConfig | None = None, shape: ViewRecords | None = None) -> ViewSchedule:
    """`schedule_views` over a tracked clip (with its images) at the clip's frame rate."""
    return schedule_views(clip_frames(clip), clip.fps, config, shape)


def frames_of_arrays(images: NDArray[np.uint8], landmarks: NDArray[Any], sup: NDArray[Any],
                     pose: NDArray[Any], found: NDArray[Any]) -> Iterator[TrackedFrame]:
    """Tracked frames from arrays (a prepared clip: crops [T,S,S,3], landmarks [T,478,3],
    sup [T,33,2], pose [T,3] radians yaw/pitch/roll, found [T])."""
    box = Box(0.0, 0.0, float(images.shape[1]))
    for i in range(len(images)):
        yield TrackedFrame(index=i, image=images[i], landmarks=np.asarray(landmarks[i], np.float32),
                           sup=np.asarray(sup[i], np.float32), pose=Pose(*(float(x) for x in pose[i][:3])),
                           face_found=bool(found[i]), box=box, track_ms=0.0)


@dataclass(frozen=True, eq=False)
class SourceView:
    """A source view as the receiver holds it, from `arrival_frame` on."""

    frame: int
    arrival_frame: int
    image: NDArray[np.uint8]  # [256, 256, 3]
    sup: NDArray[np.float32] | None  # [33, 2]
    record: DrivingRecord | None = None  # a shape call's view record (pose, shape)


@dataclass(frozen=True, eq=False)
class SourcePlan:
    """The source views a benchmark renders from, when each is there, and what they cost."""

    choice: str  # "live" (the call's selector and budget) or "oracle" (whole clip, future included)
    views: tuple[SourceView, ...]  # in arrival order
    view_bytes: tuple[int, ...]  # bytes the rate counts, per view sent
    report: ViewScheduleReport

    @classmethod
    def live(cls, schedule: ViewSchedule) -> SourcePlan:
        views = tuple(SourceView(v.frame, v.arrival_frame, v.image, v.sup, v.record) for v in schedule.arrived
                      if v.arrival_frame is not None and v.image is not None)
        return cls("live", views, tuple(v.bytes_sent for v in schedule.views), schedule.describe())

    @classmethod
    def oracle(cls, frames: Sequence[int], images: Sequence[NDArray[np.uint8]], sups: Sequence[NDArray[Any] | None],
               fmt: str = VIEW_FORMAT, quality: int = VIEW_QUALITY, shape: ViewRecords | None = None) -> SourcePlan:
        """Views there from frame 0, rendered from the pristine crops; their bytes are counted as
        `fmt` at `quality` (a recorded file's views: WebP q80), plus, with `shape`, each view's
        intra-coded record (which it is drawn with, decoded)."""
        payloads = [b"" if shape is None else shape.encode(int(f)) for f in frames]
        sizes = tuple(len(encode_view(img, fmt, quality)) + len(p) for img, p in zip(images, payloads))
        views = tuple(SourceView(int(f), 0, img, None if s is None else np.asarray(s, np.float32),
                                 None if shape is None else shape.decode(p))
                      for f, img, s, p in zip(frames, images, sups, payloads))
        report = ViewScheduleReport("oracle", fmt, quality, None, None, 0 if views else None, 0.0 if views else None,
                                    sum(sizes), [ViewReport(v.frame, None, 0, n, n) for v, n in zip(views, sizes)])
        return cls("oracle", views, sizes, report)

    @property
    def first_arrival(self) -> int | None:
        return min((v.arrival_frame for v in self.views), default=None)

    @property
    def frames(self) -> list[int]:
        return [v.frame for v in self.views]

    @property
    def view_format(self) -> str:
        return f"{self.report.view_format} q{self.report.view_quality}"

    def count_at(self, frame: int) -> int:
        """How many views the receiver holds at `frame`."""
        return sum(1 for v in self.views if v.arrival_frame <= frame)


class SourcedRenderer:
    """A renderer (`receiver.renderer.Renderer` or alike: add_source, reset, num_sources,
    max_sources, render; or `receiver.render.MeshFrameRenderer`, whose views come with their
    records and which renders a record) whose source set follows a plan: frame `t` is rendered from
    the views the receiver holds at `t` (at most the model's `max_sources`, the first ones)."""

    def __init__(self, renderer: Any, plan: SourcePlan) -> None:
        self.renderer = renderer
        self.plan = plan

    def prepare(self, frame: int) -> bool:
        """Set the source set for `frame`; False when there is no view yet (nothing to show)."""
        limit = self.renderer.max_sources
        want = self.plan.count_at(frame)
        want = min(want, limit) if limit is not None else want
        if want == 0:
            return False
        if self.renderer.num_sources > want:  # an earlier frame after a later one: start over
            self.renderer.reset()
        for view in self.plan.views[self.renderer.num_sources:want]:
            if isinstance(self.renderer, RecordSourceRenderer):
                if view.record is None:
                    raise ValueError(f"the view of frame {view.frame} has no shape record for the mesh renderer")
                self.renderer.add_source_record(view.image, view.record)
            else:
                self.renderer.add_source(view.image, view.sup)
        return True

    def render(self, frame: int, record: DrivingRecord) -> NDArray[np.uint8] | None:
        """Frame `frame` driven by `record`, or None before the first view."""
        if not self.prepare(frame):
            return None
        if isinstance(self.renderer, RecordSourceRenderer):
            image: NDArray[np.uint8] = self.renderer.render(record)  # type: ignore[attr-defined]
            return image
        out: NDArray[np.uint8] = self.renderer.render(sup=record.sup, unsup=record.unsup, jac=record.jac, expr=record.expr)
        return out
