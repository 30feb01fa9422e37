"""Losses cost at most the frames up to the next intra; corrupt packets never poison the state."""
from __future__ import annotations

import numpy as np
import pytest

from codec.errors import CodecError
from codec.fields import FieldSet
from codec.stream import MissingReference, StreamDecoder, StreamEncoder
from tests.test_codec_roundtrip import make_records


def test_loss_recovers_exactly_at_next_intra() -> None:
    fields = FieldSet(n_sup=33)
    enc, dec = StreamEncoder(fields, fps=15), StreamDecoder(fields)
    frames = [enc.encode(r) for r in make_records(fields, 45)]
    lost = {3}
    results = []
    for i, ef in enumerate(frames):
        if i in lost:
            continue
        try:
            results.append((i, dec.decode(ef.packet)))
        except MissingReference:
            results.append((i, None))
    decoded = {i for i, d in results if d is not None}
    assert decoded == set(range(3)) | set(range(15, 45))
    for i, d in results:
        if d is not None:
            np.testing.assert_array_equal(d.q, frames[i].q)


def test_corrupt_packet_is_refused_and_state_kept() -> None:
    fields = FieldSet(n_sup=33)
    enc, dec = StreamEncoder(fields, fps=15), StreamDecoder(fields)
    frames = [enc.encode(r) for r in make_records(fields, 6)]
    dec.decode(frames[0].packet)
    bad = bytearray(frames[1].packet)
    bad[len(bad) // 2] ^= 0x10
    with pytest.raises(CodecError):
        dec.decode(bytes(bad))
    # the chain is broken after a refused inter frame: next inter needs the next intra
    with pytest.raises(MissingReference):
        dec.decode(frames[2].packet)


def test_duplicate_or_reordered_packets_are_refused() -> None:
    fields = FieldSet(n_sup=33)
    enc, dec = StreamEncoder(fields, fps=15), StreamDecoder(fields)
    frames = [enc.encode(r) for r in make_records(fields, 4)]
    dec.decode(frames[0].packet)
    dec.decode(frames[1].packet)
    with pytest.raises(MissingReference):
        dec.decode(frames[1].packet)
