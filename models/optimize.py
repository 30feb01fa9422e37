"""Inference-only rewrites of a `FrontalModel`: BatchNorm folding and channels-last weights.

Measured on the 2-core CPU (docs/speed.md): channels-last makes the depthwise and 1x1 convs of the
mobile networks several times faster under oneDNN; folding removes one pass per conv.
"""
from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

from models.blocks import fold_batchnorm

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def prepare_for_inference(model: ModuleT, fold_bn: bool = True, channels_last: bool = True,
                          copy_model: bool = True) -> ModuleT:
    """An eval-mode copy (or `model` itself) with BN folded into convs and channels-last weights.

    The result gives the same outputs as `model.eval()` up to float rounding; never train it.
    """
    out = copy.deepcopy(model) if copy_model else model
    out.eval()
    if fold_bn:
        fold_batchnorm(out)
    if channels_last:
        out.to(memory_format=torch.channels_last)
        if hasattr(out, "memory_format"):
            out.memory_format = torch.channels_last
    for p in out.parameters():
        p.requires_grad_(False)
    return out
