"""Per-frame view selection (`FrontalizerConfig.view_temperature`) on the composed-warps render path
(source-order invariance and training with it: tests/test_compose_warps.py)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from models.dense_motion import MotionOutput
from models.frontalizer import FrontalizerOutput
from models.generator import FrontalModel, Prepared, SourceSet
from models.geometry import coordinate_grid
from models.registry import build_untrained, get_config


def _model(temperature: float) -> FrontalModel:
    cfg = get_config("frontalizer-mobile")
    fr = dataclasses.replace(cfg.frontalizer, compose_warps=True, view_temperature=temperature)
    return build_untrained(dataclasses.replace(cfg, frontalizer=fr)).eval()


def _case(n: int = 3, s: int = 32, c: int = 32) -> tuple[Prepared, MotionOutput, torch.Tensor]:
    """Random features and fusion weights, identity flows; source i's landmarks are a base layout
    perturbed by a growing amount, the frame's landmarks are source 1's shifted and scaled."""
    torch.manual_seed(1)
    feats = torch.randn(1, n, c, s, s)
    ident = coordinate_grid(s, s).expand(1, n, s, s, 2)
    weights = torch.softmax(torch.randn(1, n, 1, s, s), dim=1)
    base = (torch.rand(43, 2) - 0.5) * 0.8
    kps = torch.stack([base + 0.2 * i * torch.randn(43, 2) for i in range(n)]).unsqueeze(0)  # [1, n, 43, 2]
    driving = kps[:, 1] + torch.tensor([0.1, -0.05])  # source 1's shape, moved: nearest after centring
    fused = FrontalizerOutput((weights * feats).sum(1), ident, weights, feats)
    prepared = Prepared(fused.embedding, torch.zeros(1, 43, 2), SourceSet(feats, kps, None), fused)
    motion = MotionOutput(ident[:, 0].clone(), torch.full((1, 1, s, s), 9.0), torch.zeros(1, 44, s, s))
    return prepared, motion, driving


def test_off_by_default_and_at_zero() -> None:
    prepared, motion, driving = _case()
    with torch.no_grad():
        off = _model(0.0).deform(prepared, motion, driving)
        unconditioned = _model(0.0).deform(prepared, motion)
    torch.testing.assert_close(off, unconditioned)


def test_a_cold_prior_selects_the_source_posed_like_the_frame() -> None:
    """With a tiny temperature the frame is rendered from the one source whose (centred) landmarks
    match its own, whatever the learned fusion weights; with a large one the prior fades out."""
    prepared, motion, driving = _case()
    only = prepared._replace(sources=SourceSet(prepared.sources.features[:, 1:2], prepared.sources.kp[:, 1:2], None),
                             fusion=prepared.fusion._replace(flows=prepared.fusion.flows[:, 1:2],
                                                             weights=torch.ones_like(prepared.fusion.weights[:, 1:2])))
    with torch.no_grad():
        cold = _model(1e-4).deform(prepared, motion, driving)
        single = _model(0.0).deform(only, motion, driving)
        warm = _model(1e4).deform(prepared, motion, driving)
        off = _model(0.0).deform(prepared, motion, driving)
    torch.testing.assert_close(cold, single, atol=1e-5, rtol=0)
    torch.testing.assert_close(warm, off, atol=1e-3, rtol=0)
    assert (cold - off).abs().max() > 0.1



def test_the_config_refuses_a_negative_temperature_or_two_warps() -> None:
    from models.generator import validate_config

    cfg = get_config("frontalizer-mobile")
    for fr, field_name in ((dataclasses.replace(cfg.frontalizer, view_temperature=-0.1), "view_temperature"),
                           (dataclasses.replace(cfg.frontalizer, view_temperature=0.05, compose_warps=False),
                            "compose_warps")):
        with pytest.raises(ValueError, match=field_name):
            validate_config(dataclasses.replace(cfg, frontalizer=fr))
    validate_config(dataclasses.replace(cfg, frontalizer=dataclasses.replace(cfg.frontalizer, view_temperature=0.05)))
