"""Keypoint geometry shared by the networks: coordinate grids, Gaussian maps, sparse motions, warps.

Coordinates are normalised crop coordinates in [-1, 1], x right and y down, in the convention of
`torch.nn.functional.grid_sample(..., align_corners=False)`: pixel i of a W-wide map has centre
x = (2i + 1) / W - 1. Every function here is differentiable (gradients reach keypoints).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: Variance of the keypoint Gaussians, in normalised units (FOM: 0.01).
KP_VARIANCE = 0.01


def coordinate_grid(h: int, w: int, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates of an `h x w` map: `[h, w, 2]` with (x, y) in (-1, 1)."""
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def gaussian_maps(kp: torch.Tensor, h: int, w: int, variance: float = KP_VARIANCE) -> torch.Tensor:
    """Unnormalised Gaussians centred on keypoints. `kp [B, P, 2] -> [B, P, h, w]` in (0, 1]."""
    ys = (torch.arange(h, device=kp.device, dtype=kp.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=kp.device, dtype=kp.dtype) * 2 + 1) / w - 1
    gx = torch.exp(-0.5 * (xs - kp[..., 0:1]).square() / variance)  # [B, P, w]
    gy = torch.exp(-0.5 * (ys - kp[..., 1:2]).square() / variance)  # [B, P, h]
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)  # separable: exp(-(dx^2 + dy^2) / 2v)


def displacement_maps(kp_from: torch.Tensor, kp_to: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Keypoint displacements as differences of Gaussians, plus a zero background map.

    `kp_from, kp_to [B, P, 2] -> [B, P + 1, h, w]`: map 0 is zeros (background), map p+1 is
    gaussian(kp_to[p]) - gaussian(kp_from[p]) (the FOM heatmap representation).
    """
    dog = gaussian_maps(kp_to, h, w) - gaussian_maps(kp_from, h, w)
    zeros = torch.zeros_like(dog[:, :1])
    return torch.cat([zeros, dog], dim=1)


def sparse_motions(kp_from: torch.Tensor, kp_to: torch.Tensor, h: int, w: int,
                   jac_from: torch.Tensor | None = None,
                   jac_to: torch.Tensor | None = None) -> torch.Tensor:
    """Candidate backward flows, one per keypoint plus identity. `-> [B, P + 1, h, w, 2]`.

    For an output pixel z (in the `kp_to` pose), keypoint p proposes sampling the input (in the
    `kp_from` pose) at `kp_from[p] + J (z - kp_to[p])`, J = jac_from[p] @ inv(jac_to[p]) when
    Jacobians are given, identity otherwise (a translation). Candidate 0 is the identity flow.
    """
    b, p, _ = kp_to.shape
    grid = coordinate_grid(h, w, kp_to.device, kp_to.dtype)[None, None]  # [1, 1, h, w, 2]
    rel = grid - kp_to[:, :, None, None, :]  # [B, P, h, w, 2]
    if jac_from is not None and jac_to is not None:
        jac = torch.matmul(jac_from, torch.linalg.inv(jac_to))  # [B, P, 2, 2]
        rel = torch.einsum("bpij,bphwj->bphwi", jac, rel)
    moved = rel + kp_from[:, :, None, None, :]
    identity = grid.expand(b, 1, h, w, 2)
    return torch.cat([identity, moved], dim=1)


def motion_flow(masks: torch.Tensor, kp_from: torch.Tensor, kp_to: torch.Tensor,
                jac_from: torch.Tensor | None = None, jac_to: torch.Tensor | None = None) -> torch.Tensor:
    """Mask-weighted sum of the candidate motions of `sparse_motions`. `masks [B, P+1, h, w]`
    (softmax over candidates, channel 0 = identity) -> flow `[B, h, w, 2]`.

    Without Jacobians every candidate is a translation, so the sum collapses to
    `grid + sum_p masks[p+1] * (kp_from[p] - kp_to[p])` (no `[B, P+1, h, w, 2]` tensor is built).
    """
    b, _, h, w = masks.shape
    if jac_from is None or jac_to is None:
        grid = coordinate_grid(h, w, masks.device, masks.dtype)
        shift = torch.einsum("bphw,bpc->bhwc", masks[:, 1:], kp_from - kp_to)
        return grid.unsqueeze(0) + shift
    return combine_motions(masks, sparse_motions(kp_from, kp_to, h, w, jac_from, jac_to))


def combine_motions(masks: torch.Tensor, motions: torch.Tensor) -> torch.Tensor:
    """Soft-select a flow. `masks [B, P+1, h, w]` (softmaxed), `motions [B, P+1, h, w, 2] -> [B, h, w, 2]`."""
    return (masks.unsqueeze(-1) * motions).sum(dim=1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp features with a sampling grid. `[B, C, H, W]`, flow `[B, h, w, 2] -> [B, C, h, w]`.

    The flow is resized to the feature size first when they differ.
    """
    flow = resize_flow(flow, features.shape[2:])
    return F.grid_sample(features, flow, mode="bilinear", padding_mode="border", align_corners=False)


def resize_flow(flow: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """`flow [B, h, w, 2]` resampled (bilinear) to `[B, *size, 2]`; returned as is when already that size."""
    if tuple(flow.shape[1:3]) == tuple(size):
        return flow
    return F.interpolate(flow.permute(0, 3, 1, 2), size=tuple(size), mode="bilinear",
                         align_corners=False).permute(0, 2, 3, 1)


def compose_flows(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The backward flow of two warps in a row, as one. `outer [B, h, w, 2]` maps each output pixel
    to a point of an intermediate map, `inner [B, H, W, 2]` maps each intermediate pixel to a point
    of the input -> `[B, h, w, 2]`, output pixel -> input point: `inner` sampled at `outer`.

    `warp(x, compose_flows(outer, inner))` resamples `x` once where `warp(warp(x, inner), outer)`
    resamples it twice (each bilinear resampling blurs). Outside the intermediate map the flow is
    continued from its border, as `warp` continues features.
    """
    sampled = F.grid_sample(inner.permute(0, 3, 1, 2), outer, mode="bilinear", padding_mode="border",
                            align_corners=False)
    return sampled.permute(0, 2, 3, 1)
