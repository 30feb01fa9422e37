"""Frontal's networks (tensors in, tensors out): the Frontalizer model and its baselines.

    from models import load_model, DrivingExtractor
    loaded = load_model("frontalizer-mobile")        # LoadedModel(model, name, trained)
    loaded.model.cfg.driving_fields                  # DrivingFields(n_sup, n_unsup, jacobians, n_expr)

One network per file (keypoints, expression, encoder, frontalizer, dense_motion, aggregation,
decoder), composed in `generator.FrontalModel`; `registry` maps names to configs and weights;
`checkpoint` reads and writes self-describing safetensors files. docs/models.md has the details.
"""
from models import registry
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.extractor import DrivingCode, DrivingExtractor
from models.generator import DrivingFields, FrontalModel, ModelConfig
from models.optimize import prepare_for_inference
from models.registry import (
    DEFAULT_MODEL,
    LoadedModel,
    get_config,
    load_model,
    model_names,
)

__all__ = [
    "CheckpointError", "DEFAULT_MODEL", "DrivingCode", "DrivingExtractor", "DrivingFields",
    "FrontalModel", "LoadedModel", "ModelConfig", "get_config", "load_checkpoint", "load_model",
    "model_names", "prepare_for_inference", "registry", "save_checkpoint",
]
