"""Dense motion network (FOM `Dm`; mobile form: appendix 6.1.1).

Input: keypoint displacements as difference-of-Gaussian maps at SxS (`geometry.displacement_maps`),
`P + 1` channels. An hourglass predicts soft masks over the P + 1 candidate motions (one per
keypoint plus identity, `geometry.sparse_motions`) and a confidence logit map. The flow is the
mask-weighted sum of the candidates: a backward sampling grid from the target pose into the source
pose. The same network is the Frontalizer's flow predictor (`frontalizer.py`), target = p_r.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import Hourglass, HourglassConfig
from models.geometry import displacement_maps, motion_flow


@dataclass(frozen=True)
class DenseMotionConfig:
    """`num_kp` keypoints (sup + unsup) at `size`x`size`; `channels` of the hourglass."""

    kind: str = "mobile"  # "mobile" | "dense"
    num_kp: int = 43
    size: int = 32
    channels: tuple[int, ...] = (48, 64, 96)
    head_kernel: int = 3
    expansion: int = 2  # inverted-residual expansion of the mobile hourglass


class MotionOutput(NamedTuple):
    """`flow [B, S, S, 2]` (grid for grid_sample), `confidence [B, 1, S, S]` (logits),
    `masks [B, P + 1, S, S]` (softmax over candidate motions)."""

    flow: torch.Tensor
    confidence: torch.Tensor
    masks: torch.Tensor


class DenseMotion(nn.Module):
    """`kp_from, kp_to [B, P, 2]` (+ optional Jacobians `[B, P, 2, 2]`) -> `MotionOutput`.

    The flow maps each pixel of the `kp_to` pose to where it is found in the `kp_from` pose.
    """

    def __init__(self, cfg: DenseMotionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hourglass = Hourglass(HourglassConfig(cfg.kind, cfg.num_kp + 1, cfg.channels, cfg.expansion))
        c = self.hourglass.out_channels
        pad = cfg.head_kernel // 2
        self.mask = nn.Conv2d(c, cfg.num_kp + 1, cfg.head_kernel, padding=pad)
        self.confidence = nn.Conv2d(c, 1, cfg.head_kernel, padding=pad)

    def forward(self, kp_from: torch.Tensor, kp_to: torch.Tensor,
                jac_from: torch.Tensor | None = None,
                jac_to: torch.Tensor | None = None) -> MotionOutput:
        s = self.cfg.size
        maps = displacement_maps(kp_from, kp_to, s, s)  # [B, P+1, S, S]
        feat, _ = self.hourglass(maps)
        masks = F.softmax(self.mask(feat), dim=1)
        flow = motion_flow(masks, kp_from, kp_to, jac_from, jac_to)  # [B, S, S, 2]
        return MotionOutput(flow, self.confidence(feat), masks)
