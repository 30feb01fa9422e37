"""The classical side of the report: an encode matched to a goal bitrate, floors, distinct streams."""
from __future__ import annotations

import numpy as np
import pytest

from frontal.eval.classical import encode_classical, encode_max_quantizer
from frontal.eval.clips import synthetic_clip
from frontal.report.classical_side import (
    MATCH_TOLERANCE,
    describe,
    match_rate,
    run_setting,
    stream_key,
)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return synthetic_clip(n_frames=15, size=64)


def test_match_rate_lands_near_the_goal(frames: np.ndarray) -> None:
    floor = encode_max_quantizer(frames, 15.0, "x264", "1s")
    goal = max(3 * floor.kbps_actual, 40.0)
    r, reachable = match_rate(frames, 15.0, "x264", "1s", goal, floor)
    assert reachable
    first = encode_classical(frames, 15.0, "x264", goal, "1s")  # the uncorrected first try
    assert abs(np.log(r.kbps_actual / goal)) <= abs(np.log(first.kbps_actual / goal)) + 1e-12


def test_goal_below_the_floor_gives_the_floor(frames: np.ndarray) -> None:
    floor = encode_max_quantizer(frames, 15.0, "x264", "1s")
    r, reachable = match_rate(frames, 15.0, "x264", "1s", floor.kbps_actual / (2 + MATCH_TOLERANCE), floor)
    assert r is floor and not reachable


def test_identical_streams_share_a_key(frames: np.ndarray) -> None:
    a = encode_classical(frames, 15.0, "x264", 30.0, "1s")
    b = encode_classical(frames, 15.0, "x264", 30.0, "1s")
    c = encode_classical(frames, 15.0, "x264", 120.0, "1s")
    assert stream_key(a) == stream_key(b) != stream_key(c)
    assert describe(c).kbps_actual == c.kbps_actual and describe(c).keyframe_bits > 0


def test_run_setting_points_are_distinct_and_sorted(frames: np.ndarray) -> None:
    run = run_setting(frames, 15.0, "x264", "clip", rates=(200.0,), goal_kbps=60.0)
    keys = [stream_key(r) for r in run.points]
    assert len(set(keys)) == len(keys)
    kbps = [r.kbps_actual for r in run.points]
    assert kbps == sorted(kbps) and kbps[0] == run.floor.kbps_actual
    assert stream_key(run.matched) in keys and run.decode_ms_per_frame > 0
