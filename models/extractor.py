"""Sender side: the driving-frame networks (keypoint detector + expression head) on one crop.

`DrivingExtractor(...).extract(crop)` -> `DrivingCode(unsup [K, 2], jac [K, 2, 2] | None,
expr [M] | None)`, numpy float32, exactly the fields the model's `driving_fields` declare
(supervised landmarks come from the tracker, not from here).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from models.frames import image_to_tensor
from models.generator import DrivingFields, FrontalModel
from models.optimize import prepare_for_inference
from models.registry import DEFAULT_MODEL, load_model


class DrivingCode(NamedTuple):
    """Per-frame detector outputs: `unsup [K, 2]`, `jac [K, 2, 2] | None`, `expr [M] | None`."""

    unsup: np.ndarray
    jac: np.ndarray | None
    expr: np.ndarray | None


class DrivingExtractor:
    """Runs the keypoint + expression networks of a model on driving crops (batch 1, inference mode)."""

    def __init__(self, model: str | FrontalModel | None = DEFAULT_MODEL, device: torch.device | str = "cpu",
                 optimize: bool = True) -> None:
        if model is None or isinstance(model, str):
            loaded = load_model(model or DEFAULT_MODEL, device=device)
            net, self.model_name, self.trained = loaded.model, loaded.name, loaded.trained
        else:
            net, self.model_name, self.trained = model, "custom", True
        self.device = torch.device(device)
        self._net = prepare_for_inference(net) if optimize else net.eval()
        self._net.to(self.device)

    @property
    def driving_fields(self) -> DrivingFields:
        return self._net.cfg.driving_fields

    def extract(self, image: np.ndarray) -> DrivingCode:
        """`image uint8 [256, 256, 3]` RGB crop -> `DrivingCode` (numpy float32)."""
        code = self.extract_batch(image[None] if isinstance(image, np.ndarray) and image.ndim == 3 else image)
        return DrivingCode(code.unsup[0], None if code.jac is None else code.jac[0], None if code.expr is None else code.expr[0])

    def extract_batch(self, images: np.ndarray, batch: int = 32) -> DrivingCode:
        """`images uint8 [N, 256, 256, 3]` -> `DrivingCode` with a leading N on every field (offline use)."""
        if not isinstance(images, np.ndarray) or images.ndim != 4:
            raise ValueError(f"driving images: expected uint8 [N, 256, 256, 3], found {getattr(images, 'shape', type(images).__name__)}")
        parts: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = []
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = torch.cat([image_to_tensor(im, "driving image", self.device) for im in images[start : start + batch]])
                parts.append(self._net.extract(x))
        def cat(i: int) -> np.ndarray | None:
            return None if parts[0][i] is None else torch.cat([p[i] for p in parts]).cpu().numpy()  # type: ignore[misc]
        unsup = cat(0)
        assert unsup is not None
        return DrivingCode(unsup, cat(1), cat(2))
