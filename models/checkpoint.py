"""Self-describing checkpoints: one safetensors file = format version + model name + config + weights.

Metadata (all strings, safetensors header): `format` = "frontal-model", `format_version`,
`model_name`, `config` (the `ModelConfig` as JSON). Tensors: the model's `state_dict`, float32.
Loading never unpickles anything: the config is rebuilt from JSON into frozen dataclasses, the model
is built from it, and every tensor name, shape and dtype is checked against that model before the
weights are copied in. Any problem raises `CheckpointError` naming the field.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError as SafetensorsError
from safetensors.torch import load_file, safe_open, save, save_file

from models.generator import FrontalModel, ModelConfig

FORMAT = "frontal-model"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: foreign, corrupt, another version or another model."""


class Checkpoint(NamedTuple):
    model: FrontalModel
    name: str
    config: ModelConfig


def config_to_json(cfg: ModelConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def config_from_json(text: str) -> ModelConfig:
    """Rebuild a `ModelConfig` from JSON; `CheckpointError` naming a missing/unknown/ill-typed field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"config: not valid JSON ({exc})") from exc
    return _build(ModelConfig, data, "config")


def _build(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _build(inner[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise CheckpointError(f"{where}: expected an object, found {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise CheckpointError(f"{where}: unknown field(s) {sorted(unknown)}")
        kwargs = {k: _build(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise CheckpointError(f"{where}: {exc}") from exc
    if origin is tuple:
        if not isinstance(value, list):
            raise CheckpointError(f"{where}: expected a list, found {type(value).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_build(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is not tp:
        raise CheckpointError(f"{where}: expected {tp.__name__}, found {type(value).__name__}")
    return value


def _contents(model: FrontalModel, name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
               if v.is_floating_point()}
    tensors.update({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
                    if not v.is_floating_point()})
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "model_name": name,
            "config": config_to_json(model.cfg)}
    return tensors, meta


def save_checkpoint(model: FrontalModel, path: str | Path, name: str) -> None:
    """Write `model` (its config and float32 weights) to `path` as safetensors."""
    tensors, meta = _contents(model, name)
    save_file(tensors, str(path), metadata=meta)


def checkpoint_bytes(model: FrontalModel, name: str) -> bytes:
    """The bytes `save_checkpoint` would write (for an atomic write of the whole file)."""
    tensors, meta = _contents(model, name)
    return save(tensors, metadata=meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The header metadata of a checkpoint; `CheckpointError` for a foreign or corrupt file."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorsError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: field 'format': expected {FORMAT!r}, found {meta.get('format')!r}")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: field 'format_version': expected {FORMAT_VERSION}, "
                              f"found {meta.get('format_version')!r}")
    for key in ("model_name", "config"):
        if key not in meta:
            raise CheckpointError(f"{path}: metadata field {key!r} is missing")
    return meta


def load_checkpoint(path: str | Path, expected_name: str | None = None,
                    expected_config: ModelConfig | None = None) -> Checkpoint:
    """Load and validate a checkpoint; the model is returned in eval mode on the CPU."""
    meta = read_metadata(path)
    name = meta["model_name"]
    if expected_name is not None and name != expected_name:
        raise CheckpointError(f"{path}: field 'model_name': expected {expected_name!r}, found {name!r}")
    cfg = config_from_json(meta["config"])
    if expected_config is not None and cfg != expected_config:
        raise CheckpointError(f"{path}: config: {_first_difference(expected_config, cfg)}")
    try:
        model = FrontalModel(cfg)
    except ValueError as exc:
        raise CheckpointError(f"{path}: config: {exc}") from exc
    try:
        tensors = load_file(str(path))
    except (SafetensorsError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt tensor data ({exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"{path}: tensor {missing[0]!r} is missing ({len(missing)} missing in all)")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} in all)")
    for key, ref in expected.items():
        got = tensors[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise CheckpointError(f"{path}: tensor {key!r}: expected shape {tuple(ref.shape)}, "
                                  f"found {tuple(got.shape)}")
        if got.dtype != ref.dtype:
            raise CheckpointError(f"{path}: tensor {key!r}: expected dtype {ref.dtype}, found {got.dtype}")
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise CheckpointError(f"{path}: tensor {key!r} holds NaN or infinite values")
    model.load_state_dict(tensors, strict=True)
    return Checkpoint(model.eval(), name, cfg)


def _first_difference(a: Any, b: Any, where: str = "config") -> str:
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        for f in dataclasses.fields(a):
            if f.compare and getattr(a, f.name) != getattr(b, f.name):
                return _first_difference(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    return f"field {where!r}: expected {a!r}, found {b!r}"
