"""The classical codecs' side: floor, rate sweep and an encode matched to Frontal's bitrate.

Per codec and keyframe setting (`frontal.eval.classical`): `find_lowest` (its halving trail is
also a rate sweep from 32 kbps down to the floor), the extra `rates`, and `match_rate`, an
encode whose *actual* rate is as close as rate control allows to a goal (Frontal's). Where the
codec's floor is above the goal, the floor encode stands in and the point is marked unreachable.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from frontal.eval.classical import (
    ClassicalResult,
    Codec,
    KeyInt,
    decode,
    encode_classical,
    find_lowest,
)
from frontal.report.types import ClassicalPoint

log = logging.getLogger(__name__)

MATCH_TOLERANCE = 0.05  # a matched encode within 5 % of the goal stops the search
MATCH_TRIES = 4


@dataclass(frozen=True, eq=False)
class SettingRun:
    """One codec at one keyframe setting on one clip."""

    codec: Codec
    keyint: KeyInt
    floor: ClassicalResult
    points: tuple[ClassicalResult, ...]  # every distinct encode, sorted by actual rate
    matched: ClassicalResult
    goal_kbps: float
    reachable: bool  # the floor is at or below the goal (within tolerance)
    decode_ms_per_frame: float


def stream_key(r: ClassicalResult) -> str:
    """Identical bitstreams (asking below the floor gives the same stream) share a key."""
    h = hashlib.blake2b(digest_size=12)
    for p in r.bitstream.packets:
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return h.hexdigest()


def match_rate(frames: np.ndarray, fps: float, codec: Codec, keyint: KeyInt, goal_kbps: float,
               floor: ClassicalResult) -> tuple[ClassicalResult, bool]:
    """An encode whose actual rate is closest to `goal_kbps` (rate control over/undershoots, so
    the target is corrected by actual/goal up to MATCH_TRIES times). (result, reachable)."""
    if floor.kbps_actual > goal_kbps * (1 + MATCH_TOLERANCE):
        return floor, False
    best = last = encode_classical(frames, fps, codec, goal_kbps, keyint)
    target = goal_kbps
    for _ in range(MATCH_TRIES - 1):
        if abs(last.kbps_actual / goal_kbps - 1) <= MATCH_TOLERANCE:
            break
        target *= goal_kbps / last.kbps_actual
        last = encode_classical(frames, fps, codec, target, keyint)
        if abs(math.log(last.kbps_actual / goal_kbps)) < abs(math.log(best.kbps_actual / goal_kbps)):
            best = last
    if floor.kbps_actual >= goal_kbps and abs(math.log(floor.kbps_actual / goal_kbps)) < abs(math.log(best.kbps_actual / goal_kbps)):
        best = floor
    return best, True


def run_setting(frames: np.ndarray, fps: float, codec: Codec, keyint: KeyInt, rates: Sequence[float],
                goal_kbps: float) -> SettingRun:
    lowest = find_lowest(frames, fps, codec, keyint)
    extra = [encode_classical(frames, fps, codec, k, keyint) for k in rates]
    matched, reachable = match_rate(frames, fps, codec, keyint, goal_kbps, lowest.result)
    unique: dict[str, ClassicalResult] = {}
    for r in (*lowest.tried, *extra, matched):
        unique.setdefault(stream_key(r), r)
    t0 = time.perf_counter()
    decode(matched.bitstream)
    decode_ms = (time.perf_counter() - t0) * 1000.0 / len(frames)
    return SettingRun(codec, keyint, lowest.result, tuple(sorted(unique.values(), key=lambda r: r.kbps_actual)),
                      matched, goal_kbps, reachable, decode_ms)


def describe(r: ClassicalResult) -> ClassicalPoint:
    """The rate facts of one encode (no frames, not scored)."""
    return ClassicalPoint(
        kbps_target=r.kbps_target,
        kbps_actual=r.kbps_actual,
        bits_total=r.bits_total,
        keyframe_bits=int(r.bits_per_frame[np.asarray(r.bitstream.keyframes)].sum()),
        reached_by="max quantizer" if r.kbps_target is None else f"{r.kbps_target:g} kbps target",
    )
