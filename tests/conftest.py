"""Shared fixtures: tiny synthetic driving data, and the shared data folder when present."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FACES = REPO.parent / "shared" / "data" / "faces"


def synthetic_landmarks(frames: int = 60, n: int = 33, seed: int = 0, noise: float = 0.002) -> np.ndarray:
    """A face-like point cloud that turns, nods and drifts, plus tracker-like jitter: [T, n, 2]."""
    rng = np.random.default_rng(seed)
    shape = rng.uniform(-0.45, 0.45, (n, 2))
    t = np.arange(frames) / 15.0
    ang = 0.25 * np.sin(1.1 * t + rng.uniform(0, 6))
    scale = 1.0 + 0.05 * np.sin(0.5 * t)
    shift = np.stack([0.06 * np.sin(0.7 * t), 0.03 * np.cos(0.9 * t)], -1)
    c, s = np.cos(ang), np.sin(ang)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # [T,2,2]
    pts = np.einsum("tij,nj->tni", rot, shape) * scale[:, None, None] + shift[:, None, :]
    return (pts + rng.normal(0, noise, pts.shape)).astype(np.float32)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: no proxy from the environment may carry a test's traffic elsewhere."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def landmarks() -> np.ndarray:
    return synthetic_landmarks()


@pytest.fixture
def shared_faces() -> Path:
    if not (SHARED_FACES / "MANIFEST.tsv").is_file():
        pytest.skip("../shared/data/faces is not present")
    return SHARED_FACES
