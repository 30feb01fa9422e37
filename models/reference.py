"""The frontal layout of the 33 supervised landmarks that initialises the Frontalizer's p_r.

The paper initialises p_r's supervised part at the dataset's mean landmark layout (a front-facing
face). `FRONTAL_33` is that mean, in the order of `sender.landmarks.SUP33` (docs/landmarks.md:
chin, chin_r, chin_l, jaw_r, jaw_l, cheeks, temples, brows, eyes, nose, lips), measured once on the
`frontal prepare` cache of ../shared/data/faces at 15 fps (117 clips; frames with a face and
|pose[0]| < 10 degrees; per-clip means, then the mean over clips). Normalised crop coordinates,
x right, y down. A trainer may refine it with `Frontalizer.set_reference(mean_sup)`.
"""
from __future__ import annotations

import math

import torch

FRONTAL_33: tuple[tuple[float, float], ...] = (
    (0.018, 0.663), (-0.066, 0.656), (0.100, 0.652), (-0.340, 0.442), (0.361, 0.428),
    (-0.447, 0.050), (0.444, 0.034), (-0.446, -0.145), (0.435, -0.161),
    (-0.366, -0.184), (-0.265, -0.246), (-0.092, -0.235), (0.095, -0.238), (0.263, -0.254),
    (0.363, -0.194),
    (-0.282, -0.086), (-0.208, -0.116), (-0.107, -0.079), (-0.198, -0.065),
    (0.113, -0.084), (0.213, -0.123), (0.286, -0.095), (0.205, -0.073),
    (0.005, -0.122), (0.012, 0.158), (-0.104, 0.190), (0.124, 0.185),
    (-0.152, 0.359), (0.174, 0.352), (0.010, 0.287), (0.014, 0.462), (0.010, 0.328),
    (0.012, 0.394),
)


def frontal_layout(n: int) -> torch.Tensor:
    """`[n, 2]` initial positions: `FRONTAL_33` for 33 points, else n points on a face-sized ellipse."""
    if n == len(FRONTAL_33):
        return torch.tensor(FRONTAL_33, dtype=torch.float32)
    t = torch.arange(n, dtype=torch.float32) * (2 * math.pi / max(n, 1))
    return torch.stack([0.45 * torch.cos(t), 0.55 * torch.sin(t)], dim=-1)
