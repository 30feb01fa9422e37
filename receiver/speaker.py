"""The other caller's speech on a sound card (`frontal call --speaker [DEVICE]`): an `AudioSink`
that writes to an ALSA playback device through PyAV, on its own thread.

    speaker = Speaker("default")            # AudioError (one line) if the device cannot be opened
    peer.audio_sinks.append(speaker)        # each played frame: speaker(pcm, play_unix_ms)
    speaker.close()

The jitter buffer (`receiver.audio.AudioReceiver`) already hands each frame over at its playout
time, so the speaker writes what it gets in order; the device's blocking writes pace the thread.
Frames that find `max_queue_s` already waiting are dropped (`dropped_frames`): a device that
stalls does not make the speech fall ever further behind. A device that fails is logged once and
kept in `error`; `frontal call` reports it when the call ends.
"""
from __future__ import annotations

import fractions
import logging
import queue
import threading

import av
import numpy as np
from numpy.typing import NDArray

from codec.audio import SAMPLE_RATE, AudioError, open_sound_device

log = logging.getLogger(__name__)


class Speaker:
    def __init__(self, device: str = "default", rate: int = SAMPLE_RATE, max_queue_s: float = 0.5,
                 frame_ms: int = 40) -> None:
        self.device, self.rate = device, rate
        self.dropped_frames = 0
        self.played_samples = 0
        self.error: str | None = None
        self._container = open_sound_device(device, "w", "speaker")
        self._stream = self._container.add_stream("pcm_s16le", rate=rate, layout="mono")
        self._stream.time_base = fractions.Fraction(1, rate)
        try:
            self._container.start_encoding()  # ALSA opens the device here: a bad one is refused now
        except (av.error.FFmpegError, OSError) as exc:
            raise AudioError(f"speaker {device!r}: cannot open it ({str(exc).splitlines()[0]})") from None
        self._queue: queue.Queue[NDArray[np.int16] | None] = queue.Queue(maxsize=max(1, int(max_queue_s * 1000 / frame_ms)))
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    def __call__(self, pcm: NDArray[np.int16], play_unix_ms: float) -> None:
        """A frame of speech due now (`receiver.audio.AudioSink`; any thread, never blocks)."""
        if self.error is not None:
            return
        try:
            self._queue.put_nowait(np.asarray(pcm, np.int16).reshape(-1))
        except queue.Full:
            self.dropped_frames += 1

    def _run(self) -> None:
        pts = 0
        try:
            while (pcm := self._queue.get()) is not None:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, :]), format="s16", layout="mono")
                frame.sample_rate, frame.pts = self.rate, pts
                pts += len(pcm)
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
                self.played_samples += len(pcm)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.error = f"speaker {self.device!r}: {str(exc).splitlines()[0]}"
            log.error("%s", self.error)
        finally:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as exc:
                log.debug("speaker close: %s", exc)

    def close(self, timeout_s: float = 1.0) -> None:
        """Play what is queued (within `timeout_s`), then release the device."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            log.warning("speaker %r: still busy at the end of the call; %d frames not played", self.device, self._queue.qsize())
        self._thread.join(timeout=timeout_s)
