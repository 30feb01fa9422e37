"""Appearance encoder (FOM `Enc`): `3x256x256 -> CxSxS` features of one source view.

Mobile (appendix 6.1, Fig. 14): a stride-2 stem and MobileNetV2 blocks down to 32x32x32.
Dense (FOM-sized): 7x7 conv then two conv+pool blocks down to 256x64x64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.blocks import ConvNormAct, DenseBlock, InvertedResidual


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder: `channels` per stage (each stage halves the size), `out_channels` at `out_size`."""

    kind: str = "mobile"  # "mobile" | "dense"
    image_size: int = 256
    channels: tuple[int, ...] = (16, 24, 32)
    expansion: int = 4

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    @property
    def out_size(self) -> int:
        factor = 2 ** len(self.channels) if self.kind == "mobile" else 2 ** (len(self.channels) - 1)
        return self.image_size // factor


class Encoder(nn.Module):
    """`image [B, 3, 256, 256]` float in [0, 1] -> `features [B, out_channels, out_size, out_size]`."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        if cfg.kind == "mobile":
            c = cfg.channels[0]
            layers.append(ConvNormAct(3, c, 3, stride=2))
            for c_out in cfg.channels[1:]:
                layers.append(InvertedResidual(c, c_out, 2, cfg.expansion))
                layers.append(InvertedResidual(c_out, c_out, 1, cfg.expansion))
                c = c_out
        else:
            c = cfg.channels[0]
            layers.append(ConvNormAct(3, c, 7, act="relu"))
            for c_out in cfg.channels[1:]:
                layers.append(DenseBlock(c, c_out, "down"))
                c = c_out
        self.body = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)
