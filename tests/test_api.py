"""The public API: encode a clip to a .frontal file, read its info, decode it back; typed results."""
from __future__ import annotations

from pathlib import Path

import av
import pytest

from codec.errors import CodecError
from frontal.api import DecodeResult, EncodeResult, RecordingInfo, decode_recording, encode_video, recording_info
from sender.video import default_video


def test_encode_info_decode_round_trip(tmp_path: Path) -> None:
    f = tmp_path / "clip.frontal"
    enc = encode_video(default_video(), f, fps=15, n_views=2, model="landmarks", max_frames=20)
    assert isinstance(enc, EncodeResult)
    assert enc.path == f and enc.frames == 20 and 1 <= enc.views <= 2
    assert enc.bytes == f.stat().st_size and enc.packet_bytes + enc.view_bytes < enc.bytes
    assert 0 < enc.bits_per_frame < 1000

    info = recording_info(f)
    assert isinstance(info, RecordingInfo)
    assert info.frames == 20 and info.decodable == 20 and len(info.views) == enc.views
    assert info.bits_per_frame == pytest.approx(8 * enc.packet_bytes / 20)
    assert info.header["model"] == "landmarks"

    mp4 = tmp_path / "clip.mp4"
    dec = decode_recording(f, mp4, landmarks_only=True)
    assert isinstance(dec, DecodeResult)
    assert dec.frames == 20 and dec.lost == 0 and dec.fps == pytest.approx(info.header["fps"])
    with av.open(str(mp4)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20


def test_landmark_recording_cannot_be_rendered(tmp_path: Path) -> None:
    f = tmp_path / "clip.frontal"
    encode_video(default_video(), f, model="landmarks", max_frames=5)
    with pytest.raises(CodecError, match="landmarks only"):
        decode_recording(f, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        encode_video(default_video(), tmp_path / "x.frontal", model="no-such-model", max_frames=5)
    assert not (tmp_path / "x.frontal").exists()


def test_mesh_recording_round_trip(tmp_path: Path) -> None:
    """`--model mesh`: the shape field set, each view's own record and the shape model's digest are
    stored; the file decodes with the geometry renderer to frames that are not blank."""
    import numpy as np

    from codec.container import read_recording
    from codec.shape import load_shape_model

    f = tmp_path / "mesh.frontal"
    enc = encode_video(default_video(), f, fps=15, n_views=2, model="mesh", max_frames=20)
    assert enc.frames == 20 and 1 <= enc.views <= 2
    rec = read_recording(f)
    assert rec.header["model"] == "mesh" and rec.header["fields"]["n_shape"] == 48
    assert rec.header["shape_model"] == load_shape_model().digest
    assert all(v.record is not None and 1 <= len(v.record) <= 255 for v in rec.views)
    info = recording_info(f)
    assert info.decodable == 20

    mp4 = tmp_path / "mesh.mp4"
    dec = decode_recording(f, mp4)
    assert dec.frames == 20 and dec.lost == 0
    with av.open(str(mp4)) as c:
        frames = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    assert len(frames) == 20 and all(fr.std() > 10 for fr in frames)
    assert np.abs(frames[-1].astype(np.float64) - frames[0]).mean() > 0.1  # the face moves
    assert decode_recording(f, tmp_path / "lm.mp4", landmarks_only=True).frames == 20
