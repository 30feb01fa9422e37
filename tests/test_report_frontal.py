"""Frontal's side of the report: honest bit accounting, the loss pattern, hold-and-resync."""
from __future__ import annotations

import numpy as np
import pytest

from codec.fields import DrivingRecord, FieldSet
from codec.tables import load_tables
from frontal.eval.classical import decode_with_loss, encode_classical
from frontal.eval.clips import synthetic_clip
from frontal.report.frontal_side import (
    FrontalRate,
    decode_held,
    encode_stream,
    held_frames,
    loss_mask,
    rate_of,
    view_bytes,
)

FIELDS = FieldSet(n_sup=33)


@pytest.fixture(scope="module")
def tables():  # type: ignore[no-untyped-def]
    return load_tables()


@pytest.fixture
def records(landmarks: np.ndarray) -> list[DrivingRecord]:
    return [DrivingRecord(sup=p) for p in landmarks]  # 60 frames at 15 FPS = 4 s


def test_rate_counts_views_over_clip_and_call() -> None:
    r = FrontalRate("predictive", frames=60, fps=15.0, packet_bits=24_000, payload_bits=19_680,
                    view_bytes=(1000, 2000, 1000), call_seconds=60.0)
    assert r.seconds == 4.0
    assert r.packet_kbps == pytest.approx(6.0)
    assert r.kbps_clip == pytest.approx(6.0 + 32_000 / 4 / 1000)  # views over the 4-s clip: +8 kbps
    assert r.kbps_call == pytest.approx(6.0 + 32_000 / 60 / 1000)  # over a 60-s call: +0.53 kbps
    long = FrontalRate("paper", 1800, 15.0, 720_000, 0, (4000,), 60.0)  # a clip longer than the call
    assert long.kbps_call == pytest.approx(long.kbps_clip)
    assert r.to_json()["kbps_call"] == pytest.approx(r.kbps_call)


def test_rate_of_counts_whole_packets(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    coded = encode_stream(records, FIELDS, tables, "predictive", 15.0)
    r = rate_of(coded, "predictive", 15.0, (500,), 60.0)
    assert r.packet_bits == sum(8 * len(f.packet) for f in coded)
    assert r.packet_bits == r.payload_bits + 72 * len(coded)


def test_view_bytes_are_webp_sizes() -> None:
    imgs = synthetic_clip(n_frames=2, size=64)
    sizes = view_bytes(imgs)
    assert len(sizes) == 2 and all(0 < s < imgs[0].nbytes for s in sizes)


def test_loss_mask_is_the_classical_pattern() -> None:
    frames = synthetic_clip(n_frames=20, size=32)
    r = encode_classical(frames, 15.0, "x264", 50.0, "1s")
    for rate, seed in ((0.05, 0), (0.2, 3)):
        assert np.array_equal(loss_mask(20, rate, seed), decode_with_loss(r.bitstream, rate, seed).lost)
    with pytest.raises(ValueError):
        loss_mask(5, 1.5, 0)


def test_hold_and_resync(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    packets = [f.packet for f in encode_stream(records, FIELDS, tables, "predictive", 15.0)]
    clean = decode_held(packets, FIELDS, tables)
    assert np.array_equal(clean.shown, np.arange(60)) and not clean.frozen.any()
    lost = np.zeros(60, dtype=bool)
    lost[[0, 20, 47]] = True  # the first intra frame, and two inter frames
    held = decode_held(packets, FIELDS, tables, lost)
    assert np.array_equal(held.shown[:15], np.full(15, -1))  # nothing until the intra at frame 15
    assert np.array_equal(held.shown[20:30], np.full(10, 19))  # holds frame 19 until the intra at 30
    assert held.shown[30] == 30 and held.shown[47] == 46 and held.shown[59] == 46
    assert held.frozen.sum() == 15 + 10 + 13
    for i in np.flatnonzero(~held.frozen):  # closed loop: after a resync the values are the same
        assert np.array_equal(held.decoded[i].q, clean.decoded[i].q)


class CountingRenderer:
    def __init__(self) -> None:
        self.calls = 0

    def render(self, **_: object) -> np.ndarray:
        self.calls += 1
        return np.zeros((256, 256, 3), np.uint8)


def test_held_frames_reuse_the_lossless_render(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    packets = [f.packet for f in encode_stream(records, FIELDS, tables, "paper", 15.0)]
    clean = decode_held(packets, FIELDS, tables)
    rendered = np.broadcast_to(np.arange(60, dtype=np.uint8)[:, None, None, None], (60, 256, 256, 3)).copy()
    lossy = decode_held(packets, FIELDS, tables, loss_mask(60, 0.2, 1))
    renderer = CountingRenderer()
    frames, rerendered = held_frames(clean, rendered, lossy, renderer)
    assert rerendered == 0 and renderer.calls == 0
    for i, j in enumerate(lossy.shown):
        assert (frames[i] == (128 if j < 0 else j)).all()
