"""Speech: Opus (PyAV's libopus) at a few kbit/s, 16 kHz mono, one packet per fixed-length frame.

    enc = OpusEncoder()                    # 16 kHz mono, 40-ms frames, 5.5 kbit/s, VOIP application
    packets = enc.encode(pcm)              # int16 samples in (any count), whole frames' packets out
    dec = OpusDecoder()
    pcm = dec.decode(packet)               # FRAME_SAMPLES int16 samples
    pcm = dec.conceal()                    # a lost frame: Opus packet loss concealment

The settings (`AudioConfig`) travel in the call's `hello` and a recorded file's audio section
(`docs/bitstream.md`); `docs/audio.md` gives the measurements behind them. Every Opus packet carries
exactly one frame of `frame_ms`; a packet the decoder cannot take (foreign, corrupt, another frame
length) raises `CodecError`.

Concealment. libopus conceals a lost frame when handed a packet with no frame data (RFC 6716
§3.2.1: a code-0 packet of only its TOC byte); `conceal()` does that with the TOC byte of the last
good packet, so the concealed frame has the stream's mode and bandwidth. The libopus decoder in
PyAV always outputs 48 kHz; the decoder brings it back to the stream's rate with a fixed low-pass
FIR (stateful, so frames join without seams) and decimation.
"""
from __future__ import annotations

import fractions
import os
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from scipy.signal import firwin, lfilter

from codec.errors import CodecError

CODEC = "opus"
SAMPLE_RATE = 16000
FRAME_MS = 40
BITRATE = 5500  # the call fits 16 kbit/s on the wire with the shape stream (docs/audio.md)
DECODER_RATE = 48000  # what PyAV's libopus decoder outputs, whatever it is asked for
FRAME_MS_CHOICES = (20, 40, 60)
RATE_CHOICES = (8000, 16000)
MAX_PACKET = 1275  # RFC 6716: the largest Opus frame


@dataclass(frozen=True)
class AudioConfig:
    """A speech stream's settings: codec, rate, frame length, target bitrate (bit/s)."""

    rate: int = SAMPLE_RATE
    frame_ms: int = FRAME_MS
    bitrate: int = BITRATE

    def __post_init__(self) -> None:
        if self.rate not in RATE_CHOICES:
            raise ValueError(f"audio rate must be one of {RATE_CHOICES}, not {self.rate}")
        if self.frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"audio frame must be one of {FRAME_MS_CHOICES} ms, not {self.frame_ms}")
        if not 2500 <= self.bitrate <= 64000:
            raise ValueError(f"audio bitrate must be 2500..64000 bit/s, not {self.bitrate}")

    @property
    def frame_samples(self) -> int:
        return self.rate * self.frame_ms // 1000

    def to_dict(self) -> dict[str, Any]:
        return {"codec": CODEC, "rate": self.rate, "frame_ms": self.frame_ms, "bitrate": self.bitrate}

    @classmethod
    def from_dict(cls, d: Any) -> AudioConfig:
        """`CodecError` if `d` is not an audio section's settings this decoder knows."""
        try:
            if d["codec"] != CODEC:
                raise CodecError(f"unknown audio codec {d['codec']!r}")
            return cls(int(d["rate"]), int(d["frame_ms"]), int(d["bitrate"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError(f"bad audio settings: {exc}") from None


class OpusEncoder:
    """int16 mono PCM in, one Opus packet per `frame_ms` out (VOIP application, VBR)."""

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        ctx: Any = av.CodecContext.create("libopus", "w")
        ctx.sample_rate, ctx.layout, ctx.format = self.config.rate, "mono", "s16"
        ctx.bit_rate = self.config.bitrate
        ctx.time_base = fractions.Fraction(1, self.config.rate)
        ctx.options = {"application": "voip", "frame_duration": str(self.config.frame_ms), "vbr": "on"}
        ctx.open()
        self._ctx = ctx
        self._pending = np.zeros(0, np.int16)
        self._pts = 0

    def encode(self, pcm: NDArray[Any]) -> list[bytes]:
        """The packets of every whole frame now available (samples left over wait for the next call)."""
        self._pending = np.concatenate([self._pending, np.asarray(pcm, np.int16).reshape(-1)])
        n = self.config.frame_samples
        out: list[bytes] = []
        while len(self._pending) >= n:
            chunk, self._pending = self._pending[:n], self._pending[n:]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk[None, :]), format="s16", layout="mono")
            frame.sample_rate, frame.pts = self.config.rate, self._pts
            self._pts += n
            out.extend(bytes(p) for p in self._ctx.encode(frame))
        return out

    def flush(self) -> list[bytes]:
        """The last frame (padded with silence) and what the encoder still holds."""
        out: list[bytes] = []
        if len(self._pending):
            out = self.encode(np.zeros(self.config.frame_samples - len(self._pending), np.int16))
        out.extend(bytes(p) for p in self._ctx.encode(None))
        return out


class OpusDecoder:
    """One Opus packet (one frame) in, `frame_samples` int16 samples out; `conceal()` for a lost one."""

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        ctx: Any = av.CodecContext.create("libopus", "r")
        ctx.sample_rate, ctx.layout = DECODER_RATE, "mono"
        ctx.open()
        self._ctx = ctx
        self._factor = DECODER_RATE // self.config.rate
        self._fir = firwin(63, 0.9 / self._factor).astype(np.float64)  # pass band to 0.9 x the output Nyquist
        self._zi = np.zeros(len(self._fir) - 1)
        self._toc: int | None = None  # the last good packet's TOC byte (code 0), for concealment

    def decode(self, packet: bytes) -> NDArray[np.int16]:
        if not 1 <= len(packet) <= MAX_PACKET:
            raise CodecError(f"an Opus packet is 1..{MAX_PACKET} bytes, not {len(packet)}")
        if packet[0] & 0x3:
            raise CodecError("an audio packet carries one Opus frame (TOC code 0)")
        pcm = self._run(packet)
        self._toc = packet[0] & 0xFC
        return pcm

    def conceal(self) -> NDArray[np.int16]:
        """A lost frame: Opus packet loss concealment (silence before the first good packet)."""
        if self._toc is None:
            return np.zeros(self.config.frame_samples, np.int16)
        return self._run(bytes([self._toc]))

    def _run(self, packet: bytes) -> NDArray[np.int16]:
        try:
            frames = self._ctx.decode(av.Packet(packet))
        except (av.error.FFmpegError, ValueError) as exc:
            raise CodecError(f"corrupt Opus packet: {exc}") from None
        if not frames:
            raise CodecError("Opus packet decoded to no audio")
        pcm48 = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)
        if len(pcm48) != self.config.frame_samples * self._factor:
            raise CodecError(f"Opus packet of {len(pcm48) * 1000 // DECODER_RATE} ms, the stream's frames are "
                             f"{self.config.frame_ms} ms")
        if frames[0].format.name != "s16":  # float output: scale to int16
            pcm48 *= 32767.0
        filtered, self._zi = lfilter(self._fir, 1.0, pcm48, zi=self._zi)
        out: NDArray[np.int16] = np.clip(np.rint(filtered[:: self._factor]), -32768, 32767).astype(np.int16)
        return out


class AudioError(ValueError):
    """An audio track that cannot be read."""


def load_audio(path: str | os.PathLike[str], rate: int = SAMPLE_RATE, max_s: float | None = None) -> NDArray[np.int16] | None:
    """A file's first audio track as int16 mono at `rate` (None: the file has no audio track;
    `AudioError` if it cannot be decoded)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            parts: list[NDArray[Any]] = []
            total, limit = 0, None if max_s is None else int(max_s * rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    total += parts[-1].size
                if limit is not None and total >= limit:
                    break
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"{path}: cannot read its audio ({str(exc).splitlines()[0]})") from None
    pcm = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
    return pcm if limit is None else pcm[:limit]


def encode_pcm(pcm: NDArray[Any], config: AudioConfig | None = None) -> list[bytes]:
    """A whole signal as Opus packets, one per frame (the last padded with silence)."""
    enc = OpusEncoder(config)
    return enc.encode(pcm) + enc.flush()


def decode_packets(packets: list[bytes | None], config: AudioConfig | None = None) -> NDArray[np.int16]:
    """Packets back to PCM; a None (or one that does not decode) is concealed. Returns the samples."""
    dec = OpusDecoder(config)
    out: list[NDArray[np.int16]] = []
    for p in packets:
        if p is None:
            out.append(dec.conceal())
            continue
        try:
            out.append(dec.decode(p))
        except CodecError:
            out.append(dec.conceal())
    return np.concatenate(out) if out else np.zeros(0, np.int16)



# --- sound devices ----------------------------------------------------------------------------
ALSA_SYSTEM_CONFIG = "/usr/share/alsa/alsa.conf"
ALSA_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib", "/usr/lib64/alsa-lib",
                    "/usr/lib/alsa-lib")


def open_sound_device(device: str, mode: str, what: str) -> Any:
    """An ALSA device (`default`, `hw:1`, `plughw:1,0`, `null`, ...) opened by PyAV's libavdevice
    for reading (`mode` "r", a microphone) or writing ("w", a speaker). PyAV's wheel carries its own
    alsa-lib, built to look for its configuration under a path that exists only where it was built:
    the system's configuration and plugins (e.g. PulseAudio's or PipeWire's `default`) are pointed to
    unless the environment already says where they are. `AudioError` (one line) if it cannot be
    opened; `what` names the device for the message ("microphone", "speaker")."""
    if "alsa" not in av.formats_available:
        raise AudioError(f"{what} {device!r}: this PyAV has no ALSA device support (sound devices work on Linux only)")
    if os.path.exists(ALSA_SYSTEM_CONFIG):
        os.environ.setdefault("ALSA_CONFIG_PATH", ALSA_SYSTEM_CONFIG)
    plugins = next((d for d in ALSA_PLUGIN_DIRS if os.path.isdir(d)), None)
    if plugins is not None:
        os.environ.setdefault("ALSA_PLUGIN_DIR", plugins)
    try:
        if mode == "r":
            return av.open(device, format="alsa", options={"sample_rate": str(SAMPLE_RATE), "channels": "1"})
        return av.open(device, mode="w", format="alsa")
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"{what} {device!r}: cannot open it ({str(exc).splitlines()[0]})") from None
