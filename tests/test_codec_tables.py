"""The shipped tables are integers, pinned, and build bit-identical coders on both ends.

A refit (`frontal fit-tables`) changes the bitstream: update the pinned digests below in the same
commit, on purpose.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from codec.fields import FieldSet
from codec.frame_coder import CoderState, FrameCoder
from codec.tables import DEFAULT_TABLES, Tables, load_tables

TABLES_SHA256 = "ce32bfcbecdcac1aa333f1767b03b39b149700eca16a63ef00734eace056be04"
GOLDEN_PACKETS = {
    # sha256 of the payloads of tests/expected/golden_q.json coded with the shipped tables
    "paper": "2fefca0adb414e493a5190005f48047a82084fa7b942326d43acd65b92c58e37",
    "predictive": "830242558e8f8bb33b2428878a273d44a759cd27beb166f078beb04ed7a81080",
}
GOLDEN = Path(__file__).parent / "expected" / "golden_q.json"


def _ints_only(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() if k != "provenance" for p in _ints_only(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _ints_only(v, f"{path}[{i}]")]
    return [] if isinstance(node, (int, str)) and not isinstance(node, bool) else [path]


def test_tables_file_is_pinned() -> None:
    assert load_tables().digest == TABLES_SHA256, "tables changed: a bitstream change (update the pin on purpose)"


def test_tables_hold_integers_only() -> None:
    doc = json.loads(DEFAULT_TABLES.read_text())
    assert _ints_only(doc) == []
    assert doc["provenance"]["fitted"] is True


def test_both_ends_build_identical_models() -> None:
    a, b = load_tables(), Tables(json.loads(DEFAULT_TABLES.read_text()))
    fields = FieldSet(n_sup=33, n_unsup=10, n_expr=16)
    ca, cb = FrameCoder(fields, a, "predictive"), FrameCoder(fields, b, "predictive")
    assert ca.buckets.probs.tobytes() == cb.buckets.probs.tobytes()
    for x, y in zip(ca.paper_tables["inter"], cb.paper_tables["inter"]):
        assert x.probs.tobytes() == y.probs.tobytes()
    fa, fb = a.for_fields(fields), b.for_fields(fields)
    assert fa.inter.coef_q12.tobytes() == fb.inter.coef_q12.tobytes()
    assert fa.fitted == ("mean", "sup", "unsup", "expr")  # the default model's field set is fitted
    # ... at both modes' depths (the predictive mode's are coarser: its own layout and deviations)
    fp = a.for_fields(fields, "predictive")
    assert fp.fitted == ("mean", "sup", "unsup", "expr")
    assert not np.array_equal(fp.layout, fa.layout)
    tail = slice(2 + 66, None)  # unsup and expr, after the mean and the 33 landmarks
    assert fp.layout[tail].max() <= 255 and fa.layout[tail].max() > 255
    assert a.for_fields(FieldSet(n_sup=33)).fitted == ("mean", "sup")


def _golden_digest(mode: str) -> str:
    doc = json.loads(GOLDEN.read_text())
    coder = FrameCoder(FieldSet(n_sup=33), load_tables(), mode)
    state = CoderState()
    h = hashlib.sha256()
    for i, q in enumerate(doc["q"]):
        payload, _ = coder.encode(np.asarray(q, np.int64), state, intra=(i % 15 == 0))
        h.update(len(payload).to_bytes(2, "big") + payload)
    return h.hexdigest()


def test_golden_payloads() -> None:
    for mode, digest in GOLDEN_PACKETS.items():
        assert _golden_digest(mode) == digest, f"{mode} payloads changed: a bitstream change"


def test_fit_tables_command(tmp_path: Path) -> None:
    """`frontal fit-tables` on a tiny prepared folder writes tables that code losslessly."""
    from codec.fields import DrivingRecord
    from codec.stream import StreamDecoder, StreamEncoder
    from frontal.dataset import is_validation
    from frontal.fit import main as fit_main
    from tests.conftest import synthetic_landmarks

    labels = [f"person_{i}" for i in range(12)]
    train = [lab for lab in labels if not is_validation(lab)]
    for i, lab in enumerate(labels):
        np.savez(tmp_path / f"clip{i}.npz", sup=synthetic_landmarks(40, 33, seed=i), face_found=np.ones(40, bool), fps=np.float64(15.0), identity_label=np.array(lab))
    out = tmp_path / "tables.json"
    assert fit_main(["--data", str(tmp_path), "--out", str(out)]) == 0
    tables = load_tables(out)
    assert tables.doc["provenance"]["clips"] == len(train)
    fields = FieldSet(n_sup=33)
    enc, dec = StreamEncoder(fields, tables, fps=15), StreamDecoder(fields, tables)
    for sup in synthetic_landmarks(20, 33, seed=99):
        ef = enc.encode(DrivingRecord(sup=sup))
        np.testing.assert_array_equal(dec.decode(ef.packet).q, ef.q)
    assert fit_main(["--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
