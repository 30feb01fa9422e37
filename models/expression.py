"""Free expression module (paper §3.2.2, appendix 6.1.2): the keypoint detector's centre feature
-> Linear -> 32 -> BatchNorm -> ReLU -> Linear -> M=16 -> Sigmoid. The code conditions the decoder.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ExpressionConfig:
    """MLP sizes: `in_features` (512 mobile, 4096 dense) -> `hidden` -> `num_expr`."""

    in_features: int = 512
    hidden: int = 32
    num_expr: int = 16


class ExpressionHead(nn.Module):
    """`centre [B, in_features] -> expr [B, num_expr]` in (0, 1)."""

    def __init__(self, cfg: ExpressionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = nn.Sequential(
            nn.Linear(cfg.in_features, cfg.hidden),
            nn.BatchNorm1d(cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, cfg.num_expr),
            nn.Sigmoid(),
        )

    def forward(self, centre: torch.Tensor) -> torch.Tensor:
        return self.mlp(centre)
