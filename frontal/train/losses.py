"""Training losses: what replaces the paper's VGG perceptual loss here, the GAN terms, equivariance.

No ImageNet VGG/AlexNet weights can be had here, so the image loss is a multi-scale L1 plus a
differentiable MS-SSIM; a VGG19 perceptual loss (`Vgg19Perceptual`) is used in addition when a
weights file is given. Adversarial training uses a multi-scale patch discriminator
(`MultiScaleDiscriminator`, FOM-like: 4x4 conv, instance norm, LeakyReLU, average pooling,
spectral norm) with a feature-matching loss and an LSGAN or hinge loss. Unsupervised keypoints get
FOM's equivariance loss under a random affine + thin-plate-spline warp (`RandomTps`), with the
Jacobian term when the model has Jacobians.

Images are `[B, 3, H, W]` in [0, 1] throughout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
LUMA = (0.299, 0.587, 0.114)


# -- image losses ----------------------------------------------------------------------------------
def pyramid(x: torch.Tensor, scales: int) -> list[torch.Tensor]:
    """`x` and its 2x area-downsampled versions: `scales` tensors, full resolution first."""
    out = [x]
    for _ in range(scales - 1):
        out.append(F.avg_pool2d(out[-1], 2))
    return out


def multiscale_l1(pred: torch.Tensor, target: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Mean over scales (1, 1/2, 1/4, ...) of the mean absolute error."""
    terms = [(p - t).abs().mean() for p, t in zip(pyramid(pred, scales), pyramid(target, scales))]
    return torch.stack(terms).mean()


def _gaussian(size: int = 11, sigma: float = 1.5, device: torch.device | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and contrast-structure terms of `[B, C, H, W]` in [0, 1] ('valid' window)."""
    c = x.shape[1]
    kx = win.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = win.view(1, 1, -1, 1).expand(c, 1, -1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, luma: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """Differentiable MS-SSIM per image `[B]` (1 = identical) of `[B, 3, H, W]` in [0, 1].

    Gaussian 11x11 window (sigma 1.5), 2x2 average pooling, the standard 5 weights; images smaller
    than 176 px use as many scales as still hold the window (weights renormalised). `luma=True`
    measures luma only, as `frontal.eval.fidelity.msssim`. Factors are clamped to >= eps so the
    gradient stays finite."""
    if luma:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x, y = (x * w).sum(1, keepdim=True), (y * w).sum(1, keepdim=True)
    n = 1
    while n < len(MSSSIM_WEIGHTS) and min(x.shape[-2:]) // 2 ** n >= 11:
        n += 1
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"ms_ssim: images must be at least 11x11, found {tuple(x.shape[-2:])}")
    weights = torch.tensor(MSSSIM_WEIGHTS[:n], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    win = _gaussian(device=x.device, dtype=x.dtype)
    factors = []
    for scale in range(n):
        s, cs = _ssim_terms(x, y, win)
        factors.append((s if scale == n - 1 else cs).clamp(min=eps))
        if scale < n - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return (torch.stack(factors, dim=1) ** weights).prod(dim=1)


# -- VGG19 perceptual (optional) -----------------------------------------------------------------------
_VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
_VGG_TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in `features`


class Vgg19Perceptual(nn.Module):
    """FOM's multi-scale perceptual loss on a VGG19 whose weights come from a file.

    The layer names follow torchvision's `vgg19().features` (`features.0.weight`, ...), so a
    torchvision state dict converted to safetensors loads as is. Frozen; inputs are ImageNet-
    normalised inside. Loss: sum over scales and the 5 taps of the mean |f(pred) - f(target)|."""

    def __init__(self, weights: str | Path, scales: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _VGG19:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c = int(v)
        self.features = nn.Sequential(*layers[: _VGG_TAPS[-1] + 1])
        self.scales = scales
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self._load(Path(weights))
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:

        if path.suffix != ".safetensors":
            raise ValueError(f"{path}: VGG19 weights must be a .safetensors file (no pickle)")
        state = {k: v for k, v in load_file(str(path)).items() if k.startswith("features.")}
        own = self.state_dict()
        wanted = {k for k in own if k.startswith("features.")}
        missing = sorted(wanted - set(state))
        if missing:
            raise ValueError(f"{path}: VGG19 tensor {missing[0]!r} is missing")
        for k in wanted:
            if tuple(state[k].shape) != tuple(own[k].shape):
                raise ValueError(f"{path}: VGG19 tensor {k!r}: expected {tuple(own[k].shape)}, "
                                 f"found {tuple(state[k].shape)}")
        self.load_state_dict({**own, **{k: state[k] for k in wanted}})

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG_TAPS:
                out.append(x)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = pred.new_zeros(())
        for p, t in zip(pyramid(pred, self.scales), pyramid(target, self.scales)):
            for fp, ft in zip(self.taps(p), self.taps(t)):
                total = total + (fp - ft.detach()).abs().mean()
        return total


# -- discriminator -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiscriminatorConfig:
    """Patch discriminator per scale: `channels` of the 4x4 conv blocks, `scales` image pyramids."""

    channels: tuple[int, ...] = (32, 64, 128, 256)
    scales: int = 2
    spectral_norm: bool = True


class DiscriminatorOutput(NamedTuple):
    """Per scale: the block features (for feature matching) and the patch prediction map."""

    features: list[list[torch.Tensor]]
    predictions: list[torch.Tensor]


class PatchDiscriminator(nn.Module):
    """FOM's discriminator: (4x4 conv, instance norm except first, LeakyReLU 0.2, avg-pool 2) blocks,
    the last without pooling, then a 4x4 conv to one patch logit map."""

    def __init__(self, channels: tuple[int, ...], sn: bool) -> None:
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if sn else (lambda m: m)
        blocks = []
        c = 3
        for i, c_out in enumerate(channels):
            layers: list[nn.Module] = [wrap(nn.Conv2d(c, c_out, 4, padding=1))]
            if i > 0:
                layers.append(nn.InstanceNorm2d(c_out, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            if i < len(channels) - 1:
                layers.append(nn.AvgPool2d(2))
            blocks.append(nn.Sequential(*layers))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = wrap(nn.Conv2d(c, 1, 4, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats, self.head(x)


class MultiScaleDiscriminator(nn.Module):
    """One `PatchDiscriminator` per pyramid scale (1, 1/2, ...)."""

    def __init__(self, cfg: DiscriminatorConfig = DiscriminatorConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.discs = nn.ModuleList([PatchDiscriminator(cfg.channels, cfg.spectral_norm)
                                    for _ in range(cfg.scales)])

    def forward(self, image: torch.Tensor) -> DiscriminatorOutput:
        feats, preds = [], []
        for disc, x in zip(self.discs, pyramid(image * 2 - 1, self.cfg.scales)):
            f, p = disc(x)
            feats.append(f)
            preds.append(p)
        return DiscriminatorOutput(feats, preds)


def generator_adversarial(fake: DiscriminatorOutput, kind: str = "lsgan") -> torch.Tensor:
    """The generator's adversarial term, mean over scales."""
    if kind == "lsgan":
        terms = [((1 - p) ** 2).mean() for p in fake.predictions]
    elif kind == "hinge":
        terms = [-p.mean() for p in fake.predictions]
    else:
        raise ValueError(f"adversarial loss: expected 'lsgan' or 'hinge', found {kind!r}")
    return torch.stack(terms).mean()


def discriminator_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput, kind: str = "lsgan") -> torch.Tensor:
    """The discriminator's loss (fake computed on detached images), mean over scales."""
    terms = []
    for r, f in zip(real.predictions, fake.predictions):
        if kind == "lsgan":
            terms.append(((1 - r) ** 2).mean() + (f ** 2).mean())
        elif kind == "hinge":
            terms.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
        else:
            raise ValueError(f"adversarial loss: expected 'lsgan' or 'hinge', found {kind!r}")
    return torch.stack(terms).mean()


def feature_matching(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """Mean over scales and blocks of |D_feat(real) - D_feat(fake)| (real detached)."""
    terms = [(fr.detach() - ff).abs().mean() for sr, sf in zip(real.features, fake.features)
             for fr, ff in zip(sr, sf)]
    return torch.stack(terms).mean()


# -- equivariance --------------------------------------------------------------------------------
class RandomTps:
    """A random affine + thin-plate-spline transform of normalised coordinates (FOM's `Transform`).

    `warp_points(p [B, N, 2])` maps points of the transformed image to the original image;
    `warp_image(x)` builds the transformed image (`grid_sample`, border padding)."""

    def __init__(self, batch: int, generator: torch.Generator, sigma_affine: float = 0.05,
                 sigma_tps: float = 0.005, points_tps: int = 5, device: torch.device | str = "cpu") -> None:
        noise = torch.randn(batch, 2, 3, generator=generator) * sigma_affine
        self.theta = (noise + torch.eye(2, 3).unsqueeze(0)).to(device)
        lin = torch.linspace(-1, 1, points_tps)
        gy, gx = torch.meshgrid(lin, lin, indexing="ij")
        self.control = torch.stack([gx, gy], -1).view(1, -1, 2).to(device)  # [1, M, 2]
        self.params = (torch.randn(batch, points_tps ** 2, generator=generator) * sigma_tps).to(device)

    def warp_points(self, p: torch.Tensor) -> torch.Tensor:
        theta = self.theta.to(p.dtype)
        out = torch.einsum("bij,bnj->bni", theta[:, :, :2], p) + theta[:, :, 2].unsqueeze(1)
        d = (p.unsqueeze(2) - self.control.to(p.dtype).unsqueeze(1)).abs().sum(-1)  # [B, N, M]
        r2 = d ** 2
        u = r2 * torch.log(d + 1e-6)
        return out + (u * self.params.to(p.dtype).unsqueeze(1)).sum(-1, keepdim=True)

    def warp_image(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
        xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], -1).view(1, -1, 2).expand(b, -1, -1)
        src = self.warp_points(grid).view(b, h, w, 2)
        return F.grid_sample(x, src, mode="bilinear", padding_mode="reflection", align_corners=False)

    def jacobian(self, p: torch.Tensor) -> torch.Tensor:
        """d warp_points / d p at `p [B, N, 2]` -> `[B, N, 2, 2]`."""
        with torch.enable_grad():
            p = p.detach().requires_grad_(True)
            out = self.warp_points(p)
            gx = torch.autograd.grad(out[..., 0].sum(), p, retain_graph=True)[0]
            gy = torch.autograd.grad(out[..., 1].sum(), p)[0]
        return torch.stack([gx, gy], dim=-2)


class Equivariance(NamedTuple):
    value: torch.Tensor
    jacobian: torch.Tensor | None


def equivariance_loss(detector: nn.Module, image: torch.Tensor, kp: torch.Tensor,
                      jac: torch.Tensor | None, tps: RandomTps) -> Equivariance:
    """FOM's equivariance: keypoints of the warped image, mapped back, match `kp [B, K, 2]`;
    with Jacobians, `jac^-1 @ (J_T @ jac_t)` is the identity. `detector(image)` returns an object
    with `.kp` and `.jacobian` (a `KeypointDetector`)."""
    out = detector(tps.warp_image(image))
    value = (kp - tps.warp_points(out.kp)).abs().mean()
    if jac is None or out.jacobian is None:
        return Equivariance(value, None)
    jt = tps.jacobian(out.kp)  # a constant: the transform does not depend on the networks
    mapped = jt @ out.jacobian
    eye = torch.eye(2, dtype=jac.dtype, device=jac.device)
    inv = torch.linalg.inv(jac)
    return Equivariance(value, (eye - inv @ mapped).abs().mean())
