"""Pixel-fidelity metrics between two RGB sequences [T,H,W,3] uint8: PSNR, SSIM, MS-SSIM.

* PSNR is on RGB (all three channels pooled: MSE over T x H x W x 3 per frame), peak 255,
  capped at PSNR_CAP_DB for identical frames. `psnr(..., on="y")` gives luma PSNR instead.
* SSIM and MS-SSIM are on luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601 weights, full range, float),
  with the standard constants C1 = (0.01*255)^2, C2 = (0.03*255)^2 and a "valid" window (no padding).
  The default window is Gaussian 11x11, sigma 1.5 (Wang et al. 2004). `window="box8"` is the
  8x8 box on a 4-pixel grid with sample covariance that ffmpeg's `ssim` filter (from x264) uses.
* MS-SSIM: 5 scales, weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between
  scales (Wang et al. 2003); contrast-structure terms are clamped at 0 before the power. The coarsest
  scale must still hold the 11-pixel window, so frames must be at least 176 px on each side.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0
SSIM_K1, SSIM_K2 = 0.01, 0.03
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
Window = Literal["gaussian", "box8"]


def check_pair(ref: np.ndarray, dist: np.ndarray) -> None:
    """Raise ValueError unless both are RGB uint8 videos [T,H,W,3] of the same shape."""
    for name, v in (("ref", ref), ("dist", dist)):
        if v.ndim != 4 or v.shape[-1] != 3 or v.dtype != np.uint8:
            raise ValueError(f"{name}: expected [T,H,W,3] uint8, got {v.shape} {v.dtype}")
    if ref.shape != dist.shape:
        raise ValueError(f"shape mismatch: ref {ref.shape} vs dist {dist.shape}")


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma [T,H,W] float64 in [0, 255] from RGB [T,H,W,3]."""
    return frames.astype(np.float64) @ np.asarray(LUMA_WEIGHTS)


def psnr(ref: np.ndarray, dist: np.ndarray, on: Literal["rgb", "y"] = "rgb") -> np.ndarray:
    """Per-frame PSNR in dB [T] (peak 255), capped at PSNR_CAP_DB."""
    check_pair(ref, dist)
    if on == "rgb":
        diff = ref.astype(np.float64) - dist.astype(np.float64)
    else:
        diff = luma(ref) - luma(dist)
    mse = (diff**2).reshape(len(ref), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(255.0**2 / mse)
    return np.minimum(db, PSNR_CAP_DB)


def _gaussian_kernel(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, window: Window) -> torch.Tensor:
    """Local mean of x [N,1,H,W] under the window, 'valid' positions only."""
    if window == "box8":
        return F.avg_pool2d(x, kernel_size=8, stride=4)
    g = _gaussian_kernel()
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    return F.conv2d(x, g.view(1, 1, -1, 1))


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, window: Window) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame mean SSIM and mean contrast-structure term for luma x, y [N,1,H,W] -> ([N], [N])."""
    c1, c2 = (SSIM_K1 * 255) ** 2, (SSIM_K2 * 255) ** 2
    mx, my = _filter(x, window), _filter(y, window)
    sxx = _filter(x * x, window) - mx * mx
    syy = _filter(y * y, window) - my * my
    sxy = _filter(x * y, window) - mx * my
    if window == "box8":  # ffmpeg/x264 use the sample (N-1) covariance over the 64 pixels
        sxx, syy, sxy = (s * 64 / 63 for s in (sxx, syy, sxy))
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def _luma_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(luma(frames)).unsqueeze(1)


def ssim(ref: np.ndarray, dist: np.ndarray, window: Window = "gaussian") -> np.ndarray:
    """Per-frame SSIM on luma [T] (1 = identical)."""
    check_pair(ref, dist)
    with torch.no_grad():
        s, _ = _ssim_terms(_luma_tensor(ref), _luma_tensor(dist), window)
    return s.numpy()


def msssim(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Per-frame MS-SSIM on luma [T] (1 = identical); frames must be >= 176 px per side."""
    check_pair(ref, dist)
    min_side = 11 * 2 ** (len(MSSSIM_WEIGHTS) - 1)
    if min(ref.shape[1:3]) < min_side:
        raise ValueError(f"MS-SSIM needs frames of at least {min_side}x{min_side}, got {ref.shape[1:3]}")
    x, y = _luma_tensor(ref), _luma_tensor(dist)
    weights = torch.tensor(MSSSIM_WEIGHTS, dtype=torch.float64)
    factors = []
    with torch.no_grad():
        for scale in range(len(MSSSIM_WEIGHTS)):
            s, cs = _ssim_terms(x, y, "gaussian")
            last = scale == len(MSSSIM_WEIGHTS) - 1
            factors.append(torch.clamp(s if last else cs, min=0.0))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        values = torch.stack(factors, dim=1) ** weights
    return values.prod(dim=1).numpy()
