"""Model registry: a name -> its `ModelConfig` and its weights file `models/weights/NAME.safetensors`.

`load_model(name)` loads the weights when the file exists; otherwise (no training has been run
yet) it builds the model randomly initialised with a fixed seed, logs a warning and returns
`LoadedModel(..., trained=False)`, so an untrained model still renders end to end.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from models.aggregation import MaxPoolConfig
from models.checkpoint import load_checkpoint
from models.decoder import DecoderConfig
from models.dense_motion import DenseMotionConfig
from models.encoder import EncoderConfig
from models.expression import ExpressionConfig
from models.frontalizer import FrontalizerConfig
from models.generator import DrivingFields, FrontalModel, ModelConfig
from models.keypoints import KeypointDetectorConfig

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "frontalizer-mobile"
INIT_SEED = 0

SUP_UNSUP_EXPR = DrivingFields(n_sup=33, n_unsup=10, jacobians=False, n_expr=16)
UNSUP_JAC = DrivingFields(n_sup=0, n_unsup=10, jacobians=True, n_expr=0)
UNSUP = DrivingFields(n_sup=0, n_unsup=10, jacobians=False, n_expr=0)


def _mobile(fusion: str, fields: DrivingFields, max_sources: int | None = None) -> ModelConfig:
    """Mobile form: MobileNetV2 blocks, 32x32x32 bottleneck (paper §3.3, appendix 6.1)."""
    kp = KeypointDetectorConfig("mobile", fields.n_unsup, 64, (16, 32, 64, 96, 128), fields.jacobians)
    return ModelConfig(
        form="mobile",
        fusion=fusion,
        driving_fields=fields,
        keypoint=kp,
        encoder=EncoderConfig("mobile", 256, (16, 24, 32)),
        dense_motion=DenseMotionConfig("mobile", fields.num_kp, 32, (48, 64, 96)),
        decoder=DecoderConfig("mobile", 32, 32, fields.n_expr, 64, 2, (32, 24, 16)),
        expression=ExpressionConfig(kp.centre_features, 32, fields.n_expr) if fields.n_expr else None,
        frontalizer=(FrontalizerConfig(DenseMotionConfig("mobile", fields.num_kp, 32, (48, 64, 96)),
                                       fields.n_sup, fields.n_unsup, compose_warps=True)
                     if fusion == "frontalizer" else None),
        aggregator=MaxPoolConfig("mobile", 32, 2) if fusion == "maxpool" else None,
        max_sources=max_sources,
    )


def _dense(fusion: str, fields: DrivingFields, max_sources: int | None = None) -> ModelConfig:
    """Dense form: First-Order-Model-sized networks, 256x64x64 bottleneck."""
    kp = KeypointDetectorConfig("dense", fields.n_unsup, 64, (64, 128, 256, 512, 1024), fields.jacobians,
                                head_kernel=7)
    motion = DenseMotionConfig("dense", fields.num_kp, 64, (128, 256, 512, 1024, 1024), 7)
    return ModelConfig(
        form="dense",
        fusion=fusion,
        driving_fields=fields,
        keypoint=kp,
        encoder=EncoderConfig("dense", 256, (64, 128, 256)),
        dense_motion=motion,
        decoder=DecoderConfig("dense", 256, 64, fields.n_expr, 256, 6, (128, 64)),
        expression=ExpressionConfig(kp.centre_features, 32, fields.n_expr) if fields.n_expr else None,
        frontalizer=(FrontalizerConfig(motion, fields.n_sup, fields.n_unsup, compose_warps=True)
                     if fusion == "frontalizer" else None),
        aggregator=MaxPoolConfig("dense", 256, 2) if fusion == "maxpool" else None,
        max_sources=max_sources,
    )


REGISTRY: dict[str, Callable[[], ModelConfig]] = {
    "frontalizer-mobile": lambda: _mobile("frontalizer", SUP_UNSUP_EXPR),
    "frontalizer-dense": lambda: _dense("frontalizer", SUP_UNSUP_EXPR),
    "fom-mobile": lambda: _mobile("single", UNSUP_JAC, max_sources=1),
    "fom-dense": lambda: _dense("single", UNSUP_JAC, max_sources=1),
    "fom-mult-mobile": lambda: _mobile("nearest", UNSUP_JAC),
    "maxpool-mobile": lambda: _mobile("maxpool", UNSUP),
}


class LoadedModel(NamedTuple):
    """A model ready for `eval()`, its registry name, and whether trained weights were loaded."""

    model: FrontalModel
    name: str
    trained: bool


def model_names() -> list[str]:
    return list(REGISTRY)


def get_config(name: str) -> ModelConfig:
    """The config registered under `name`; `KeyError` listing the known names otherwise."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def has_weights(name: str) -> bool:
    """Whether trained weights for `name` are installed (`models/weights/NAME.safetensors`)."""
    get_config(name)
    return weights_path(name).is_file()


def build_untrained(cfg: ModelConfig, seed: int = INIT_SEED) -> FrontalModel:
    """A randomly initialised model, identical on every machine for a given seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FrontalModel(cfg)


def load_model(name: str = DEFAULT_MODEL, weights: str | Path | None = None,
               device: torch.device | str = "cpu") -> LoadedModel:
    """Build `name` and load its weights (or `weights`); untrained fallback when no file exists.

    An explicit `weights` path that does not exist is an error; a registry file that does not
    exist yet falls back to the seeded random initialisation (logged, `trained=False`).
    """

    cfg = get_config(name)
    path = Path(weights) if weights is not None else weights_path(name)
    if path.is_file():
        model = load_checkpoint(path, expected_name=name, expected_config=cfg).model
        return LoadedModel(model.to(device).eval(), name, True)
    if weights is not None:
        raise FileNotFoundError(f"weights file not found: {path}")
    log.warning("no trained weights for %s (%s): using a randomly initialised model (seed %d)",
                name, path, INIT_SEED)
    return LoadedModel(build_untrained(cfg).to(device).eval(), name, False)
