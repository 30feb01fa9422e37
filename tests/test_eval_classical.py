"""Classical codecs: round trips on a tiny synthetic clip, honest bit counts, packet loss."""
from __future__ import annotations

import numpy as np
import pytest

from frontal.eval.classical import (
    CODECS,
    Bitstream,
    ClassicalResult,
    decode_with_loss,
    encode_classical,
    gop_length,
    main,
    payload_bytes,
)
from frontal.eval.clips import synthetic_clip
from frontal.eval.fidelity import psnr

FPS = 15.0


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synthetic_clip(n_frames=15, size=128, seed=7)


@pytest.fixture(scope="module")
def x264_1s(clip: np.ndarray) -> ClassicalResult:
    return encode_classical(clip, FPS, "x264", 40.0, keyint="1s")


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_each_codec(clip: np.ndarray, codec: str) -> None:
    result = encode_classical(clip, FPS, codec, 60.0, keyint="clip")  # type: ignore[arg-type]
    assert result.frames.shape == clip.shape and result.frames.dtype == np.uint8
    assert len(result.bits_per_frame) == len(clip) == len(result.bitstream.packets)
    assert result.bits_total == int(result.bits_per_frame.sum())
    assert result.kbps_actual == pytest.approx(result.bits_total / (len(clip) / FPS) / 1000)
    assert 0.5 * 60.0 < result.kbps_actual < 1.6 * 60.0, result.kbps_actual
    assert result.bitstream.keyframes[0] and sum(result.bitstream.keyframes) == 1
    assert float(psnr(clip, result.frames).mean()) > 20.0


@pytest.mark.parametrize("codec", CODECS)
def test_keyframe_every_second(clip: np.ndarray, codec: str) -> None:
    result = encode_classical(clip[:12], 5.0, codec, 60.0, keyint="1s")  # type: ignore[arg-type]
    flags = np.array(result.bitstream.keyframes)
    assert np.flatnonzero(flags).tolist() == [0, 5, 10]
    assert gop_length("1s", 12, 5.0) == 5 and gop_length("clip", 12, 5.0) == 12


@pytest.mark.slow
def test_lowest_bitrate_is_a_floor() -> None:
    from frontal.eval.classical import find_lowest
    from frontal.eval.clips import default_face_clip

    frames, fps = default_face_clip(max_frames=30)
    point = find_lowest(frames, fps, "av1", "clip")
    assert point.kbps == min(r.kbps_actual for r in point.tried)
    below = encode_classical(frames, fps, "av1", point.kbps / 4, "clip")
    assert below.kbps_actual > 0.9 * point.kbps


def test_payload_excludes_start_codes() -> None:
    assert payload_bytes(b"\x00\x00\x00\x01\x67ab\x00\x00\x01\x65cd", annex_b=True) == 6
    assert payload_bytes(b"\x00\x00\x00\x01\x67ab", annex_b=False) == 7


def test_no_loss_equals_plain_decode(x264_1s: ClassicalResult) -> None:
    lossy = decode_with_loss(x264_1s.bitstream, 0.0, seed=1)
    np.testing.assert_array_equal(lossy.frames, x264_1s.frames)
    assert not lossy.lost.any() and not lossy.frozen.any()


def test_loss_freezes_until_next_keyframe(x264_1s: ClassicalResult) -> None:
    bs = x264_1s.bitstream
    lossy = decode_with_loss(bs, 0.2, seed=3)
    assert lossy.lost.any()
    first = int(np.flatnonzero(lossy.lost)[0])
    next_key = next((i for i in range(first + 1, len(bs.packets)) if bs.keyframes[i] and not lossy.lost[i]), None)
    stop = next_key if next_key is not None else len(bs.packets)
    assert lossy.frozen[first:stop].all()
    for i in range(first, stop):  # frozen frames hold the last good picture (grey before any)
        expected = x264_1s.frames[first - 1] if first > 0 else np.full_like(x264_1s.frames[0], 128)
        np.testing.assert_array_equal(lossy.frames[i], expected)
    if next_key is not None:
        np.testing.assert_array_equal(lossy.frames[next_key], x264_1s.frames[next_key])


def test_loss_is_reproducible(x264_1s: ClassicalResult) -> None:
    a = decode_with_loss(x264_1s.bitstream, 0.3, seed=5)
    b = decode_with_loss(x264_1s.bitstream, 0.3, seed=5)
    np.testing.assert_array_equal(a.lost, b.lost)
    np.testing.assert_array_equal(a.frames, b.frames)


def test_bad_arguments_are_clear_errors(clip: np.ndarray, x264_1s: ClassicalResult) -> None:
    with pytest.raises(ValueError, match="codec must be one of"):
        encode_classical(clip, FPS, "mpeg2", 10.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keyint must be one of"):
        encode_classical(clip, FPS, "x264", 10.0, keyint="2s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loss_rate"):
        decode_with_loss(x264_1s.bitstream, 1.5)
    with pytest.raises(ValueError, match="keyframe flags"):
        Bitstream("x264", 8, 8, FPS, (b"",), ())


def test_cli_refuses_to_overwrite(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    out.write_text("{}")
    assert main(["--kbps", "10", "--json", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
