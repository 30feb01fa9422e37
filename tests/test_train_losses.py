"""Training losses: differentiable MS-SSIM, multi-scale L1, the discriminator terms, equivariance, VGG hook."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from frontal.eval.fidelity import msssim as measured_msssim
from frontal.train.losses import (
    DiscriminatorConfig,
    MultiScaleDiscriminator,
    RandomTps,
    Vgg19Perceptual,
    discriminator_loss,
    equivariance_loss,
    feature_matching,
    generator_adversarial,
    ms_ssim,
    multiscale_l1,
)
from models.keypoints import KeypointDetector, KeypointDetectorConfig


def _pair(size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_ms_ssim_matches_the_measuring_implementation() -> None:
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(2, 3, 32, 32, generator=g), size=176, mode="bilinear")
    noisy = (base + 0.05 * torch.randn(base.shape, generator=g)).clamp(0, 1)
    to_u8 = lambda t: (t * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # noqa: E731
    ref, dist = to_u8(base), to_u8(noisy)
    ours = ms_ssim(torch.from_numpy(ref).permute(0, 3, 1, 2).double() / 255,
                   torch.from_numpy(dist).permute(0, 3, 1, 2).double() / 255, luma=True)
    assert np.allclose(ours.numpy(), measured_msssim(ref, dist), atol=1e-4)


def test_ms_ssim_identity_gradients_and_small_images() -> None:
    x, y = _pair(32)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2), atol=1e-5)
    y.requires_grad_(True)
    v = ms_ssim(x, y)
    assert (v < 1).all()
    (1 - v).mean().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="at least 11"):
        ms_ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_multiscale_l1() -> None:
    x, y = _pair(16)
    assert float(multiscale_l1(x, x)) == 0.0
    assert float(multiscale_l1(x, y, scales=1)) == pytest.approx(float((x - y).abs().mean()))


@pytest.mark.parametrize("kind", ["lsgan", "hinge"])
def test_discriminator_terms(kind: str) -> None:
    torch.manual_seed(0)
    disc = MultiScaleDiscriminator(DiscriminatorConfig((8, 16, 16, 16), 2))
    real, fake = _pair(64)
    fake.requires_grad_(True)
    out_r, out_f = disc(real), disc(fake)
    assert len(out_r.predictions) == 2 and len(out_r.features[0]) == 4
    g = generator_adversarial(out_f, kind) + feature_matching(out_r, out_f)
    g.backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    d = discriminator_loss(disc(real), disc(fake.detach()), kind)
    assert torch.isfinite(d)
    assert float(feature_matching(out_r, disc(real)).detach()) == pytest.approx(0.0, abs=1e-4)  # spectral-norm u moves
    with pytest.raises(ValueError, match="lsgan"):
        generator_adversarial(out_f, "wgan")


def test_tps_identity_and_jacobian() -> None:
    g = torch.Generator().manual_seed(0)
    tps = RandomTps(2, g, sigma_affine=0.0, sigma_tps=0.0)
    pts = torch.rand(2, 5, 2) * 2 - 1
    assert torch.allclose(tps.warp_points(pts), pts, atol=1e-6)
    img = torch.rand(2, 3, 16, 16)
    assert torch.allclose(tps.warp_image(img), img, atol=1e-5)
    tps = RandomTps(2, torch.Generator().manual_seed(1))
    jac = tps.jacobian(pts)
    eps = 1e-3
    num = (tps.warp_points(pts + torch.tensor([eps, 0.0])) - tps.warp_points(pts - torch.tensor([eps, 0.0]))) / (2 * eps)
    assert torch.allclose(jac[..., :, 0], num, atol=1e-3)


def test_equivariance_loss_values_and_gradients() -> None:
    torch.manual_seed(0)
    det = KeypointDetector(KeypointDetectorConfig("mobile", 4, 32, (8, 8, 8), True))
    img = torch.rand(2, 3, 64, 64)
    out = det(img)
    ident = RandomTps(2, torch.Generator().manual_seed(0), sigma_affine=0.0, sigma_tps=0.0)
    eq = equivariance_loss(det, img, out.kp, out.jacobian, ident)
    assert float(eq.value.detach()) < 1e-4 and float(eq.jacobian.detach()) < 1e-4
    eq = equivariance_loss(det, img, out.kp, out.jacobian, RandomTps(2, torch.Generator().manual_seed(2)))
    (eq.value + eq.jacobian).backward()
    grads = [p.grad for p in det.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)


def test_vgg_hook_loads_a_safetensors_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    # build the layer stack once to get names and shapes, then save random weights
    from frontal.train import losses

    layers, c = [], 3
    for v in losses._VGG19:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(c, int(v), 3, padding=1), torch.nn.ReLU()]
            c = int(v)
    features = torch.nn.Sequential(*layers[: losses._VGG_TAPS[-1] + 1])
    state = {f"features.{k}": v.contiguous() for k, v in features.state_dict().items()}
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    vgg = Vgg19Perceptual(path, scales=1)
    x, y = _pair(32)
    assert float(vgg(x, x)) == 0.0 and float(vgg(x, y)) > 0
    assert not any(p.requires_grad for p in vgg.parameters())
    with pytest.raises(ValueError, match="safetensors"):
        Vgg19Perceptual(tmp_path / "vgg19.pth")
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="missing"):
        Vgg19Perceptual(tmp_path / "bad.safetensors")
