"""Decoder (FOM `Dec`; mobile form: appendix 6.1, Fig. 16): embedding in the driving pose -> image.

The M-dimensional expression code is concatenated to the input as M constant maps (§3.2.2).
Mobile: 1x1 conv + inverted-residual blocks at 32x32, then three (upsample, inverted residual)
stages to 256x256 (the last one a depthwise + 1x1 block) and a 3x3 conv to RGB. Dense (FOM-sized): residual blocks at 64x64, two
(upsample, conv) stages, a 7x7 conv to RGB. Output in (0, 1) (sigmoid).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.blocks import ConvNormAct, DenseBlock, InvertedResidual, ResBlock


@dataclass(frozen=True)
class DecoderConfig:
    """`in_channels` at `in_size` (+ `num_expr` maps) -> 3 x `image_size` x `image_size`."""

    kind: str = "mobile"  # "mobile" | "dense"
    in_channels: int = 32
    in_size: int = 32
    num_expr: int = 16
    width: int = 64  # channels of the bottleneck blocks
    num_bottleneck: int = 2
    up_channels: tuple[int, ...] = (32, 24, 16)  # one per 2x upsampling
    expansion: int = 4
    image_size: int = 256


class Decoder(nn.Module):
    """`embedding [B, in_channels, in_size, in_size]`, `expr [B, num_expr] | None` -> `[B, 3, 256, 256]`."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        if cfg.in_size * 2 ** len(cfg.up_channels) != cfg.image_size:
            raise ValueError(f"Decoder: {cfg.in_size} x 2^{len(cfg.up_channels)} != {cfg.image_size}")
        self.cfg = cfg
        mobile = cfg.kind == "mobile"
        self.stem = ConvNormAct(cfg.in_channels + cfg.num_expr, cfg.width, 1 if mobile else 3,
                                act="relu6" if mobile else "relu")
        self.bottleneck = nn.Sequential(*[
            InvertedResidual(cfg.width, cfg.width, 1, cfg.expansion) if mobile else ResBlock(cfg.width)
            for _ in range(cfg.num_bottleneck)
        ])
        ups: list[nn.Module] = []
        c = cfg.width
        for i, c_out in enumerate(cfg.up_channels):
            last = i == len(cfg.up_channels) - 1
            if mobile and not last:
                ups += [nn.Upsample(scale_factor=2.0, mode="nearest"),
                        InvertedResidual(c, c_out, 1, cfg.expansion)]
            elif mobile:  # full resolution: depthwise 3x3 + 1x1 (expansion 1), 4x cheaper than a 3x3 conv
                ups += [nn.Upsample(scale_factor=2.0, mode="nearest"), InvertedResidual(c, c_out, 1, 1)]
            else:
                ups.append(DenseBlock(c, c_out, "up"))
            c = c_out
        self.up = nn.Sequential(*ups)
        k = 3 if mobile else 7
        self.head = nn.Conv2d(c, 3, k, padding=k // 2)

    def forward(self, embedding: torch.Tensor, expr: torch.Tensor | None = None) -> torch.Tensor:
        x = embedding
        if self.cfg.num_expr:
            if expr is None:
                raise ValueError(f"Decoder: this model needs an expression code of {self.cfg.num_expr} values")
            b, _, h, w = x.shape
            x = torch.cat([x, expr[:, :, None, None].to(x.dtype).expand(b, -1, h, w)], dim=1)
        x = self.up(self.bottleneck(self.stem(x)))
        return torch.sigmoid(self.head(x))
