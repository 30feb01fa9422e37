"""Max-pool multi-view aggregation (Volokitin et al., "Neural Face Video Compression using Multiple
Views", §3.1): each source view is warped to the driving pose and masked by its own dense motion,
then the same two residual blocks are applied to every view and the views are max-pooled. Invariant
to the order and the number of views. Unlike the Frontalizer this runs per frame, N times.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.blocks import InvertedResidual, ResBlock


@dataclass(frozen=True)
class MaxPoolConfig:
    """`num_blocks` shared residual blocks of width `channels` before the max over views."""

    kind: str = "mobile"
    channels: int = 32
    num_blocks: int = 2
    expansion: int = 4


class MaxPoolAggregator(nn.Module):
    """`warped [B, N, C, H, W]` (already occlusion-masked) -> `[B, C, H, W]` (max over N)."""

    def __init__(self, cfg: MaxPoolConfig) -> None:
        super().__init__()
        self.cfg = cfg
        blocks: list[nn.Module] = [
            InvertedResidual(cfg.channels, cfg.channels, 1, cfg.expansion) if cfg.kind == "mobile"
            else ResBlock(cfg.channels)
            for _ in range(cfg.num_blocks)
        ]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, warped: torch.Tensor) -> torch.Tensor:
        b, n = warped.shape[:2]
        y = self.blocks(warped.flatten(0, 1))
        return y.unflatten(0, (b, n)).amax(dim=1)
