"""FaceTracker on the embedded real clip: a face, sane landmarks in the crop, a still box, no-face holds."""
from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from sender.landmarks import SUP33_INDICES
from sender.tracker import (
    FaceTracker,
    NoFaceError,
    TrackedFrame,
    TrackerConfig,
    track_video,
)
from sender.video import VideoFile, default_video


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    with VideoFile(default_video(), max_frames=30) as video:
        return list(video)


@pytest.fixture(scope="module")
def tracked(frames: list[np.ndarray]) -> list[TrackedFrame]:
    with FaceTracker() as tracker:
        return [tracker.track(f) for f in frames]


def test_default_clip_has_a_face_with_sane_landmarks(tracked: list[TrackedFrame]) -> None:
    assert len(tracked) == 30
    assert all(t.face_found for t in tracked)
    for i, t in enumerate(tracked):
        assert t.index == i and t.track_ms > 0
        assert t.image.shape == (256, 256, 3) and t.image.dtype == np.uint8
        assert t.landmarks.shape == (478, 3) and t.landmarks.dtype == np.float32
        assert t.sup.shape == (33, 2) and t.sup.dtype == np.float32
        np.testing.assert_array_equal(t.sup, t.landmarks[list(SUP33_INDICES), :2])
        # the face sits inside the crop, with room around it (crop ~1.9 face heights)
        assert np.abs(t.landmarks[:, :2]).max() < 0.95
        extent = t.landmarks[:, :2].max(axis=0) - t.landmarks[:, :2].min(axis=0)
        assert 0.6 < extent[1] < 1.4
        assert all(abs(a) < math.radians(45) for a in t.pose)
        # eyes above the mouth, subject's right eye on the image's left
        assert t.landmarks[33, 0] < t.landmarks[263, 0]
        assert t.landmarks[159, 1] < t.landmarks[13, 1]


def test_box_is_stable(tracked: list[TrackedFrame]) -> None:
    boxes = np.array([t.box for t in tracked])
    moves = (np.abs(np.diff(boxes, axis=0)).max(axis=1) > 0).sum()
    assert moves < len(tracked) // 2
    steps = np.abs(np.diff(boxes[:, :2], axis=0)).max() / boxes[:, 2].mean()
    assert steps < 0.05  # never a jump of more than 5 % of the side


def test_same_frame_repeated_keeps_an_identical_box(frames: list[np.ndarray]) -> None:
    with FaceTracker() as tracker:
        boxes = {tracker.track(frames[0]).box for _ in range(10)}
    assert len(boxes) == 1


def test_no_face_frames_hold_the_last_box_and_landmarks(frames: list[np.ndarray]) -> None:
    black = np.zeros_like(frames[0])
    with FaceTracker() as tracker:
        last = [tracker.track(f) for f in frames[:10]][-1]
        lost = [tracker.track(black) for _ in range(3)]
        again = tracker.track(frames[10])
    for t in lost:
        assert not t.face_found
        assert t.box == last.box
        np.testing.assert_array_equal(t.landmarks, last.landmarks)
        assert t.pose == last.pose
        assert (t.image == 0).all()
    assert again.face_found and tracker.faces_found == 11


def test_no_face_before_any_face_uses_the_frame_centre() -> None:
    with FaceTracker(TrackerConfig(max_faces=1)) as tracker:
        t = tracker.track(np.zeros((120, 200, 3), np.uint8))
    assert not t.face_found and t.box == (40.0, 0.0, 120.0)
    assert (t.landmarks == 0).all() and tuple(t.pose) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="RGB uint8"):
        FaceTracker().track(np.zeros((10, 10), np.uint8))


def test_track_video_raises_no_face_error(tmp_path: Path) -> None:
    path = tmp_path / "grey.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(NoFaceError, match="no face"):
        list(track_video(path))


def test_track_video_on_the_default_clip() -> None:
    out = list(track_video(default_video(), fps=10, max_frames=5))
    assert len(out) == 5 and all(t.face_found for t in out)


def test_reset_forgets_the_face_of_the_previous_video(frames: list[np.ndarray]) -> None:
    """After reset, the first frame of a new video finds its face even where the last one was not."""
    height, width = frames[0].shape[:2]

    def placed(frame: np.ndarray, x: int) -> np.ndarray:
        canvas = np.zeros((height, 3 * width, 3), np.uint8)
        canvas[:, x : x + width] = frame
        return canvas

    with FaceTracker() as tracker:
        for f in frames[:10]:
            assert tracker.track(placed(f, 0)).face_found
        tracker.reset()
        first = tracker.track(placed(frames[0], 2 * width))
    assert first.face_found and first.index == 0
    assert first.box.x0 > width
