"""Tiny synthetic prepared folders and a tiny model config for the training tests (no tests here)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from frontal.dataset import is_validation
from models.decoder import DecoderConfig
from models.dense_motion import DenseMotionConfig
from models.encoder import EncoderConfig
from models.expression import ExpressionConfig
from models.frontalizer import FrontalizerConfig
from models.generator import DrivingFields, ModelConfig
from models.keypoints import KeypointDetectorConfig
from models.reference import frontal_layout

SIZE = 32


def labels(n_train: int, n_val: int) -> tuple[list[str], list[str]]:
    train, val = [], []
    i = 0
    while len(train) < n_train or len(val) < n_val:
        name = f"person{i}"
        (val if is_validation(name) else train).append(name)
        i += 1
    return train[:n_train], val[:n_val]


def write_clip(path: Path, identity: str, frames: int = 12, yaw_span: float = 0.6, seed: int = 0,
               size: int = SIZE) -> None:
    rng = np.random.default_rng(seed)
    yaw = np.linspace(-yaw_span / 2, yaw_span / 2, frames).astype(np.float32)
    base = frontal_layout(33).numpy()
    sup = np.stack([base + np.array([0.3 * y, 0.0]) for y in yaw]).astype(np.float32)
    sup += rng.normal(0, 0.005, sup.shape).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    crops = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        c = 0.5 + 0.4 * np.sin(6 * xx + 3 * yaw[t] + rng.uniform()) * np.cos(4 * yy)
        crops[t] = (np.stack([c, 1 - c, 0.5 * c + 0.2], -1) * 255).astype(np.uint8)
    pose = np.stack([yaw, np.zeros_like(yaw), np.zeros_like(yaw)], 1).astype(np.float32)
    np.savez_compressed(path, format_version=np.int64(1), crops=crops, sup=sup,
                        landmarks=np.zeros((frames, 478, 3), np.float16), pose=pose,
                        face_found=np.ones(frames, bool), fps=np.float64(15.0),
                        identity_label=np.array(identity))


def make_folder(root: Path, n_train: int = 3, n_val: int = 2, frames: int = 12) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tr, va = labels(n_train, n_val)
    for i, name in enumerate(tr + va):
        span = 0.6 if i % 2 == 0 else 0.1  # some tubes rotate, others barely (fallback sampling)
        write_clip(root / f"clip{i}.npz", name, frames, span, seed=i)
    return root


def tiny_config(fusion: str = "frontalizer") -> ModelConfig:
    """A 32x32 model with the default model's driving fields layout (33 sup + 4 unsup + 4 expr)."""
    jac = fusion in ("single", "nearest")
    fields = (DrivingFields(n_sup=33, n_unsup=4, jacobians=False, n_expr=4) if fusion == "frontalizer"
              else DrivingFields(n_sup=0, n_unsup=4, jacobians=jac, n_expr=0))
    kp = KeypointDetectorConfig("mobile", 4, 32, (8, 8, 8), jac)
    motion = DenseMotionConfig("mobile", fields.num_kp, 8, (8, 8))
    return ModelConfig(
        form="mobile", fusion=fusion, driving_fields=fields, keypoint=kp,
        encoder=EncoderConfig("mobile", SIZE, (8, 8, 8)),
        dense_motion=motion,
        decoder=DecoderConfig("mobile", 8, 4, fields.n_expr, 8, 1, (8, 8, 8), image_size=SIZE),
        expression=ExpressionConfig(kp.centre_features, 8, fields.n_expr) if fields.n_expr else None,
        frontalizer=FrontalizerConfig(motion, 33, 4) if fusion == "frontalizer" else None,
        max_sources=1 if fusion == "single" else None, image_size=SIZE)
