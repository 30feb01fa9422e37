"""`frontal evaluate` and `frontal train` command lines; model specs, frame choice, tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from frontal.train.cli import main_evaluate, main_train
from frontal.train.evaluate import ModelSpec, choose_frames, load_clip
from tests.test_train_fixtures import labels, write_clip


@pytest.fixture(scope="module")
def val_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prep256")
    _, val = labels(0, 1)
    write_clip(root / "v.npz", val[0], frames=8, yaw_span=0.8, size=256)
    return root


def test_model_spec_parse() -> None:
    assert ModelSpec.parse("fom-mobile") == ModelSpec("fom-mobile", None, "fom-mobile")
    assert ModelSpec.parse("fom-mobile=untrained").label == "fom-mobile[untrained]"
    assert ModelSpec.parse("fom-mobile=w/fom.safetensors").label == "fom-mobile[fom]"
    assert ModelSpec.parse("fom-mobile=runs/r1/checkpoints/step-000300/model.safetensors").label == \
        "fom-mobile[r1/step-000300]"
    with pytest.raises(ValueError):
        ModelSpec.parse("=x")


def test_choose_frames_sources_are_not_driving(val_folder: Path) -> None:
    clip = load_clip(val_folder / "v.npz")
    views, frames = choose_frames(clip, "extremes", 3, 4)
    assert len(views) == 3 and len(frames) == 4
    assert not set(views) & set(frames.tolist())
    assert abs(clip.yaw_deg[views[0]]) == np.abs(clip.yaw_deg).min()


def test_evaluate_command_writes_json_and_table(val_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.json"
    argv = ["--model", "fom-mobile=untrained", "--model", "fom-mult-mobile=untrained", "--data", str(val_folder),
            "--max-frames", "2", "--metrics", "psnr,ssim", "--views", "extremes", "--json", str(out),
            "--no-progress"]
    assert main_evaluate(argv) == 0
    res = json.loads(out.read_text())
    r = res["results"]["fom-mobile[untrained]"]["extremes"]
    assert r["frames"] == 2 and r["overall"]["psnr"]["n"] == 2 and len(r["buckets"]["psnr"]) == 4
    assert res["models"]["fom-mobile[untrained]"]["trained"] is False
    table = capsys.readouterr().out
    assert "| fom-mult-mobile[untrained] | extremes | 2 |" in table and "| model | views | frames | PSNR dB | SSIM | view choice |" in table
    assert f"| fom-mobile[untrained] | extremes | 2 | {r['overall']['psnr']['mean']:.3f} |" in table
    assert main_evaluate(argv) == 1  # --json exists, no -f
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope", "--data", "."], "unknown model"),
    (["--model", "fom-mobile=missing.safetensors", "--data", "."], "not found"),
    (["--data", ".", "--metrics", "lpips"], "unknown"),
])
def test_evaluate_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_evaluate(argv) == 1
    assert message in capsys.readouterr().err


def test_train_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_train(["--config", "nope", "--data", ".", "--out", str(tmp_path / "r")]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main_train(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "r"), "--no-progress"]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert main_train(["--data", str(tmp_path), "--out", str(tmp_path / "r"), "--resume", "--no-progress"]) == 1
