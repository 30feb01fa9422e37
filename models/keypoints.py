"""Unsupervised keypoint detector (FOM `Kp`; mobile form: paper appendix 6.1.1).

A 64x64 image goes through an hourglass; a conv head gives K heatmaps, a spatial softmax and a
centre of mass give K keypoints in [-1, 1] (x right, y down, align_corners=False). An optional head
gives local 2x2 Jacobians (heatmap-weighted, initialised at identity). The hourglass' centre feature
(mobile 128x2x2 = 512, dense 1024x2x2 = 4096) feeds the expression module (`expression.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import Hourglass, HourglassConfig
from models.geometry import coordinate_grid


@dataclass(frozen=True)
class KeypointDetectorConfig:
    """Keypoint detector: `num_kp` points from a `input_size` image, optional Jacobians."""

    kind: str = "mobile"  # "mobile" | "dense"
    num_kp: int = 10
    input_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 96, 128)
    jacobians: bool = False
    temperature: float = 0.1
    head_kernel: int = 3
    expansion: int = 2  # inverted-residual expansion of the mobile hourglass

    @property
    def centre_features(self) -> int:
        """Size of the flattened hourglass centre feature (the expression module's input)."""
        side = self.input_size // 2 ** len(self.channels)
        return self.channels[-1] * side * side


class KeypointOutput(NamedTuple):
    """`kp [B, K, 2]`, `jacobian [B, K, 2, 2] | None`, `heatmaps [B, K, S, S]` (softmaxed), `centre [B, D]`."""

    kp: torch.Tensor
    jacobian: torch.Tensor | None
    heatmaps: torch.Tensor
    centre: torch.Tensor


class KeypointDetector(nn.Module):
    """`image [B, 3, H, W]` float in [0, 1] (H = W, a multiple of `input_size`) -> `KeypointOutput`."""

    def __init__(self, cfg: KeypointDetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hourglass = Hourglass(HourglassConfig(cfg.kind, 3, cfg.channels, cfg.expansion))
        c = self.hourglass.out_channels
        pad = cfg.head_kernel // 2
        self.heatmap = nn.Conv2d(c, cfg.num_kp, cfg.head_kernel, padding=pad)
        self.jacobian: nn.Conv2d | None = None
        if cfg.jacobians:
            self.jacobian = nn.Conv2d(c, 4 * cfg.num_kp, cfg.head_kernel, padding=pad)
            nn.init.zeros_(self.jacobian.weight)
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(cfg.num_kp))

    def forward(self, image: torch.Tensor) -> KeypointOutput:
        s = self.cfg.input_size
        if image.shape[-1] != s:
            image = F.adaptive_avg_pool2d(image, s)  # area resize (sizes are multiples)
        feat, centre = self.hourglass(image)
        logits = self.heatmap(feat)  # [B, K, S, S]
        b, k = logits.shape[:2]
        heat = F.softmax(logits.flatten(2) / self.cfg.temperature, dim=-1).view(b, k, s, s)
        grid = coordinate_grid(s, s, image.device, image.dtype)  # [S, S, 2]
        kp = (heat.unsqueeze(-1) * grid).sum(dim=(2, 3))  # [B, K, 2]
        jac = None
        if self.jacobian is not None:
            j = self.jacobian(feat).view(b, k, 4, s, s)
            jac = (j * heat.unsqueeze(2)).sum(dim=(3, 4)).view(b, k, 2, 2)
        return KeypointOutput(kp, jac, heat, centre.flatten(1))
