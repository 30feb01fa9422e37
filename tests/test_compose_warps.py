"""Composed warps (`FrontalizerConfig.compose_warps`): the flow composition and the render path."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from models.dense_motion import MotionOutput
from models.frontalizer import FrontalizerOutput
from models.generator import FrontalModel, Prepared, SourceSet
from models.geometry import compose_flows, coordinate_grid, warp
from models.registry import build_untrained, get_config


def _shift(b: int, h: int, w: int, dx_px: float, dy_px: float) -> torch.Tensor:
    """A backward flow that samples `dx_px, dy_px` pixels right / down of each pixel: `[B, h, w, 2]`."""
    grid = coordinate_grid(h, w)
    return (grid + torch.tensor([2 * dx_px / w, 2 * dy_px / h])).expand(b, h, w, 2).clone()


def test_compose_with_identity_is_the_other_flow() -> None:
    ident = coordinate_grid(16, 16).expand(2, 16, 16, 2)
    flow = _shift(2, 16, 16, 1.5, -2.0) + 0.01 * torch.randn(2, 16, 16, 2)
    torch.testing.assert_close(compose_flows(ident, flow), flow, atol=1e-6, rtol=0)
    torch.testing.assert_close(compose_flows(flow.clamp(-1 + 1 / 16, 1 - 1 / 16), ident),
                               flow.clamp(-1 + 1 / 16, 1 - 1 / 16), atol=1e-6, rtol=0)


def test_composed_shifts_add_up_and_resample_once() -> None:
    """Whole-pixel shifts compose exactly; one warp by the composition equals two warps in a row
    away from the borders."""
    x = torch.randn(1, 3, 32, 32)
    outer, inner = _shift(1, 32, 32, 2, 1), _shift(1, 32, 32, -5, 3)
    comp = compose_flows(outer, inner)
    inside = (slice(None), slice(6, -6), slice(6, -6))
    torch.testing.assert_close(comp[inside], _shift(1, 32, 32, -3, 4)[inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(warp(x, comp)[..., 6:-6, 6:-6], warp(warp(x, inner), outer)[..., 6:-6, 6:-6],
                               atol=1e-5, rtol=0)


def test_half_pixel_shifts_blur_less_composed() -> None:
    """Two half-pixel warps average twice; the composed (one whole-pixel) warp keeps detail."""
    x = torch.zeros(1, 1, 32, 32)
    x[..., ::2, :] = 1.0  # stripes, one pixel wide
    half = _shift(1, 32, 32, 0, 0.5)
    twice = warp(warp(x, half), half)[..., 4:-4, 4:-4]
    once = warp(x, compose_flows(half, half))[..., 4:-4, 4:-4]
    assert twice.std() < 0.1  # two bilinear half-pixel steps wash the stripes out
    assert once.std() > 0.45  # one whole-pixel step keeps them


def _composed_model(view_temperature: float = 0.0) -> FrontalModel:
    cfg = get_config("frontalizer-mobile")
    cfg = dataclasses.replace(cfg, frontalizer=dataclasses.replace(cfg.frontalizer, compose_warps=True,
                                                                   view_temperature=view_temperature))
    return build_untrained(cfg).eval()


def test_identity_flows_give_the_same_decoder_input_either_way() -> None:
    """With identity flows (p_r -> each source and driving -> p_r), composing changes nothing."""
    model = _composed_model()
    plain = build_untrained(get_config("frontalizer-mobile"))
    plain.frontalizer.cfg = dataclasses.replace(plain.frontalizer.cfg, compose_warps=False)
    b, n, c, s = 1, 3, 32, 32
    feats = torch.randn(b, n, c, s, s)
    ident = coordinate_grid(s, s).expand(b, n, s, s, 2)
    weights = torch.softmax(torch.randn(b, n, 1, s, s), dim=1)
    embedding = (weights * feats).sum(dim=1)
    fused = FrontalizerOutput(embedding, ident, weights, feats)
    prepared = Prepared(embedding, torch.zeros(b, 43, 2), SourceSet(feats, torch.zeros(b, n, 43, 2), None), fused)
    motion = MotionOutput(ident[:, 0].clone(), torch.randn(b, 1, s, s), torch.zeros(b, 44, s, s))
    with torch.no_grad():
        composed = model.deform(prepared, motion)
        twice = plain.deform(prepared, motion)
    assert composed.shape == (b, c, s, s)
    torch.testing.assert_close(composed, twice, atol=1e-5, rtol=0)
    # ... and differ once the flows move by fractions of a pixel (one resampling, not two)
    half = _shift(b * n, s, s, 0.5, 0.5).view(b, n, s, s, 2)
    moved = prepared._replace(fusion=fused._replace(flows=half))
    half_motion = motion._replace(flow=_shift(b, s, s, 0.5, 0.5))
    with torch.no_grad():
        a, z = model.deform(moved, half_motion), plain.deform(moved._replace(
            embedding=(weights * warp(feats.flatten(0, 1), half.flatten(0, 1)).view(b, n, c, s, s)).sum(1)),
            half_motion)
    assert a.std() > z.std()  # the single resampling keeps more of the features' contrast


@pytest.mark.parametrize("view_temperature", [0.0, 0.05])  # with and without per-frame view selection
def test_composed_render_is_source_order_invariant_and_trains(view_temperature: float) -> None:
    model = _composed_model(view_temperature)
    torch.manual_seed(0)
    images = torch.rand(1, 3, 3, 256, 256)
    sup = (torch.rand(1, 3, 33, 2) - 0.5) * 0.8
    kp = torch.cat([(torch.rand(1, 33, 2) - 0.5) * 0.8, (torch.rand(1, 10, 2) - 0.5) * 0.8], dim=1)
    expr = torch.rand(1, 16)
    order = torch.tensor([2, 0, 1])
    with torch.no_grad():
        a = model(images, sup, kp, None, expr).image
        b = model(images[:, order], sup[:, order], kp, None, expr).image
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    model.train()
    out = model(images, sup, kp, None, expr)
    out.image.mean().backward()
    conf = model.frontalizer.motion.confidence.weight.grad
    assert conf is not None and conf.abs().sum() > 0  # the fusion weights are learned through this path
