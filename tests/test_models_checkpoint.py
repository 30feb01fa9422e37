"""Checkpoints (safetensors + version + config) and the registry."""
from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from models.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    config_from_json,
    config_to_json,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from models.registry import build_untrained, get_config, load_model, model_names

NAME = "fom-mobile"  # the smallest model: quick to save and load


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    m = build_untrained(get_config(NAME), seed=3)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # make sure no value is a default init
    return m.eval()


@pytest.fixture
def ckpt(tmp_path: Path, model: torch.nn.Module) -> Path:
    path = tmp_path / f"{NAME}.safetensors"
    save_checkpoint(model, path, NAME)
    return path


def test_save_load_is_bit_exact(ckpt: Path, model: torch.nn.Module) -> None:
    loaded = load_checkpoint(ckpt, expected_name=NAME, expected_config=get_config(NAME))
    assert loaded.config == model.cfg and loaded.name == NAME
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    x = torch.rand(1, 1, 3, 256, 256)
    with torch.no_grad():
        kp = torch.rand(1, 10, 2) - 0.5
        jac = torch.eye(2).expand(1, 10, 2, 2)
        assert torch.equal(model(x, None, kp, jac).image, loaded.model(x, None, kp, jac).image)


def test_metadata_carries_version_name_and_config(ckpt: Path) -> None:
    meta = read_metadata(ckpt)
    assert meta["format_version"] == str(FORMAT_VERSION) and meta["model_name"] == NAME
    assert config_from_json(meta["config"]) == get_config(NAME)


def test_every_registry_config_round_trips_through_json() -> None:
    for name in model_names():
        cfg = get_config(name)
        assert config_from_json(config_to_json(cfg)) == cfg


def _rewrite(path: Path, tensors: dict[str, torch.Tensor] | None = None, **meta_changes: str) -> None:
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    meta.update(meta_changes)
    save_file(tensors if tensors is not None else load_file(str(path)), str(path), metadata=meta)


def test_shape_mismatch_names_field_and_shapes(ckpt: Path) -> None:
    tensors = load_file(str(ckpt))
    key = "decoder.head.weight"
    tensors[key] = torch.zeros(3, 8, 3, 3)
    _rewrite(ckpt, tensors)
    with pytest.raises(CheckpointError, match=r"decoder\.head\.weight.*expected shape \(3, 16, 3, 3\), found \(3, 8, 3, 3\)"):
        load_checkpoint(ckpt)


def test_missing_and_unexpected_tensors(ckpt: Path) -> None:
    tensors = load_file(str(ckpt))
    del tensors["decoder.head.bias"]
    _rewrite(ckpt, tensors)
    with pytest.raises(CheckpointError, match="decoder.head.bias.*missing"):
        load_checkpoint(ckpt)
    tensors = load_file(str(ckpt))
    tensors["decoder.head.bias"] = torch.zeros(3)
    tensors["extra.weight"] = torch.zeros(1)
    _rewrite(ckpt, tensors)
    with pytest.raises(CheckpointError, match="unexpected tensor 'extra.weight'"):
        load_checkpoint(ckpt)


def test_nan_weights_rejected(ckpt: Path) -> None:
    tensors = load_file(str(ckpt))
    tensors["decoder.head.bias"] = torch.full((3,), float("nan"))
    _rewrite(ckpt, tensors)
    with pytest.raises(CheckpointError, match="decoder.head.bias.*NaN"):
        load_checkpoint(ckpt)


def test_wrong_version_and_name_and_config(ckpt: Path) -> None:
    _rewrite(ckpt, format_version="99")
    with pytest.raises(CheckpointError, match="format_version.*expected 1.*'99'"):
        load_checkpoint(ckpt)
    _rewrite(ckpt, format_version=str(FORMAT_VERSION))
    with pytest.raises(CheckpointError, match="model_name.*'frontalizer-mobile'.*'fom-mobile'"):
        load_checkpoint(ckpt, expected_name="frontalizer-mobile")
    with pytest.raises(CheckpointError, match=r"field .config\.fusion.: expected .frontalizer., found .single."):
        load_checkpoint(ckpt, expected_config=get_config("frontalizer-mobile"))
    cfg = json.loads(read_metadata(ckpt)["config"])
    cfg["decoder"]["colour"] = 1
    _rewrite(ckpt, config=json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"config\.decoder: unknown field"):
        load_checkpoint(ckpt)


def test_corrupt_and_foreign_files(tmp_path: Path, ckpt: Path) -> None:
    data = ckpt.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "trunc.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "junk.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="'format'"):
        load_checkpoint(tmp_path / "foreign.safetensors")
    # a pickled torch file is refused, never unpickled
    torch.save({"x": torch.zeros(1)}, tmp_path / "pickled.safetensors")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "pickled.safetensors")


def test_loading_never_unpickles(ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(torch, "load", boom)
    load_checkpoint(ckpt)


def test_registry_untrained_fallback_is_deterministic(tmp_path: Path) -> None:
    a = load_model(NAME)
    b = load_model(NAME)
    assert not a.trained
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        load_model("nope")
    with pytest.raises(FileNotFoundError):
        load_model(NAME, weights=tmp_path / "missing.safetensors")


def test_registry_loads_an_explicit_checkpoint(ckpt: Path, model: torch.nn.Module) -> None:
    loaded = load_model(NAME, weights=ckpt)
    assert loaded.trained
    assert torch.equal(loaded.model.decoder.head.weight, model.decoder.head.weight)


def test_a_checkpoint_keeps_the_render_option_it_was_trained_with(tmp_path: Path) -> None:
    """The registry's Frontalizers compose their warps; an older checkpoint saved without the field
    (trained with two warps) loads under the same name and still renders with two warps."""
    cfg = get_config("frontalizer-mobile")
    assert cfg.frontalizer.compose_warps
    path = tmp_path / "old.safetensors"
    save_checkpoint(build_untrained(cfg), path, "frontalizer-mobile")
    old = json.loads(read_metadata(path)["config"])
    del old["frontalizer"]["compose_warps"]  # as written before the option existed
    _rewrite(path, config=json.dumps(old))
    loaded = load_checkpoint(path, expected_name="frontalizer-mobile", expected_config=cfg)
    assert loaded.config.frontalizer.compose_warps is False
    assert loaded.model.frontalizer.cfg.compose_warps is False
    assert load_model("frontalizer-mobile", weights=path).model.frontalizer.cfg.compose_warps is False
    assert loaded.config.frontalizer.view_temperature == 0.0  # written before view selection: off
    old["frontalizer"]["n_unsup"] = 9  # an architecture change is still refused
    _rewrite(path, config=json.dumps(old))
    with pytest.raises(CheckpointError, match="n_unsup"):
        load_checkpoint(path, expected_config=cfg)


def test_a_checkpoint_trained_with_view_selection_keeps_it(tmp_path: Path) -> None:
    """`view_temperature` travels with the checkpoint, under the registry name whose default is off."""
    cfg = get_config("frontalizer-mobile")
    assert cfg.frontalizer.view_temperature == 0.0
    trained = dataclasses.replace(cfg, frontalizer=dataclasses.replace(cfg.frontalizer, view_temperature=0.05))
    path = tmp_path / "vs.safetensors"
    save_checkpoint(build_untrained(trained), path, "frontalizer-mobile")
    assert load_model("frontalizer-mobile", weights=path).model.frontalizer.cfg.view_temperature == 0.05
