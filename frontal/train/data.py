"""Training data: the face tubes written by `frontal prepare`, sampled as in the paper.

One `.npz` per clip (see frontal/prepare.py): `crops [T, H, W, 3]` uint8, `sup [T, 33, 2]` float32
(normalised crop coordinates, x right, y down, `align_corners=False`), `pose [T, 3]` (yaw, pitch,
roll, rad), `face_found [T]`, `identity_label`. The split is by identity
(`frontal.dataset.is_validation`). Small arrays are read when the store opens; crops are read per
clip on first use (the files are deflate-compressed, so they cannot be memory-mapped) and kept in
a byte-bounded LRU cache.

An `Example` holds two sources (A, C) and two drivings (B1, B2) of one clip (`sampling.py`), with
one horizontal flip and one colour jitter applied to all four frames (a flip mirrors the image,
negates x of the landmarks and swaps their left/right indices; yaw changes sign).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from frontal.dataset import DEFAULT_VAL_PERCENT, is_validation
from frontal.train.sampling import FrameChoice, sample_frames
from sender.landmarks import SUP33_NAMES

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "all")
KEYPOINT_LIMIT = 1.5  # as models.frames.KEYPOINT_LIMIT
MIN_FRAMES = 4


class DataError(ValueError):
    """A prepared folder or clip that cannot be used (message names the file)."""


def mirror_permutation(names: tuple[str, ...] = SUP33_NAMES) -> np.ndarray:
    """Index permutation swapping each `_l` landmark with its `_r` twin (subject's sides)."""
    swap = {"l": "r", "r": "l"}
    lookup = {n: i for i, n in enumerate(names)}
    perm = []
    for name in names:
        twin = "_".join(swap.get(tok, tok) for tok in name.split("_"))
        if twin not in lookup:
            raise ValueError(f"landmark {name!r} has no mirror twin {twin!r}")
        perm.append(lookup[twin])
    return np.asarray(perm, dtype=np.int64)


SUP_MIRROR = mirror_permutation()


def flip_points(points: np.ndarray, perm: np.ndarray = SUP_MIRROR) -> np.ndarray:
    """Mirror landmarks `[..., N, 2]` of a horizontally flipped crop: x -> -x, left <-> right."""
    out = points[..., perm, :].copy()
    out[..., 0] = -out[..., 0]
    return out


@dataclass(frozen=True)
class Augment:
    """Flip probability and colour-jitter ranges (one draw per example, applied to all its frames)."""

    flip_prob: float = 0.5
    brightness: float = 0.1  # multiplicative, 1 +- b
    contrast: float = 0.1  # around the frame mean, 1 +- c
    saturation: float = 0.1  # blend with luma, 1 +- s
    hue: float = 0.02  # rotation in YIQ chroma, +- h * pi rad

    @classmethod
    def none(cls) -> Augment:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0)


class Clip(NamedTuple):
    """One prepared tube's small arrays: `yaw [T]` rad, `valid [T]`, `sup [T, 33, 2]`."""

    path: Path
    name: str
    identity: str
    yaw: np.ndarray
    valid: np.ndarray
    sup: np.ndarray


class Example(NamedTuple):
    """Frames of one example as float tensors in [0, 1]: `sources [2, 3, H, W]` (A, C),
    `source_sup [2, 33, 2]`, `driving [2, 3, H, W]` (B1, B2), `driving_sup [2, 33, 2]`,
    `yaw [4]` (A, B1, B2, C after any flip), `clip` index, `frames` (a, b1, b2, c), `flipped`."""

    sources: torch.Tensor
    source_sup: torch.Tensor
    driving: torch.Tensor
    driving_sup: torch.Tensor
    yaw: torch.Tensor
    clip: int
    frames: tuple[int, int, int, int]
    flipped: bool


class Batch(NamedTuple):
    """Stacked examples: `sources [B, 2, 3, H, W]`, `source_sup [B, 2, 33, 2]`,
    `driving [B, 2, 3, H, W]`, `driving_sup [B, 2, 33, 2]`, `yaw [B, 4]`."""

    sources: torch.Tensor
    source_sup: torch.Tensor
    driving: torch.Tensor
    driving_sup: torch.Tensor
    yaw: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) for t in self))


def collate(examples: list[Example]) -> Batch:
    return Batch(*(torch.stack([getattr(e, f) for e in examples]) for f in Batch._fields))


class ClipStore:
    """The clips of one split of a prepared folder; crops loaded lazily into an LRU cache."""

    def __init__(self, folder: str | Path, split: str = "train", val_percent: int = DEFAULT_VAL_PERCENT,
                 cache_bytes: int = 3 << 30, min_frames: int = MIN_FRAMES) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, found {split!r}")
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: not a folder (run `frontal prepare` first)")
        files = sorted(self.folder.glob("*.npz"))
        if not files:
            raise DataError(f"{self.folder}: no prepared clips (*.npz)")
        self.clips: list[Clip] = []
        for path in files:
            clip = _read_clip(path)
            if split != "all" and is_validation(clip.identity, val_percent) != (split == "val"):
                continue
            if int(clip.valid.sum()) < min_frames:
                log.info("%s: skipped, %d valid frames", path.name, int(clip.valid.sum()))
                continue
            self.clips.append(clip)
        if not self.clips:
            raise DataError(f"{self.folder}: no usable {split} clips")
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached = 0

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def identities(self) -> list[str]:
        return sorted({c.identity for c in self.clips})

    def crops(self, index: int) -> np.ndarray:
        """`uint8 [T, H, W, 3]` of clip `index` (cached)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        path = self.clips[index].path
        try:
            with np.load(path, allow_pickle=False) as z:
                crops = z["crops"]
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: cannot read crops ({exc})") from exc
        if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
            raise DataError(f"{path}: crops: expected uint8 [T, H, W, 3], found {crops.dtype} {crops.shape}")
        self._cache[index] = crops
        self._cached += crops.nbytes
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.nbytes
        return crops


def _read_clip(path: Path) -> Clip:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("sup", "pose", "face_found", "identity_label", "crops") if k not in z.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)} (prepared with --no-crops?)")
            sup = z["sup"].astype(np.float32)
            pose = z["pose"].astype(np.float32)
            found = z["face_found"].astype(bool)
            identity = str(z["identity_label"])
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable prepared clip ({exc})") from exc
    valid = found & np.isfinite(sup).all(axis=(1, 2)) & (np.abs(sup) <= KEYPOINT_LIMIT).all(axis=(1, 2))
    valid &= np.isfinite(pose).all(axis=1)
    yaw = np.nan_to_num(pose[:, 0])
    return Clip(path, path.name.removesuffix(".npz"), identity, yaw, valid, np.nan_to_num(sup))


class FaceTubes:
    """Examples drawn from a `ClipStore` with the paper's sampling, flips and colour jitter.

    Everything random comes from the `np.random.Generator` passed in, so a trainer that derives
    one generator per step gets the same batches after a resume.
    """

    def __init__(self, store: ClipStore, mode: str = "abbc", augment: Augment = Augment(),
                 rotation_weight: float = 1.0) -> None:
        self.store = store
        self.mode = mode
        self.augment = augment
        ranges = np.array([_range(c) for c in store.clips])
        weights = np.where(ranges > 0.3, rotation_weight, 1.0)
        self.clip_p = weights / weights.sum()

    def example(self, rng: np.random.Generator, clip: int | None = None) -> Example:
        ci = int(rng.choice(len(self.store), p=self.clip_p)) if clip is None else clip
        info = self.store.clips[ci]
        choice: FrameChoice = sample_frames(info.yaw, info.valid, rng, self.mode)
        order = [choice.a, choice.c, choice.b1, choice.b2]
        frames = self.store.crops(ci)[order].astype(np.float32) / 255.0  # [4, H, W, 3]
        sup = info.sup[order]
        yaw = info.yaw[[choice.a, choice.b1, choice.b2, choice.c]].copy()
        flipped = bool(rng.random() < self.augment.flip_prob)
        if flipped:
            frames = frames[:, :, ::-1]
            sup = flip_points(sup)
            yaw = -yaw
        frames = jitter(frames, self.augment, rng)
        img = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
        sup_t = torch.from_numpy(np.ascontiguousarray(sup, dtype=np.float32))
        return Example(img[:2], sup_t[:2], img[2:], sup_t[2:], torch.from_numpy(yaw.astype(np.float32)),
                       ci, (choice.a, choice.b1, choice.b2, choice.c), flipped)

    def batch(self, rng: np.random.Generator, size: int) -> Batch:
        return collate([self.example(rng) for _ in range(size)])


def _range(clip: Clip) -> float:
    y = clip.yaw[clip.valid]
    return float(y.max() - y.min()) if y.size else 0.0


_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32)
_RGB = np.linalg.inv(_YIQ).astype(np.float32)


def jitter(frames: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """One colour jitter (brightness, contrast, saturation, hue) for all `frames [N, H, W, 3]` in [0, 1].

    The random draws are made even when a range is 0, so the stream of draws does not depend on
    the settings."""
    b, c, s, h = (rng.uniform(-1.0, 1.0) for _ in range(4))
    if not (aug.brightness or aug.contrast or aug.saturation or aug.hue):
        return frames
    out = frames * (1.0 + aug.brightness * b)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = (out - mean) * (1.0 + aug.contrast * c) + mean
    angle = np.pi * aug.hue * h
    sat = 1.0 + aug.saturation * s
    rot = np.array([[1, 0, 0], [0, np.cos(angle) * sat, -np.sin(angle) * sat],
                    [0, np.sin(angle) * sat, np.cos(angle) * sat]], dtype=np.float32)
    mat = (_RGB @ rot @ _YIQ).astype(np.float32)
    out = out.astype(np.float32) @ mat.T
    return np.clip(out, 0.0, 1.0)
