"""Speech coding (codec/audio.py), the audio messages (codec/messages.py) and the audio section
of recorded files (codec/container.py). Helpers here (`voiced`, `clip_with_speech`) serve the other
audio tests: a synthetic voiced signal, and the embedded clip with it muxed in."""
from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from codec.audio import AudioConfig, OpusDecoder, OpusEncoder, decode_packets, encode_pcm, load_audio
from codec.container import AudioSection, Recording, SourceView, parse, serialize
from codec.errors import CodecError
from codec.fields import LANDMARK_FIELDS
from codec.messages import (
    AUDIO_DRIVING_TYPE,
    AUDIO_ONLY_TYPE,
    AudioSpec,
    FieldSpec,
    Hello,
    encode_control,
    pack_audio,
    parse_audio,
    parse_control,
)
from sender.video import default_video

RATE = 16000


def voiced(seconds: float, rate: int = RATE, seed: int = 0) -> NDArray[np.int16]:
    """A speech-like signal: a glottal pulse train (110-170 Hz, gliding) through three formant
    resonators, in 4-Hz syllables with pauses."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = np.cumsum(f0 / rate)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    x = pulses + 0.02 * rng.standard_normal(n)
    for f, bw in ((650, 80), (1200, 100), (2600, 150)):
        r = np.exp(-np.pi * bw / rate)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / rate), r * r], x)
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5 * (np.sin(2 * np.pi * 0.4 * t) > -0.6)
    x = x * env
    return (x / (np.abs(x).max() + 1e-9) * 12000).astype(np.int16)


def clip_with_speech(folder: Path, seconds: float = 3.0) -> Path:
    """The embedded talking head's first `seconds` with `voiced` speech muxed in (H.264 + AAC)."""
    path = folder / "speech_clip.mp4"
    pcm = voiced(seconds)
    with av.open(str(default_video())) as src, av.open(str(path), "w") as out:
        vin = src.streams.video[0]
        rate = vin.average_rate
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        aout = out.add_stream("aac", rate=RATE)
        aout.layout = "mono"
        for k, frame in enumerate(src.decode(vin)):
            if k >= int(seconds * rate):
                break
            vf = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            vf.pts = k
            for p in vout.encode(vf):
                out.mux(p)
        for p in vout.encode():
            out.mux(p)
        for i in range(0, len(pcm), 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, i:i + 1024]), format="s16", layout="mono")
            af.sample_rate, af.pts = RATE, i
            for p in aout.encode(af):
                out.mux(p)
        for p in aout.encode():
            out.mux(p)
    return path


def _lag_and_snr(x: NDArray[np.int16], y: NDArray[np.int16]) -> tuple[int, float]:
    a, b = x[4000:-4000].astype(np.float64), y.astype(np.float64)
    corr = [float(np.dot(a, b[4000 + d: 4000 + d + len(a)])) for d in range(0, 400)]
    lag = int(np.argmax(corr))
    ref, out = a, b[4000 + lag: 4000 + lag + len(a)]
    gain = np.dot(ref, out) / np.dot(out, out)
    return lag, 10 * np.log10(np.sum(ref**2) / np.sum((ref - gain * out) ** 2))


# --- codec --------------------------------------------------------------------------------------


def test_opus_round_trip_keeps_the_signal_at_6_kbps() -> None:
    x = voiced(3.0)
    cfg = AudioConfig()
    packets = encode_pcm(x, cfg)
    assert len(packets) in (75, 76)  # one packet per 40-ms frame (and the encoder's tail)
    kbps = 8 * sum(map(len, packets)) / 3.0 / 1000
    assert 2.0 < kbps <= 6.5
    y = decode_packets(packets, cfg)
    assert len(y) == len(packets) * cfg.frame_samples
    lag, snr = _lag_and_snr(x, y)
    assert lag < 200  # the encoder's look-ahead, a few ms
    assert snr > 3.0  # a parametric coder at 6 kbps does not keep the waveform exactly, but it follows it
    silence = decode_packets([None] * 3, cfg)  # concealment before any packet: silence
    assert not silence.any()


def test_streaming_encoder_matches_the_whole_signal_encoder() -> None:
    x = voiced(1.0)
    enc = OpusEncoder()
    out: list[bytes] = []
    for i in range(0, len(x), 333):  # odd chunk sizes
        out += enc.encode(x[i:i + 333])
    out += enc.flush()
    assert out == encode_pcm(x)


def test_lost_frames_are_concealed_with_opus_plc_not_silence() -> None:
    x = voiced(2.0)
    packets = encode_pcm(x)
    dec = OpusDecoder()
    for p in packets[:20]:
        dec.decode(p)
    concealed = dec.conceal()
    assert concealed.shape == (640,) and np.abs(concealed).mean() > 10  # PLC continues the voice
    assert dec.decode(packets[21]).shape == (640,)  # and the stream goes on


@pytest.mark.parametrize("bad", [b"", bytes([0x03, 1, 2]), b"\xff" * 1276])
def test_decoder_refuses_bad_packets_with_codec_error(bad: bytes) -> None:
    with pytest.raises(CodecError):
        OpusDecoder().decode(bad)


def test_audio_config_refuses_unknown_settings() -> None:
    with pytest.raises(ValueError):
        AudioConfig(frame_ms=30)
    with pytest.raises(CodecError):
        AudioConfig.from_dict({"codec": "speex", "rate": 16000, "frame_ms": 40, "bitrate": 6000})
    assert AudioConfig.from_dict(AudioConfig().to_dict()) == AudioConfig()


# --- messages -----------------------------------------------------------------------------------


def test_audio_message_round_trip_alone_and_with_a_bundle() -> None:
    frames = [bytes([0x08]) + bytes(range(k, k + 20)) for k in range(3)]
    m = pack_audio(65535, 65530, frames)
    assert m[0] == AUDIO_ONLY_TYPE and len(m) == 6 + 3 + sum(map(len, frames))
    got = parse_audio(m)
    assert (got.seq, got.timestamp_ms, got.frames, got.driving) == (65535, 65530, frames, None)
    bundle = bytes([0x40, 7, 0, 9]) + b"payload"
    m2 = pack_audio(3, 4, frames[:1], bundle)
    assert m2[0] == AUDIO_DRIVING_TYPE
    got2 = parse_audio(m2)
    assert got2.frames == frames[:1] and got2.driving == bundle


def test_audio_messages_that_do_not_parse_raise_value_error_only() -> None:
    frames = [b"\x08abcdefgh", b"\x08ijk"]
    good = pack_audio(1, 2, frames, bytes([0x40, 1, 0, 0]) + b"xy")
    for cut in range(len(good) - 5):  # every truncation that leaves no compact bundle (its own parser checks its bytes)
        with pytest.raises(ValueError):
            parse_audio(good[:cut])
    with pytest.raises(ValueError):
        parse_audio(pack_audio(1, 2, frames) + b"x")  # trailing bytes after an audio-only message
    with pytest.raises(ValueError):
        parse_audio(bytes([AUDIO_ONLY_TYPE, 0x10, 0, 0, 0, 0, 1, 8]))  # reserved count bits
    with pytest.raises(ValueError):
        parse_audio(bytes([AUDIO_ONLY_TYPE, 0, 0, 0, 0, 0, 0]))  # a frame of 0 bytes
    with pytest.raises(ValueError):
        parse_audio(bytes([AUDIO_DRIVING_TYPE, 0, 0, 0, 0, 0, 1, 8, 0xF1]))  # not a compact bundle after
    with pytest.raises(ValueError):
        pack_audio(0, 0, [])
    rng = random.Random(5)
    for _ in range(5000):  # random and mutated messages: ValueError or a well-formed result
        m = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            m[rng.randrange(len(m))] = rng.randrange(256)
        if rng.random() < 0.3:
            m = bytearray(rng.randbytes(rng.randint(0, 30)))
        try:
            parsed = parse_audio(bytes(m))
        except ValueError:
            continue
        assert all(1 <= len(f) <= 1275 for f in parsed.frames)


def test_hello_carries_audio_only_when_there_is_some() -> None:
    hello = Hello(fps=15.0, fields=FieldSpec.of(LANDMARK_FIELDS), mode="predictive", epoch_ms=1.0)
    assert "audio" not in encode_control(hello)  # a video-only hello is byte for byte as before
    with_audio = Hello(fps=15.0, fields=FieldSpec.of(LANDMARK_FIELDS), mode="predictive", epoch_ms=1.0,
                       audio=AudioSpec(rate=16000, frame_ms=40, bitrate=6000))
    back = parse_control(encode_control(with_audio))
    assert isinstance(back, Hello) and back.audio is not None and back.audio.frame_ms == 40
    with pytest.raises(ValueError):
        parse_control(encode_control(with_audio).replace('"frame_ms":40', '"frame_ms":30'))


# --- recorded files -----------------------------------------------------------------------------


def _recording(audio: AudioSection | None) -> Recording:
    view = SourceView(b"img", "webp", 0, 0, 0.1, np.zeros((33, 2), np.float32))
    return Recording({"fps": 15.0, "fields": LANDMARK_FIELDS.to_dict()}, [view], [b"\xf1pkt1", b"\xf1pkt2"], audio)


def test_container_audio_section_round_trip_and_files_without_it() -> None:
    packets = encode_pcm(voiced(0.5))
    section = AudioSection(AudioConfig().to_dict(), packets, 0)
    back = parse(serialize(_recording(section)))
    assert back.audio is not None and back.audio.packets == packets and back.audio.settings == AudioConfig().to_dict()
    assert back.packets == [b"\xf1pkt1", b"\xf1pkt2"]
    old = serialize(_recording(None))
    assert b"\x04" not in old[old.index(b"pkt2"):-13]  # no audio records: the bytes of a file made before audio
    assert parse(old).audio is None


def test_container_refuses_a_corrupt_audio_section() -> None:
    from codec import container

    def with_header(meta: bytes, frames: list[bytes]) -> bytes:
        data = serialize(_recording(None))
        body = data[: data.rindex(bytes([container.REC_END]) + bytes([8]))]
        extra = bytes([container.REC_AUDIO_HEADER]) + container._varint(len(meta)) + meta
        for f in frames:
            extra += bytes([container.REC_AUDIO]) + container._varint(len(f)) + f
        import struct
        import zlib
        out = body + extra
        return out + bytes([container.REC_END, 8]) + struct.pack(">II", zlib.crc32(out), 2)

    good = b'{"bitrate":6000,"codec":"opus","frame_ms":40,"frames":1,"rate":16000,"start_ms":0,"version":1}'
    assert parse(with_header(good, [b"\x08x"])).audio is not None
    for meta, frames in ((good.replace(b'"version":1', b'"version":2'), [b"\x08x"]),  # a newer section
                         (good, []),  # frame count mismatch
                         (b"not json", [b"\x08x"]),
                         (good.replace(b'"start_ms":0', b'"start_ms":-5'), [b"\x08x"])):
        with pytest.raises(CodecError):
            parse(with_header(meta, frames))


def test_load_audio_reads_a_muxed_track(tmp_path: Path) -> None:
    clip = clip_with_speech(tmp_path, 2.0)
    pcm = load_audio(clip)
    assert pcm is not None and abs(len(pcm) - 2 * RATE) < 0.1 * RATE
    assert load_audio(default_video()) is None  # the embedded clip has no audio track


def test_container_skips_optional_records_and_refuses_other_unknown_ones() -> None:
    import struct
    import zlib

    from codec import container

    def with_record(kind: int) -> bytes:
        data = serialize(_recording(None))
        out = data[: data.rindex(bytes([container.REC_END]) + bytes([8]))] + bytes([kind, 3]) + b"new"
        return out + bytes([container.REC_END, 8]) + struct.pack(">II", zlib.crc32(out), 2)

    for kind in (64, 100, 127):
        back = parse(with_record(kind))
        assert back.skipped_records == 1 and back.packets == [b"\xf1pkt1", b"\xf1pkt2"]
    for kind in (6, 63, 128, 255):
        with pytest.raises(CodecError, match=f"unknown record type {kind}"):
            parse(with_record(kind))
    corrupt = bytearray(with_record(64))
    corrupt[corrupt.index(b"new")] ^= 1  # the CRC covers a skipped record too
    with pytest.raises(CodecError, match="CRC"):
        parse(bytes(corrupt))
