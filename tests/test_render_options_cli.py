"""`frontal set-render-options`: the same tensors under other render options, one-line errors, atomic output."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from frontal.cli import main as frontal_main
from frontal.render_options import main
from models.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from models.registry import build_untrained, get_config

NAME = "fom-mobile"  # the smallest model: quick to save and load


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / f"{NAME}.safetensors"
    save_checkpoint(build_untrained(get_config(NAME), seed=1), path, NAME)
    return path


def _config(path: Path) -> dict[str, Any]:
    cfg: dict[str, Any] = json.loads(read_metadata(path)["config"])
    return cfg


def test_sets_an_option_and_keeps_the_tensors(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pixels.safetensors"
    assert frontal_main(["set-render-options", str(src), str(out), "--pixel-path"]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: sha256 ")
    assert _config(src)["pixel_path"] is False and _config(out)["pixel_path"] is True
    a, b = load_checkpoint(src).model.state_dict(), load_checkpoint(out).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_metadata(out)["model_name"] == NAME
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it


def test_no_option_copies_the_checkpoint(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "same.safetensors"
    assert main([str(src), str(out)]) == 0
    assert read_metadata(out) == read_metadata(src)
    a, b = load_file(str(src)), load_file(str(out))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_refuses_to_overwrite_without_force(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep")
    assert main([str(src), str(out), "--pixel-path"]) == 1
    assert capsys.readouterr().err.strip() == f"frontal set-render-options: {out} exists (use -f to overwrite)"
    assert out.read_bytes() == b"keep"
    assert main([str(src), str(out), "--pixel-path", "-f"]) == 0
    assert _config(out)["pixel_path"] is True


@pytest.mark.parametrize("case, args, message", [
    ("missing input", ["{tmp}/none.safetensors", "{tmp}/out.safetensors"], "no such file"),
    ("not a checkpoint", ["{tmp}/junk.safetensors", "{tmp}/out.safetensors"], "not a readable safetensors file"),
    ("no output folder", ["{src}", "{tmp}/no/out.safetensors"], "does not exist"),
    ("a Frontalizer option on FOM", ["{src}", "{tmp}/out.safetensors", "--view-temperature", "0.02"], "has no Frontalizer"),
])
def test_bad_input_is_one_line_and_writes_nothing(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  case: str, args: list[str], message: str) -> None:
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    argv = [a.format(tmp=tmp_path, src=src) for a in args]
    assert main(argv) == 1, case
    err = capsys.readouterr().err
    assert err.startswith("frontal set-render-options: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out.safetensors").exists()


def test_a_frontalizer_config_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "fz.safetensors"
    save_checkpoint(build_untrained(get_config("frontalizer-mobile")), src, "frontalizer-mobile")
    out = tmp_path / "fz-vs.safetensors"
    assert main([str(src), str(out), "--view-temperature", "0.02", "--pixel-path"]) == 0
    cfg = _config(out)
    assert cfg["frontalizer"]["view_temperature"] == 0.02 and cfg["pixel_path"] is True
    bad = tmp_path / "bad.safetensors"
    assert main([str(src), str(bad), "--no-compose-warps", "--pixel-path"]) == 1  # the pixel path needs composed warps
    assert "pixel_path" in capsys.readouterr().err and not bad.exists()
