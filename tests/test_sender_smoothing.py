"""The sender's One Euro smoothing of the model-detected fields."""
from __future__ import annotations

import numpy as np
import pytest

from codec.fields import DrivingRecord
from sender.smoothing import (
    DrivingSmoother,
    OneEuroFilter,
    OneEuroParams,
    SmoothingConfig,
)


def _records(n: int, seed: int = 0, noise: float = 0.02) -> list[DrivingRecord]:
    rng = np.random.default_rng(seed)
    base_u = rng.uniform(-0.5, 0.5, (10, 2))
    base_e = rng.uniform(-0.3, 0.3, 16)
    sup = rng.uniform(-0.5, 0.5, (33, 2)).astype(np.float32)
    return [DrivingRecord(sup=sup + rng.normal(0, noise, sup.shape).astype(np.float32),
                          unsup=(base_u + rng.normal(0, noise, base_u.shape)).astype(np.float32),
                          expr=(base_e + rng.normal(0, noise, base_e.shape)).astype(np.float32)) for _ in range(n)]


def test_jitter_is_reduced_and_supervised_landmarks_pass_untouched() -> None:
    recs = _records(200)
    out = DrivingSmoother(SmoothingConfig.default(), fps=15).run(recs)
    for name in ("unsup", "expr"):
        raw = np.stack([getattr(r, name) for r in recs])
        sm = np.stack([getattr(r, name) for r in out])
        assert np.abs(np.diff(sm, axis=0)).mean() < 0.5 * np.abs(np.diff(raw, axis=0)).mean()
        assert sm.dtype == np.float32 and sm.shape == raw.shape
    for a, b in zip(recs, out):
        assert a.sup is b.sup


def test_first_frame_passes_and_reset_restarts() -> None:
    recs = _records(5)
    sm = DrivingSmoother(SmoothingConfig.default(), fps=15)
    first = sm(recs[0])
    np.testing.assert_array_equal(first.unsup, recs[0].unsup)
    assert not np.array_equal(sm(recs[1]).unsup, recs[1].unsup)
    sm.reset()
    np.testing.assert_array_equal(sm(recs[2]).expr, recs[2].expr)


def test_constant_input_is_a_fixed_point_and_a_step_is_followed() -> None:
    f = OneEuroFilter(OneEuroParams(1.0, 0.5), fps=15)
    x = np.full(4, 0.25)
    for _ in range(5):
        np.testing.assert_allclose(f(x), x, atol=1e-7)
    y = np.full(4, 0.75)
    outs = [f(y) for _ in range(40)]
    assert 0.25 < outs[0][0] < 0.75  # moves towards the new value at once, without overshoot
    assert np.all(np.diff([o[0] for o in outs]) >= -1e-7)
    assert abs(outs[-1][0] - 0.75) < 1e-3


def test_faster_motion_raises_the_cutoff() -> None:
    """beta > 0 lags less behind a ramp than beta = 0 (the One Euro filter's point)."""
    ramp = [np.array([0.02 * t]) for t in range(30)]
    lag = {}
    for beta in (0.0, 2.0):
        f = OneEuroFilter(OneEuroParams(1.0, beta), fps=15)
        lag[beta] = abs(float([f(x) for x in ramp][-1][0]) - 0.02 * 29)
    assert lag[2.0] < lag[0.0]


def test_off_is_the_identity_and_bad_parameters_are_refused() -> None:
    recs = _records(3)
    assert DrivingSmoother(SmoothingConfig.off(), fps=15).run(recs) == recs
    assert not SmoothingConfig.off().enabled and SmoothingConfig.default().enabled
    with pytest.raises(ValueError):
        OneEuroParams(0.0, 0.5)
    with pytest.raises(ValueError):
        OneEuroFilter(OneEuroParams(1.0, 0.5), fps=0)
