"""What the receiver draws a frame with: the neural renderer, or a cheap landmark preview.

Both implement `FrameRenderer`: `add_source(image, sup)` per source view, `render(record)` per
frame. `NeuralFrameRenderer` completes the driving fields its model needs but the stream does not
carry (e.g. a sup-only stream for a sup+unsup+expr model): those come from the first source view,
through the model's own keypoint and expression networks, so the face moves with the landmarks
alone.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from codec.fields import DrivingRecord

log = logging.getLogger(__name__)

RENDER_SIZE = 256


class FrameRenderer(Protocol):
    @property
    def num_sources(self) -> int: ...

    def add_source(self, image: NDArray[Any], sup: NDArray[Any] | None) -> None: ...

    def render(self, record: DrivingRecord) -> NDArray[Any]: ...


class LandmarkFrameRenderer:
    """The first source view with the decoded landmarks drawn on it (fast; for tests and debugging)."""

    def __init__(self) -> None:
        self._base: NDArray[Any] | None = None
        self._count = 0

    @property
    def num_sources(self) -> int:
        return self._count

    def add_source(self, image: NDArray[Any], sup: NDArray[Any] | None) -> None:
        if self._base is None:
            self._base = np.ascontiguousarray(image // 2)
        self._count += 1

    def render(self, record: DrivingRecord) -> NDArray[Any]:
        if self._base is None:
            raise RuntimeError("no source view yet")
        out = self._base.copy()
        if record.sup is not None:
            px = (np.asarray(record.sup, np.float64) + 1.0) * 0.5 * RENDER_SIZE
            for x, y in px:
                cv2.circle(out, (int(x), int(y)), 2, (0, 255, 0), -1)
        return out


class NeuralFrameRenderer:
    """`receiver.renderer.Renderer`, with the fields the stream lacks taken from the first view."""

    def __init__(self, model: str | None = None, device: str = "cpu") -> None:
        from models.extractor import DrivingExtractor  # noqa: PLC0415 (torch costs ~2 s at start-up; the landmark renderer needs none)
        from receiver.renderer import Renderer  # noqa: PLC0415 (torch costs ~2 s at start-up; the landmark renderer needs none)

        self._renderer = Renderer(model, device=device) if model else Renderer(device=device)
        self._extractor = DrivingExtractor(self._renderer.model, device=device, optimize=False)
        self._fields = self._renderer.driving_fields
        self._fill: DrivingRecord | None = None

    @property
    def num_sources(self) -> int:
        return self._renderer.num_sources

    @property
    def trained(self) -> bool:
        return bool(self._renderer.trained)

    def add_source(self, image: NDArray[Any], sup: NDArray[Any] | None) -> None:
        limit = self._renderer.max_sources
        if limit is not None and self._renderer.num_sources >= limit:
            log.info("model uses at most %d source view(s): view ignored", limit)
            return
        self._renderer.add_source(image, sup if self._fields.n_sup else None)
        if self._fill is None:
            code = self._extractor.extract(image)
            self._fill = DrivingRecord(sup=sup, unsup=code.unsup, jac=code.jac, expr=code.expr)

    def render(self, record: DrivingRecord) -> NDArray[Any]:
        f, fill = self._fields, self._fill
        if fill is None:
            raise RuntimeError("no source view yet")

        def pick(value: NDArray[Any] | None, default: NDArray[Any] | None, needed: bool) -> NDArray[Any] | None:
            return (value if value is not None else default) if needed else None

        return self._renderer.render(
            sup=pick(record.sup, fill.sup, f.n_sup > 0),
            unsup=pick(record.unsup, fill.unsup, f.n_unsup > 0),
            jac=pick(record.jac, fill.jac, f.jacobians),
            expr=pick(record.expr, fill.expr, f.n_expr > 0),
        )


def make_renderer(kind: str, model: str | None = None) -> FrameRenderer:
    if kind == "neural":
        return NeuralFrameRenderer(model)
    if kind == "landmarks":
        return LandmarkFrameRenderer()
    raise ValueError(f"unknown renderer {kind!r}: choose neural or landmarks")
