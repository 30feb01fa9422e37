"""Builds the frontal face template used by `sender.pose` (generates `sender/face_template.py`).

MediaPipe's canonical face model is not shipped in the mediapipe wheel, so we build our own from
tracked landmarks of talking heads looking into the camera:

1. generalised Procrustes: align every frame's rigid landmarks to the running mean (similarity);
2. rotate the mean to the frames' average orientation (this sets pitch zero: looking at the camera);
3. make it exactly left/right symmetric: find FaceMesh's mirror pairing from the shape itself,
   turn the shape so its symmetry plane is x = 0 (yaw and roll zero), average it with its mirror;
4. centre it and scale it so the face height (landmark 10 to 152) is 1.

Only a mean landmark shape (468 x 3 numbers) comes out: no image and no single frame is stored.

    python -m sender.template VIDEO... --out sender/face_template.py
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sender.landmarks import NUM_MESH_POINTS, RIGID_INDICES
from sender.pose import fit_similarity
from sender.video import open_video

log = logging.getLogger(__name__)

TOP, CHIN = 10, 152  # forehead top and chin: the face height that is 1 in the template


def generalised_procrustes(frames: NDArray[Any], iterations: int = 5) -> NDArray[Any]:
    """Mean shape `[P, 3]` of `frames [N, P, 3]`, aligned on the rigid landmarks."""
    rigid = np.asarray(RIGID_INDICES)
    mean = frames[0].astype(np.float64)
    for _ in range(iterations):
        aligned = [fit_similarity(f[rigid], mean[rigid]).apply(f) for f in frames]
        mean = np.mean(aligned, axis=0)
        mean = _normalise(mean)
    out: NDArray[Any] = mean
    return out


def average_orientation(shape: NDArray[Any], frames: NDArray[Any]) -> NDArray[Any]:
    """Rotates `shape` to the frames' mean orientation (chordal mean of the fitted rotations)."""
    rigid = np.asarray(RIGID_INDICES)
    total = sum(fit_similarity(shape[rigid], f[rigid]).rotation for f in frames)
    u, _, vt = np.linalg.svd(total)
    mean_rotation = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return _normalise(shape @ mean_rotation.T)


def mirror_pairs(shape: NDArray[Any], iterations: int = 6) -> tuple[NDArray[Any], NDArray[Any]]:
    """(permutation, upright shape): `mirror(upright)[perm] == upright` up to noise.

    `perm[i]` is the mesh point mirroring point i (itself on the midline). The upright shape has
    its symmetry plane at x = 0; pitch is left as it was.
    """
    flip = np.array([-1.0, 1.0, 1.0])
    current = shape.copy()
    perm = np.arange(len(shape))
    for _ in range(iterations):
        mirrored = current * flip
        distances = ((current[:, None, :] - mirrored[None, :, :]) ** 2).sum(-1)
        perm = distances.argmin(axis=1)
        # rotation taking the mirror image onto the shape is twice the tilt of the symmetry plane
        turn = fit_similarity(mirrored[perm], current).rotation
        current = _normalise(current @ _half_rotation(turn).T)
    return perm, current


def symmetric_template(frames: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """(template `[468, 3]`, mirror permutation `[468]`) from tracked frames `[N, >=468, 3]`."""
    frames = np.asarray(frames, dtype=np.float64)[:, :NUM_MESH_POINTS]
    shape = average_orientation(generalised_procrustes(frames), frames)
    perm, upright = mirror_pairs(shape)
    symmetric = 0.5 * (upright + (upright * [-1.0, 1.0, 1.0])[perm])
    return _normalise(symmetric), perm


def _half_rotation(rotation: NDArray[Any]) -> NDArray[Any]:
    """The rotation about the same axis by half the angle, inverted (to undo half the turn)."""
    angle = np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))
    if angle < 1e-12:
        return np.eye(3)
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                     rotation[1, 0] - rotation[0, 1]]) / (2.0 * np.sin(angle))
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    a = -angle / 2.0
    out: NDArray[Any] = np.eye(3) + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)
    return out


def _normalise(shape: NDArray[Any]) -> NDArray[Any]:
    centred = shape - shape.mean(axis=0)
    out: NDArray[Any] = centred / np.linalg.norm(centred[TOP] - centred[CHIN])
    return out


def track_raw(paths: Sequence[Path], frames_per_clip: int, fps: float) -> NDArray[Any]:
    """FaceMesh landmarks in pixels `[N, 478, 3]` of the frames of `paths` that show one face."""
    import mediapipe as mp  # noqa: PLC0415 (mediapipe costs ~1 s at start-up; loaded only to build the template)


    found: list[NDArray[Any]] = []
    for path in paths:
        with mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, refine_landmarks=True, max_num_faces=1
        ) as mesh, open_video(path, fps=fps, max_frames=frames_per_clip) as video:
            scale = np.array([video.info.width, video.info.height, video.info.width], dtype=np.float64)
            for frame in video:
                result = mesh.process(frame)
                if result.multi_face_landmarks:
                    marks = result.multi_face_landmarks[0].landmark
                    found.append(np.array([(p.x, p.y, p.z) for p in marks]) * scale)
        log.info("%s: %d frames with a face so far", path, len(found))
    if not found:
        raise ValueError("no face found in the given videos")
    return np.stack(found)


def write_module(path: Path, template: NDArray[Any], perm: NDArray[Any], sources: Sequence[str]) -> None:
    rows = ",\n".join(f"    ({x:.5f}, {y:.5f}, {z:.5f})" for x, y, z in np.round(template, 5) + 0.0)
    mirror = ", ".join(str(int(i)) for i in perm)
    text = (
        '"""Generated by `python -m sender.template` - do not edit by hand.\n\n'
        "Frontal, left/right-symmetric mean FaceMesh shape (468 mesh points) in the camera frame\n"
        "(x right, y down, z away from the camera), centred, face height (landmark 10 to 152) = 1.\n"
        f"Built from {len(sources)} talking-head clips (mean landmark shape only):\n"
        + "".join(f"  {name}\n" for name in sources)
        + '"""\n\n'
        f"TEMPLATE: tuple[tuple[float, float, float], ...] = (\n{rows},\n)\n\n"
        "# MIRROR[i]: the mesh point mirroring point i (i itself on the midline)\n"
        f"MIRROR: tuple[int, ...] = ({mirror},)\n"
    )
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sender.template", description=__doc__.split("\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames-per-clip", type=int, default=60)
    parser.add_argument("--fps", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    frames = track_raw(args.videos, args.frames_per_clip, args.fps)
    template, perm = symmetric_template(frames)
    write_module(args.out, template, perm, [v.name for v in args.videos])
    midline = int((perm == np.arange(len(perm))).sum())
    involution = bool((perm[perm] == np.arange(len(perm))).all())
    print(f"{args.out}: {len(frames)} frames, {midline} midline points, pairing involution: {involution}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
