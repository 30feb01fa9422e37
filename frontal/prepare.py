"""`frontal prepare`: track videos into cached face tubes, landmarks and head pose (one .npz a clip).

    frontal prepare VIDEO_OR_DIR... --out DIR [--fps 15] [--no-crops] [--max-frames N]

Directories are searched recursively for .mp4/.mov/.avi/.mkv/.webm/.mpg. Each clip becomes
`DIR/<relative path with / as __>.npz` (written to a temporary file, then renamed: an interrupted
run never leaves half a file; a rerun skips what is there). Clips with too little face are skipped
and listed in `DIR/skipped.tsv` (a rerun skips them again, unless looser limits would keep them
or `--force` re-tracks everything); `DIR/index.tsv`
summarises every cached clip.

Each .npz (format version 1) holds:
    sup [T, 33, 2] float32, landmarks [T, 478, 3] float16 (normalised crop coordinates),
    pose [T, 3] float32 (yaw, pitch, roll radians), face_found [T] bool,
    box [T, 3] float32 (x0, y0, size source pixels), track_ms [T] float32,
    fps, source_fps, frame_size (width, height), source, identity_label, format_version,
    sup_indices [33], and unless --no-crops crops [T, 256, 256, 3] uint8 RGB.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from frontal.dataset import ManifestError, ManifestRow, read_manifest
from sender.landmarks import SUP33_INDICES
from sender.tracker import FaceTracker, TrackerConfig
from sender.video import VideoError, VideoFile

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".mpg")
INDEX_COLUMNS = (
    "clip", "source", "identity_label", "frames", "face_rate", "fps",
    "yaw_min_deg", "yaw_max_deg", "pitch_min_deg", "pitch_max_deg", "track_ms_mean",
)
SKIPPED_COLUMNS = ("clip", "source", "frames", "face_rate", "reason")


class PrepareError(ValueError):
    """Bad input to `frontal prepare` (one-line message)."""


@dataclass(frozen=True)
class Clip:
    """A video to prepare: its path, its cache name and its identity (if a manifest knows it)."""

    path: Path
    name: str
    identity_label: str = ""


@dataclass(frozen=True)
class Limits:
    """When a tracked clip has too little face to keep."""

    min_face_rate: float = 0.5
    min_face_frames: int = 30


def find_clips(inputs: Sequence[Path]) -> list[Clip]:
    """Video files named or found (recursively) under the inputs, with unique cache names."""
    clips: list[Clip] = []
    seen: set[Path] = set()
    names: set[str] = set()
    for given in inputs:
        if not given.exists():
            raise PrepareError(f"{given}: no such file or directory")
        if given.is_dir():
            found = sorted(p for p in given.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            pairs = [(p, p.relative_to(given)) for p in found]
        else:
            pairs = [(given, Path(given.name))]
        for path, relative in pairs:
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            name = _cache_name(relative, resolved, names)
            names.add(name)
            clips.append(Clip(path, name))
    if not clips:
        raise PrepareError(f"no videos ({'/'.join(SUFFIXES)}) found in {', '.join(map(str, inputs))}")
    return clips


def _cache_name(relative: Path, resolved: Path, taken: set[str]) -> str:
    name = "__".join(relative.parts).replace(" ", "_")
    if name in taken:  # the same relative path under two inputs
        name = f"{name}-{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    return name


def attach_identities(clips: list[Clip], rows: list[ManifestRow]) -> list[Clip]:
    by_path = {row.path: row.identity_label for row in rows}
    return [Clip(c.path, c.name, by_path.get(c.path.resolve(), "")) for c in clips]


def default_manifest(inputs: Sequence[Path]) -> Path | None:
    """The MANIFEST.tsv of the first input directory that has one."""
    for given in inputs:
        if given.is_dir() and (given / "MANIFEST.tsv").is_file():
            return given / "MANIFEST.tsv"
    return None


@dataclass
class TrackedClip:
    """A clip's per-frame arrays, gathered while tracking."""

    sup: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray
    face_found: np.ndarray
    box: np.ndarray
    track_ms: np.ndarray
    crops: np.ndarray | None
    fps: float
    source_fps: float
    frame_size: tuple[int, int]


def track_clip(
    tracker: FaceTracker, clip: Clip, fps: float | None, max_frames: int | None, crops: bool, bar: bool
) -> TrackedClip:
    """Tracks one clip; keeps per-frame arrays only (and the crops only when asked for)."""
    tracker.reset()
    sup: list[np.ndarray] = []
    landmarks: list[np.ndarray] = []
    images: list[np.ndarray] = []
    pose: list[tuple[float, float, float]] = []
    box: list[tuple[float, float, float]] = []
    found: list[bool] = []
    ms: list[float] = []
    with VideoFile(clip.path, fps=fps, max_frames=max_frames) as video:
        info = video.info
        for frame in tqdm(video, total=info.frame_count or None, desc=clip.name, unit="f",
                          leave=False, disable=not bar, position=1):
            t = tracker.track(frame)
            sup.append(t.sup)
            landmarks.append(t.landmarks.astype(np.float16))
            pose.append(t.pose)
            found.append(t.face_found)
            box.append(t.box)
            ms.append(t.track_ms)
            if crops:
                images.append(t.image)
    return TrackedClip(
        sup=np.stack(sup),
        landmarks=np.stack(landmarks),
        pose=np.array(pose, dtype=np.float32),
        face_found=np.array(found, dtype=bool),
        box=np.array(box, dtype=np.float32),
        track_ms=np.array(ms, dtype=np.float32),
        crops=np.stack(images) if crops else None,
        fps=info.fps,
        source_fps=info.source_fps,
        frame_size=(info.width, info.height),
    )


def too_little_face(tracked: TrackedClip, limits: Limits) -> str | None:
    """Why the clip is not kept, or None."""
    frames, found = len(tracked.face_found), int(tracked.face_found.sum())
    if found == 0:
        return "no face found"
    if found / frames < limits.min_face_rate:
        return f"face in {found}/{frames} frames (< {limits.min_face_rate:.0%})"
    if found < limits.min_face_frames:
        return f"only {found} frames with a face (< {limits.min_face_frames})"
    return None


def still_skipped(row: dict[str, str], limits: Limits) -> bool:
    """Whether a clip skipped by an earlier run would be skipped again under these limits."""
    if row.get("reason", "").startswith("unreadable"):
        return True
    try:
        frames, rate = int(row["frames"]), float(row["face_rate"])
    except (KeyError, ValueError):
        return False
    found = round(frames * rate)
    return found == 0 or rate < limits.min_face_rate or found < limits.min_face_frames


def save_clip(path: Path, clip: Clip, tracked: TrackedClip) -> None:
    """Writes the clip's .npz atomically (temporary file in the same folder, then rename)."""
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "sup": tracked.sup,
        "landmarks": tracked.landmarks,
        "pose": tracked.pose,
        "face_found": tracked.face_found,
        "box": tracked.box,
        "track_ms": tracked.track_ms,
        "fps": np.array(tracked.fps),
        "source_fps": np.array(tracked.source_fps),
        "frame_size": np.array(tracked.frame_size, dtype=np.int32),
        "source": np.array(str(clip.path)),
        "identity_label": np.array(clip.identity_label),
        "sup_indices": np.array(SUP33_INDICES, dtype=np.int16),
    }
    if tracked.crops is not None:
        arrays["crops"] = tracked.crops
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
        os.chmod(temp, 0o644)  # mkstemp makes it private
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def index_row(name: str, path: Path) -> dict[str, str]:
    """The index.tsv line of a cached clip (reads only its small arrays)."""
    with np.load(path) as data:
        found = data["face_found"]
        pose = np.degrees(data["pose"][found]) if found.any() else np.zeros((1, 3))
        return {
            "clip": name,
            "source": str(data["source"]),
            "identity_label": str(data["identity_label"]),
            "frames": str(len(found)),
            "face_rate": f"{found.mean():.3f}",
            "fps": f"{float(data['fps']):.3f}",
            "yaw_min_deg": f"{pose[:, 0].min():.1f}",
            "yaw_max_deg": f"{pose[:, 0].max():.1f}",
            "pitch_min_deg": f"{pose[:, 1].min():.1f}",
            "pitch_max_deg": f"{pose[:, 1].max():.1f}",
            "track_ms_mean": f"{data['track_ms'].mean():.2f}",
        }


def read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]


def write_tsv(path: Path, columns: Sequence[str], rows: list[dict[str, str]]) -> None:
    text = "\t".join(columns) + "\n"
    text += "".join("\t".join(_cell(row.get(c, "")) for c in columns) + "\n" for row in rows)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _cell(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontal prepare",
        description="Track videos into cached face tubes, landmarks and head pose (one .npz a clip).",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="VIDEO_OR_DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="cache folder")
    parser.add_argument("--fps", type=float, default=None, help="resample to this frame rate")
    parser.add_argument("--no-crops", action="store_true", help="do not store the 256x256 crops")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="frames per clip at most")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="TSV with file and identity_label columns (default: an input folder's MANIFEST.tsv)")
    parser.add_argument("--min-face-rate", type=float, default=Limits.min_face_rate,
                        help="skip clips with a face in fewer frames than this share (default 0.5)")
    parser.add_argument("--min-frames", type=int, default=Limits.min_face_frames,
                        help="skip clips with fewer frames with a face (default 30, at most --max-frames)")
    parser.add_argument("-f", "--force", action="store_true", help="re-track clips already cached or skipped")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (PrepareError, ManifestError, VideoError) as exc:
        print(f"frontal prepare: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("frontal prepare: interrupted (finished clips are kept; rerun to resume)", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.fps is not None and not args.fps > 0:
        raise PrepareError(f"--fps must be positive, got {args.fps}")
    if args.max_frames is not None and args.max_frames < 1:
        raise PrepareError(f"--max-frames must be at least 1, got {args.max_frames}")
    clips = find_clips(args.inputs)
    manifest = args.manifest or default_manifest(args.inputs)
    if manifest is not None:
        clips = attach_identities(clips, read_manifest(manifest))
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise PrepareError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    min_frames = min(args.min_frames, args.max_frames) if args.max_frames else args.min_frames
    limits = Limits(args.min_face_rate, min_frames)

    skipped = {row["clip"]: row for row in read_tsv(out / "skipped.tsv")}
    counts = {"tracked": 0, "cached": 0, "skipped": 0, "failed": 0}
    with FaceTracker(TrackerConfig()) as tracker:
        bar = tqdm(clips, desc="clips", unit="clip", disable=args.quiet, position=0)
        for clip in bar:
            target = out / f"{clip.name}.npz"
            if not args.force and target.exists():
                counts["cached"] += 1
                continue
            if not args.force and clip.name in skipped and still_skipped(skipped[clip.name], limits):
                counts["skipped"] += 1
                continue
            outcome, row = _prepare_one(tracker, clip, target, args, limits)
            counts[outcome] += 1
            if row is None:
                skipped.pop(clip.name, None)
            else:
                skipped[clip.name] = row
                tqdm.write(f"skipped {clip.name}: {row['reason']}", file=sys.stderr)

    write_tsv(out / "skipped.tsv", SKIPPED_COLUMNS, list(skipped.values()))
    names = {c.name for c in clips} | {p.name[: -len(".npz")] for p in out.glob("*.npz")}
    rows = [index_row(n, out / f"{n}.npz") for n in sorted(names) if (out / f"{n}.npz").is_file()]
    write_tsv(out / "index.tsv", INDEX_COLUMNS, rows)
    print(
        f"{out}: {counts['tracked']} tracked, {counts['cached']} already cached, "
        f"{counts['skipped']} skipped, {counts['failed']} unreadable; {len(rows)} clips in index.tsv"
    )
    return 1 if counts["failed"] else 0


def _prepare_one(
    tracker: FaceTracker, clip: Clip, target: Path, args: argparse.Namespace, limits: Limits
) -> tuple[str, dict[str, str] | None]:
    """('tracked' | 'skipped' | 'failed', the skipped.tsv row or None)."""
    try:
        tracked = track_clip(tracker, clip, args.fps, args.max_frames, not args.no_crops, not args.quiet)
    except VideoError as exc:
        return "failed", {"clip": clip.name, "source": str(clip.path), "frames": "0",
                          "face_rate": "0", "reason": f"unreadable: {exc}"}
    reason = too_little_face(tracked, limits)
    if reason is not None:
        frames = len(tracked.face_found)
        return "skipped", {"clip": clip.name, "source": str(clip.path), "frames": str(frames),
                           "face_rate": f"{tracked.face_found.mean():.3f}", "reason": reason}
    save_clip(target, clip, tracked)
    return "tracked", None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
