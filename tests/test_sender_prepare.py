"""`frontal prepare`: a loadable cache per clip, an index, resumable, clear errors."""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from frontal.prepare import main
from sender.video import default_video


@pytest.fixture
def clip_dir(tmp_path: Path) -> Path:
    """A folder with the default clip under a sub-folder and a manifest naming its identity."""
    folder = tmp_path / "faces"
    (folder / "cars").mkdir(parents=True)
    os.symlink(default_video(), folder / "cars" / "carphone.mp4")
    (folder / "MANIFEST.tsv").write_text("file\tidentity_label\ncars/carphone.mp4\tcar_man\n")
    return folder


def test_prepare_writes_a_loadable_cache_and_index(clip_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cache"
    assert main([str(clip_dir), "--out", str(out), "--max-frames", "20", "--quiet"]) == 0
    npz = out / "cars__carphone.mp4.npz"
    with np.load(npz) as data:
        assert int(data["format_version"]) == 1
        t = len(data["face_found"])
        assert t == 20 and data["face_found"].all()
        assert data["sup"].shape == (t, 33, 2) and data["sup"].dtype == np.float32
        assert data["landmarks"].shape == (t, 478, 3)
        assert data["pose"].shape == (t, 3) and data["box"].shape == (t, 3)
        assert data["crops"].shape == (t, 256, 256, 3) and data["crops"].dtype == np.uint8
        assert float(data["fps"]) == pytest.approx(29.97, abs=0.01)
        assert str(data["identity_label"]) == "car_man"
    index = (out / "index.tsv").read_text().splitlines()
    assert index[0].startswith("clip\tsource\tidentity_label\tframes\tface_rate")
    assert index[1].split("\t")[:5] == ["cars__carphone.mp4", str(clip_dir / "cars" / "carphone.mp4"), "car_man", "20", "1.000"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left

    stamp = npz.stat().st_mtime_ns
    capsys.readouterr()
    assert main([str(clip_dir), "--out", str(out), "--max-frames", "20", "--quiet"]) == 0
    assert "1 already cached" in capsys.readouterr().out
    assert npz.stat().st_mtime_ns == stamp


def test_prepare_no_crops_and_fps(tmp_path: Path) -> None:
    out = tmp_path / "cache"
    assert main([str(default_video()), "--out", str(out), "--fps", "10", "--max-frames", "8", "--no-crops", "--quiet"]) == 0
    with np.load(out / "carphone_pristine.mp4.npz") as data:
        assert "crops" not in data.files
        assert len(data["sup"]) == 8 and float(data["fps"]) == 10.0


def write_grey_video(path: Path, frames: int = 10) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_prepare_skips_clips_with_too_little_face(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grey = write_grey_video(tmp_path / "grey.mp4")
    out = tmp_path / "cache"
    assert main([str(grey), "--out", str(out), "--quiet"]) == 0
    assert "skipped grey.mp4: no face found" in capsys.readouterr().err
    assert not (out / "grey.mp4.npz").exists()
    skipped = (out / "skipped.tsv").read_text().splitlines()
    assert len(skipped) == 2 and skipped[1].startswith("grey.mp4\t")
    assert main([str(grey), "--out", str(out), "--quiet"]) == 0  # a rerun does not re-track it
    assert "1 skipped" in capsys.readouterr().out


def test_prepare_retracks_a_skipped_clip_under_looser_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cache"
    args = [str(default_video()), "--out", str(out), "--max-frames", "5", "--quiet"]
    assert main(args + ["--min-face-rate", "1.01"]) == 0
    assert "skipped carphone_pristine.mp4" in capsys.readouterr().err
    assert main(args) == 0
    assert "1 tracked" in capsys.readouterr().out
    assert (out / "carphone_pristine.mp4.npz").is_file()
    assert (out / "skipped.tsv").read_text().count("\n") == 1  # header only


def test_prepare_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "no videos" in capsys.readouterr().err
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    assert main([str(tmp_path / "junk.mp4"), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "unreadable" in err and "Traceback" not in err
