"""The Frontalizer (paper §3.2.1, appendix 6.1.1): N source views fused into one embedding in a
learned reference pose p_r.

For each source i, a dense-motion hourglass predicts a flow t^{p_i -> p_r} and a confidence map
c_i from the difference-of-Gaussian displacements between p_i and p_r; each source's features are
grid-sampled to p_r; the confidences are softmaxed over sources; the weighted sum is the embedding.
Sources are processed independently and combined by a softmax-weighted sum, so the result does not
depend on their order, and any N >= 1 works (trained with N = 2).

p_r (`reference`, `[P, 2]`) is a parameter: the supervised part starts at a frontal layout
(`reference.py`, or the dataset mean via `Frontalizer.set_reference`), the unsupervised part at
small random offsets around the centre.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from models.dense_motion import DenseMotion, DenseMotionConfig
from models.geometry import warp
from models.reference import frontal_layout


@dataclass(frozen=True)
class FrontalizerConfig:
    """The Frontalizer's motion network and the layout of p_r (`n_sup` + `n_unsup` points)."""

    motion: DenseMotionConfig
    n_sup: int = 33
    n_unsup: int = 10
    unsup_init_radius: float = 0.2
    init_seed: int = 0
    #: render by composing the flows driving -> p_r -> source i and sampling each source once
    #: (one resampling of the source features instead of two); the fusion weights are sampled the same way.
    #: A render option, not architecture: left out of config equality (as `ModelConfig.notes`), so a
    #: checkpoint loads under its registry name with the option it was trained with
    compose_warps: bool = field(default=False, compare=False)
    #: per-frame view selection (composed warps only): source i's fusion weights are multiplied by
    #: exp(-(d_i - min_j d_j) / T), d_i the mean distance between its centred supervised landmarks and
    #: the frame's, and renormalised over sources, so views posed like the frame count more. 0 = off.
    #: A render option like `compose_warps` (no parameters)
    view_temperature: float = field(default=0.0, compare=False)


class FrontalizerOutput(NamedTuple):
    """`embedding [B, C, H, W]` in p_r; `flows [B, N, S, S, 2]`; `weights [B, N, 1, S, S]` (softmax
    over sources); `warped [B, N, C, H, W]` (each source's features in p_r)."""

    embedding: torch.Tensor
    flows: torch.Tensor
    weights: torch.Tensor
    warped: torch.Tensor


class Frontalizer(nn.Module):
    """`features [B, N, C, H, W]`, `kp [B, N, P, 2]` -> `FrontalizerOutput` in pose p_r."""

    def __init__(self, cfg: FrontalizerConfig) -> None:
        super().__init__()
        if cfg.n_sup + cfg.n_unsup != cfg.motion.num_kp:
            raise ValueError(f"Frontalizer: n_sup + n_unsup = {cfg.n_sup + cfg.n_unsup} "
                             f"but the motion network takes {cfg.motion.num_kp} keypoints")
        self.cfg = cfg
        self.motion = DenseMotion(cfg.motion)
        gen = torch.Generator().manual_seed(cfg.init_seed)
        unsup = (torch.rand(cfg.n_unsup, 2, generator=gen) * 2 - 1) * cfg.unsup_init_radius
        sup = frontal_layout(cfg.n_sup)
        self.reference = nn.Parameter(torch.cat([sup, unsup], dim=0))  # p_r [P, 2]

    @torch.no_grad()
    def set_reference(self, sup_mean: torch.Tensor) -> None:
        """Re-initialise the supervised part of p_r, e.g. to the dataset's mean frontal layout `[n_sup, 2]`."""
        if tuple(sup_mean.shape) != (self.cfg.n_sup, 2):
            raise ValueError(f"set_reference: expected shape ({self.cfg.n_sup}, 2), found {tuple(sup_mean.shape)}")
        self.reference[: self.cfg.n_sup].copy_(sup_mean.to(self.reference))

    def forward(self, features: torch.Tensor, kp: torch.Tensor) -> FrontalizerOutput:
        b, n, c, h, w = features.shape
        p = kp.shape[2]
        ref = self.reference.unsqueeze(0).expand(b * n, p, 2)
        motion = self.motion(kp.reshape(b * n, p, 2), ref)  # flow: p_r pixel -> where in source i
        warped = warp(features.reshape(b * n, c, h, w), motion.flow).view(b, n, c, h, w)
        s = motion.flow.shape[1]
        weights = torch.softmax(motion.confidence.view(b, n, 1, s, s), dim=1)
        wmap = weights
        if (s, s) != (h, w):
            wmap = nn.functional.interpolate(weights.flatten(0, 1), size=(h, w), mode="bilinear",
                                             align_corners=False).view(b, n, 1, h, w)
        embedding = (wmap * warped).sum(dim=1)
        return FrontalizerOutput(embedding, motion.flow.view(b, n, s, s, 2), weights, warped)
