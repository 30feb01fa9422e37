"""The receiver's renderer: source views in (any time, any order), one 256x256 frame per record out.

    renderer = Renderer("frontalizer-mobile")
    renderer.add_source(crop, sup=landmarks)      # once per source view, off the per-frame path
    frame = renderer.render(sup=..., unsup=..., expr=...)   # uint8 [256, 256, 3] per record

`add_source` runs the encoder and the keypoint detector on the new view and re-fuses the source
set (Frontalizer: the p_r embedding) right away, so `render` only runs dense motion, the warp and
the decoder. Inputs are checked (`ValueError` naming the field; fields the model does not use are ignored); rendering with no source raises
`NoSourceError`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from numpy.typing import NDArray

from models.frames import (
    expr_to_tensor,
    image_to_tensor,
    jacobians_to_tensor,
    points_to_tensor,
    tensor_to_image,
)
from models.generator import (
    DrivingFields,
    FrontalModel,
    Prepared,
    RenderOutput,
    SourceSet,
)
from models.optimize import prepare_for_inference
from models.registry import DEFAULT_MODEL, load_model
from receiver.runtime import keep_heap_memory

log = logging.getLogger(__name__)


class NoSourceError(RuntimeError):
    """`render` was called before any source view was added."""


class Renderer:
    """Renders driving records with one model; holds the current source set of one caller."""

    def __init__(self, model: str | FrontalModel | None = DEFAULT_MODEL, device: torch.device | str = "cpu",
                 *, optimize: bool = True, weights: str | None = None, name: str | None = None,
                 keep_heap: bool = True) -> None:
        """`model`: a registry name (None: the default model) or a built `FrontalModel` (copied,
        never modified).
        `optimize`: fold BatchNorm and use channels-last (the fastest measured path).
        `weights`: a checkpoint to load instead of the registry's file; `name`: for messages.
        `keep_heap`: fix glibc malloc's thresholds for the process (`runtime.keep_heap_memory`),
        so per-frame activations are not page-faulted in again every frame."""
        if keep_heap:
            keep_heap_memory()
        if model is None or isinstance(model, str):
            loaded = load_model(model or DEFAULT_MODEL, weights=weights, device=device)
            net, self.model_name, self.trained = loaded.model, loaded.name, loaded.trained
        else:
            net, self.model_name, self.trained = model, name or "custom", True
        self.device = torch.device(device)
        self._net: FrontalModel = prepare_for_inference(net) if optimize else net.eval()
        self._net.to(self.device)
        self._sources: list[SourceSet] = []
        self._prepared: Prepared | None = None

    # -- properties -----------------------------------------------------------------------------
    @property
    def model(self) -> FrontalModel:
        return self._net

    @property
    def driving_fields(self) -> DrivingFields:
        return self._net.cfg.driving_fields

    @property
    def max_sources(self) -> int | None:
        """Most source views this model uses (None: unbounded)."""
        return self._net.cfg.max_sources

    @property
    def num_sources(self) -> int:
        return len(self._sources)

    # -- source set -----------------------------------------------------------------------------
    def add_source(self, image: NDArray[Any], sup: NDArray[Any] | None = None) -> int:
        """Add one source view (`uint8 [256, 256, 3]`; `sup [33, 2]`, required by models with
        landmarks, ignored by the others); encode it and re-fuse the source set.
        Returns the number of sources."""
        f = self.driving_fields
        if self.max_sources is not None and self.num_sources >= self.max_sources:
            raise ValueError(f"model {self.model_name} uses at most {self.max_sources} source view(s); "
                             f"call reset() to replace it")
        x = image_to_tensor(image, "source image", self.device)
        sup_t = self._points(sup, f.n_sup, "source sup")
        with torch.inference_mode():
            src = self._net.encode_sources(x.unsqueeze(1), None if sup_t is None else sup_t.unsqueeze(1))
            self._sources.append(src)
            self._refuse()
        log.debug("source %d added (%s)", self.num_sources, self.model_name)
        return self.num_sources

    def reset(self) -> None:
        """Forget all source views (a new caller, or a new source set)."""
        self._sources.clear()
        self._prepared = None

    def _refuse(self) -> None:
        fields = (None if parts[0] is None else torch.cat(parts, dim=1) for parts in zip(*self._sources))
        joined = SourceSet(*fields)  # type: ignore[arg-type]  # field by field, along the sources; None stays None
        prepared = self._net.prepare_sources(joined)
        if prepared.embedding is not None:
            emb = prepared.embedding.contiguous(memory_format=self._net.memory_format)
            prepared = prepared._replace(embedding=emb)
        self._prepared = prepared

    # -- per frame ------------------------------------------------------------------------------
    def render(self, sup: NDArray[Any] | None = None, unsup: NDArray[Any] | None = None,
               jac: NDArray[Any] | None = None, expr: NDArray[Any] | None = None) -> NDArray[Any]:
        """One driving record -> `uint8 [256, 256, 3]` RGB frame.

        Each field the model declares (`driving_fields`) is required and checked; fields it does
        not use are ignored."""
        return tensor_to_image(self.render_output(sup, unsup, jac, expr).image)

    def render_output(self, sup: NDArray[Any] | None = None, unsup: NDArray[Any] | None = None,
                      jac: NDArray[Any] | None = None, expr: NDArray[Any] | None = None) -> RenderOutput:
        """Like `render` but returns the model's `RenderOutput` (image `[1, 3, 256, 256]` in [0, 1],
        flow, occlusion, ...)."""
        if self._prepared is None:
            raise NoSourceError("no source view yet: call add_source() before render()")
        f = self.driving_fields
        sup_t = self._points(sup, f.n_sup, "sup")
        unsup_t = self._points(unsup, f.n_unsup, "unsup")
        jac_t = self._optional(jac, f.jacobians, "jac", lambda v: jacobians_to_tensor(v, f.n_unsup, "jac", self.device))
        expr_t = self._optional(expr, f.n_expr > 0, "expr", lambda v: expr_to_tensor(v, f.n_expr, "expr", self.device))
        with torch.inference_mode():
            kp = self._net.join_keypoints(sup_t, unsup_t)
            return self._net.render(self._prepared, kp, jac_t, expr_t)

    # -- checks ---------------------------------------------------------------------------------
    def _points(self, value: object, n: int, name: str) -> torch.Tensor | None:
        return self._optional(value, n > 0, name, lambda v: points_to_tensor(v, n, name, self.device))

    def _optional(self, value: object, needed: bool, name: str,
                  convert: Callable[[object], torch.Tensor]) -> torch.Tensor | None:
        if not needed:  # a field this model does not use is ignored (the codec may carry it)
            return None
        if value is None:
            raise ValueError(f"{name}: required by model {self.model_name} (driving fields: {self.driving_fields})")
        return convert(value)
