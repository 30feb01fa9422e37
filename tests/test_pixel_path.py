"""`ModelConfig.pixel_path`: the source views' own pixels, moved by the model's flows, where the
occlusion map says the warp is valid."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models.dense_motion import MotionOutput
from models.frontalizer import FrontalizerOutput
from models.generator import Prepared, SourceSet, validate_config
from models.geometry import coordinate_grid
from models.registry import build_untrained, get_config
from receiver.renderer import Renderer


def _cfg(name: str = "frontalizer-mobile", pixels: bool = True):  # noqa: ANN202
    return dataclasses.replace(get_config(name), pixel_path=pixels)


def test_identity_flows_show_the_weighted_source_pixels() -> None:
    """With identity flows and a confident occlusion map the frame is the fusion-weighted sum of the
    views' pixels, whatever the decoder drew; with no confidence it is the decoder's frame. (Within
    half a flow cell of the crop's edge the flows are continued from their border, as `warp` does.)"""
    model = build_untrained(_cfg()).eval()
    torch.manual_seed(0)
    b, n, s = 1, 2, 32
    images = torch.rand(b, n, 3, 256, 256)
    weights = torch.softmax(torch.randn(b, n, 1, s, s), dim=1)
    ident = coordinate_grid(s, s).expand(b, n, s, s, 2)
    feats = torch.randn(b, n, 32, s, s)
    fused = FrontalizerOutput((weights * feats).sum(1), ident, weights, feats)
    prepared = Prepared(fused.embedding, torch.zeros(b, 43, 2), SourceSet(feats, torch.zeros(b, n, 43, 2), None, images), fused)
    decoded = torch.rand(b, 3, 256, 256)
    up = torch.nn.functional.interpolate(weights[0], size=(256, 256), mode="bilinear", align_corners=False)
    expected = (up * images[0]).sum(0, keepdim=True)
    for conf, want in ((30.0, expected), (-30.0, decoded)):
        motion = MotionOutput(ident[:, 0].clone(), torch.full((b, 1, s, s), conf), torch.zeros(b, 44, s, s))
        with torch.no_grad():
            out = model._with_pixels(decoded, prepared, motion, None)  # noqa: SLF001
        torch.testing.assert_close(out[..., 4:-4, 4:-4], want[..., 4:-4, 4:-4], atol=1e-4, rtol=0)


def test_single_source_pixels_follow_the_flow() -> None:
    """FOM: a whole-pixel shift of the flow shifts the source pixels by as much."""
    model = build_untrained(_cfg("fom-mobile")).eval()
    img = torch.rand(1, 1, 3, 256, 256)
    grid = coordinate_grid(32, 32).unsqueeze(0)
    shift = grid + torch.tensor([2 * 8 / 256, 0.0])  # 8 output pixels right
    prepared = Prepared(None, None, SourceSet(torch.zeros(1, 1, 32, 32, 32), torch.zeros(1, 1, 43, 2), None, img), None)
    with torch.no_grad():
        out = model.pixels(prepared, shift)
    torch.testing.assert_close(out[..., 16:-16, 16:-24], img[:, 0, :, 16:-16, 24:-16], atol=1e-4, rtol=0)


def test_unsupported_combinations_are_refused() -> None:
    with pytest.raises(ValueError, match="pixel_path"):
        validate_config(_cfg("maxpool-mobile"))
    cfg = _cfg()
    with pytest.raises(ValueError, match="pixel_path"):
        validate_config(dataclasses.replace(cfg, frontalizer=dataclasses.replace(cfg.frontalizer, compose_warps=False)))
    assert not get_config("frontalizer-mobile").pixel_path  # off in the registry


@pytest.mark.parametrize("name", ["frontalizer-mobile", "fom-mobile", "fom-mult-mobile"])
def test_renderer_draws_with_pixels(name: str) -> None:
    rng = np.random.default_rng(0)
    on, off = Renderer(build_untrained(_cfg(name))), Renderer(build_untrained(_cfg(name, pixels=False)))
    fields = on.driving_fields
    for r in (on, off):
        for _ in range(2 if on.max_sources is None or on.max_sources > 1 else 1):
            r.add_source(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
                         sup=rng.uniform(-0.5, 0.5, (33, 2)).astype(np.float32))
    rec = {"sup": rng.uniform(-0.5, 0.5, (33, 2)).astype(np.float32),
           "unsup": rng.uniform(-0.5, 0.5, (fields.n_unsup, 2)).astype(np.float32),
           "expr": rng.uniform(0, 1, fields.n_expr).astype(np.float32),
           "jac": np.tile(np.eye(2, dtype=np.float32), (fields.n_unsup, 1, 1)) if fields.jacobians else None}
    a, z = on.render(**rec), off.render(**rec)
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - z.astype(int)).mean() > 1.0
