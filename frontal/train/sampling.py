"""Choosing the frames of one training example from a face tube's yaw (first paper, §3.3).

Three-frame sampling ("abc"): sources A and C, driving B, with yaw_A > yaw_B > yaw_C and
yaw_A - yaw_C > 0.3 rad. Four-frame sampling ("abbc", the paper's improved one): sources A and C,
drivings B1 (between them, the large-rotation regime) and B2 with |yaw_A - yaw_B2| < 0.1 rad (the
small-rotation regime, identity preservation). In "abc" B2 is B1.

Fallback for tubes whose yaw range is under the 0.3 rad gap (most talking-head clips): A and C are
drawn from the upper and lower thirds of the tube's yaw (their gap is as large as the tube allows),
B1 from the frames strictly between when there are any, else any other frame; B2 as above when
such a frame exists, else the frame nearest A in yaw. `FrameChoice.mode` says which rule was used.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

MIN_GAP = 0.3  # rad, yaw_A - yaw_C
NEAR_A = 0.1  # rad, |yaw_A - yaw_B2|
MODES = ("abc", "abbc")


class FrameChoice(NamedTuple):
    """Frame indices into the tube: sources `a`, `c`; drivings `b1`, `b2`; `mode` "rotation"|"fallback"."""

    a: int
    b1: int
    b2: int
    c: int
    mode: str


def yaw_range(yaw: np.ndarray, valid: np.ndarray) -> float:
    """max - min yaw over the valid frames (0 with fewer than two)."""
    y = yaw[valid]
    return float(y.max() - y.min()) if y.size >= 2 else 0.0


def sample_frames(yaw: np.ndarray, valid: np.ndarray, rng: np.random.Generator, mode: str = "abbc",
                  min_gap: float = MIN_GAP, near_a: float = NEAR_A) -> FrameChoice:
    """One example's frames from `yaw [T]` (rad) and `valid [T]` (bool). Needs >= 3 valid frames."""
    if mode not in MODES:
        raise ValueError(f"sampling mode: expected one of {MODES}, found {mode!r}")
    idx = np.flatnonzero(valid)
    if idx.size < 3:
        raise ValueError(f"sampling: a tube needs at least 3 valid frames, found {idx.size}")
    y = yaw[idx]
    choice = _rotation(idx, y, rng, min_gap) if float(y.max() - y.min()) > min_gap else None
    if choice is None:
        a, b1, c = _fallback(idx, y, rng)
        kind = "fallback"
    else:
        a, b1, c = choice
        kind = "rotation"
    b2 = _near(idx, yaw, a, rng, near_a) if mode == "abbc" else b1
    return FrameChoice(int(a), int(b1), int(b2), int(c), kind)


def _rotation(idx: np.ndarray, y: np.ndarray, rng: np.random.Generator,
              min_gap: float) -> tuple[int, int, int] | None:
    """A, B, C with yaw_A > yaw_B > yaw_C and yaw_A - yaw_C > min_gap, uniformly over valid A."""
    order = np.argsort(y, kind="stable")
    ys = y[order]
    # A candidates: frames with at least one frame below yaw_A - min_gap that leaves room for B
    for _ in range(8):
        ia = int(rng.integers(len(ys)))
        lows = np.flatnonzero(ys < ys[ia] - min_gap)
        if lows.size == 0:
            continue
        ic = int(rng.choice(lows))
        mids = np.flatnonzero((ys < ys[ia]) & (ys > ys[ic]))
        if mids.size == 0:
            continue
        ib = int(rng.choice(mids))
        return idx[order[ia]], idx[order[ib]], idx[order[ic]]
    # deterministic last resort: the extremes and a middle frame
    ia, ic = len(ys) - 1, 0
    mids = np.flatnonzero((ys < ys[ia]) & (ys > ys[ic]))
    if mids.size == 0:
        return None
    return idx[order[ia]], idx[order[int(rng.choice(mids))]], idx[order[ic]]


def _fallback(idx: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    """Little rotation: A from the top third of yaw, C from the bottom third, B1 between if possible."""
    order = np.argsort(y, kind="stable")
    third = max(1, len(order) // 3)
    ia = order[len(order) - 1 - int(rng.integers(third))]
    ic = order[int(rng.integers(third))]
    if ia == ic:  # only possible for tiny tubes
        ic = order[0] if ia != order[0] else order[-1]
    if y[ia] < y[ic]:
        ia, ic = ic, ia
    between = np.flatnonzero((y < y[ia]) & (y > y[ic]))
    if between.size == 0:
        between = np.setdiff1d(np.arange(len(idx)), [ia, ic])
    ib = int(rng.choice(between))
    return idx[ia], idx[ib], idx[ic]


def _near(idx: np.ndarray, yaw: np.ndarray, a: int, rng: np.random.Generator, near_a: float) -> int:
    """A frame other than A with |yaw - yaw_A| < near_a; the nearest in yaw when there is none."""
    others = idx[idx != a]
    close = others[np.abs(yaw[others] - yaw[a]) < near_a]
    if close.size:
        return int(rng.choice(close))
    return int(others[np.argmin(np.abs(yaw[others] - yaw[a]))])
