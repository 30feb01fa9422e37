"""The command-line tools end to end on the embedded real clip, and their one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

from frontal import files as codec_cli
from frontal.loopback import main as loopback_main

BIN = Path(sys.executable).parent


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def assert_one_line_error(p: subprocess.CompletedProcess[str]) -> None:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith(("W0000", "I0000", "INFO:", "WARNING: All log"))]
    assert len(lines) == 1, p.stderr


def test_loopback_json(tmp_path: Path) -> None:
    out = tmp_path / "lb.json"
    assert loopback_main(["--max-frames", "40", "--json", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    for key in ("bits_per_frame", "kbps_15fps", "frames", "payload_bits_per_frame", "tracking_ms_per_frame", "codec_ms_per_frame"):
        assert key in doc
    assert doc["frames"] > 0
    s = doc["summary"]["15fps"]
    assert set(s) == {"paper", "predictive"}
    for m in s.values():
        assert m["header_bits_per_frame"] == 72
        assert m["bits_per_frame"] == pytest.approx(m["payload_bits_per_frame"] + 72)
        assert 0 < m["landmark_error_px_mean"] < 1.0  # 8-bit positions: ~0.3 px
        assert {"pose", "shape"} <= set(m["group_bits_per_frame"])  # the shipped model's shape stream


def test_loopback_render_writes_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "lb.json"
    assert loopback_main(["--max-frames", "12", "--render", "--out", str(tmp_path), "--mode", "predictive", "--json", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    assert doc["fields"] == "shape48"  # what the shipped model (mesh) codes
    r = doc["clips"][0]["render"]
    assert r["render_ms_per_frame"] > 0 and 0 <= r["ssim"] <= 1
    assert r["view_choice"] == "live" and r["first_view_frame"] is not None and r["views"]
    with av.open(r["side_by_side"]) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == doc["frames"] and frames[0].shape == (256, 512, 3)


def test_encode_decode_render(tmp_path: Path) -> None:
    from sender.video import default_video

    f = tmp_path / "clip.frontal"
    assert codec_cli.command_encode([str(default_video()), str(f), "--max-frames", "10", "--views", "2"]) == 0
    mp4 = tmp_path / "render.mp4"
    assert codec_cli.command_decode([str(f), str(mp4)]) == 0
    with av.open(str(mp4)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 10


def test_encode_info_decode_landmarks(tmp_path: Path) -> None:
    from sender.video import default_video

    f = tmp_path / "clip.frontal"
    assert codec_cli.command_encode([str(default_video()), str(f), "--max-frames", "30", "--model", "landmarks"]) == 0
    assert f.stat().st_size > 0
    assert codec_cli.command_info([str(f)]) == 0
    mp4 = tmp_path / "out.mp4"
    assert codec_cli.command_decode([str(f), str(mp4), "--landmarks"]) == 0
    with av.open(str(mp4)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == 30
    # refuses to overwrite without -f, and leaves the file alone
    before = mp4.read_bytes()
    assert codec_cli.command_decode([str(f), str(mp4), "--landmarks"]) == 1
    assert mp4.read_bytes() == before
    # a landmarks-only recording cannot be rendered: one clear error, no output
    assert codec_cli.command_decode([str(f), str(tmp_path / "r.mp4")]) == 1
    assert not (tmp_path / "r.mp4").exists()


@pytest.mark.parametrize("content", [b"", b"hello, not a video\n", bytes(range(256)) * 40])
def test_bad_inputs_one_line_errors(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    assert_one_line_error(run([str(BIN / "codec-loopback"), str(bad)]))
    assert_one_line_error(run([str(BIN / "frontal"), "encode", str(bad), str(tmp_path / "x.frontal")]))
    assert not (tmp_path / "x.frontal").exists()
    assert_one_line_error(run([str(BIN / "frontal"), "decode", str(bad), str(tmp_path / "x.mp4")]))
    assert not (tmp_path / "x.mp4").exists()
    assert_one_line_error(run([str(BIN / "frontal"), "info", str(bad)]))


def test_missing_files(tmp_path: Path) -> None:
    assert_one_line_error(run([str(BIN / "codec-loopback"), str(tmp_path / "nope.mp4")]))
    assert_one_line_error(run([str(BIN / "frontal"), "decode", str(tmp_path / "nope.frontal"), str(tmp_path / "o.mp4")]))


def test_video_without_a_face(tmp_path: Path) -> None:
    import numpy as np

    from receiver.videoout import write_mp4

    video = tmp_path / "noface.mp4"
    write_mp4(video, (np.full((96, 128, 3), 40 + 5 * i, np.uint8) for i in range(12)), 15)
    p = run([str(BIN / "codec-loopback"), str(video)])
    assert_one_line_error(p)
    assert "no face" in p.stderr
    assert_one_line_error(run([str(BIN / "frontal"), "encode", str(video), str(tmp_path / "x.frontal")]))
    assert not (tmp_path / "x.frontal").exists()
