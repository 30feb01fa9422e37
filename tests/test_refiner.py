"""The geometry renderer's refiner: the network, its checkpoints, its training (resumable), and
that the call, `frontal decode` and the benchmark build the same mesh renderer."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from frontal.pipeline import MESH, MESH_REFINED, frame_renderer, model_fields
from frontal.train import refiner as train_refiner
from models.refiner import Refiner, RefinerConfig, RefinerError, load_refiner, save_refiner
from receiver.bench import cv2_texture, mesh_records
from receiver.render import REFINER_WEIGHTS, MeshFrameRenderer, make_renderer


def _random_refiner(seed: int, std: float, config: RefinerConfig | None = None) -> Refiner:
    """A refiner with every weight drawn from N(0, std) (a fresh one adds nothing)."""
    torch.manual_seed(seed)
    model = Refiner(config or RefinerConfig(channels=(4, 8, 8)))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=std)
    return model


def test_a_fresh_refiner_passes_the_render_through() -> None:
    torch.manual_seed(0)
    model = Refiner().eval()
    render, alpha = torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64)
    with torch.inference_mode():
        out = model(render, alpha)
    assert out.image.shape == (2, 3, 64, 64)
    assert torch.equal(out.image, render.clamp(0, 1))  # the output layer starts at zero
    assert float(out.residual.abs().max()) == 0.0


def test_the_residual_is_bounded_and_the_output_in_range() -> None:
    model = _random_refiner(1, 0.5, RefinerConfig(residual_scale=0.25))
    with torch.no_grad():
        out = model(torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32))
    assert float(out.residual.abs().max()) <= 0.25 + 1e-6
    assert 0.0 <= float(out.image.min()) and float(out.image.max()) <= 1.0
    assert float(out.residual.abs().max()) > 0.01  # not the identity any more


@pytest.mark.parametrize(("render", "alpha"), [((1, 3, 30, 32), (1, 1, 30, 32)), ((1, 4, 32, 32), (1, 1, 32, 32)),
                                               ((1, 3, 32, 32), (1, 1, 16, 16))])
def test_bad_shapes_are_refused(render: tuple[int, ...], alpha: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        Refiner()(torch.rand(*render), torch.rand(*alpha))


def test_checkpoint_round_trip_and_foreign_files(tmp_path: Path) -> None:
    model = _random_refiner(2, 0.1)
    path = tmp_path / "r.safetensors"
    save_refiner(model, path)
    loaded = load_refiner(path)
    assert loaded.config == model.config
    x, a = torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x, a).image, model.eval()(x, a).image)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(RefinerError, match="not a readable"):
        load_refiner(tmp_path / "junk.safetensors")
    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"), metadata={"format": "something-else"})
    with pytest.raises(RefinerError, match="not a Frontal refiner"):
        load_refiner(tmp_path / "other.safetensors")


def _mesh_renderer(**kw: object) -> MeshFrameRenderer:
    renderer = MeshFrameRenderer(**kw)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    for rec in mesh_records(2, seed=5):
        renderer.add_source_record(cv2_texture(rng), rec)
    return renderer


def test_mesh_renderer_applies_the_refiner_it_is_given(tmp_path: Path) -> None:
    model = _random_refiner(3, 0.2)
    path = tmp_path / "r.safetensors"
    save_refiner(model, path)
    plain, refined = _mesh_renderer(), _mesh_renderer(refiner=path)
    assert not plain.refined and refined.refined
    rec = mesh_records(1, seed=9)[0]
    drawn = plain.render(rec)
    frame = refined.draw(rec)
    assert np.array_equal(frame.image, drawn)  # the same geometry underneath
    out = refined.render(rec)
    assert out.shape == drawn.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - drawn.astype(int)).mean() > 1.0
    with torch.inference_mode():
        expect = model.eval()(torch.from_numpy(drawn).permute(2, 0, 1)[None].float() / 255,
                              torch.from_numpy(frame.alpha)[None, None]).image[0]
    expect_u8 = (expect * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - expect_u8.astype(int)).max() <= 1
    assert refined.describe()["refiner"] != plain.describe()["refiner"]


def test_the_call_the_decoder_and_the_benchmark_build_the_same_mesh_renderer() -> None:
    call = make_renderer("mesh")  # what `frontal call --renderer mesh` and bench-call build
    bench = frame_renderer(MESH)  # what codec-loopback --model mesh and frontal evaluate build
    decode = MeshFrameRenderer()  # what `frontal decode` builds for a mesh recording
    assert isinstance(call, MeshFrameRenderer)
    assert call.describe() == bench.describe() == decode.describe()
    assert call.describe()["refiner"] is None  # what ships draws without the refiner (models/MODEL_CARD.md)


def _pairs(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    render = np.clip(target.astype(int) + 30, 0, 255).astype(np.uint8)  # a brightness error to learn
    np.savez(path, render=render, alpha=rng.integers(0, 256, (n, 32, 32), dtype=np.uint8), target=target)


def test_training_learns_resumes_exactly_and_exports(tmp_path: Path) -> None:
    for work in (tmp_path / "a", tmp_path / "b"):
        work.mkdir()
        _pairs(work / "pairs_train.npz", 12, 0)
        _pairs(work / "pairs_val.npz", 4, 1)
    torch.set_num_threads(1)
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--batch", "4", "--crop", "32", "--lr", "3e-3", "--save-every", "10", "-q"]
    assert train_refiner.main(["unused", "--work", str(a), "--steps", "40", *args]) == 0
    assert train_refiner.main(["unused", "--work", str(b), "--steps", "20", *args]) == 0
    assert train_refiner.main(["unused", "--work", str(b), "--steps", "40", *args]) == 0  # resumed at 20
    ta, tb = load_file(str(a / "state.safetensors")), load_file(str(b / "state.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.allclose(ta[k], tb[k], atol=1e-6), k
    log = [json.loads(line) for line in (a / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [10, 20, 30, 40]
    assert log[-1]["psnr_refined"] > log[-1]["psnr_render"] + 1.0  # it learned the brightness error
    out = tmp_path / "refiner.safetensors"
    assert train_refiner.main(["unused", "--work", str(a), "--export", str(out)]) == 0
    assert load_refiner(out).config == RefinerConfig()


def test_train_refiner_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_refiner.main([str(tmp_path / "missing"), "--work", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("frontal train-refiner:") and "\n" not in err
    assert train_refiner.main([str(tmp_path), "--work", str(tmp_path / "w"), "--crop", "30"]) == 1


def test_the_refined_ablation_is_the_shipped_renderer_plus_the_network() -> None:
    ablation, shipped = frame_renderer(MESH_REFINED), frame_renderer(MESH)
    assert ablation.refined and not shipped.refined and shipped.describe()["refiner"] is None
    assert ablation.describe()["refiner"] == hashlib.sha256(REFINER_WEIGHTS.read_bytes()).hexdigest()
    assert {k: v for k, v in ablation.describe().items() if k != "refiner"} == \
        {k: v for k, v in shipped.describe().items() if k != "refiner"}
    assert model_fields(MESH_REFINED) == model_fields(MESH)
