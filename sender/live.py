"""The sending half of a peer: tracked frames in, driving messages and source-view chunks out.

    sender = SenderSide(SenderConfig(fps=15))
    out = sender.process(tracked, capture_unix_ms, now_s, congested=channel.bufferedAmount > 0)
    out.driving       # bytes for the driving channel, or None (bundling, or a stale frame dropped)
    out.control       # binary view messages (a view start, then chunks) for the control channel

Views. `sender.views.ViewSelector` chooses them (the one policy, used offline too). The furthest
candidate is sent as soon as the byte budget allows. The budget is a token bucket of `view_kbps`
with room for the first view at once; a view's chunks are released as the bucket allows, so the
views' rate never exceeds the budget and never starves the driving stream.

Send phase. In a two-way call each side's SCTP acknowledges the other's driving messages by
bundling a SACK with its own next one (`transport.py`). That works while the two message streams
alternate; when one side's sends fall close to the other's arrivals (the phase of two free-running
frame clocks is random), jitter makes two arrivals fall between two sends, and RFC 4960's "SACK at
least every second packet" then costs a SACK packet of its own (85 bytes). So the sender watches
when the other's driving messages arrive (`on_remote_message`): if, at its sends, the last arrival
is repeatedly less than a quarter of a message period away (before or after), it sends the next
message one frame early (a 1-frame message), which moves its sends half a period (at 2 frames per
message) away from the arrivals. No frame waits longer; it costs one extra message per shift.
The number of bad sends before a shift is drawn at random (3..8) so that two peers with the same
phase do not both shift at once.

Shape calls. With a shape field set (`FieldSet.n_shape`), each frame's driving record is the head
pose and shape coefficients fitted to the frame's tracked 478-point mesh (`sender.shape.ShapeFitter`),
and each source view goes with its own record, fitted to the mesh of the frame it was taken from and
coded as one intra payload in its shape view start (`codec.messages`, 0xF7); the hello names the
shape model's digest.

Speech. With an `AudioConfig` the sender codes speech (`add_audio`: PCM and the Unix time of its
first sample, on the same clock as the frames' capture times) into Opus frames, one per
`frame_ms`, timestamped on the driving stream's clock. `audio_transport` "piggyback" (the default)
puts the frames waiting at a send in front of the compact bundle, in the same message (0xA1);
"separate" sends them at the same moment in a message of their own (0xA0), for comparison. When no
driving message goes (the face is lost, a frame was dropped) the frames waiting longer than a
message period and two frames go alone (`audio_due`), so speech never waits for the face.

Congestion. A frame whose driving message would have to queue behind unsent data (the channel's
`bufferedAmount` above `max_buffered_bytes`) is dropped *before* encoding: the encoder never
sees it, so the receiver's reference chain stays whole (aiortc queues messages rather than
dropping them, which only adds latency: aiortc issue 547).
"""
from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from numpy.typing import NDArray

from codec.audio import AudioConfig, OpusEncoder
from codec.callstats import CallStats
from codec.fields import LANDMARK_FIELDS, DrivingRecord, FieldSet
from codec.images import encode_view
from codec.messages import (
    MAX_AUDIO_FRAMES,
    MAX_VIEW_BYTES,
    MAX_VIEWS,
    AudioSpec,
    FieldSpec,
    Hello,
    encode_control,
    pack_audio,
    pack_driving,
    view_messages,
)
from codec.shape import load_shape_model
from codec.stream import EncodedFrame, StreamEncoder, encode_intra_record
from sender.shape import ShapeFitter
from sender.tracker import TrackedFrame
from sender.views import ViewCandidate, ViewPolicy, ViewSelector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderConfig:
    fps: float = 15.0
    mode: Literal["paper", "predictive"] = "predictive"
    intra_period_s: float = 1.0
    frames_per_message: int = 2  # 7.5 messages/s at 15 FPS: docs/call.md
    max_views: int = MAX_VIEWS
    view_format: str = "avif"  # at quality 35: about 1.9 KB and 36 dB a view (WebP 80: 4.5 KB, 39 dB); docs/call.md
    view_quality: int = 35
    view_kbps: float = 1.0  # long-run budget for source views
    view_burst_bytes: int = 8192  # the first view goes out at once within this
    min_view_distance: float = 0.25  # radians in (yaw, pitch) between views
    first_view_frames: int = 8
    frontal_yaw: float = 0.12
    min_eye_openness: float = 0.18
    max_buffered_bytes: int = 0  # drop a frame if more than this is waiting in the channel
    align_phase: bool = True  # keep our sends half a period from the other's arrivals (see above)
    audio_transport: Literal["piggyback", "separate"] = "piggyback"  # speech in the driving messages, or beside them

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 60:
            raise ValueError("fps must be in (0, 60]")
        if not 1 <= self.frames_per_message <= 4:
            raise ValueError("frames_per_message must be 1..4")
        if not 1 <= self.max_views <= MAX_VIEWS:
            raise ValueError(f"max_views must be 1..{MAX_VIEWS}")
        if self.view_format not in ("webp", "jpeg", "avif"):
            raise ValueError("view_format must be webp, jpeg or avif")

    def view_policy(self) -> ViewPolicy:
        """The view-selection policy these settings give (`sender.views.ViewSelector`)."""
        return ViewPolicy(max_views=self.max_views, min_view_distance=self.min_view_distance,
                          first_view_frames=self.first_view_frames, frontal_yaw=self.frontal_yaw,
                          min_eye_openness=self.min_eye_openness)


@dataclass
class Outgoing:
    driving: bytes | None = None
    control: list[bytes] = field(default_factory=list)
    encoded: list[EncodedFrame] = field(default_factory=list)
    view: ViewCandidate | None = None  # with defer_views: a view for the caller to encode off the event loop
    audio: bytes | None = None  # audio_transport "separate": the speech frames waiting, in their own message


class ViewPacer:
    """Token bucket over view bytes: chunks wait until the budget allows them."""

    def __init__(self, kbps: float, burst_bytes: int) -> None:
        self.rate = kbps * 1000.0 / 8.0
        self.burst = float(burst_bytes)
        self.tokens = float(burst_bytes)
        self.queue: deque[bytes] = deque()
        self._t: float | None = None

    @property
    def busy(self) -> bool:
        return bool(self.queue)

    def push(self, messages: list[bytes]) -> None:
        self.queue.extend(messages)

    def take(self, now: float) -> list[bytes]:
        if self._t is not None:
            self.tokens = min(self.burst, self.tokens + (now - self._t) * self.rate)
        self._t = now
        out: list[bytes] = []
        while self.queue and self.tokens >= len(self.queue[0]):
            message = self.queue.popleft()
            self.tokens -= len(message)
            out.append(message)
        return out


class SenderSide:
    def __init__(self, config: SenderConfig, stats: CallStats, fields: FieldSet | None = None,
                 defer_views: bool = False, audio: AudioConfig | None = None) -> None:
        if config.view_format == "avif" and not avif_available():
            log.warning("this Pillow cannot write AVIF: source views go as WebP at quality %d", WEBP_FALLBACK_QUALITY)
            config = replace(config, view_format="webp", view_quality=WEBP_FALLBACK_QUALITY)
        self.config = config
        self.stats = stats
        self.fields = fields or LANDMARK_FIELDS
        self.encoder = StreamEncoder(self.fields, mode=config.mode, fps=config.fps,
                                     intra_period_s=config.intra_period_s)
        self.views = ViewSelector(config.view_policy())
        self.pacer = ViewPacer(config.view_kbps, config.view_burst_bytes)
        self.defer_views = defer_views  # hand views out (Outgoing.view) instead of encoding them in process()
        self._view_out = False  # a handed-out view not yet back through add_encoded_view()
        self._bundle: list[EncodedFrame] = []
        self._remote_period_s: float | None = None  # the other's message period, from its hello
        self._last_remote: float | None = None  # when its last driving message arrived (monotonic s)
        self._bad_phase = 0
        self._rng = random.Random()
        self._bad_needed = self._rng.randint(3, 8)
        self._shift = False
        self.phase_shifts = 0
        self.epoch_ms: float | None = None
        self.encoded_listeners: list[Callable[[EncodedFrame], None]] = []
        self.fitter: ShapeFitter | None = None  # a shape call's: a tracked mesh -> pose + coefficients
        self.shape_model: str | None = None  # its model's digest (the hello names it)
        if self.fields.n_shape:
            model = load_shape_model()
            self.fitter, self.shape_model = ShapeFitter(model, k=self.fields.n_shape), model.digest
        self._best: ViewCandidate | None = None  # the selector's best candidate, and its record
        self._best_record: DrivingRecord | None = None
        self._view_record: DrivingRecord | None = None  # the record of the view taken (one at a time)
        self.audio = audio
        self._opus = OpusEncoder(audio) if audio is not None else None
        self._audio_seq = 0  # of the next frame the encoder gives
        self._audio_t0: float | None = None  # Unix ms of the first sample coded
        self._audio_pending: list[tuple[int, int, bytes]] = []  # (seq, timestamp ms since epoch, packet)

    def hello(self, epoch_ms: float) -> str:
        self.epoch_ms = epoch_ms
        spec = None if self.audio is None else AudioSpec(rate=self.audio.rate, frame_ms=self.audio.frame_ms,  # type: ignore[arg-type]
                                                         bitrate=self.audio.bitrate)
        return encode_control(Hello(fps=self.config.fps, fields=FieldSpec.of(self.fields, self.shape_model), mode=self.config.mode,
                                    frames_per_message=self.config.frames_per_message, epoch_ms=epoch_ms, audio=spec))

    # -- speech ---------------------------------------------------------------------------------
    def add_audio(self, pcm: NDArray[Any], start_unix_ms: float) -> None:
        """Speech samples whose first one was captured at `start_unix_ms` (continuing the last
        call's samples): coded into the frames waiting for the next message."""
        if self._opus is None or self.audio is None or self.epoch_ms is None:
            return
        if self._audio_t0 is None:
            self._audio_t0 = start_unix_ms
        for packet in self._opus.encode(pcm):
            ts = int(round(self._audio_t0 + self._audio_seq * self.audio.frame_ms - self.epoch_ms))
            self._audio_pending.append((self._audio_seq & 0xFFFF, ts, packet))
            self._audio_seq += 1
            self.stats.add(audio_frames_sent=1, audio_bytes_sent=len(packet))

    def _audio_message(self, driving: bytes | None) -> bytes | None:
        """The oldest waiting frames (up to 16) in front of `driving`, or alone; None if none wait."""
        if not self._audio_pending:
            return driving
        take, self._audio_pending = self._audio_pending[:MAX_AUDIO_FRAMES], self._audio_pending[MAX_AUDIO_FRAMES:]
        packets = [p for _, _, p in take]
        message = pack_audio(take[0][0], take[0][1], packets, driving)
        self.stats.add(audio_framing_bytes=len(message) - sum(map(len, packets)) - len(driving or b""),
                       audio_alone_messages=int(driving is None))
        return message

    def flush_audio(self) -> list[bytes]:
        """Every frame still waiting, in messages of speech alone (the call is ending)."""
        out: list[bytes] = []
        while self._audio_pending:
            message = self._audio_message(None)
            if message is not None:
                out.append(message)
        return out

    def audio_due(self, now_unix_ms: float) -> list[bytes]:
        """Speech that has waited too long for a driving message (the face is lost, frames are
        dropped): messages of speech alone."""
        if not self._audio_pending or self.audio is None or self.epoch_ms is None:
            return []
        wait = 1000.0 * self.config.frames_per_message / self.config.fps + 2 * self.audio.frame_ms
        out: list[bytes] = []
        while self._audio_pending and now_unix_ms - (self.epoch_ms + self._audio_pending[0][1]) > wait:
            message = self._audio_message(None)
            if message is not None:
                out.append(message)
        return out

    def on_remote_hello(self, fps: float, frames_per_message: int) -> None:
        self._remote_period_s = frames_per_message / fps

    def on_remote_message(self, now_s: float) -> None:
        """A driving message of the other peer arrived (monotonic seconds)."""
        self._last_remote = now_s

    def _check_phase(self, now_s: float) -> None:
        """At a send: count sends that fall within a quarter period of the other's arrivals."""
        period = self.config.frames_per_message / self.config.fps
        remote = self._remote_period_s
        last = self._last_remote
        if (not self.config.align_phase or self.config.frames_per_message < 2 or remote is None
                or abs(remote - period) > 0.1 * period or last is None or now_s - last > 2 * period):
            self._bad_phase = 0
            return
        since = (now_s - last) % period
        if min(since, period - since) < period / 4:
            self._bad_phase += 1
        else:
            self._bad_phase = 0
        if self._bad_phase >= self._bad_needed:
            self._shift = True
            self._bad_phase = 0
            self._bad_needed = self._rng.randint(3, 8)

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
        if self.fitter is not None and self.views.best is not None and self.views.best is not self._best:
            self._best, self._best_record = self.views.best, self.fitter.record(tracked.landmarks)  # a candidate of this frame
        if not self.pacer.busy and not self._view_out and self.views.ready():
            view = self.views.take()
            self._view_record = self._best_record if view is self._best else None
            if self.defer_views:
                out.view, self._view_out = view, True
            else:
                self._queue_view(view)
        out.control = self.pacer.take(now_s)
        self.stats.add(view_bytes_sent=sum(map(len, out.control)))
        if congested and not self._bundle:
            self.stats.add(frames_stale_dropped=1)
            return out
        if record is not None:
            rec = record
        elif self.fitter is not None:
            rec = self.fitter.record(tracked.landmarks)
        else:
            rec = DrivingRecord(sup=tracked.sup if self.fields.n_sup else None)
        enc = self.encoder.encode(rec, timestamp_ms=int(capture_unix_ms - self.epoch_ms))
        self.stats.add(frames_encoded=1, codec_bits=enc.bits, payload_bits=enc.payload_bits, intra_frames=int(enc.intra))
        self._bundle.append(enc)
        out.encoded = [enc]
        for listener in self.encoded_listeners:
            listener(enc)
        if len(self._bundle) >= self.config.frames_per_message or self._shift:
            if self._shift:  # sent a frame early: our sends move half a period
                self._shift = False
                self.phase_shifts += 1
                self.stats.add(phase_shifts=1)
            else:
                self._check_phase(now_s)
            if self.config.audio_transport == "separate":
                out.audio = self._audio_message(None)
            out.driving = self.flush()
        return out

    def flush(self) -> bytes | None:
        """The frames waiting in the bundle, packed as one message (None if none): at each send, and
        when the source ends or the call hangs up, so the last frame is not lost."""
        if not self._bundle:
            return None
        message = pack_driving([e.packet for e in self._bundle])
        self._bundle = []
        if self.config.audio_transport == "piggyback":
            return self._audio_message(message)
        return message

    def encode_view(self, view: ViewCandidate) -> bytes:
        """The view's image bytes (thread-safe: touches no sender state)."""
        return encode_view(view.image, self.config.view_format, self.config.view_quality)

    def add_encoded_view(self, view: ViewCandidate, data: bytes | None) -> None:
        """A view handed out by process() comes back encoded (None: encoding failed, the view is
        dropped as an oversized one is); its messages go out with the next frames, paced."""
        self._view_out = False
        if data is None:
            log.warning("a source view could not be encoded: not sent")
            return
        self._queue_view(view, data)

    def _queue_view(self, view: ViewCandidate, data: bytes | None = None) -> None:
        data = self.encode_view(view) if data is None else data
        if len(data) > MAX_VIEW_BYTES:
            log.warning("source view of %d bytes is over the limit: not sent", len(data))
            return
        index = len(self.views.sent) - 1
        if self.fitter is not None:  # a shape call: the view goes with its own record, not landmarks
            if self._view_record is None:
                log.warning("source view %d has no shape record: not sent", index)
                return
            record = encode_intra_record(self.fields, self._view_record, self.config.mode, self.encoder.tables)
            messages = view_messages(index, self.config.view_format, data, view.yaw, view.pitch, None, record)
        else:
            messages = view_messages(index, self.config.view_format, data, view.yaw, view.pitch, view.sup)
        self.pacer.push(messages)
        self.stats.add(views_sent=1)
        log.info("source view %d queued: %d bytes %s, yaw %.2f pitch %.2f", index, len(data),
                 self.config.view_format, view.yaw, view.pitch)


WEBP_FALLBACK_QUALITY = 50  # about the view PSNR of AVIF at 35 (36.5 dB), 2.9 KB


def avif_available() -> bool:
    """Whether this Pillow can write and read AVIF (its wheels have libavif)."""
    try:
        from PIL import features  # noqa: PLC0415 (inside the guard: a Pillow without it has no AVIF)

        return bool(features.check("avif"))
    except Exception:
        return False
