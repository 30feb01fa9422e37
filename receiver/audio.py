"""The receiving half of a call's speech: a jitter buffer and its playout, on the sender's clock.

    rx = AudioReceiver(AudioConfig(), hello.epoch_ms, stats, sinks=[recorder.add_audio])
    rx.on_frames(seq, timestamp_ms, packets, arrival_unix_ms)   # each audio message (event loop)
    rx.tick(now_unix_ms)                                         # every few ms: plays what is due

Frame k of the stream was captured at the sender's Unix time `epoch_ms + timestamp` (the driving
stream's clock, the `hello`'s epoch); it is played at that time plus the playout delay `delay_ms`,
the same for every frame, so the speech keeps its own timing. The delay follows the arrivals: the
98th percentile of (arrival - capture) over the last 250 frames plus a 10-ms margin, reached in
steps of one frame once playing (it starts after 10 frames have arrived; growing: one concealed frame is inserted, `audio_stretched`; shrinking: one
frame is skipped, `audio_dropped`), at most one step a second. A frame that is not there at its
playout time is concealed (Opus PLC, `audio_concealed`), never waited for; one that comes later
is dropped (`audio_late`). When nothing has arrived for `pause_ms` playout pauses (a sender that
stopped, or a long outage) and resumes with the next frame that arrives in time.

Lip sync: `delay_ms` is what the video side adds to its frames' schedule (`receiver.live`), so
face and voice are played against one clock. Sinks get each played frame's PCM and the Unix time
(receiver's clock) it plays at; a sink that raises is counted (`audio_sink_errors`, logged the
first time) and the playout goes on.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from codec.audio import AudioConfig, OpusDecoder
from codec.callstats import CallStats
from codec.errors import CodecError

log = logging.getLogger(__name__)

AudioSink = Callable[[NDArray[np.int16], float], None]  # PCM, the Unix ms it plays at


class AudioReceiver:
    def __init__(self, config: AudioConfig, epoch_ms: float, stats: CallStats, sinks: list[AudioSink] | None = None,
                 initial_delay_ms: float = 200.0, margin_ms: float = 10.0, pause_ms: float = 600.0,
                 max_delay_ms: float = 600.0) -> None:
        self.config = config
        self.epoch_ms = epoch_ms
        self.stats = stats
        self.sinks = sinks if sinks is not None else []
        self.delay_ms = initial_delay_ms
        self.margin_ms = margin_ms
        self.pause_ms = pause_ms
        self.max_delay_ms = max_delay_ms
        self._decoder = OpusDecoder(config)
        self._buffer: dict[int, bytes] = {}  # unwrapped seq -> packet
        self._capture: dict[int, float] = {}  # unwrapped seq -> capture Unix ms
        self._newest: int | None = None  # unwrapped seq of the newest frame received
        self._next: int | None = None  # the next frame to play (None: paused / not started)
        self._next_capture = 0.0
        self._last_arrival = -1e18
        self._delays: deque[float] = deque(maxlen=250)  # arrival - capture, ms
        self._last_step = -1e18
        self._pending_step = 0  # +1: insert a frame; -1: skip one

    @property
    def playing(self) -> bool:
        return self._next is not None

    # -- arrivals (event loop) --------------------------------------------------------------------
    def on_frames(self, seq: int, timestamp_ms: int, packets: list[bytes], arrival_unix_ms: float) -> None:
        self.stats.add(audio_frames_received=len(packets))
        self._last_arrival = arrival_unix_ms
        for k, packet in enumerate(packets):
            useq = self._unwrap((seq + k) & 0xFFFF)
            capture = self._capture_ms((timestamp_ms + k * self.config.frame_ms) & 0xFFFF, arrival_unix_ms)
            self._delays.append(arrival_unix_ms - capture)
            if self._newest is None or useq > self._newest:
                self._newest = useq
            if self._next is not None and useq < self._next:
                self.stats.add(audio_late=1)
                continue
            self._buffer[useq] = packet
            self._capture[useq] = capture
        self._adapt(arrival_unix_ms)

    def _unwrap(self, seq16: int) -> int:
        if self._newest is None:
            return seq16
        delta = ((seq16 - self._newest + 0x8000) & 0xFFFF) - 0x8000
        return self._newest + delta

    def _capture_ms(self, ts16: int, now_ms: float) -> float:
        approx = now_ms - self.epoch_ms
        wraps = round((approx - ts16) / 65536.0)
        return self.epoch_ms + ts16 + 65536.0 * wraps

    def _adapt(self, now_ms: float) -> None:
        """Aim the delay at the 98th percentile of recent arrivals plus the margin, one frame a step."""
        if len(self._delays) < 10:
            return
        target = min(self.max_delay_ms, float(np.percentile(np.asarray(self._delays), 98)) + self.margin_ms)
        if self._next is None:  # not playing: take the target at once
            self.delay_ms = max(float(self.config.frame_ms), target)
            return
        if now_ms - self._last_step < 1000.0 or self._pending_step:
            return
        frame = self.config.frame_ms
        if target > self.delay_ms:
            self._pending_step = 1
        elif target < self.delay_ms - 1.5 * frame:
            self._pending_step = -1

    # -- playout ------------------------------------------------------------------------------
    def tick(self, now_ms: float) -> int:
        """Play every frame due by `now_ms`; returns how many were played."""
        if self._next is None and not self._start(now_ms):
            return 0
        played = 0
        frame = self.config.frame_ms
        while self._next is not None and self._next_capture + self.delay_ms <= now_ms:
            if self._pending_step > 0:  # grow: one concealed frame, the schedule moves a frame later
                self._pending_step, self._last_step = 0, now_ms
                self.delay_ms += frame
                self._emit(self._decoder.conceal(), self._next_capture + self.delay_ms - frame, None)
                self.stats.add(audio_stretched=1)
                played += 1
                continue
            seq = self._next
            packet = self._buffer.pop(seq, None)
            self._capture.pop(seq, None)
            if self._pending_step < 0 and packet is not None:  # shrink: skip this frame
                self._pending_step, self._last_step = 0, now_ms
                self.delay_ms -= frame
                self.stats.add(audio_dropped=1)
                self._advance()
                continue
            if packet is None and now_ms - self._last_arrival > self.pause_ms and (self._newest is None or self._newest < seq):
                self._pause()  # nothing newer for a while: the sender stopped, or a long outage
                break
            self._emit(self._play(packet), self._next_capture + self.delay_ms, now_ms - self._next_capture)
            played += 1
            self._advance()
        return played

    def _play(self, packet: bytes | None) -> NDArray[np.int16]:
        if packet is not None:
            try:
                return self._decoder.decode(packet)
            except CodecError as exc:
                log.debug("audio frame concealed: %s", exc)
                self.stats.add(audio_bad=1)
        self.stats.add(audio_concealed=1)
        return self._decoder.conceal()

    def _advance(self) -> None:
        assert self._next is not None
        self._next += 1
        self._next_capture += self.config.frame_ms

    def _start(self, now_ms: float) -> bool:
        """Start (or resume) with the oldest buffered frame still in time (older ones are late).
        The first start waits for 10 arrivals, so the delay is measured, not guessed."""
        if len(self._delays) < 10:
            return False
        for seq in sorted(self._buffer):
            capture = self._capture[seq]
            if capture + self.delay_ms >= now_ms - self.config.frame_ms:
                self._next, self._next_capture = seq, capture
                return True
            self._buffer.pop(seq)
            self._capture.pop(seq)
            self.stats.add(audio_late=1)
        return False

    def _pause(self) -> None:
        self._next = None
        self._pending_step = 0

    def _emit(self, pcm: NDArray[np.int16], play_ms: float, latency_ms: float | None) -> None:
        """Hand a frame to the sinks; `latency_ms`: its capture to now (None: an inserted frame)."""
        self.stats.add(audio_frames_played=1)
        if latency_ms is not None:
            self.stats.add_audio_latency(latency_ms)
        for sink in self.sinks:
            try:
                sink(pcm, play_ms)
            except Exception:  # noqa: BLE001 (a sink's failure is counted; the playout goes on for the others)
                if not self.stats.audio_sink_errors:
                    log.exception("audio sink failed")
                self.stats.add(audio_sink_errors=1)

