"""Choosing source views: the frames of the caller the receiver keeps and renders from.

As at inference in the first paper (§4): the most frontal frame with the eyes open, plus the frames
at the yaw extremes. `furthest_point` is the second paper's variant: greedily add the frame whose
pose is furthest from the views chosen so far.
"""
from __future__ import annotations

import numpy as np

# FaceMesh indices: eye corners and lids (left eye 33/133 corners, 159/145 lids; right eye 362/263, 386/374).
_EYES = ((33, 133, 159, 145), (362, 263, 386, 374))


def eye_openness(landmarks: np.ndarray) -> float:
    """Mean eye aspect ratio (lid gap / eye width) from FaceMesh landmarks [478, 2+]."""
    ratios = []
    for a, b, up, lo in _EYES:
        width = float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]))
        gap = float(np.linalg.norm(landmarks[up, :2] - landmarks[lo, :2]))
        ratios.append(gap / max(width, 1e-6))
    return float(np.mean(ratios))


def select_views(yaw: np.ndarray, openness: np.ndarray, valid: np.ndarray, n: int = 3, method: str = "extremes") -> list[int]:
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
