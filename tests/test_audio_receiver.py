"""The speech jitter buffer (`receiver.audio.AudioReceiver`) on a synthetic clock: frames play at
capture + delay in order, a missing one is concealed, a sink that raises is counted and the others
still play."""
from __future__ import annotations

import numpy as np

from codec.audio import AudioConfig, encode_pcm
from codec.callstats import CallStats
from receiver.audio import AudioReceiver

EPOCH = 1_000_000.0


def _packets(n: int) -> list[bytes]:
    t = np.arange(n * 640) / 16000.0
    return encode_pcm((8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16))[:n]


def _run(rx: AudioReceiver, packets: list[bytes | None], transit_ms: float = 30.0) -> None:
    for k, p in enumerate(packets):
        capture = k * 40
        if p is not None:
            rx.on_frames(k, capture, [p], EPOCH + capture + transit_ms)
        rx.tick(EPOCH + capture + transit_ms)
    rx.tick(EPOCH + (len(packets) - 1) * 40 + rx.delay_ms)  # up to the last frame's playout, no further


def test_frames_play_in_order_and_a_missing_one_is_concealed() -> None:
    stats, played = CallStats(), []
    rx = AudioReceiver(AudioConfig(), EPOCH, stats, sinks=[lambda pcm, at: played.append((at, len(pcm)))])
    packets: list[bytes | None] = list(_packets(40))
    packets[25] = None
    _run(rx, packets)
    assert stats.audio_concealed == 1 and stats.audio_bad == 0
    times = [at for at, _ in played]
    assert times == sorted(times) and all(n == 640 for _, n in played)
    assert stats.audio_frames_played == len(played) >= 30


def test_a_sink_that_raises_is_counted_and_the_others_still_play() -> None:
    stats, played = CallStats(), []

    def broken(pcm: np.ndarray, at: float) -> None:
        raise OSError("device gone")

    rx = AudioReceiver(AudioConfig(), EPOCH, stats, sinks=[broken, lambda pcm, at: played.append(at)])
    _run(rx, list(_packets(30)))
    assert len(played) >= 20
    assert stats.audio_sink_errors == len(played)
    assert stats.snapshot()["audio_sink_errors"] == len(played)
