"""The page peer's sending half (frontal/web/peer/) against the Python sender, in Node.

Python writes a golden file: a head turning left and right (the shipped shape model's meshes at
seeded poses and coefficients, plus noise, placed in a 640x480 frame as FaceMesh would report
them, two frames without a face), what `sender.tracker.FaceTracker` makes of it (FaceMesh itself
replaced by those points), `sender.shape.ShapeFitter`'s fit of each tracked mesh, the views
`sender.views.ViewSelector` takes, and every message `sender.live.SenderSide` sends for a shape call.
Then `node --test tests/js/peer.test.mjs` must reproduce it: the tracker and the fit within 1e-6,
the views exactly, and the sender's hello, driving messages and view messages byte for byte.

    OMP_NUM_THREADS=1 python -m pytest -q tests/test_browser_peer.py
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codec.callstats import CallStats
from codec.fields import FieldSet
from codec.shape import load_shape_model, rotation_matrix
from sender.live import SenderConfig, SenderSide
from sender.shape import ShapeFitter
from sender.tracker import FaceTracker
from sender.views import ViewPolicy, ViewSelector, eye_openness

REPO = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js (`node`) is not on PATH: the page's sender cannot be checked")
WIDTH, HEIGHT, FRAMES = 640, 480, 40
NO_FACE = (17, 18)
EPOCH_MS = 1767225600000.0
VIEW_BYTES = bytes(range(256)) * 12  # a stand-in for the coded image: 3 072 bytes, 3 messages


def _b64(a: Any) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def _faces(seed: int = 7) -> list[np.ndarray | None]:
    """FaceMesh-like output: [478, 3] normalised to the frame (x, y by width, height; z by width)."""
    model = load_shape_model()
    rng = np.random.default_rng(seed)
    out: list[np.ndarray | None] = []
    for t in range(FRAMES):
        if t in NO_FACE:
            out.append(None)
            continue
        yaw = 0.55 * np.sin(2 * np.pi * t / 24) + 0.03
        pitch = 0.15 * np.sin(2 * np.pi * t / 17)
        coeffs = rng.normal(0.0, 1.0, model.k) * model.std
        shape = model.shape(coeffs) @ rotation_matrix(yaw, pitch, 0.05 * np.sin(t / 5)).T
        px = 180.0 * shape + np.array([320.0 + 2.0 * t, 240.0 - t, 0.0]) + rng.normal(0.0, 0.4, shape.shape)
        out.append((px / np.array([WIDTH, HEIGHT, WIDTH])).astype(np.float32).astype(np.float64))  # FaceMesh's are float32
    return out


def write_golden(path: Path) -> dict[str, Any]:
    faces = _faces()
    tracker = FaceTracker()
    state: dict[str, Any] = {}
    tracker._detect = lambda frame: [] if state["face"] is None else [state["face"] * np.array([WIDTH, HEIGHT, WIDTH])]  # type: ignore[method-assign]
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    fields = FieldSet(n_sup=0, n_shape=48)
    fitter = ShapeFitter(k=48)
    config = SenderConfig(view_format="webp", align_phase=False)
    sender = SenderSide(config, CallStats(), fields=fields, defer_views=True)
    selector = ViewSelector(ViewPolicy())
    hello = sender.hello(EPOCH_MS)
    frames, sent = [], []
    try:
        for t, face in enumerate(faces):
            state["face"] = face
            tracked = tracker.track(frame)
            selector.consider(tracked)
            taken = None
            if selector.ready():
                taken = selector.take()
                taken = {"yaw": taken.yaw, "pitch": taken.pitch}
            now_s = 100.0 + t / 15.0
            out = sender.process(tracked, EPOCH_MS + 1000.0 * t / 15.0 + 3.0, now_s)
            if out.view is not None:
                sender.add_encoded_view(out.view, VIEW_BYTES)
            fit = fitter.fit(tracked.landmarks)
            frames.append({
                "face": None if face is None else _b64(face.reshape(-1)),
                "face_found": tracked.face_found,
                "box": list(tracked.box),
                "pose": list(tracked.pose),
                "landmarks": _b64(tracked.landmarks.reshape(-1)),
                "openness": eye_openness(tracked.landmarks),
                "shape_pose": fit.pose.tolist(),
                "coeffs": fit.coeffs.tolist(),
                "view": taken,
                "now_s": now_s,
                "capture_ms": EPOCH_MS + 1000.0 * t / 15.0 + 3.0,
                "driving": None if out.driving is None else out.driving.hex(),
                "control": [m.hex() for m in out.control],
                "view_out": out.view is not None,
            })
            sent.append(out)
    finally:
        tracker.close()
    doc = {"width": WIDTH, "height": HEIGHT, "hello": hello, "view_bytes": VIEW_BYTES.hex(),
           "shape_model_digest": load_shape_model().digest, "frames": frames}
    path.write_text(json.dumps(doc))
    return doc


def test_golden_exercises_views_and_losses(tmp_path: Path) -> None:
    doc = write_golden(tmp_path / "peer.json")
    frames = doc["frames"]
    assert [f["face_found"] for f in frames].count(False) == len(NO_FACE)
    assert sum(f["view"] is not None for f in frames) >= 3, "the head turns enough for several views"
    assert sum(f["driving"] is not None for f in frames) >= FRAMES // 2 - 1
    assert sum(len(f["control"]) for f in frames) >= 6, "views' starts and chunks are paced out"


@needs_node
def test_node_sender_matches_python(tmp_path: Path) -> None:
    path = tmp_path / "peer.json"
    write_golden(path)
    proc = subprocess.run([NODE, "--test", "tests/js/peer.test.mjs"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FRONTAL_JS_PEER_GOLDEN": str(path)})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# skipped 0" in proc.stdout and "# fail 0" in proc.stdout
