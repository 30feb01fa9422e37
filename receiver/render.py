"""What the receiver draws a frame with: the neural renderer, the geometry renderer, or a cheap
landmark preview.

All implement `FrameRenderer`: `add_source(image, sup)` per source view, `render(record)` per
frame; `MeshFrameRenderer` (a shape call's) takes its views with their records instead
(`add_source_record`: `RecordSourceRenderer`). `NeuralFrameRenderer` completes the driving fields its model needs but the stream does not
carry (e.g. a sup-only stream for a sup+unsup+expr model): those come from the first source view,
through the model's own keypoint and expression networks, so the face moves with the landmarks
alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from codec.fields import DrivingRecord
from codec.shape import ShapeModel, load_shape_model
from receiver.atlas import MeshFrame, MeshRenderer, RenderConfig
from receiver.mesh import to_pixels

log = logging.getLogger(__name__)

RENDER_SIZE = 256
REFINER_WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "weights" / "mesh-refiner.safetensors"


class FrameRenderer(Protocol):
    @property
    def num_sources(self) -> int: ...

    def add_source(self, image: NDArray[Any], sup: NDArray[Any] | None) -> None: ...

    def render(self, record: DrivingRecord) -> NDArray[Any]: ...


@runtime_checkable
class RecordSourceRenderer(Protocol):
    """A renderer that draws from source views with their decoded driving record (a shape call's
    views: `MeshFrameRenderer`)."""

    def add_source_record(self, image: NDArray[Any], record: DrivingRecord) -> None: ...


RENDERERS = ("neural", "landmarks", "mesh")
DEFAULT_RENDERER = "mesh"  # what ships: the geometry renderer (models/MODEL_CARD.md says why)


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


class MeshFrameRenderer:
    """`receiver.atlas.MeshRenderer` driven by a shape stream (`codec.fields`: `n_shape` > 0).

    A frame's mesh is rebuilt from its decoded record's `pose` and `shape` by the shape model
    (`codec.shape.ShapeModel.reconstruct`, the first `n_shape` coefficients); so is a source
    view's, from the view's own shape parameters (`add_source_record`: the view's record as a frame
    of the stream codes it; a call's shape view start 0xF7 and a recorded file's view meta carry
    it). A view that comes with its 33 landmarks only (`add_source`) cannot be drawn from: it is
    refused with ValueError.

    With `refiner` (a weights file, e.g. `REFINER_WEIGHTS`) the drawn frame is finished by the
    refiner network (`models.refiner`: mouth interior, seams, hair and neck). What ships draws
    without it: on the validation identities the network lowered VMAF from 31.3 to 21.6 and doubled
    the render time (docs/results.md); `codec-loopback --model mesh-refined` measures it.
    """

    def __init__(self, model: ShapeModel | None = None, config: RenderConfig | None = None,
                 refiner: str | Path | None = None) -> None:
        self.model = model if model is not None else load_shape_model()
        self._models = {self.model.k: self.model}  # truncated to each coefficient count seen
        self._renderer = MeshRenderer(config)
        self._size = self._renderer.config.size
        self._refiner: Any = None
        self._refiner_digest: str | None = None
        if refiner is not None:
            from models.refiner import load_refiner  # noqa: PLC0415 (torch costs ~2 s at start-up; the unrefined renderer needs none)

            self._refiner = load_refiner(refiner)
            self._refiner_digest = hashlib.sha256(Path(refiner).read_bytes()).hexdigest()

    @property
    def num_sources(self) -> int:
        return self._renderer.num_views

    @property
    def max_sources(self) -> int:
        """Views the atlas keeps (later ones are refused)."""
        return self._renderer.config.atlas.max_views

    @property
    def refined(self) -> bool:
        """Whether frames are finished by the refiner network."""
        return self._refiner is not None

    @property
    def trained(self) -> bool:
        """The geometry has nothing to train (always True); `refined` says whether the refiner runs."""
        return True

    def describe(self) -> dict[str, Any]:
        """What this renderer is, as JSON-ready facts: its render configuration, the shape model's
        digest and the refiner weights' sha256 (None: unrefined). Two renderers that describe
        alike draw alike."""
        return {"renderer": "mesh", "config": dataclasses.asdict(self._renderer.config),
                "shape_model": self.model.digest, "refiner": self._refiner_digest}

    def reset(self) -> None:
        """Forget every source view."""
        self._renderer = MeshRenderer(self._renderer.config, self._renderer.topology)

    def mesh(self, record: DrivingRecord) -> NDArray[np.float32]:
        """The record's mesh `[478, 3]` in pixel index coordinates of the output (`receiver.mesh`)."""
        if record.pose is None or record.shape is None:
            raise ValueError("the mesh renderer needs a shape stream's record (pose and shape)")
        k = len(record.shape)
        if k > self.model.k:
            raise ValueError(f"the record has {k} shape coefficients, the shape model {self.model.k}")
        if k not in self._models:
            self._models[k] = self.model.truncated(k)
        model = self._models[k]
        return to_pixels(model.reconstruct(record.pose, record.shape), self._size)

    def add_source(self, image: NDArray[Any], sup: NDArray[Any] | None) -> None:
        raise ValueError("the mesh renderer needs a source view's shape parameters (add_source_record), not its landmarks")

    def add_source_record(self, image: NDArray[Any], record: DrivingRecord) -> None:
        """A source view `image [S, S, 3]` uint8 with its decoded shape record (`pose`, `shape`)."""
        self._renderer.add_view(image, self.mesh(record))

    def draw(self, record: DrivingRecord) -> MeshFrame:
        """The frame as the geometry renderer draws it (image, face mask and blend weight), unrefined."""
        if self._renderer.num_views == 0:
            raise RuntimeError("no source view yet")
        return self._renderer.render(self.mesh(record))

    def render(self, record: DrivingRecord) -> NDArray[Any]:
        frame = self.draw(record)
        return frame.image if self._refiner is None else self.refine(frame)

    def refine(self, frame: MeshFrame) -> NDArray[np.uint8]:
        """`frame` finished by the refiner: `[S, S, 3]` uint8."""
        import torch  # noqa: PLC0415 (torch costs ~2 s at start-up; the unrefined renderer needs none)

        image = torch.from_numpy(np.ascontiguousarray(frame.image)).permute(2, 0, 1)[None].float().div_(255.0)
        alpha = torch.from_numpy(np.ascontiguousarray(frame.alpha))[None, None]
        with torch.inference_mode():
            out = self._refiner(image, alpha).image[0]
            result: NDArray[np.uint8] = out.mul_(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        return result


def make_renderer(kind: str, model: str | None = None) -> FrameRenderer:
    if kind == "neural":
        return NeuralFrameRenderer(model)
    if kind == "landmarks":
        return LandmarkFrameRenderer()
    if kind == "mesh":
        return MeshFrameRenderer()
    raise ValueError(f"unknown renderer {kind!r}: choose {', '.join(RENDERERS)}")
