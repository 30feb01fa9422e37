"""Choosing source views: the frames of the caller the receiver keeps and renders from.

One policy, `ViewSelector`, runs live and offline: it sees frames in order and decides from the
frames seen so far. The first view is the most frontal frame with the eyes open within the first
`first_view_frames` frames with a face (earlier if one is frontal within `frontal_yaw`). Later
views follow online furthest-point selection in (yaw, pitch), the second paper's variant: a frame
whose pose is at least `min_view_distance` radians from every view taken, eyes open, becomes a
candidate; the furthest candidate seen is taken as soon as the caller asks, up to `max_views`.

`select_views` is the whole-clip *oracle* (future frames included), as at inference in the first
paper (§4): the most frontal frame with the eyes open plus the frames at the yaw extremes. It is a
reference for evaluation only, labelled as such wherever it is reported; a call cannot use it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.messages import MAX_VIEWS
from sender.tracker import TrackedFrame


@dataclass(frozen=True)
class ViewPolicy:
    max_views: int = MAX_VIEWS
    min_view_distance: float = 0.25  # radians in (yaw, pitch) between views
    first_view_frames: int = 8
    frontal_yaw: float = 0.12
    min_eye_openness: float = 0.18


@dataclass(frozen=True)
class ViewCandidate:
    image: NDArray[Any]
    sup: NDArray[Any]
    yaw: float
    pitch: float
    openness: float

# FaceMesh indices: eye corners and lids (left eye 33/133 corners, 159/145 lids; right eye 362/263, 386/374).
_EYES = ((33, 133, 159, 145), (362, 263, 386, 374))


def eye_openness(landmarks: NDArray[Any]) -> float:
    """Mean eye aspect ratio (lid gap / eye width) from FaceMesh landmarks [478, 2+]."""
    ratios = []
    for a, b, up, lo in _EYES:
        width = float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]))
        gap = float(np.linalg.norm(landmarks[up, :2] - landmarks[lo, :2]))
        ratios.append(gap / max(width, 1e-6))
    return float(np.mean(ratios))


def select_views(yaw: NDArray[Any], openness: NDArray[Any], valid: NDArray[Any], n: int = 3, method: str = "extremes") -> list[int]:
    """Frame indices of up to `n` source views, the frontal one first.

    yaw [T] radians, openness [T] eye aspect ratios, valid [T] frames with a face.
    """
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return []
    open_ok = openness[idx] >= 0.6 * np.median(openness[idx])
    cand = idx[open_ok] if open_ok.any() else idx
    first = int(cand[np.argmin(np.abs(yaw[cand]))])
    chosen = [first]
    if n <= 1:
        return chosen
    if method == "extremes":
        for pick in (int(idx[np.argmax(yaw[idx])]), int(idx[np.argmin(yaw[idx])])):
            if len(chosen) < n and pick not in chosen and abs(yaw[pick] - yaw[first]) > 0.05:
                chosen.append(pick)
        method = "furthest"  # fill any remaining slots
    if method == "furthest":
        while len(chosen) < min(n, len(idx)):
            dist = np.min(np.abs(yaw[idx][:, None] - yaw[chosen][None, :]), axis=1)
            best = int(idx[np.argmax(dist)])
            if best in chosen or dist.max() < 0.02:
                break
            chosen.append(best)
    return chosen


class ViewSelector:
    """Online furthest-point selection of source views in (yaw, pitch)."""

    def __init__(self, policy: ViewPolicy) -> None:
        self.config = policy
        self.sent: list[tuple[float, float]] = []
        self.best: ViewCandidate | None = None
        self._seen = 0

    def consider(self, tracked: TrackedFrame) -> None:
        if not tracked.face_found or len(self.sent) >= self.config.max_views:
            return
        openness = eye_openness(tracked.landmarks)
        if openness < self.config.min_eye_openness and self.sent:
            return
        cand = ViewCandidate(tracked.image.copy(), tracked.sup.copy(), float(tracked.pose.yaw),
                             float(tracked.pose.pitch), openness)
        self._seen += 1
        if not self.sent:
            if self.best is None or self._first_score(cand) < self._first_score(self.best):
                self.best = cand
        elif self.distance(cand) >= self.config.min_view_distance:
            if self.best is None or self.distance(cand) > self.distance(self.best):
                self.best = cand

    def _first_score(self, c: ViewCandidate) -> float:
        closed = 1.0 if c.openness < self.config.min_eye_openness else 0.0
        return closed + math.hypot(c.yaw, c.pitch)

    def distance(self, c: ViewCandidate) -> float:
        return min((math.hypot(c.yaw - y, c.pitch - p) for y, p in self.sent), default=math.inf)

    def ready(self) -> bool:
        """A view should be sent now (the first one: frontal enough, or its window is over)."""
        if self.best is None:
            return False
        if self.sent:
            return True
        b = self.best
        frontal = abs(b.yaw) <= self.config.frontal_yaw and b.openness >= self.config.min_eye_openness
        return frontal or self._seen >= self.config.first_view_frames

    def take(self) -> ViewCandidate:
        if self.best is None:
            raise RuntimeError("no view is ready: call ready() first")
        best, self.best = self.best, None
        self.sent.append((best.yaw, best.pitch))
        return best
