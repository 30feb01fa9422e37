"""Live source views (frontal/views_live.py): the call's selector and byte budget replayed over a
clip, arrival frames from the bytes and the budget; and `frontal evaluate` with live views."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from codec.images import decode_view, encode_view
from codec.messages import view_messages
from frontal.pipeline import track_clip
from frontal.train.cli import main_evaluate
from frontal.views_live import SourcedRenderer, SourcePlan, live_views, schedule_views
from sender.live import SenderConfig
from sender.pose import Pose
from sender.tracker import Box, TrackedFrame
from sender.video import default_video
from tests.test_report_frontal import CountingRenderer
from tests.test_train_fixtures import labels, write_clip

FPS = 15.0


def _image(seed: int) -> np.ndarray:
    """A textured picture that takes a few kB as WebP."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256] / 256.0
    base = 0.5 + 0.3 * np.sin(9 * xx + seed) * np.cos(7 * yy)
    return np.clip(base[..., None] * 255 + rng.normal(0, 4, (256, 256, 3)), 0, 255).astype(np.uint8)


def _landmarks() -> np.ndarray:
    """[478, 3] with both eyes open (openness 0.5): all the selector reads from the mesh."""
    lm = np.zeros((478, 3), np.float32)
    for a, b, up, lo, x in ((33, 133, 159, 145, -0.3), (362, 263, 386, 374, 0.3)):
        lm[a, 0], lm[b, 0] = x - 0.1, x + 0.1
        lm[up, :2], lm[lo, :2] = (x, -0.05), (x, 0.05)
    return lm


def _frames(yaws: list[float], images: list[np.ndarray]) -> list[TrackedFrame]:
    lm, sup = _landmarks(), np.zeros((33, 2), np.float32)
    return [TrackedFrame(index=i, image=img, landmarks=lm, sup=sup, pose=Pose(y, 0.0, 0.0), face_found=True,
                         box=Box(0.0, 0.0, 256.0), track_ms=0.0) for i, (y, img) in enumerate(zip(yaws, images))]


def _view_bytes(image: np.ndarray, config: SenderConfig, index: int) -> int:
    data = encode_view(image, config.view_format, config.view_quality)
    return sum(map(len, view_messages(index, config.view_format, data, 0.0, 0.0, np.zeros((33, 2)))))


def _first_frame_within(budget_from: int, needed: int, burst: int, rate: float) -> int:
    """The first frame t >= budget_from at which burst + rate * t / FPS bytes cover `needed`."""
    return max(budget_from, math.ceil((needed - burst) / rate * FPS - 1e-9))


def test_arrival_frames_follow_the_bytes_and_the_budget() -> None:
    config = SenderConfig(view_format="webp", view_quality=80, view_kbps=8.0, view_burst_bytes=1500)  # 1000 B/s
    rate = config.view_kbps * 1000 / 8
    a, b = _image(0), _image(1)
    yaws = [0.0] * 5 + [0.5] * 115  # frontal at once (first view at frame 0); 0.5 rad away from frame 5 on
    sched = schedule_views(_frames(yaws, [a] * 5 + [b] * 115), FPS, config)
    s0, s1 = _view_bytes(a, config, 0), _view_bytes(b, config, 1)
    assert s0 > config.view_burst_bytes  # the burst does not hold the view: it waits for tokens
    v0, v1 = sched.views
    assert (v0.frame, v0.queued_frame, v0.bytes_sent) == (0, 0, s0)
    # the bucket starts full and stays busy, so the last byte of view 0 leaves once burst + rate * t >= s0
    assert v0.arrival_frame == _first_frame_within(0, s0, config.view_burst_bytes, rate)
    # view 1 is the first candidate far enough (frame 5), queued the frame after view 0 has gone
    assert (v1.frame, v1.queued_frame, v1.bytes_sent) == (5, v0.arrival_frame + 1, s1)
    assert v1.arrival_frame == _first_frame_within(v1.queued_frame, s0 + s1, config.view_burst_bytes, rate)
    assert sched.pairs() == [(v0.arrival_frame, 0), (v1.arrival_frame, 5)] and sched.first_arrival == v0.arrival_frame
    assert sched.available(v0.arrival_frame - 1) == 0 and sched.available(v1.arrival_frame) == 2
    # the receiver holds what it decodes: view 0's lossy picture, not the crop
    assert v0.image is not None and np.array_equal(v0.image, decode_view(encode_view(a, "webp", 80), "webp"))
    assert not np.array_equal(v0.image, a)


def test_a_short_clip_leaves_a_view_on_its_way() -> None:
    config = SenderConfig(view_format="webp", view_quality=80, view_kbps=8.0, view_burst_bytes=1500)
    sched = schedule_views(_frames([0.0] * 10, [_image(0)] * 10), FPS, config)
    (v,) = sched.views
    assert v.arrival_frame is None and v.image is None and 0 < v.bytes_sent < _view_bytes(_image(0), config, 0)
    assert sched.first_arrival is None and sched.pairs() == [] and sched.bytes_sent == v.bytes_sent
    plan = SourcePlan.live(sched)
    assert plan.views == () and plan.view_bytes == (v.bytes_sent,)  # bytes on the wire count all the same


def test_first_view_waits_for_a_frontal_frame_or_the_window() -> None:
    config = SenderConfig(view_format="webp")  # the default budget: the burst holds a view
    turned = schedule_views(_frames([0.3] * 20, [_image(0)] * 20), FPS, config)
    assert turned.pairs()[0] == (config.first_view_frames - 1, 0)  # no frontal frame: the window's end
    late = schedule_views(_frames([0.3, 0.3, 0.05] + [0.3] * 17, [_image(0)] * 20), FPS, config)
    assert late.pairs()[0] == (2, 2)  # frontal at frame 2: sent (and, within the burst, there) at once


def test_embedded_clip_live_views() -> None:
    clip = track_clip(default_video(), fps=FPS)
    sched = live_views(clip)
    assert len(clip) == 60 and sched.first_arrival is not None and sched.first_arrival < SenderConfig().first_view_frames
    assert all(a >= f for a, f in sched.pairs())  # a view never arrives before its own frame
    report = sched.describe()
    assert report.choice == "live" and report.bytes_sent == sched.bytes_sent > 0


def test_sourced_renderer_follows_the_plan_and_the_models_limit() -> None:
    plan = SourcePlan.oracle([4, 9], [np.full((256, 256, 3), 7, np.uint8), np.full((256, 256, 3), 8, np.uint8)], [None, None])
    r = CountingRenderer(max_sources=1)
    src = SourcedRenderer(r, plan)
    assert src.prepare(0) and r.sources == [7]  # single-source model: the first view only


@pytest.fixture(scope="module")
def val_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prep_live")
    _, val = labels(0, 1)
    write_clip(root / "v.npz", val[0], frames=12, yaw_span=0.8, size=256)
    return root


def test_evaluate_defaults_to_live_views(val_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.json"
    argv = ["--model", "fom-mobile=untrained", "--data", str(val_folder), "--max-frames", "11", "--metrics", "psnr",
            "--views", "live,oracle", "--json", str(out), "--no-progress"]
    assert main_evaluate(argv) == 0
    res = json.loads(out.read_text())
    live, oracle = res["results"]["fom-mobile[untrained]"]["live"], res["results"]["fom-mobile[untrained]"]["oracle"]
    assert live["view_choice"] == "live" and oracle["view_choice"] == "oracle"
    # the fixture's landmarks have closed eyes: the first view waits out the selector's window
    (clip_live,) = [c for c in res["clips"] if c["views"] == "live"]
    first = clip_live["view_schedule"]["first_arrival_frame"]
    assert first == SenderConfig().first_view_frames - 1 and len(clip_live["source_frames"]) == 1
    assert clip_live["source_frames"][0] < first  # the best of the window, sent at its end
    assert live["frames"] == 11 and live["frames_after_first_view"] == 12 - first
    assert live["after_first_view"]["psnr"]["n"] == live["frames_after_first_view"]
    assert live["overall"]["psnr"]["mean"] < live["after_first_view"]["psnr"]["mean"]  # black frames score low
    assert oracle["frames_after_first_view"] == oracle["frames"]
    table = capsys.readouterr().out
    assert "| live, after 1st view |" in table and "oracle (whole clip)" in table
