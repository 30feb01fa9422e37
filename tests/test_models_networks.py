"""Shapes and properties of every network, in both forms (tiny batches, random init)."""
from __future__ import annotations

import pytest
import torch

from models.aggregation import MaxPoolAggregator, MaxPoolConfig
from models.decoder import Decoder
from models.dense_motion import DenseMotion
from models.encoder import Encoder
from models.expression import ExpressionHead
from models.frontalizer import Frontalizer
from models.geometry import coordinate_grid, displacement_maps, warp
from models.keypoints import KeypointDetector
from models.registry import build_untrained, get_config

torch.set_num_threads(2)
FORMS = {"mobile": get_config("frontalizer-mobile"), "dense": get_config("frontalizer-dense")}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("form,centre", [("mobile", 512), ("dense", 4096)])
def test_keypoint_detector_shapes(form: str, centre: int) -> None:
    cfg = FORMS[form].keypoint
    net = KeypointDetector(cfg.__class__(**{**cfg.__dict__, "jacobians": True})).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 256, 256))
    assert out.kp.shape == (2, 10, 2)
    assert out.jacobian is not None and out.jacobian.shape == (2, 10, 2, 2)
    assert out.heatmaps.shape == (2, 10, 64, 64)
    assert out.centre.shape == (2, centre)
    assert out.kp.abs().max() < 1
    torch.testing.assert_close(out.heatmaps.sum(dim=(2, 3)), torch.ones(2, 10))


def test_keypoint_detector_jacobians_start_at_identity() -> None:
    cfg = FORMS["mobile"].keypoint
    net = KeypointDetector(cfg.__class__(**{**cfg.__dict__, "jacobians": True})).eval()
    with torch.no_grad():
        jac = net(torch.rand(1, 3, 256, 256)).jacobian
    torch.testing.assert_close(jac, torch.eye(2).expand(1, 10, 2, 2))


@pytest.mark.parametrize("form,size", [("mobile", 512), ("dense", 4096)])
def test_expression_head(form: str, size: int) -> None:
    head = ExpressionHead(FORMS[form].expression)
    out = head(torch.randn(4, size))  # train mode: BatchNorm over the batch
    assert out.shape == (4, 16) and ((out > 0) & (out < 1)).all()
    out.sum().backward()


@pytest.mark.parametrize("form,shape", [("mobile", (32, 32, 32)), ("dense", (256, 64, 64))])
def test_encoder_shapes(form: str, shape: tuple[int, int, int]) -> None:
    with torch.no_grad():
        out = Encoder(FORMS[form].encoder).eval()(torch.rand(1, 3, 256, 256))
    assert out.shape == (1, *shape)


@pytest.mark.parametrize("form", ["mobile", "dense"])
def test_decoder_shapes(form: str) -> None:
    cfg = FORMS[form].decoder
    with torch.no_grad():
        out = Decoder(cfg).eval()(torch.rand(1, cfg.in_channels, cfg.in_size, cfg.in_size), torch.rand(1, 16))
    assert out.shape == (1, 3, 256, 256)
    assert ((out >= 0) & (out <= 1)).all()


def test_decoder_requires_expression() -> None:
    cfg = FORMS["mobile"].decoder
    with pytest.raises(ValueError, match="expression"):
        Decoder(cfg)(torch.rand(1, 32, 32, 32), None)


@pytest.mark.parametrize("form", ["mobile", "dense"])
def test_dense_motion_shapes_and_identity(form: str) -> None:
    cfg = FORMS[form].dense_motion
    net = DenseMotion(cfg).eval()
    kp = torch.rand(1, cfg.num_kp, 2) * 1.6 - 0.8
    with torch.no_grad():
        out = net(kp, kp)
    s = cfg.size
    assert out.flow.shape == (1, s, s, 2) and out.confidence.shape == (1, 1, s, s)
    assert out.masks.shape == (1, cfg.num_kp + 1, s, s)
    # equal poses: the flow is the identity grid, and warping returns the input
    torch.testing.assert_close(out.flow[0], coordinate_grid(s, s))
    feats = torch.rand(1, 4, s, s)
    torch.testing.assert_close(warp(feats, out.flow), feats)


def test_displacement_maps() -> None:
    a, b = torch.zeros(1, 3, 2), torch.full((1, 3, 2), 0.5)
    maps = displacement_maps(a, b, 16, 16)
    assert maps.shape == (1, 4, 16, 16)
    assert (maps[:, 0] == 0).all() and maps[:, 1:].max() > 0.5 and maps[:, 1:].min() < -0.5


@pytest.mark.parametrize("form", ["mobile", "dense"])
def test_frontalizer_shapes(form: str) -> None:
    cfg = FORMS[form]
    net = Frontalizer(cfg.frontalizer).eval()
    c, h = cfg.encoder.out_channels, cfg.encoder.out_size
    with torch.no_grad():
        out = net(torch.rand(1, 2, c, h, h), torch.rand(1, 2, 43, 2) - 0.5)
    s = cfg.frontalizer.motion.size
    assert out.embedding.shape == (1, c, h, h)
    assert out.flows.shape == (1, 2, s, s, 2) and out.weights.shape == (1, 2, 1, s, s)
    torch.testing.assert_close(out.weights.sum(dim=1), torch.ones(1, 1, s, s))


def test_frontalizer_is_invariant_to_source_order() -> None:
    net = Frontalizer(FORMS["mobile"].frontalizer).eval()
    feats, kp = torch.rand(1, 4, 32, 32, 32), torch.rand(1, 4, 43, 2) - 0.5
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        a = net(feats, kp).embedding
        b = net(feats[:, perm], kp[:, perm]).embedding
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_gradients_reach_the_reference_pose() -> None:
    model = build_untrained(FORMS["mobile"])
    model.train()
    f = model.cfg.driving_fields
    sources = torch.rand(1, 2, 3, 256, 256)
    out = model(sources, torch.rand(1, 2, f.n_sup, 2) - 0.5, torch.rand(1, f.num_kp, 2) - 0.5,
                None, torch.rand(1, f.n_expr))
    out.image.mean().backward()
    ref = model.frontalizer.reference
    assert ref.grad is not None and ref.grad.abs().sum() > 0
    assert model.encoder.body[0].conv.weight.grad.abs().sum() > 0


def test_maxpool_aggregator_is_order_invariant() -> None:
    agg = MaxPoolAggregator(MaxPoolConfig("mobile", 8, 2)).eval()
    x = torch.rand(1, 3, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(agg(x), agg(x[:, [2, 0, 1]]))
        assert agg(x).shape == (1, 8, 16, 16)
