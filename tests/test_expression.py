"""Expression fidelity (frontal/eval/expression.py) on constructed FaceMesh sequences, and in the
report's scorer on the embedded clip."""
from __future__ import annotations

import math

import numpy as np
import pytest

from frontal.eval.expression import (
    BROWS,
    EYES,
    INNER_LIPS,
    MIN_PAIRS,
    ExpressionSignals,
    expression_fidelity,
    expression_signals,
    frame_signals,
    pearson,
)
from frontal.eval.landmarks import OUTER_EYE_CORNERS
from frontal.pipeline import track_clip
from frontal.report.quality import Scorer
from sender.video import default_video


def face(mouth: float, eyes: float, brows: float, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """FaceMesh-like points [478, 2] whose signals are exactly (mouth, eyes, brows): inter-ocular
    distance 1, eye width 0.4 (corners at x = ±0.5, ±0.1), all scaled and shifted."""
    p = np.zeros((478, 2))
    p[OUTER_EYE_CORNERS[0]], p[OUTER_EYE_CORNERS[1]] = (-0.5, 0.0), (0.5, 0.0)
    (a, b, up, lo), (c, d, up2, lo2) = EYES
    p[b], p[c] = (-0.1, 0.0), (0.1, 0.0)
    for u, low, x in ((up, lo, -0.3), (up2, lo2, 0.3)):
        p[u], p[low] = (x, -0.2 * eyes), (x, 0.2 * eyes)  # gap 0.4 * eyes over width 0.4
    for brow, lid in BROWS:
        p[brow] = p[lid] - (0.0, brows)
    p[INNER_LIPS[0]], p[INNER_LIPS[1]] = (0.0, 0.6), (0.0, 0.6 + mouth)
    return p * scale + shift


def test_constructed_face_gives_its_signals() -> None:
    for s, t in ((1.0, 0.0), (80.0, 128.0)):  # any scale and offset: the signals are ratios
        assert frame_signals(face(0.2, 0.3, 0.15, s, t)) == pytest.approx((0.2, 0.3, 0.15))


def test_identical_sequences_correlate_at_one() -> None:
    rng = np.random.default_rng(0)
    faces = [face(*rng.uniform(0.05, 0.4, 3)) for _ in range(30)]
    sig = expression_signals(faces)
    scores = expression_fidelity(sig, sig)
    assert (scores.mouth, scores.eyes, scores.brows) == pytest.approx((1.0, 1.0, 1.0))
    assert scores.n_pairs == scores.n_frames == 30
    # a bigger, shifted face moving the same way still correlates at 1
    moved = expression_signals([f * 2.5 + 40.0 for f in faces])
    assert expression_fidelity(sig, moved).mouth == pytest.approx(1.0)


def test_known_correlation() -> None:
    x = np.arange(1.0, 11.0)
    y = np.array([2, 1, 4, 3, 6, 5, 8, 7, 10, 9], float)  # neighbours swapped: r = 77.5 / 82.5 = 31/33
    r, n = pearson(x, y)
    assert r == pytest.approx(31 / 33) and n == 10
    assert pearson(x, -x)[0] == pytest.approx(-1.0)
    ref = expression_signals([face(0.02 * v, 0.3, 0.1 + 0.01 * v) for v in x])
    out = expression_signals([face(0.02 * v, 0.3 + 0.01 * v, 0.1) for v in y])
    s = expression_fidelity(ref, out)
    assert s.mouth == pytest.approx(31 / 33)
    assert math.isnan(s.eyes) and math.isnan(s.brows)  # the input's eyes / output's brows do not move


def test_frames_without_a_face_are_skipped() -> None:
    v = np.linspace(0.1, 0.4, 14)
    ref = [face(m, 0.3, 0.1) for m in v]
    out: list[np.ndarray | None] = [face(m, 0.3, 0.1) for m in v]
    out[3] = out[7] = None
    s = expression_fidelity(expression_signals(ref), expression_signals(out))
    assert s.n_pairs == 12 and s.mouth == pytest.approx(1.0)
    out[0] = out[1] = out[2] = None  # 9 pairs left: fewer than MIN_PAIRS
    s = expression_fidelity(expression_signals(ref), expression_signals(out))
    assert s.n_pairs == MIN_PAIRS - 1 and math.isnan(s.mouth)
    assert set(s.summary()) == {"expr_mouth", "expr_eyes", "expr_brows", "expr_pairs"}


def test_mismatched_lengths_are_refused() -> None:
    a = ExpressionSignals(np.zeros(3), np.zeros(3), np.zeros(3))
    b = ExpressionSignals(np.zeros(4), np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="3 and 4 frames"):
        expression_fidelity(a, b)


def test_scorer_on_the_embedded_clip() -> None:
    """FaceMesh on the real crops: the input against itself correlates at 1; a time-reversed copy
    does not. A black output has no face: no pairs, no value."""
    ref = np.stack(track_clip(default_video(), fps=15.0, max_frames=30).images)
    with Scorer(ref, 15.0) as scorer:
        same = scorer.score(ref, ["expr"])
        reversed_ = scorer.score(ref[::-1].copy(), ["expr"])
        black = scorer.score(np.zeros_like(ref), ["psnr", "expr"])
    assert same["expr_pairs"] >= 25
    assert (same["expr_mouth"], same["expr_eyes"], same["expr_brows"]) == pytest.approx((1.0, 1.0, 1.0))
    assert reversed_["expr_mouth"] is not None and reversed_["expr_mouth"] < 0.9
    assert black["expr_pairs"] == 0 and black["expr_mouth"] is None and black["psnr"] < 15
