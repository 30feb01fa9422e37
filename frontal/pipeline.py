"""The sender's path from a video to driving records, shared by `frontal encode` and `codec-loopback`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codec.fields import DrivingRecord, FieldSet
from codec.shape import load_shape_model
from receiver.render import REFINER_WEIGHTS, MeshFrameRenderer, make_renderer
from sender.shape import ShapeFitter
from sender.smoothing import DrivingSmoother, SmoothingConfig
from sender.tracker import track_video
from sender.video import open_video
from sender.views import eye_openness, select_views

if TYPE_CHECKING:
    from sender.smoothing import SmoothingConfig

LANDMARKS = "landmarks"  # the model name of a stream that carries the 33 landmarks only
MESH = "mesh"  # the model name of a shape stream, drawn by the geometry renderer (`MeshFrameRenderer`)
MESH_REFINED = "mesh-refined"  # the geometry renderer finished by its refiner network: measured, not shipped
MESH_MODELS = (MESH, MESH_REFINED)
SHIPPED_MODEL = MESH  # what the call, `frontal encode` / `decode`, codec-loopback and `make demo` use by default


@dataclass
class TrackedClip:
    path: Path
    fps: float
    images: list[np.ndarray] = field(default_factory=list)  # [256,256,3] uint8 crops
    sup: list[np.ndarray] = field(default_factory=list)  # [33,2] float32
    landmarks: list[np.ndarray] = field(default_factory=list)  # [478,3]
    yaw: list[float] = field(default_factory=list)  # radians
    pitch: list[float] = field(default_factory=list)  # radians
    found: list[bool] = field(default_factory=list)
    track_ms: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sup)

    def subsample(self, step: int) -> TrackedClip:
        """Every `step`-th frame (e.g. 30 -> 15 FPS)."""
        out = TrackedClip(self.path, self.fps / step)
        for name in ("images", "sup", "landmarks", "yaw", "pitch", "found", "track_ms"):
            setattr(out, name, getattr(self, name)[::step])
        return out


def track_clip(path: Path, fps: float | None = None, max_frames: int | None = None, keep_images: bool = True) -> TrackedClip:
    """Track a video (at `fps` if given). Raises sender's VideoError / NoFaceError on bad input."""

    clip = TrackedClip(Path(path), float(fps if fps is not None else source_fps(path)))
    for tf in track_video(path, fps=fps, max_frames=max_frames):
        if keep_images:
            clip.images.append(tf.image)
        clip.sup.append(tf.sup.astype(np.float32))
        clip.landmarks.append(tf.landmarks)
        clip.yaw.append(float(tf.pose.yaw))
        clip.pitch.append(float(tf.pose.pitch))
        clip.found.append(bool(tf.face_found))
        clip.track_ms.append(float(tf.track_ms))
    return clip


def source_fps(path: Path) -> float:
    """The frame rate of a video file (raises sender's VideoError on a bad file)."""

    with open_video(path) as video:
        return float(video.info.source_fps)


def clip_views(clip: TrackedClip, n: int = 3, method: str = "extremes") -> list[int]:
    """The whole-clip *oracle* choice of source views (`sender.views.select_views`: future frames
    included, which a call cannot do); `frontal.views_live.live_views` is the call's own choice."""
    yaw = np.asarray(clip.yaw)
    openness = np.asarray([eye_openness(lm) for lm in clip.landmarks])
    return select_views(yaw, openness, np.asarray(clip.found), n=n, method=method)


def records(clip: TrackedClip, fields: FieldSet, extractor: object | None = None,
            smoothing: SmoothingConfig | None = None) -> list[DrivingRecord]:
    """Driving records for each frame: sup from the tracker; unsup/jac/expr from the model's extractor,
    smoothed over time by `smoothing` (default `SmoothingConfig.default()`; `SmoothingConfig.off()`
    for the detector's raw output). The filter restarts after frames without a face."""

    smoother = DrivingSmoother(smoothing if smoothing is not None else SmoothingConfig.default(), clip.fps)
    out = []
    for i, sup in enumerate(clip.sup):
        rec = DrivingRecord(sup=sup if fields.n_sup else None)
        if fields.n_unsup or fields.n_expr:
            if extractor is None:
                raise ValueError(f"fields {fields.name} need the model's keypoint/expression extractor")
            unsup, jac, expr = extractor.extract(clip.images[i])  # type: ignore[attr-defined]
            rec.unsup = unsup if fields.n_unsup else None
            rec.jac = jac if fields.jacobians else None
            rec.expr = expr if fields.n_expr else None
            if not clip.found[i]:
                smoother.reset()
            rec = smoother(rec)
        out.append(rec)
    return out


def shape_records(clip: TrackedClip, fields: FieldSet) -> list[DrivingRecord]:
    """A shape stream's records, as the sender makes them (`sender.live.SenderSide`): each frame's
    tracked mesh fitted by `sender.shape.ShapeFitter` (head pose + the first `fields.n_shape`
    coefficients), unsmoothed."""
    if not fields.n_shape:
        raise ValueError(f"fields {fields.name} carry no shape")
    fitter = ShapeFitter(load_shape_model(), k=fields.n_shape)
    return [fitter.record(lm) for lm in clip.landmarks]


def model_fields(name: str) -> FieldSet:
    """The driving fields a registered model declares ("mesh": the shape field set)."""
    if name in MESH_MODELS:
        return FieldSet.parse("shape")
    from models.registry import get_config  # noqa: PLC0415 (torch costs ~2 s at start-up; only a model's fields or rendering need it)

    return FieldSet(**asdict(get_config(name).driving_fields))


def frame_renderer(model: str) -> Any:
    """What draws a benchmark's frames for `model`: for "mesh" the geometry renderer exactly as the
    call builds it (`receiver.render.make_renderer`), else the registered network (`receiver.renderer.Renderer`, which loads torch)."""
    if model == MESH:
        return make_renderer(MESH)  # the call's own
    if model == MESH_REFINED:
        return MeshFrameRenderer(refiner=REFINER_WEIGHTS)
    from receiver.renderer import Renderer  # noqa: PLC0415 (torch costs ~2 s at start-up; the geometry renderer needs none)

    return Renderer(model)


def model_choices() -> list[str]:
    """The models a benchmark can render with: the registry's, "mesh" and "mesh-refined"."""
    from models.registry import model_names  # noqa: PLC0415 (torch costs ~2 s at start-up; only listing the networks needs it)

    return [*model_names(), *MESH_MODELS]
