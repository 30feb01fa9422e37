"""The full model for every registry entry: forward, the receiver split, inference rewrites."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from models.generator import FrontalModel
from models.optimize import prepare_for_inference
from models.registry import build_untrained, get_config, model_names

torch.set_num_threads(2)
MOBILE = [n for n in model_names() if "dense" not in n]


def _inputs(model: FrontalModel, b: int = 1, n: int = 2) -> dict[str, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    f = model.cfg.driving_fields
    return {
        "sources": torch.rand(b, n, 3, 256, 256, generator=g),
        "source_sup": torch.rand(b, n, f.n_sup, 2, generator=g) - 0.5 if f.n_sup else None,
        "driving_kp": torch.rand(b, f.num_kp, 2, generator=g) - 0.5,
        "driving_jac": torch.eye(2).expand(b, f.n_unsup, 2, 2).clone() if f.jacobians else None,
        "expr": torch.rand(b, f.n_expr, generator=g) if f.n_expr else None,
    }


@pytest.mark.parametrize("name", MOBILE)
def test_forward_every_mobile_model(name: str) -> None:
    model = build_untrained(get_config(name)).eval()
    with torch.no_grad():
        out = model(**_inputs(model))
    assert out.image.shape == (1, 3, 256, 256)
    assert out.render.flow.shape == (1, 32, 32, 2)
    assert out.render.deformed.shape == (1, 32, 32, 32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["frontalizer-dense", "fom-dense"])
def test_forward_dense_models(name: str) -> None:
    model = build_untrained(get_config(name)).eval()
    with torch.no_grad():
        out = model(**_inputs(model, n=1))
    assert out.image.shape == (1, 3, 256, 256)
    assert out.render.deformed.shape == (1, 256, 64, 64)


def test_nearest_picks_the_closest_source() -> None:
    model = build_untrained(get_config("fom-mult-mobile")).eval()
    inp = _inputs(model, n=3)
    with torch.no_grad():
        src = model.encode_sources(inp["sources"])
        prepared = model.prepare_sources(src)
        out = model.render(prepared, src.kp[:, 2], src.jac[:, 2])
    assert out.source_index.tolist() == [2]


def test_extract_returns_declared_fields() -> None:
    for name in MOBILE:
        model = build_untrained(get_config(name)).eval()
        f = model.cfg.driving_fields
        with torch.no_grad():
            unsup, jac, expr = model.extract(torch.rand(1, 3, 256, 256))
        assert unsup.shape == (1, f.n_unsup, 2)
        assert (jac is not None) == f.jacobians
        assert (expr is not None) == (f.n_expr > 0)


@pytest.mark.parametrize("name", ["frontalizer-mobile", "fom-mobile"])
def test_inference_rewrite_matches_eval(name: str) -> None:
    model = build_untrained(get_config(name)).eval()
    # non-trivial BN statistics so that folding is really exercised
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    fast = prepare_for_inference(model)
    inp = _inputs(model)
    with torch.inference_mode():
        a = model(**inp).image
        b = fast(**inp).image
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original untouched


def test_config_validation_names_the_field() -> None:
    cfg = get_config("frontalizer-mobile")
    bad = dataclasses.replace(cfg, decoder=dataclasses.replace(cfg.decoder, num_expr=8))
    with pytest.raises(ValueError, match="decoder.num_expr"):
        FrontalModel(bad)


def test_driving_fields_per_model() -> None:
    assert get_config("frontalizer-mobile").driving_fields.num_kp == 43
    assert get_config("frontalizer-mobile").driving_fields.n_expr == 16
    assert not get_config("frontalizer-mobile").driving_fields.jacobians
    assert get_config("fom-mobile").driving_fields.jacobians
    assert get_config("fom-mobile").max_sources == 1
