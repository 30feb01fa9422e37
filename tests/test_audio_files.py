"""Speech in recorded files: `frontal encode` keeps it, `frontal decode` writes it into the .mp4,
and files without it (made before it existed, or with --no-audio) decode as before."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from codec.container import read_recording
from frontal.api import decode_recording, encode_video, recording_info
from frontal.files import command_decode, command_encode
from tests.test_audio_codec import clip_with_speech


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_with_speech(tmp_path_factory.mktemp("speech"), 3.0)


def test_encode_keeps_speech_and_decode_writes_it(clip: Path, tmp_path: Path) -> None:
    enc = encode_video(clip, tmp_path / "a.frontal", fps=10, model="landmarks", n_views=1)
    assert enc.audio_frames >= 70 and 0 < 8 * enc.audio_bytes / 3.0 / 1000 <= 6.5
    rec = read_recording(tmp_path / "a.frontal")
    assert rec.audio is not None and rec.audio.settings["codec"] == "opus"
    info = recording_info(tmp_path / "a.frontal")
    assert info.audio is not None and info.audio["frames"] == enc.audio_frames and 0 < info.audio_kbps <= 6.5
    dec = decode_recording(tmp_path / "a.frontal", tmp_path / "a.mp4", landmarks_only=True)
    assert dec.audio_s > 2.5
    with av.open(str(tmp_path / "a.mp4")) as f:
        assert f.streams.audio
        pcm = np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)])
    assert abs(len(pcm) / 16000 - dec.frames / dec.fps) < 0.1
    assert np.abs(pcm).mean() > 0.005  # AAC decodes to float: speech, not silence


def test_no_audio_files_decode_silent_as_before(clip: Path, tmp_path: Path) -> None:
    assert command_encode([str(clip), str(tmp_path / "b.frontal"), "--fps", "10", "--model", "landmarks",
                           "--views", "1", "--no-audio"]) == 0
    assert read_recording(tmp_path / "b.frontal").audio is None
    assert command_decode([str(tmp_path / "b.frontal"), str(tmp_path / "b.mp4"), "--landmarks"]) == 0
    with av.open(str(tmp_path / "b.mp4")) as f:
        assert not f.streams.audio


def test_a_corrupt_audio_section_is_a_one_line_error(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    encode_video(clip, tmp_path / "c.frontal", fps=10, model="landmarks", n_views=1, max_frames=10)
    data = bytearray((tmp_path / "c.frontal").read_bytes())
    at = data.index(b'"version": 1')
    data[at + 11] = ord("7")  # an audio section version this decoder does not know (the CRC then fails first)
    (tmp_path / "d.frontal").write_bytes(bytes(data))
    assert command_decode([str(tmp_path / "d.frontal"), str(tmp_path / "d.mp4"), "--landmarks"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("frontal decode:") and "\n" not in err
    assert not (tmp_path / "d.mp4").exists()
