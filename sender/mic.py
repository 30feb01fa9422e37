"""Speech from a microphone (`frontal call --mic [DEVICE]`): an ALSA capture device read by PyAV
on its own thread, resampled to the call's rate, int16 mono.

    mic = Microphone("default")        # AudioError (one line) if the device cannot be opened
    taken = mic.take(now_unix_ms)      # (Unix ms of the first sample, samples) or None: as AudioTrack
    mic.close()

It stands where a file's `AudioTrack` stands in the sender (`VideoSource.audio`), with the same
`take`: every sample captured since the last take, stamped with the Unix time it was captured.
The sound card's clock is trusted between samples; when it drifts more than `resync_ms` from the
system clock (or after an overrun) the stamp restarts from the arrival time (`resyncs`). Samples not
taken within `max_buffer_s` are dropped, oldest first (`dropped_samples`): a stalled call does not
play old speech. A device that fails mid-call makes the next `take` raise `AudioError`, which ends
the call with that message: speech never stops silently.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

import av
import numpy as np
from numpy.typing import NDArray

from codec.audio import SAMPLE_RATE, AudioError, open_sound_device

log = logging.getLogger(__name__)


class Microphone:
    def __init__(self, device: str = "default", rate: int = SAMPLE_RATE, max_buffer_s: float = 1.0,
                 resync_ms: float = 200.0) -> None:
        self.device, self.rate = device, rate
        self.max_samples = int(max_buffer_s * rate)
        self.resync_ms = resync_ms
        self.dropped_samples = 0
        self.resyncs = 0
        self.error: str | None = None
        self._container = open_sound_device(device, "r", "microphone")
        self._lock = threading.Lock()
        self._chunks: deque[NDArray[np.int16]] = deque()
        self._buffered = 0
        self._start_ms: float | None = None  # capture time of the first buffered sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="microphone", daemon=True)
        self._thread.start()

    def anchor(self, unix_ms: float) -> None:
        """A video loop started (`AudioTrack.anchor`): a microphone keeps its own clock."""

    def take(self, until_ms: float) -> tuple[float, NDArray[np.int16]] | None:
        """Everything captured since the last take (`until_ms` is ignored: what is here was captured
        before now) with the capture time of its first sample; None when nothing is buffered."""
        with self._lock:
            if self.error is not None:
                raise AudioError(self.error)
            if not self._chunks or self._start_ms is None:
                return None
            pcm = np.concatenate(list(self._chunks))
            start = self._start_ms
            self._chunks.clear()
            self._buffered = 0
            self._start_ms = start + len(pcm) * 1000.0 / self.rate
        return start, pcm

    def _run(self) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
        try:
            stream = self._container.streams.audio[0]
            for frame in self._container.decode(stream):
                if self._stop.is_set():
                    return
                for out in resampler.resample(frame):
                    self._add(out.to_ndarray().reshape(-1).astype(np.int16), time.time() * 1000.0)
            raise AudioError(f"microphone {self.device!r}: the device stopped giving sound")
        except Exception as exc:  # noqa: BLE001 (any failure of the device is reported by the next take, not lost)
            if self._stop.is_set():
                return
            message = str(exc) if isinstance(exc, AudioError) else f"microphone {self.device!r}: {str(exc).splitlines()[0]}"
            log.error("%s", message)
            with self._lock:
                self.error = message
        finally:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as exc:
                log.debug("microphone close: %s", exc)

    def _add(self, pcm: NDArray[np.int16], arrival_ms: float) -> None:
        """Samples that arrived at `arrival_ms` (the last of them captured just before)."""
        if not len(pcm):
            return
        with self._lock:
            first = arrival_ms - len(pcm) * 1000.0 / self.rate  # where the card's clock puts them
            expected = None if self._start_ms is None else self._start_ms + self._buffered * 1000.0 / self.rate
            if expected is None or abs(expected - first) > self.resync_ms:
                if expected is not None:
                    self.resyncs += 1
                if self._buffered:  # keep the buffer continuous: what waited is dropped with the old clock
                    self.dropped_samples += self._buffered
                    self._chunks.clear()
                    self._buffered = 0
                self._start_ms = first
            self._chunks.append(pcm)
            self._buffered += len(pcm)
            while self._buffered > self.max_samples:
                old = self._chunks.popleft()
                self._buffered -= len(old)
                self.dropped_samples += len(old)
                assert self._start_ms is not None
                self._start_ms += len(old) * 1000.0 / self.rate

    def close(self) -> None:
        """Stop reading (the reader thread closes the device after its current read)."""
        self._stop.set()
        self._thread.join(timeout=1.0)
