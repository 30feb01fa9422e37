"""Both coding modes are lossless in the quantized domain, for every field set, and closed-loop."""
from __future__ import annotations

import numpy as np
import pytest

from codec.fields import DrivingRecord, FieldSet
from codec.quant import Quantizer
from codec.stream import StreamDecoder, StreamEncoder
from codec.tables import load_tables
from tests.conftest import synthetic_landmarks

FIELD_SETS = [
    FieldSet(n_sup=33),
    FieldSet(n_sup=33, n_unsup=10, n_expr=16),
    FieldSet(n_sup=0, n_unsup=10, jacobians=True),
    FieldSet(n_sup=33, n_unsup=10, jacobians=True, n_expr=16),
]


def make_records(fields: FieldSet, frames: int = 40, seed: int = 0) -> list[DrivingRecord]:
    rng = np.random.default_rng(seed)
    sup = synthetic_landmarks(frames, 33, seed)
    unsup = synthetic_landmarks(frames, max(fields.n_unsup, 1), seed + 1)
    out = []
    for t in range(frames):
        rec = DrivingRecord()
        if fields.n_sup:
            rec.sup = sup[t]
        if fields.n_unsup:
            rec.unsup = unsup[t]
        if fields.jacobians:
            rec.jac = (np.eye(2)[None] + rng.normal(0, 0.2, (fields.n_unsup, 2, 2))).astype(np.float32)
        if fields.n_expr:
            rec.expr = rng.uniform(0, 1, fields.n_expr).astype(np.float32)
        out.append(rec)
    return out


@pytest.mark.parametrize("mode", ["paper", "predictive"])
@pytest.mark.parametrize("fields", FIELD_SETS, ids=lambda f: f.name)
def test_round_trip_is_exact_in_the_quantized_domain(fields: FieldSet, mode: str) -> None:
    tables = load_tables()
    enc = StreamEncoder(fields, tables, mode=mode, fps=15)
    dec = StreamDecoder(fields, tables)
    quant = Quantizer(fields, mode=mode)
    steps = {g.name: g.step for g in fields.groups(mode)}
    for rec in make_records(fields):
        ef = enc.encode(rec)
        df = dec.decode(ef.packet)
        np.testing.assert_array_equal(df.q, ef.q)
        np.testing.assert_array_equal(df.q, quant.quantize(rec))
        back = quant.dequantize(df.q)
        np.testing.assert_array_equal(df.record.unsup if fields.n_unsup else 0, back.unsup if fields.n_unsup else 0)
        # every value within half a step of its group (positions: of the relative step; the
        # decoded mean they are relative to is exact in the decoder too)
        for name in ("sup", "unsup", "expr"):
            if getattr(fields, f"n_{name}"):
                err = np.abs(getattr(back, name) - getattr(rec, name)).max()
                assert err <= steps[name] / 2 + 1e-6, (name, err)


def test_predictive_mode_quantizes_model_fields_coarser() -> None:
    """The paper's depths in paper mode; 8-bit keypoints and 7-bit expression in predictive mode."""
    fields = FieldSet(n_sup=33, n_unsup=10, n_expr=16)
    paper = {g.name: g.bits for g in fields.groups("paper")}
    pred = {g.name: g.bits for g in fields.groups("predictive")}
    assert paper == {"mean": 10, "sup": 8, "unsup": 12, "expr": 10}
    assert pred == {"mean": 10, "sup": 8, "unsup": 8, "expr": 7}
    with pytest.raises(ValueError, match="unknown coding mode"):
        fields.groups("lossy")


def test_intra_period_and_request() -> None:
    fields = FieldSet(n_sup=33)
    enc = StreamEncoder(fields, fps=15, intra_period_s=1.0)
    flags = [enc.encode(r).intra for r in make_records(fields, 31)]
    assert [i for i, f in enumerate(flags) if f] == [0, 15, 30]
    enc.request_intra()
    assert enc.encode(make_records(fields, 1)[0]).intra


def test_packets_say_which_intra_they_depend_on() -> None:
    from codec import wire

    fields = FieldSet(n_sup=33)
    enc = StreamEncoder(fields, fps=15)
    pkts = [wire.unpack(enc.encode(r).packet) for r in make_records(fields, 20)]
    assert [p.depends_on for p in pkts] == [0] * 15 + [15] * 5
    assert all(p.seq == i for i, p in enumerate(pkts))


def test_predictive_beats_paper_on_real_landmarks() -> None:
    """On the embedded real talking head (tracked at 15 FPS), with the shipped tables."""
    from frontal.pipeline import track_clip
    from sender.video import default_video

    clip = track_clip(default_video(), fps=15, max_frames=90, keep_images=False)
    fields = FieldSet(n_sup=33)
    bits = {}
    for mode in ("paper", "predictive"):
        enc = StreamEncoder(fields, mode=mode, fps=15)
        bits[mode] = np.mean([enc.encode(DrivingRecord(sup=s), timestamp_ms=0).payload_bits for s in clip.sup])
    assert bits["predictive"] < 0.9 * bits["paper"]


def test_hysteresis_reduces_bits_and_bounds_error() -> None:
    fields = FieldSet(n_sup=33)
    recs = make_records(fields, 60)
    Quantizer(fields)  # a field set the quantizer accepts
    out = {}
    for h in (0.0, 0.75):
        enc = StreamEncoder(fields, fps=15, hysteresis=h)
        dec = StreamDecoder(fields)
        bits, err = [], []
        for r in recs:
            ef = enc.encode(r)
            bits.append(ef.payload_bits)
            err.append(np.abs(dec.decode(ef.packet).record.sup - r.sup).max())
        out[h] = (np.mean(bits), max(err))
    assert out[0.75][0] <= out[0.0][0]
    step = 2.0 / 255
    assert out[0.75][1] <= 0.75 * step + (2.0 / 1023) + 1e-6


def test_record_validation_names_the_field() -> None:
    fields = FieldSet(n_sup=33, n_expr=16)
    enc = StreamEncoder(fields)
    with pytest.raises(ValueError, match="expr"):
        enc.encode(DrivingRecord(sup=np.zeros((33, 2), np.float32)))
    with pytest.raises(ValueError, match="sup"):
        enc.encode(DrivingRecord(sup=np.full((33, 2), np.nan, np.float32), expr=np.zeros(16, np.float32)))
    with pytest.raises(ValueError, match="shape"):
        enc.encode(DrivingRecord(sup=np.zeros((32, 2), np.float32), expr=np.zeros(16, np.float32)))


def test_fieldset_parse() -> None:
    assert FieldSet.parse("sup").name == "sup33"
    assert FieldSet.parse("sup,unsup,expr").name == "sup33+unsup10+expr16"
    assert FieldSet.parse("unsup,jac").name == "unsup10+jac"
    with pytest.raises(ValueError):
        FieldSet.parse("bogus")
