"""Face tracking: FaceMesh landmarks, a stable square face crop (the "video tube") and head pose.

    with FaceTracker() as tracker:
        for frame in video:                 # RGB uint8 [H, W, 3]
            tracked = tracker.track(frame)  # TrackedFrame: crop [256, 256, 3], landmarks, pose, ...

Coordinates. `box` is the crop square in source pixels, (x0, y0) its top-left corner in continuous
pixel coordinates (0 = the left edge of the first pixel). Landmarks are given in the crop,
normalised as torch `grid_sample(align_corners=False)` expects: x = 2 u - 1 with u = (pixel
coordinate in the crop) / crop_size, so [-1, 1] spans the crop's outer edges; y alike; z (depth,
positive away from the camera) is scaled as x, with 0 at FaceMesh's face centre depth.

The box follows the head smoothly and stands perfectly still while the head does: it is derived
from the pose fit (face size and centre from the rigid landmarks, so talking and blinking do not
move it), and it only moves when the target drifts out of a dead zone, then eases toward it until
it has settled (`StableBox`).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from sender.landmarks import NUM_MESH_LANDMARKS, SUP33_INDICES
from sender.pose import Pose, PoseFitter, Similarity, pose_from_rotation
from sender.template import CHIN, TOP
from sender.video import VideoFile

log = logging.getLogger(__name__)


class NoFaceError(ValueError):
    """A whole video in which no face was found."""


class Box(NamedTuple):
    """A square in source pixels: top-left corner (x0, y0) and side length."""

    x0: float
    y0: float
    size: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x0 + 0.5 * self.size, self.y0 + 0.5 * self.size

    @classmethod
    def around(cls, cx: float, cy: float, size: float) -> Box:
        return cls(cx - 0.5 * size, cy - 0.5 * size, size)


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking and cropping settings. Lengths relative to the face are in face heights
    (forehead top to chin, FaceMesh landmarks 10 to 152)."""

    crop_size: int = 256
    box_scale: float = 1.9  # crop side, in face heights
    box_raise: float = 0.1  # crop centre above the face centre, in face heights (hair > neck)
    box_depth: float = 0.3  # ... and behind it (the head's centre: turning keeps the head inside)
    dead_zone: float = 0.05  # centre drift tolerated while still, as a fraction of the box side
    size_dead_zone: float = 0.08  # relative change of size tolerated while still
    ease: float = 0.3  # fraction of the remaining offset covered each frame while moving
    settle: float = 0.01  # the box stops once this close to its target (fraction of the side)
    max_faces: int = 1  # FaceMesh's max_num_faces (> 1: runs the face detector every frame)
    detect_max_side: int = 1920  # larger frames are downscaled (bilinear) before FaceMesh
    border: str = "replicate"  # crop padding outside the frame: "replicate" or "black"
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.border not in ("replicate", "black"):
            raise ValueError(f"border must be 'replicate' or 'black', got {self.border!r}")
        if self.crop_size < 16 or self.max_faces < 1 or not 0.0 < self.ease <= 1.0:
            raise ValueError("crop_size >= 16, max_faces >= 1 and 0 < ease <= 1 are required")


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """One tracked frame.

    image: `[S, S, 3]` uint8 RGB crop (S = crop_size, 256 by default).
    landmarks: `[478, 3]` float32, normalised crop coordinates (module docstring).
    sup: `[33, 2]` float32, `landmarks[SUP33_INDICES, :2]`.
    pose: head angles in radians (`sender.pose` for the signs).
    face_found: False when no face was found: box, landmarks and pose are then the last known.
    box: the crop square in source pixels.
    track_ms: time spent tracking this frame (FaceMesh, fits, crop).
    """

    index: int
    image: NDArray[Any]
    landmarks: NDArray[Any]
    sup: NDArray[Any]
    pose: Pose
    face_found: bool
    box: Box
    track_ms: float


class StableBox:
    """Dead zone + easing on a square box: still while the target stays close, smooth when not."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.box: Box | None = None
        self.moving = False

    def reset(self) -> None:
        self.box, self.moving = None, False

    def update(self, target: Box) -> Box:
        if self.box is None:
            self.box = target
            return target
        c = self.config
        offset, scale = self._distance(target)
        if not self.moving and (offset > c.dead_zone or abs(scale) > c.size_dead_zone):
            self.moving = True
        if self.moving:
            (cx, cy), (tx, ty) = self.box.centre, target.centre
            size = self.box.size * math.exp(c.ease * scale)
            self.box = Box.around(cx + c.ease * (tx - cx), cy + c.ease * (ty - cy), size)
            offset, scale = self._distance(target)
            self.moving = offset > c.settle or abs(scale) > c.settle
        return self.box

    def _distance(self, target: Box) -> tuple[float, float]:
        """(centre offset in box sides, log size ratio) from the current box to `target`."""
        assert self.box is not None
        (cx, cy), (tx, ty) = self.box.centre, target.centre
        return math.hypot(tx - cx, ty - cy) / self.box.size, math.log(target.size / self.box.size)


@dataclass
class _State:
    """What a tracker remembers between frames."""

    stable: StableBox
    index: int = 0
    landmarks_px: NDArray[Any] | None = None  # [478, 3] last found, source pixels
    pose: Pose = Pose(0.0, 0.0, 0.0)
    face_box: Box | None = None  # last found face's raw box, for picking among several faces
    faces_found: int = 0


class FaceTracker:
    """Tracks one face through a video; holds the FaceMesh graph (close it, or use `with`)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        import mediapipe as mp  # noqa: PLC0415 (mediapipe costs ~1 s at start-up; loaded only when a tracker is made)

        self.config = config or TrackerConfig()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            refine_landmarks=True,
            max_num_faces=self.config.max_faces,
            min_detection_confidence=self.config.min_detection_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
        )
        self._fitter = PoseFitter()
        template = self._fitter.template
        centre = 0.5 * (template[TOP] + template[CHIN])
        offset = np.array([0.0, -self.config.box_raise, self.config.box_depth])
        self._box_anchor = centre + offset * np.linalg.norm(template[TOP] - template[CHIN])
        self._sup = np.asarray(SUP33_INDICES, dtype=np.intp)
        self._state = _State(stable=StableBox(self.config))

    @property
    def faces_found(self) -> int:
        """Frames with a face since the last reset."""
        return self._state.faces_found

    def reset(self) -> None:
        """Forget the face (a new video): our state and FaceMesh's (its tracked face region)."""
        self._mesh.reset()
        self._state = _State(stable=StableBox(self.config))

    def track(self, frame: NDArray[Any]) -> TrackedFrame:
        """Tracks an RGB uint8 `[H, W, 3]` frame (the next of a video)."""
        start = time.perf_counter()
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 [H, W, 3] frame, got {frame.dtype} {frame.shape}")
        state = self._state
        faces = self._detect(frame)
        found = bool(faces)
        if found:
            points = self._choose(faces)
            fit = self._fitter.fit(points)
            state.landmarks_px, state.pose = points, pose_from_rotation(fit.rotation)
            state.face_box = _face_box(points)
            state.faces_found += 1
            box = state.stable.update(self._target_box(fit))
        elif state.stable.box is not None:
            box = state.stable.box
        else:
            height, width = frame.shape[:2]
            box = Box.around(width / 2, height / 2, float(min(width, height)))
        image = crop_square(frame, box, self.config.crop_size, self.config.border)
        if state.landmarks_px is not None:
            landmarks = to_crop_coords(state.landmarks_px, box)
        else:
            landmarks = np.zeros((NUM_MESH_LANDMARKS, 3), np.float32)
        tracked = TrackedFrame(
            index=state.index,
            image=image,
            landmarks=landmarks,
            sup=np.ascontiguousarray(landmarks[self._sup, :2]),
            pose=state.pose,
            face_found=found,
            box=box,
            track_ms=(time.perf_counter() - start) * 1000.0,
        )
        state.index += 1
        return tracked

    def _detect(self, frame: NDArray[Any]) -> list[NDArray[Any]]:
        """FaceMesh on the frame (downscaled if large): each face's `[478, 3]` source pixels."""
        height, width = frame.shape[:2]
        small = frame
        longest = max(height, width)
        if longest > self.config.detect_max_side:
            f = self.config.detect_max_side / longest
            small = cv2.resize(frame, (round(width * f), round(height * f)), interpolation=cv2.INTER_LINEAR)
        result = self._mesh.process(np.ascontiguousarray(small))
        if not result.multi_face_landmarks:
            return []
        scale = np.array([width, height, width], dtype=np.float64)
        return [_landmark_array(face) * scale for face in result.multi_face_landmarks]

    def _choose(self, faces: list[NDArray[Any]]) -> NDArray[Any]:
        """The face nearest the one tracked so far (centre and size), else the largest."""
        if len(faces) == 1:
            return faces[0]
        boxes = [_face_box(f) for f in faces]
        last = self._state.face_box
        if last is None:
            return faces[int(np.argmax([b.size for b in boxes]))]
        (lx, ly) = last.centre

        def cost(b: Box) -> float:
            (x, y) = b.centre
            return math.hypot(x - lx, y - ly) / last.size + abs(math.log(b.size / last.size))

        return faces[int(np.argmin([cost(b) for b in boxes]))]

    def _target_box(self, fit: Similarity) -> Box:
        cx, cy, _ = fit.apply(self._box_anchor[None, :])[0]
        return Box.around(float(cx), float(cy), self.config.box_scale * fit.scale)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _landmark_array(face: object) -> NDArray[Any]:
    marks = face.landmark  # type: ignore[attr-defined]
    return np.array([(p.x, p.y, p.z) for p in marks], dtype=np.float64)


def _face_box(points: NDArray[Any]) -> Box:
    """The square around the landmarks' x, y bounding box (for telling faces apart)."""
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    centre = 0.5 * (lo + hi)
    return Box.around(float(centre[0]), float(centre[1]), float(max(hi - lo)) or 1.0)


def to_crop_coords(points_px: NDArray[Any], box: Box) -> NDArray[Any]:
    """Source-pixel landmarks `[N, 3]` -> normalised crop coordinates `[N, 3]` float32."""
    out = np.empty(points_px.shape, dtype=np.float32)
    out[:, 0] = 2.0 * (points_px[:, 0] - box.x0) / box.size - 1.0
    out[:, 1] = 2.0 * (points_px[:, 1] - box.y0) / box.size - 1.0
    out[:, 2] = 2.0 * points_px[:, 2] / box.size
    return out


def crop_square(frame: NDArray[Any], box: Box, size: int, border: str = "replicate") -> NDArray[Any]:
    """Resamples the square `box` of `frame` to `[size, size, 3]`: halved by 2x2 area averaging
    while it shrinks by 2x or more, then bilinear. Continuous coordinates map exactly:
    p -> (p - x0) * size / side.
    """
    src, x0, y0, side = frame, box.x0, box.y0, box.size
    if side >= 2 * size:
        src, x0, y0, side = _halve_region(frame, box, int(math.log2(side / size)))
    k = size / side
    matrix = np.array([[k, 0.0, 0.5 * k - 0.5 - x0 * k], [0.0, k, 0.5 * k - 0.5 - y0 * k]])
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=mode)


def _halve_region(frame: NDArray[Any], box: Box, halvings: int) -> tuple[NDArray[Any], float, float, float]:
    """The part of the frame under the box (plus a margin), area-halved `halvings` times, and the
    box in its coordinates. (Repeated 2x2 averaging: several times faster than one INTER_AREA.)"""
    factor = 2**halvings
    height, width = frame.shape[:2]
    x_lo = max(0, math.floor(box.x0) - factor)
    y_lo = max(0, math.floor(box.y0) - factor)
    x_hi = min(width, math.ceil(box.x0 + box.size) + factor)
    y_hi = min(height, math.ceil(box.y0 + box.size) + factor)
    x_hi -= (x_hi - x_lo) % factor
    y_hi -= (y_hi - y_lo) % factor
    if x_hi - x_lo < factor or y_hi - y_lo < factor:  # the box is (almost) off the frame
        return frame, box.x0, box.y0, box.size
    region = frame[y_lo:y_hi, x_lo:x_hi]
    for _ in range(halvings):
        region = cv2.resize(
            region, (region.shape[1] // 2, region.shape[0] // 2), interpolation=cv2.INTER_AREA
        )
    return region, (box.x0 - x_lo) / factor, (box.y0 - y_lo) / factor, box.size / factor


def track_video(
    path: str | Path,
    fps: float | None = None,
    max_frames: int | None = None,
    config: TrackerConfig | None = None,
) -> Iterator[TrackedFrame]:
    """Tracks a video file frame by frame (`sender.video.VideoFile` for `fps` and `max_frames`).

    Raises `VideoError` for an unreadable file and, once the video has ended, `NoFaceError` if no
    frame showed a face.
    """
    with VideoFile(path, fps=fps, max_frames=max_frames) as video, FaceTracker(config) as tracker:
        for frame in video:
            yield tracker.track(frame)
        if tracker.faces_found == 0:
            raise NoFaceError(f"{path}: no face found in the video")
