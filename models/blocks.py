"""Building blocks shared by the networks: conv+BN+act, MobileNetV2 inverted residuals, hourglasses.

These are layers, not networks: each network file (`keypoints.py`, `encoder.py`, ...) builds its
module from them. Two families:

- mobile: MobileNetV2 inverted-residual blocks (Sandler et al. 2018), depthwise 3x3 convolutions;
- dense: the First Order Model's plain 3x3 conv blocks (Siarohin et al. 2019).

`fold_batchnorm` rewrites every `ConvNormAct` in place for inference (BN folded into the conv).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormAct(nn.Module):
    """Conv2d → BatchNorm2d → optional ReLU6/ReLU. `[B, Cin, H, W] -> [B, Cout, H/stride, W/stride]`."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu6",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c_out)
        self.act: nn.Module
        if act == "relu6":
            self.act = nn.ReLU6(inplace=True)
        elif act == "relu":
            self.act = nn.ReLU(inplace=True)
        elif act is None:
            self.act = nn.Identity()
        else:
            raise ValueError(f"unknown activation {act!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand → depthwise 3x3 (stride) → 1x1 linear project (+ skip).

    `[B, c_in, H, W] -> [B, c_out, H/stride, W/stride]`; the skip is used when shapes match.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, expansion: int = 4) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvNormAct(c_in, hidden, 1))
        layers.append(ConvNormAct(hidden, hidden, 3, stride, groups=hidden))
        layers.append(ConvNormAct(hidden, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.use_skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_skip else y


class DenseBlock(nn.Module):
    """FOM-style block: 3x3 conv → BN → ReLU, optional 2x average-pool down or 2x nearest up."""

    def __init__(self, c_in: int, c_out: int, resample: str = "none") -> None:
        super().__init__()
        self.conv = ConvNormAct(c_in, c_out, 3, act="relu")
        self.resample = resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.conv(x)
        if self.resample == "down":
            x = F.avg_pool2d(x, 2)
        return x


class ResBlock(nn.Module):
    """FOM residual block at constant size: x + conv(relu(bn(conv(relu(bn(x))))))-like, post-norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = ConvNormAct(channels, channels, 3, act="relu")
        self.b = ConvNormAct(channels, channels, 3, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


def down_block(kind: str, c_in: int, c_out: int, expansion: int = 4) -> nn.Module:
    """Halve H and W: an inverted residual with stride 2 (mobile) or conv + avg-pool (dense)."""
    if kind == "mobile":
        return InvertedResidual(c_in, c_out, stride=2, expansion=expansion)
    return DenseBlock(c_in, c_out, "down")


def up_block(kind: str, c_in: int, c_out: int, expansion: int = 4) -> nn.Module:
    """Double H and W: nearest upsample then an inverted residual (mobile) or a conv (dense)."""
    if kind == "mobile":
        return nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"),
                             InvertedResidual(c_in, c_out, 1, expansion))
    return DenseBlock(c_in, c_out, "up")


@dataclass(frozen=True)
class HourglassConfig:
    """Channels of an hourglass (U-Net) at each depth; `channels[i]` is the output of down block i."""

    kind: str  # "mobile" | "dense"
    in_channels: int
    channels: tuple[int, ...]  # e.g. (32, 64, 128, 256, 512) for 5 down blocks
    expansion: int = 4

    @property
    def depth(self) -> int:
        return len(self.channels)


class Hourglass(nn.Module):
    """U-Net hourglass. `[B, in, H, W] -> (out [B, out_channels, H, W], centre [B, C_last, H/2^d, W/2^d])`.

    Down path: `depth` blocks halving the size; up path mirrors it with skip concatenations.
    The centre feature is what the expression module reads (FOM: 1024x2x2 = 4096 at 64x64 input).
    """

    def __init__(self, cfg: HourglassConfig) -> None:
        super().__init__()
        chans = cfg.channels
        self.down = nn.ModuleList()
        c = cfg.in_channels
        for c_out in chans:
            self.down.append(down_block(cfg.kind, c, c_out, cfg.expansion))
            c = c_out
        self.up = nn.ModuleList()
        # up block j goes from depth d-j to d-j-1; its input is concat(previous, skip at that depth)
        skips = [cfg.in_channels, *chans[:-1]]  # skip tensors, shallow to deep
        c = chans[-1]
        for j in range(cfg.depth - 1, -1, -1):
            c_out = skips[j] if j > 0 else chans[0] // 2
            self.up.append(up_block(cfg.kind, c, c_out, cfg.expansion))
            c = c_out + skips[j]
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = [x]
        for blk in self.down:
            skips.append(blk(skips[-1]))
        centre = skips.pop()
        y = centre
        for blk in self.up:
            y = torch.cat([blk(y), skips.pop()], dim=1)
        return y, centre


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d of a `ConvNormAct` into its conv, in place; returns `module`.

    After folding, the conv has a bias and the BN is an `nn.Identity`: same outputs in eval mode
    (up to float rounding), fewer kernels per frame. Only for inference: it drops the BN statistics.
    """
    for m in module.modules():
        if isinstance(m, ConvNormAct) and isinstance(m.bn, nn.BatchNorm2d):
            bn, conv = m.bn, m.conv
            std = torch.sqrt(bn.running_var + bn.eps)
            scale = (bn.weight if bn.affine else torch.ones_like(std)) / std
            shift = (bn.bias if bn.affine else torch.zeros_like(std)) - bn.running_mean * scale
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                              conv.padding, groups=conv.groups, bias=True)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                base = conv.bias if conv.bias is not None else torch.zeros_like(shift)
                fused.bias.copy_(base * scale + shift)
            fused.to(conv.weight.device)
            m.conv = fused
            m.bn = nn.Identity()
    return module
