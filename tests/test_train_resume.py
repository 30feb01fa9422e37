"""The trainer: a run stopped and resumed gives the same weights as one never stopped; run-folder files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from frontal.train.data import Augment, ClipStore, FaceTubes
from frontal.train.losses import DiscriminatorConfig
from frontal.train.state import StateError
from frontal.train.trainer import TrainConfig, Trainer, render_batch
from models.checkpoint import load_checkpoint
from tests.test_train_fixtures import SIZE, make_folder, tiny_config

STEPS = 3


def _cfg(**kw: object) -> TrainConfig:
    base = dict(model="tiny", steps=STEPS, batch_size=2, checkpoint_every=2, val_every=2, val_examples=2,
                discriminator=DiscriminatorConfig((8, 8, 8), 2), decay_at=(0.5,), keep_checkpoints=2)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _trainer(tmp: Path, run: str, data: Path, resume: bool = False, **kw: object) -> Trainer:
    cfg = _cfg(**kw)
    tubes = FaceTubes(ClipStore(data, "train"), cfg.sampling, cfg.augment)
    val = FaceTubes(ClipStore(data, "val"), cfg.sampling, Augment.none())
    return Trainer(cfg, tmp / run, tubes, val, model_cfg=tiny_config(), device="cpu", resume=resume,
                   progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("prep"))


def test_interrupted_and_resumed_run_is_identical(tmp_path: Path, data: Path) -> None:
    straight = _trainer(tmp_path, "a", data)
    straight.run()
    first = _trainer(tmp_path, "b", data)
    first.run(max_steps=1)  # stops after step 1: an odd step, between two periodic checkpoints
    assert first.step == 1
    second = _trainer(tmp_path, "b", data, resume=True)
    assert second.step == 1
    second.run()
    a, b = straight.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    da, db = straight.disc.state_dict(), second.disc.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(da[k], db[k]) for k in da)
    assert [h["total"] for h in straight.history] == [h["total"] for h in second.history]
    # the file written at the end holds the same weights and loads as a model checkpoint
    ck = load_checkpoint(tmp_path / "b" / "checkpoints" / f"step-{STEPS:06d}" / "model.safetensors",
                         expected_config=tiny_config()).model
    assert all(torch.equal(ck.state_dict()[k], a[k]) for k in a)


def test_run_folder_contents_and_lr_decay(tmp_path: Path, data: Path) -> None:
    t = _trainer(tmp_path, "run", data, gan=False)
    t.run()
    run = tmp_path / "run"
    assert (run / "latest").read_text().strip() == f"step-{STEPS:06d}"
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == ["step-000002", "step-000003"]
    assert (run / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "val" / "step-000003.png").is_file()
    state = json.loads((run / "checkpoints" / "step-000003" / "state.json").read_text())
    assert state["step"] == STEPS and [h["lr"] for h in state["history"]] == [2e-4, 2e-4, 2e-5]
    assert "val_psnr" in state["history"][-1]
    opt = load_file(str(run / "checkpoints" / "step-000003" / "optimizer.safetensors"))
    assert any(k.endswith("exp_avg_sq") for k in opt) and "rng.torch" in opt
    assert not (run / "checkpoints" / "step-000003" / "discriminator.safetensors").exists()


def test_resume_refuses_other_config_and_missing_run(tmp_path: Path, data: Path) -> None:
    _trainer(tmp_path, "run", data).run(max_steps=2)
    with pytest.raises(StateError, match="batch_size"):
        _trainer(tmp_path, "run", data, resume=True, batch_size=3)
    with pytest.raises(StateError, match="already exists"):
        _trainer(tmp_path, "run", data)
    with pytest.raises(StateError, match="nothing to resume"):
        _trainer(tmp_path, "empty", data, resume=True)


@pytest.mark.parametrize("fusion", ["single", "nearest"])
def test_baselines_train_with_jacobian_equivariance(tmp_path: Path, data: Path, fusion: str) -> None:
    cfg = _cfg(gan=False, steps=1)
    tubes = FaceTubes(ClipStore(data, "train"), cfg.sampling, cfg.augment)
    t = Trainer(cfg, tmp_path / fusion, tubes, None, model_cfg=tiny_config(fusion), device="cpu", progress=False)
    res = t.train_step()
    assert "equivariance_jacobian" in res.values and all(v == v for v in res.values.values())
    out = render_batch(t.model, tubes.batch(__import__("numpy").random.default_rng(0), 2))
    assert out.image.shape == (4, 3, SIZE, SIZE)


def test_trailing_mean_ignores_nan_and_has_no_edge_dip() -> None:
    import numpy as np

    from frontal.train.plots import trailing_mean

    out = trailing_mean(np.array([1.0, 2.0, 3.0, np.nan, 5.0]), 2)
    assert np.allclose(out, [1.0, 1.5, 2.5, 3.0, 5.0])


def test_warm_start_from_a_checkpoint(tmp_path: Path, data: Path) -> None:
    """--init: the run starts from the given weights (checked by digest), with a fresh optimiser."""
    import hashlib

    first = _trainer(tmp_path, "first", data, gan=False)
    first.run()
    ckpt = tmp_path / "first" / "checkpoints" / f"step-{STEPS:06d}" / "model.safetensors"
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    warm = _trainer(tmp_path, "warm", data, gan=False, init=str(ckpt), init_sha256=sha, steps=1)
    a, b = first.model.state_dict(), warm.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # before any step: exactly the checkpoint
    assert warm.step == 0
    warm.run()
    assert any(not torch.equal(a[k], warm.model.state_dict()[k]) for k in a)
    assert json.loads((tmp_path / "warm" / "run.json").read_text())["train"]["init_sha256"] == sha
    with pytest.raises(ValueError, match="sha256 differs"):
        _trainer(tmp_path, "other", data, gan=False, init=str(ckpt), init_sha256="0" * 64)


def test_view_selection_is_a_training_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`frontal train --view-temperature T`: the model config carries it (and so the checkpoints);
    refused with one line for models without a composing Frontalizer, or T < 0."""
    from frontal.train.cli import main_train, model_config

    assert model_config("frontalizer-mobile").frontalizer.view_temperature == 0.0
    assert model_config("frontalizer-mobile", 0.05).frontalizer.view_temperature == 0.05
    for name, t in (("fom-mobile", 0.05), ("frontalizer-mobile", -1.0)):
        with pytest.raises(ValueError, match="--view-temperature"):
            model_config(name, t)
    rc = main_train(["--config", "fom-mobile", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                     "--view-temperature", "0.05"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("frontal train: --view-temperature") and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_training_through_the_pixel_path(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`frontal train --pixel-path`: the loss sees the blend, so the occlusion map is trained by the
    views' pixels too; the run folder and checkpoints carry the option; max-pool is refused in one line."""
    import dataclasses

    from frontal.train.cli import main_train, model_config

    assert model_config("fom-mobile", pixel_path=True).pixel_path
    assert not model_config("fom-mobile").pixel_path
    with pytest.raises(ValueError, match="--pixel-path for maxpool-mobile"):
        model_config("maxpool-mobile", pixel_path=True)
    rc = main_train(["--config", "maxpool-mobile", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                     "--pixel-path"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("frontal train: --pixel-path") and "\n" not in err

    base = tiny_config()
    cfg = dataclasses.replace(base, pixel_path=True,
                              frontalizer=dataclasses.replace(base.frontalizer, compose_warps=True))
    tcfg = _cfg(gan=False, steps=1)
    tubes = FaceTubes(ClipStore(data, "train"), tcfg.sampling, tcfg.augment)
    t = Trainer(tcfg, tmp_path / "pix", tubes, None, model_cfg=cfg, device="cpu", progress=False)
    batch = tubes.batch(__import__("numpy").random.default_rng(0), 2)
    with torch.no_grad():
        blend = render_batch(t.model, batch).image  # what the loss sees
        t.model.cfg = dataclasses.replace(cfg, pixel_path=False)
        decoder = render_batch(t.model, batch).image
        t.model.cfg = cfg
    assert blend.shape == decoder.shape == (4, 3, SIZE, SIZE) and not torch.allclose(blend, decoder)
    t.run()
    assert json.loads((tmp_path / "pix" / "run.json").read_text())["model_config"]["pixel_path"] is True
    ck = load_checkpoint(tmp_path / "pix" / "checkpoints" / "step-000001" / "model.safetensors",
                         expected_config=cfg)
    assert ck.model.cfg.pixel_path
