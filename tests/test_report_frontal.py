"""Frontal's side of the report: honest bit accounting, the loss pattern, hold-and-resync, and
rendering from the views the receiver holds at each frame."""
from __future__ import annotations

import numpy as np
import pytest

from codec.fields import DrivingRecord, FieldSet
from codec.tables import load_tables
from frontal.eval.classical import decode_with_loss, encode_classical
from frontal.eval.clips import synthetic_clip
from frontal.jsonio import to_json
from frontal.report.frontal_side import (
    NO_POSE,
    NO_VIEW,
    FrontalRate,
    decode_held,
    encode_stream,
    held_frames,
    loss_mask,
    rate_of,
    render_stream,
)
from frontal.views_live import SourcedRenderer, SourcePlan, SourceView, ViewScheduleReport

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
    assert to_json(r)["kbps_call"] == pytest.approx(r.kbps_call)


def test_rate_of_counts_whole_packets(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    coded = encode_stream(records, FIELDS, tables, "predictive", 15.0)
    r = rate_of(coded, "predictive", 15.0, (500,), 60.0)
    assert r.packet_bits == sum(8 * len(f.packet) for f in coded)
    assert r.packet_bits == r.payload_bits + 72 * len(coded)


def test_oracle_view_bytes_are_webp_sizes() -> None:
    imgs = synthetic_clip(n_frames=2, size=64)
    plan = SourcePlan.oracle([0, 1], list(imgs), [None, None])
    assert len(plan.view_bytes) == 2 and all(0 < s < imgs[0].nbytes for s in plan.view_bytes)
    assert plan.choice == "oracle" and plan.first_arrival == 0 and plan.view_format == "webp q80"
    assert plan.report.bytes_sent == sum(plan.view_bytes) and plan.report.view_kbps is None


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
    """A renderer whose picture is 10 + its number of sources (so a test sees which set it used)."""

    def __init__(self, max_sources: int | None = None) -> None:
        self.max_sources = max_sources
        self.calls = 0
        self.sources: list[int] = []

    @property
    def num_sources(self) -> int:
        return len(self.sources)

    def add_source(self, image: np.ndarray, sup: object = None) -> int:
        self.sources.append(int(image[0, 0, 0]))
        return len(self.sources)

    def reset(self) -> None:
        self.sources.clear()

    def render(self, **_: object) -> np.ndarray:
        self.calls += 1
        return np.full((256, 256, 3), 10 + len(self.sources), np.uint8)


def _plan(arrivals: list[int]) -> SourcePlan:
    """Views numbered by their image value, arriving at `arrivals`."""
    views = tuple(SourceView(k, a, np.full((256, 256, 3), k, np.uint8), None) for k, a in enumerate(arrivals))
    report = ViewScheduleReport("live", "avif", 35, 1.0, 8192, min(arrivals, default=None), None, 0, [])
    return SourcePlan("live", views, (), report)


def test_views_are_used_from_their_arrival(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    packets = [f.packet for f in encode_stream(records, FIELDS, tables, "paper", 15.0)]
    clean = decode_held(packets, FIELDS, tables)
    renderer = CountingRenderer()
    rendered = render_stream(SourcedRenderer(renderer, _plan([5, 20])), clean)
    values = rendered.frames[:, 0, 0, 0]
    assert (values[:5] == NO_VIEW).all()  # no view yet: black, nothing rendered
    assert (values[5:20] == 11).all() and (values[20:] == 12).all()
    assert renderer.calls == len(rendered.render_ms) == 55 and renderer.sources == [0, 1]


def test_held_frames_reuse_the_lossless_render(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    packets = [f.packet for f in encode_stream(records, FIELDS, tables, "paper", 15.0)]
    clean = decode_held(packets, FIELDS, tables)
    rendered = np.broadcast_to(np.arange(60, dtype=np.uint8)[:, None, None, None], (60, 256, 256, 3)).copy()
    lossy = decode_held(packets, FIELDS, tables, loss_mask(60, 0.2, 1))
    renderer = CountingRenderer()
    frames, rerendered = held_frames(clean, rendered, lossy, SourcedRenderer(renderer, _plan([0])))
    assert rerendered == 0 and renderer.calls == 0
    for i, j in enumerate(lossy.shown):
        assert (frames[i] == (NO_POSE if j < 0 else j)).all()


def test_held_frames_rerender_with_the_views_of_their_frame(records: list[DrivingRecord], tables) -> None:  # type: ignore[no-untyped-def]
    packets = [f.packet for f in encode_stream(records, FIELDS, tables, "predictive", 15.0)]
    clean = decode_held(packets, FIELDS, tables)
    renderer = CountingRenderer()
    source = SourcedRenderer(renderer, _plan([3, 40]))
    rendered = render_stream(source, clean)
    lost = np.zeros(60, dtype=bool)
    lost[[0, 31]] = True  # the first intra frame (nothing until 15), and an inter frame (held to 45)
    lossy = decode_held(packets, FIELDS, tables, lost)
    frames, _ = held_frames(clean, rendered.frames, lossy, source)
    values = frames[:, 0, 0, 0]
    assert (values[:3] == NO_VIEW).all() and (values[3:15] == NO_POSE).all()  # a view but no pose yet
    assert (values[31:45] == 11).all()  # holds frame 30's picture (one view then), though view 2 came at 40
    assert (values[45:] == 12).all()
