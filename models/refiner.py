"""The refiner: a small network that finishes the geometry renderer's frame.

The geometry renderer (`receiver.atlas.MeshRenderer`) draws the face exactly where the source
views saw it; what geometry cannot do is left to this network: the mouth interior, the seam where
the drawn face meets the moved background, hair and neck that the similarity motion only
approximates, lighting that drifted since the views were taken.

    refiner = Refiner(RefinerConfig())
    out = refiner(render, alpha)          # render [B, 3, H, W] in [0, 1], alpha [B, 1, H, W] in [0, 1]
    out.image                             # [B, 3, H, W] in [0, 1]: render + residual

It works at half resolution (a U-Net over `render` and `alpha` average-pooled by 2) and predicts a
residual that is upsampled bilinearly and added to the full-resolution render, so the render's own
detail passes through untouched where the network has nothing to add. About 0.18 GMAC per 256x256
frame with the default channels.

Checkpoints (`save_refiner` / `load_refiner`) are safetensors files: metadata `format` =
"frontal-refiner", `format_version`, `config` (the `RefinerConfig` as JSON); tensors the state dict.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

FORMAT = "frontal-refiner"
FORMAT_VERSION = 1


class RefinerError(ValueError):
    """A refiner checkpoint that cannot be loaded (foreign, corrupt, another version)."""


@dataclass(frozen=True)
class RefinerConfig:
    """channels: the U-Net's widths at 1/2, 1/4 and 1/8 of the input's resolution.
    residual_scale: the residual's range (tanh output times this, in [0, 1] image units)."""

    channels: tuple[int, int, int] = (12, 24, 48)
    residual_scale: float = 0.5

    def __post_init__(self) -> None:
        if len(self.channels) != 3 or min(self.channels) < 1 or self.residual_scale <= 0:
            raise ValueError("RefinerConfig: three positive channel counts and residual_scale > 0")


class RefinerOutput(NamedTuple):
    image: torch.Tensor  # [B, 3, H, W] in [0, 1]
    residual: torch.Tensor  # [B, 3, H, W] what was added to the render


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1)


class Refiner(nn.Module):
    """`forward(render [B, 3, H, W], alpha [B, 1, H, W]) -> RefinerOutput` (H, W divisible by 8)."""

    def __init__(self, config: RefinerConfig | None = None) -> None:
        super().__init__()
        self.config = config or RefinerConfig()
        c1, c2, c3 = self.config.channels
        self.enc1 = _conv(4, c1)
        self.enc2 = _conv(c1, c2, 2)
        self.enc3 = _conv(c2, c3, 2)
        self.mid = _conv(c3, c3)
        self.dec2 = _conv(c3 + c2, c2)
        self.dec1 = _conv(c2 + c1, c1)
        self.out = _conv(c1, 3)
        nn.init.zeros_(self.out.weight)  # starts as the identity: the render itself
        nn.init.zeros_(self.out.bias)

    def forward(self, render: torch.Tensor, alpha: torch.Tensor) -> RefinerOutput:
        if render.ndim != 4 or render.shape[1] != 3 or alpha.shape != (render.shape[0], 1, *render.shape[2:]):
            raise ValueError(f"expected render [B, 3, H, W] and alpha [B, 1, H, W], got {tuple(render.shape)} and {tuple(alpha.shape)}")
        h, w = render.shape[2:]
        if h % 8 or w % 8:
            raise ValueError(f"the refiner needs sides divisible by 8, got {h}x{w}")
        x = F.avg_pool2d(torch.cat([render, alpha], dim=1), 2)
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(e1))
        e3 = F.relu(self.enc3(e2))
        m = F.relu(self.mid(e3))
        d2 = F.relu(self.dec2(torch.cat([F.interpolate(m, scale_factor=2.0, mode="nearest"), e2], dim=1)))
        d1 = F.relu(self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), e1], dim=1)))
        low = torch.tanh(self.out(d1)) * self.config.residual_scale
        residual = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
        return RefinerOutput((render + residual).clamp(0.0, 1.0), residual)


def save_refiner(model: Refiner, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write `model` with its config (and any extra string `metadata`) to a safetensors file."""
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
            "config": json.dumps(dataclasses.asdict(model.config), sort_keys=True), **(metadata or {})}
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (OSError, SafetensorError) as exc:
        raise RefinerError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise RefinerError(f"{path}: not a Frontal refiner checkpoint")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise RefinerError(f"{path}: refiner format version {meta.get('format_version')}, this build reads {FORMAT_VERSION}")
    return dict(meta)


def load_refiner(path: str | Path) -> Refiner:
    """The refiner saved at `path`, in eval mode (`RefinerError` on a foreign or mismatched file)."""
    meta = read_metadata(path)
    try:
        raw = json.loads(meta["config"])
        config = RefinerConfig(channels=tuple(raw["channels"]), residual_scale=float(raw["residual_scale"]))
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise RefinerError(f"{path}: bad refiner config ({exc})") from None
    model = Refiner(config)
    tensors = load_file(str(path))
    expected = model.state_dict()
    if set(tensors) != set(expected) or any(tensors[k].shape != expected[k].shape for k in expected):
        raise RefinerError(f"{path}: the weights do not match the refiner's config")
    model.load_state_dict(tensors)
    return model.eval()
