"""Run-folder pictures: the validation grid and the training curve (matplotlib, Agg backend)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from codec.atomic import atomic_write


def _png_bytes(image: np.ndarray) -> bytes:


    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def save_grid(path: Path, batch: Any, rendered: torch.Tensor) -> None:
    """One row per example: source A | source C | driving B1 | output B1 | driving B2 | output B2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    src = batch.sources.detach().cpu()
    drv = batch.driving.detach().cpu()
    out = rendered.detach().cpu().view(drv.shape)
    rows = []
    for i in range(src.shape[0]):
        tiles = [src[i, 0], src[i, 1], drv[i, 0], out[i, 0], drv[i, 1], out[i, 1]]
        rows.append(torch.cat(tiles, dim=2))
    grid = torch.cat(rows, dim=1).clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    atomic_write(path, _png_bytes(np.ascontiguousarray(grid)))


def trailing_mean(v: np.ndarray, win: int) -> np.ndarray:
    """Mean of the last `win` values (fewer at the start), NaNs ignored."""
    ok = ~np.isnan(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    n = np.concatenate([[0], np.cumsum(ok)])
    lo = np.maximum(np.arange(1, len(v) + 1) - win, 0)
    hi = np.arange(1, len(v) + 1)
    cnt = n[hi] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[hi] - c[lo]) / np.maximum(cnt, 1), np.nan)


def save_curve(path: Path, history: list[dict[str, float]], title: str) -> None:
    """Loss terms (moving average) and validation PSNR against the step."""
    if not history:
        return
    import matplotlib  # noqa: PLC0415 (matplotlib costs ~0.7 s at start-up; loaded when a plot is drawn)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (matplotlib costs ~0.7 s at start-up; loaded when a plot is drawn)

    steps = np.array([h["step"] for h in history])
    keys = [k for k in ("total", "l1", "msssim", "equivariance", "adversarial", "feature_matching", "disc",
                        "perceptual") if any(k in h for h in history)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    win = max(1, len(history) // 50)
    for k in keys:
        v = np.array([h.get(k, np.nan) for h in history], dtype=float)
        ax.plot(steps, trailing_mean(v, win), label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"{title}: training losses (moving average)")
    ax.legend(fontsize=7)
    val = [(h["step"], h["val_psnr"]) for h in history if "val_psnr" in h]
    if val:
        ax2.plot(*zip(*val), marker="o")
    ax2.set_xlabel("step")
    ax2.set_ylabel("PSNR dB")
    ax2.set_title("validation PSNR (fixed examples)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
