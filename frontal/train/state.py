"""The run folder's checkpoints: weights and training state without pickle, written atomically.

    RUN/run.json                    the training and model configs (checked on --resume)
    RUN/latest                      the name of the newest complete checkpoint, e.g. "step-000200"
    RUN/checkpoints/step-000200/
        model.safetensors           `models.checkpoint` format: loadable by `load_model(..., weights=)`
        discriminator.safetensors   the discriminator's state dict (when adversarial training is on)
        optimizer.safetensors       every optimizer's per-parameter tensors + the RNG states
        state.json                  step, optimizer hyper-parameters, numpy RNG state, loss history

A checkpoint is written into a temporary folder that is renamed into place, then `latest` is
replaced (atomic write), so an interruption at any moment leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from codec.atomic import atomic_write

STATE_VERSION = 1


class StateError(ValueError):
    """A run folder or checkpoint that cannot be resumed (message names the file)."""


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state dict as (tensors, JSON-able param groups + non-tensor state)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = val.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                      meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = val
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_module(module: nn.Module, path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))


def load_module(module: nn.Module, path: Path) -> None:
    try:
        state = load_file(str(path))
        module.load_state_dict(state, strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise StateError(f"{path}: cannot load ({exc})") from exc


def write_checkpoint(run: Path, name: str, writers: dict[str, Any], state: dict[str, Any],
                     keep: int = 2) -> Path:
    """Write one checkpoint folder atomically. `writers`: file name -> callable(path)."""
    ckdir = run / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / name
    tmp = ckdir / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    mask = os.umask(0)
    os.umask(mask)
    for fname, write in writers.items():
        write(tmp / fname)
        os.chmod(tmp / fname, 0o666 & ~mask)  # safetensors writes owner-only files
    (tmp / "state.json").write_text(json.dumps({"version": STATE_VERSION, **state}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write(run / "latest", (name + "\n").encode())
    old = sorted(p for p in ckdir.iterdir() if p.is_dir() and p.name.startswith("step-") and p != final)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p)
    return final


def latest_checkpoint(run: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None when there is none."""
    pointer = run / "latest"
    if not pointer.is_file():
        return None
    path = run / "checkpoints" / pointer.read_text().strip()
    if not (path / "state.json").is_file():
        raise StateError(f"{pointer}: points to {path.name}, which is missing or incomplete")
    return path


def read_state(ckpt: Path) -> dict[str, Any]:
    try:
        state = json.loads((ckpt / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StateError(f"{ckpt / 'state.json'}: unreadable ({exc})") from exc
    if state.get("version") != STATE_VERSION:
        raise StateError(f"{ckpt / 'state.json'}: version {state.get('version')!r}, expected {STATE_VERSION}")
    return state
