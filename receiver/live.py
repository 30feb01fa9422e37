"""The receiving half of a peer: decode driving packets, assemble source views, render off the loop.

A driving message (a compact bundle of 1-4 frames: `codec/messages.py`) is turned back into codec
packets from what this side knows (the hello's coding mode, the newest sequence number received,
the decoder's intra frame: `CompactContext`).
Driving packets are decoded on the event loop (under a millisecond each); the newest decoded pose
goes to a render worker thread, which renders it (a pose that a newer one replaces before the
worker gets to it is skipped, never queued). When no new pose arrives for 1.5 frame periods the
worker shows the last frame again, once per period, so the output keeps the sender's frame rate
through losses. A packet whose reference chain is broken (`MissingReference`) is counted and
the pose is held; after `intra_after` such packets in a row the receiver asks for an intra frame
(at most every `intra_interval_s`). A malformed or foreign message is dropped and counted.

Lip sync. With speech in the call, `av_delay_ms` (set by the peer: the audio playout delay of
`receiver.audio`) schedules each pose at its capture time plus that delay, less the mean render
time, on the receiver's clock (never earlier than it would be without speech), so the face is shown
when its voice is heard. Without speech the schedule is as before.

Shape calls. A hello whose field set has `n_shape` must name this side's shape model (its digest)
and at most its number of coefficients, or it is refused (`ValueError`: the peer counts it as
`control_bad`). Each of that call's views carries its own record (a shape view start): decoded here
with a fresh coder state and handed to the renderer with the image (`add_source_record`); a view
without one (or with one in a landmark call, or one that does not decode) is refused and counted.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from codec import wire
from codec.callstats import CallStats, SeqCounter
from codec.errors import CodecError
from codec.fields import DrivingRecord, FieldSet
from codec.images import decode_view
from codec.messages import (
    CompactContext,
    Hello,
    ViewStart,
    is_compact,
    parse_driving,
)
from codec.shape import load_shape_model
from codec.stream import DecodedFrame, MissingReference, StreamDecoder, decode_intra_record
from receiver.render import FrameRenderer, RecordSourceRenderer

log = logging.getLogger(__name__)

MAX_RENDER_FAILURES = 30  # frames in a row that fail to render before the render worker gives up


@dataclass(frozen=True)
class ShownFrame:
    """One frame handed to the sinks: `held` repeats the last rendered pose."""

    seq: int
    held: bool
    capture_ms: float  # sender's Unix time of capture


FrameSink = Callable[[NDArray[Any], ShownFrame], None]


@dataclass(frozen=True)
class ReceiverConfig:
    intra_after: int = 3  # unusable packets in a row before asking for an intra frame
    intra_interval_s: float = 0.5  # at most one request per interval
    hold_after_periods: float = 1.5  # show the last frame again after this long without a pose


@dataclass
class _Pose:
    record: DrivingRecord
    seq: int
    capture_ms: float


class ReceiverSide:
    def __init__(self, renderer_factory: Callable[[], FrameRenderer], stats: CallStats,
                 request_intra: Callable[[], None], config: ReceiverConfig | None = None) -> None:
        self.config = config or ReceiverConfig()
        self.stats = stats
        self.sinks: list[FrameSink] = []
        self.decoded_listeners: list[Callable[[DecodedFrame], None]] = []
        self._request_intra = request_intra
        self._renderer_factory = renderer_factory
        self.hello: Hello | None = None
        self._decoder: StreamDecoder | None = None
        self._seqs = SeqCounter()
        self._newest: int | None = None  # unwrapped seq of the newest decoded packet
        self._failures = 0
        self._last_request = -1e9
        self._cond = threading.Condition()
        self._poses: deque[tuple[float, _Pose]] = deque()
        self._views: list[tuple[ViewStart, bytes, DrivingRecord | None]] = []
        self._stop = False
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._render_failures = 0  # frames in a row that failed to render
        self._thread = threading.Thread(target=self._worker, name="call-render", daemon=True)
        self.av_delay_ms: Callable[[], float | None] | None = None  # lip sync: the speech's playout delay

    # -- event loop side ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def fps(self) -> float:
        return self.hello.fps if self.hello else 15.0

    def on_hello(self, hello: Hello) -> None:
        """The sender's stream: a new decoder (`ValueError` if its field set is not valid, or is a
        shape field set of another shape model than ours)."""
        fields = hello.fields.to_fieldset()
        if fields.n_shape:
            _check_shape_model(fields, hello.fields.shape_model)
        decoder = StreamDecoder(fields)
        self.hello, self._decoder = hello, decoder

    def on_view(self, meta: ViewStart, data: bytes) -> None:
        """An assembled view. A shape call's view record is decoded here (a fresh coder state); a
        view that does not fit the call is refused and counted (`control_bad`)."""
        try:
            record = self._view_record(meta)
        except (CodecError, ValueError) as exc:
            log.warning("source view %d refused: %s", meta.index, exc)
            self.stats.add(control_bad=1)
            return
        with self._cond:
            self._views.append((meta, data, record))
            self._cond.notify()

    def _view_record(self, meta: ViewStart) -> DrivingRecord | None:
        decoder, hello = self._decoder, self.hello
        shape = decoder is not None and decoder.fields.n_shape > 0
        if meta.record is None:
            if shape:
                raise ValueError("a shape call's view lacks its shape record")
            return None
        if decoder is None or hello is None or not shape:
            raise ValueError("a shape record in a view of a call without a shape field set")
        record = decode_intra_record(decoder.fields, meta.record, hello.mode, decoder.tables)
        record.check(decoder.fields)
        return record

    def on_driving(self, message: bytes) -> None:
        self.stats.add(driving_messages_received=1, driving_bytes_received=len(message))
        if not is_compact(message):
            log.debug("driving message dropped: not a compact bundle (type byte 0x%s)", message[:1].hex())
            self.stats.add(packets_bad=1)
            return
        decoder, hello = self._decoder, self.hello
        if decoder is None or hello is None:
            self.stats.add(packets_unusable=1)  # before hello: we do not know the stream yet
            return
        # what a compact bundle leaves out: the hello's mode, the newest sequence number received
        # and the decoder's intra frame (`codec/messages.py`)
        newest = None if self._seqs.highest is None else self._seqs.highest & 0xFFFF
        try:
            frames = parse_driving(message, CompactContext(hello.mode, newest, decoder.intra_seq))
        except ValueError as exc:
            log.debug("driving message dropped: %s", exc)
            self.stats.add(packets_bad=1)
            return
        poses = [pose for pose in (self._on_frame(decoder, f) for f in frames) if pose is not None]
        # frames bundled in one message are played out one frame period apart, oldest first
        now = time.monotonic()
        delay = self.av_delay_ms() if self.av_delay_ms is not None else None
        render_s = self.stats.render_ms_total / max(1, self.stats.frames_rendered) / 1000.0
        for k, pose in enumerate(poses):
            due = now + k / self.fps
            if delay is not None:  # lip sync: shown when its voice plays (capture + the audio delay)
                due = max(due, now + (pose.capture_ms + delay - time.time() * 1000.0) / 1000.0 - render_s)
            self._post(pose, due)

    def _on_frame(self, decoder: StreamDecoder, packet: wire.Packet) -> _Pose | None:
        useq = self._seqs.add(packet.seq)
        self.stats.packets_received = self._seqs.received
        self.stats.packets_lost = self._seqs.lost
        if self._newest is not None and useq <= self._newest:
            self.stats.add(packets_late=1)
            return None
        try:
            frame = decoder.decode(wire.pack(packet))
        except MissingReference:
            self.stats.add(packets_unusable=1)
            self._failed()
            return None
        except CodecError as exc:
            log.debug("driving packet %d dropped: %s", packet.seq, exc)
            self.stats.add(packets_bad=1)
            self._failed()
            return None
        self._failures = 0
        self._newest = useq
        self.stats.add(packets_decoded=1)
        for listener in self.decoded_listeners:
            listener(frame)
        return _Pose(frame.record, frame.seq, self._capture_ms(frame.timestamp_ms))

    def _failed(self) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failures >= self.config.intra_after and now - self._last_request >= self.config.intra_interval_s:
            self._last_request = now
            self._failures = 0
            self.stats.add(intra_requests_sent=1)
            self._request_intra()

    def _capture_ms(self, ts16: int) -> float:
        """The sender's Unix time of capture, from the 16-bit timestamp and the hello's epoch."""
        assert self.hello is not None
        approx = time.time() * 1000.0 - self.hello.epoch_ms
        wraps = round((approx - ts16) / 65536.0)
        return self.hello.epoch_ms + ts16 + 65536.0 * wraps

    def _post(self, pose: _Pose, due: float) -> None:
        with self._cond:
            self._poses.append((due, pose))
            self._cond.notify()

    def _due_now(self) -> bool:
        return bool(self._poses) and self._poses[0][0] <= time.monotonic()

    def _take_due(self) -> _Pose | None:
        """The newest pose that is due (older due ones are skipped, never queued). Holds the lock."""
        now, pose = time.monotonic(), None
        while self._poses and self._poses[0][0] <= now:
            if pose is not None:
                self.stats.add(frames_skipped=1)
            pose = self._poses.popleft()[1]
        return pose

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    # -- render thread --------------------------------------------------------------------------
    def _worker(self) -> None:
        """The render thread. Whatever ends it early is kept in `error` (the peer then ends the
        call with `renderer-failed`), never lost with the thread."""
        try:
            self._run()
        except BaseException as exc:
            log.exception("the render worker failed")
            self.error = exc
            self.ready.set()

    def _run(self) -> None:
        try:
            renderer = self._renderer_factory()
        except BaseException as exc:  # reported by the peer; the thread ends
            self.error = exc
            log.error("renderer failed to start: %s", exc)
            self.ready.set()
            return
        self.ready.set()
        last: tuple[NDArray[Any], _Pose] | None = None
        last_shown = time.monotonic()
        holding = False
        while True:
            period = 1.0 / self.fps
            due = last_shown + (period if holding else self.config.hold_after_periods * period)
            with self._cond:
                if not (self._stop or self._views or self._due_now()):
                    deadlines = ([] if last is None else [due]) + [d for d, _ in list(self._poses)[:1]]
                    self._cond.wait(max(0.0, min(deadlines) - time.monotonic()) if deadlines else None)
                if self._stop:
                    return
                views, self._views = self._views, []
                pose = self._take_due()  # before the first view, poses are dropped here
            for meta, data, record in views:
                self._add_view(renderer, meta, data, record)
            if pose is not None and renderer.num_sources:
                frame = self._render(renderer, pose)
                if frame is not None:
                    last = (frame, pose)
                    self._show(frame, ShownFrame(pose.seq, False, pose.capture_ms))
                    last_shown, holding = time.monotonic(), False
            elif last is not None and time.monotonic() >= due - 1e-3:
                self.stats.add(frames_held=1)
                self._show(last[0], ShownFrame(last[1].seq, True, last[1].capture_ms))
                last_shown, holding = time.monotonic(), True

    def _add_view(self, renderer: FrameRenderer, meta: ViewStart, data: bytes, record: DrivingRecord | None) -> None:
        try:
            image = decode_view(data, meta.format)
            if image.shape != (256, 256, 3):
                raise CodecError(f"view {meta.index}: {image.shape[1]}x{image.shape[0]}, expected 256x256")
            if record is not None:
                if not isinstance(renderer, RecordSourceRenderer):
                    raise ValueError("a shape call's view: this renderer cannot draw from a shape record (use the mesh renderer)")
                renderer.add_source_record(image, record)
            else:
                renderer.add_source(image, meta.landmarks())
        except (CodecError, ValueError) as exc:
            log.warning("source view %d refused: %s", meta.index, exc)
            self.stats.add(control_bad=1)
            return
        self.stats.add(views_received=1)
        log.info("source view %d added (%d bytes %s, yaw %.2f)", meta.index, len(data), meta.format, meta.yaw)

    def _render(self, renderer: FrameRenderer, pose: _Pose) -> NDArray[Any] | None:
        t = time.perf_counter()
        try:
            frame = renderer.render(pose.record)
        except Exception as exc:  # a bad record or a renderer bug: hold the last frame, keep going
            log.exception("rendering frame %d failed", pose.seq)
            self._render_failures += 1
            if self._render_failures >= MAX_RENDER_FAILURES:  # not one bad frame: a broken renderer
                raise RuntimeError(f"{self._render_failures} frames in a row failed to render: {exc}") from exc
            return None
        self._render_failures = 0
        ms = (time.perf_counter() - t) * 1000.0
        self.stats.add(frames_rendered=1, render_ms_total=ms)
        self.stats.add_latency(time.time() * 1000.0 - pose.capture_ms)
        return frame

    def _show(self, frame: NDArray[Any], info: ShownFrame) -> None:
        for sink in self.sinks:
            try:
                sink(frame, info)
            except Exception:
                log.exception("frame sink failed")


def _check_shape_model(fields: FieldSet, digest: str | None) -> None:
    """`ValueError` unless a shape stream's model is ours (its digest) and has its coefficients."""
    model = load_shape_model()
    if digest != model.digest:
        raise ValueError(f"the sender's shape model {str(digest)[:12]}... is not ours ({model.digest[:12]}...)")
    if fields.n_shape > model.k:
        raise ValueError(f"the sender codes {fields.n_shape} shape coefficients, our shape model has {model.k}")
