"""Classical codecs (x264, x265, VP9, AV1) on the same face-tube video, at a target bitrate.

Every encode uses the bundled ffmpeg in a low-delay, video-call configuration: no B-frames or
other frame reordering, one-pass rate control with a VBV buffer of one second at the target rate
(x264/x265 ABR+VBV, libvpx-vp9 CBR, SVT-AV1 CBR with the low-delay prediction structure), a fixed
keyframe interval (one keyframe per clip, or one per second) and no scene-cut keyframes.
x264 is held to H.264's quantizer range (`-qmax 51`): above it x264 has encoder-only QPs 52-69 that
throw the residual away, and at very low targets its rate control then sends flat grey frames
(measured on the default clip: 1.9 kbps at 11.7 dB PSNR) - a bitrate reached, but not a picture.

Bits are counted on the elementary stream, never on a container: the encoder writes Annex B
(H.264/H.265) or IVF (VP9/AV1), PyAV splits it into one packet per frame, and each frame's bits are
its payload - NAL units without their start codes, or the IVF frame without its 12-byte frame header
(the 32-byte IVF file header is not counted either). In-band headers (SPS/PPS/VPS, AV1 sequence
header) are counted; they are repeated at every keyframe so a receiver can join or recover there.
x264's encoder-settings SEI (~600 bytes of text) is stripped with the `filter_units` bitstream filter,
and x265 is run with `info=0`, because a real low-bitrate sender would not send them.

`python -m frontal.eval.classical --lowest VIDEO --json OUT` measures the lowest reachable bitrate.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import av
import numpy as np
from tqdm import tqdm

from frontal.eval.clips import crop_resize, default_face_clip, read_video
from frontal.eval.errors import EvalError, MetricUnavailableError
from frontal.eval.ffmpeg import has_encoder, raw_input_args, run_ffmpeg
from frontal.eval.fidelity import psnr, ssim

log = logging.getLogger(__name__)

Codec = Literal["x264", "x265", "vp9", "av1"]
KeyInt = Literal["clip", "1s"]
CODECS: tuple[Codec, ...] = get_args(Codec)
KEYINTS: tuple[KeyInt, ...] = get_args(KeyInt)
_START_CODE = re.compile(b"\x00\x00\x00\x01|\x00\x00\x01")
IVF_FILE_HEADER_BYTES = 32


@dataclass(frozen=True)
class CodecSpec:
    """How ffmpeg encodes a codec and how PyAV reads it back."""

    encoder: str  # ffmpeg encoder name
    muxer: str  # raw elementary-stream muxer / demuxer
    decoder: str  # PyAV decoder name
    annex_b: bool  # NAL units with start codes (H.264/H.265)
    max_quantizer_args: tuple[str, ...]  # constant-quality mode at the codec's coarsest quantizer


SPECS: dict[Codec, CodecSpec] = {
    "x264": CodecSpec("libx264", "h264", "h264", True, ("-qp", "51")),
    "x265": CodecSpec("libx265", "hevc", "hevc", True, ()),  # qp=51 goes in -x265-params
    "vp9": CodecSpec("libvpx-vp9", "ivf", "vp9", False, ("-crf", "63", "-b:v", "0")),
    "av1": CodecSpec("libsvtav1", "ivf", "libdav1d", False, ("-crf", "63")),
}


@dataclass(frozen=True, eq=False)
class Bitstream:
    """An encoded clip: one packet per frame, in decode (= display) order."""

    codec: Codec
    width: int
    height: int
    fps: float
    packets: tuple[bytes, ...]
    keyframes: tuple[bool, ...]  # per packet

    def __post_init__(self) -> None:
        if len(self.packets) != len(self.keyframes):
            raise ValueError(f"{len(self.packets)} packets but {len(self.keyframes)} keyframe flags")


@dataclass(frozen=True, eq=False)
class ClassicalResult:
    """A classical encode + decode of frames [T,H,W,3]."""

    codec: Codec
    keyint: KeyInt
    kbps_target: float | None  # None: the max-quantizer constant-quality encode
    frames: np.ndarray  # decoded [T,H,W,3] uint8
    bitstream: Bitstream
    bits_per_frame: np.ndarray  # [T] payload bits per frame
    bits_total: int
    kbps_actual: float
    encode_s: float  # wall time of the ffmpeg encode


@dataclass(frozen=True, eq=False)
class LossyDecode:
    """A decode under packet loss: frames [T,H,W,3], which packets were lost, which frames froze."""

    frames: np.ndarray
    lost: np.ndarray  # [T] bool: packet dropped by the channel
    frozen: np.ndarray  # [T] bool: frame shows an older picture (lost, or waiting for a keyframe)


# --------------------------------------------------------------------------- encoder arguments


def gop_length(keyint: KeyInt, n_frames: int, fps: float) -> int:
    """Frames between keyframes: the whole clip, or one second."""
    if keyint == "clip":
        return max(n_frames, 1)
    if keyint == "1s":
        return max(int(round(fps)), 1)
    raise ValueError(f"keyint must be one of {KEYINTS}, got {keyint!r}")


def _x265_params(gop: int, kbps: float | None) -> str:
    params = [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0", "bframes=0", "open-gop=0"]
    params += ["repeat-headers=1", "info=0", "frame-threads=1", "pools=1", "log-level=error"]
    if kbps is None:
        params.append("qp=51")
    else:
        vbv = max(int(round(kbps)), 1)  # x265 takes whole kbps
        params += [f"vbv-maxrate={vbv}", f"vbv-bufsize={vbv}"]
    return ":".join(params)


def _rate_args(codec: Codec, kbps: float | None) -> list[str]:
    if kbps is None:
        return list(SPECS[codec].max_quantizer_args)
    rate = f"{kbps * 1000:.0f}"
    if codec == "x265":
        return ["-b:v", rate]
    if codec == "vp9":  # minrate = maxrate = bitrate selects libvpx's CBR mode
        return ["-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate]
    return ["-b:v", rate, "-maxrate", rate, "-bufsize", rate]  # x264 ABR+VBV, SVT-AV1 CBR


def _codec_args(codec: Codec, gop: int, kbps: float | None) -> list[str]:
    spec = SPECS[codec]
    args = ["-c:v", spec.encoder, "-g", str(gop)]
    if codec == "x264":
        args += ["-preset", "medium", "-bf", "0", "-keyint_min", str(gop), "-sc_threshold", "0", "-qmax", "51"]
        args += ["-threads", "1", "-bsf:v", "filter_units=remove_types=6"]
    elif codec == "x265":
        args += ["-preset", "medium", "-x265-params", _x265_params(gop, kbps)]
    elif codec == "vp9":
        args += ["-deadline", "good", "-cpu-used", "4", "-lag-in-frames", "0", "-auto-alt-ref", "0"]
        args += ["-keyint_min", str(gop), "-threads", "1", "-row-mt", "0"]
    else:
        args += ["-preset", "8", "-svtav1-params", "pred-struct=1:lp=1"]
    return args + _rate_args(codec, kbps)


# --------------------------------------------------------------------------- bit counting


def payload_bytes(packet: bytes, annex_b: bool) -> int:
    """Bytes of a frame's payload: for Annex B, the NAL units without their start codes."""
    if not annex_b:
        return len(packet)
    return len(packet) - sum(len(m.group(0)) for m in _START_CODE.finditer(packet))


def _read_packets(path: Path, codec: Codec) -> tuple[list[bytes], list[bool]]:

    packets: list[bytes] = []
    keyframes: list[bool] = []
    with av.open(str(path), format=SPECS[codec].muxer) as container:
        for packet in container.demux(video=0):
            if packet.size:
                packets.append(bytes(packet))
                keyframes.append(bool(packet.is_keyframe))
    return packets, keyframes


# --------------------------------------------------------------------------- decoding


def _decoder(codec: Codec) -> Any:
    """A fresh single-threaded PyAV decoder (no headers needed: they are in-band)."""

    ctx = av.CodecContext.create(SPECS[codec].decoder, "r")
    ctx.thread_count = 1
    return ctx


def _decode_by_index(bitstream: Bitstream, feed: np.ndarray) -> dict[int, np.ndarray]:
    """Decode the packets where `feed` is True; return {packet index: RGB frame}.

    Each packet carries its index as pts, so frames map back even if the decoder delays output.
    """

    ctx = _decoder(bitstream.codec)
    out: dict[int, np.ndarray] = {}

    def take(frames: Sequence[Any]) -> None:
        for frame in frames:
            out[int(frame.pts)] = frame.to_ndarray(format="rgb24")

    for i, data in enumerate(bitstream.packets):
        if not feed[i]:
            continue
        packet = av.Packet(data)
        packet.pts = packet.dts = i
        try:
            take(ctx.decode(packet))
        except av.error.FFmpegError as exc:
            log.warning("%s decoder rejected packet %d: %s", bitstream.codec, i, exc)
    take(ctx.decode(None))
    return out


def _assemble(decoded: dict[int, np.ndarray], n: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Frames [n,H,W,3] holding the last decoded picture where one is missing (grey before any)."""
    frames = np.empty((n, shape[0], shape[1], 3), dtype=np.uint8)
    held = np.full((shape[0], shape[1], 3), 128, dtype=np.uint8)
    frozen = np.zeros(n, dtype=bool)
    for i in range(n):
        if i in decoded and decoded[i].shape[:2] == shape:
            held = decoded[i]
        else:
            frozen[i] = True
        frames[i] = held
    return frames, frozen


def decode(bitstream: Bitstream) -> np.ndarray:
    """Decode every packet to RGB frames [T,H,W,3]; a frame the decoder did not return repeats the
    previous one (logged), so the count always equals the packet count."""
    n = len(bitstream.packets)
    decoded = _decode_by_index(bitstream, np.ones(n, dtype=bool))
    frames, frozen = _assemble(decoded, n, (bitstream.height, bitstream.width))
    if frozen.any():
        log.warning("%s: %d of %d frames did not decode; repeated the previous one", bitstream.codec, frozen.sum(), n)
    return frames


def decode_with_loss(bitstream: Bitstream, loss_rate: float, seed: int = 0) -> LossyDecode:
    """Decode with each packet (= one frame) dropped independently with probability `loss_rate`.

    A lost packet freezes the picture: the receiver shows the last good frame and feeds the decoder
    nothing until the next keyframe that arrives; from there it decodes normally. Frames lost before
    any picture was decoded are mid-grey. No retransmission, FEC or error concealment.
    """
    if not 0.0 <= loss_rate <= 1.0:
        raise ValueError(f"loss_rate must be in [0, 1], got {loss_rate}")
    n = len(bitstream.packets)
    lost = np.random.default_rng(seed).random(n) < loss_rate
    feed = np.zeros(n, dtype=bool)
    broken = False
    for i in range(n):
        if lost[i]:
            broken = True
        elif bitstream.keyframes[i] or not broken:
            broken = False
            feed[i] = True
    decoded = _decode_by_index(bitstream, feed)
    frames, frozen = _assemble(decoded, n, (bitstream.height, bitstream.width))
    return LossyDecode(frames=frames, lost=lost, frozen=frozen)


# --------------------------------------------------------------------------- encoding


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"expected frames [T,H,W,3] uint8 with T > 0, got {frames.shape} {frames.dtype}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frame size must be even for yuv420p, got {frames.shape[2]}x{frames.shape[1]}")


def _encode_bitstream(
    frames: np.ndarray, fps: float, codec: Codec, keyint: KeyInt, kbps: float | None
) -> tuple[Bitstream, float]:
    if codec not in SPECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if not has_encoder(SPECS[codec].encoder):
        raise MetricUnavailableError(f"this ffmpeg has no {SPECS[codec].encoder} encoder")
    t, h, w, _ = frames.shape
    gop = gop_length(keyint, t, fps)
    with tempfile.TemporaryDirectory(prefix="frontal-classical-") as tmp:
        out = Path(tmp) / f"stream.{SPECS[codec].muxer}"
        args = [*raw_input_args(w, h, fps), "-i", "-", "-pix_fmt", "yuv420p"]
        args += [*_codec_args(codec, gop, kbps), "-f", SPECS[codec].muxer, str(out)]
        start = time.perf_counter()
        run_ffmpeg(args, cwd=Path(tmp), stdin=np.ascontiguousarray(frames).tobytes())
        encode_s = time.perf_counter() - start
        packets, keyframes = _read_packets(out, codec)
    if len(packets) != t:
        raise EvalError(f"{codec} wrote {len(packets)} packets for {t} frames")
    return Bitstream(codec, w, h, float(fps), tuple(packets), tuple(keyframes)), encode_s


def _result(
    bitstream: Bitstream, keyint: KeyInt, kbps: float | None, encode_s: float
) -> ClassicalResult:
    annex_b = SPECS[bitstream.codec].annex_b
    bits = np.array([8 * payload_bytes(p, annex_b) for p in bitstream.packets], dtype=np.int64)
    seconds = len(bits) / bitstream.fps
    return ClassicalResult(
        codec=bitstream.codec,
        keyint=keyint,
        kbps_target=kbps,
        frames=decode(bitstream),
        bitstream=bitstream,
        bits_per_frame=bits,
        bits_total=int(bits.sum()),
        kbps_actual=float(bits.sum()) / seconds / 1000.0,
        encode_s=encode_s,
    )


def encode_classical(
    frames: np.ndarray, fps: float, codec: Codec, kbps: float, keyint: KeyInt = "clip"
) -> ClassicalResult:
    """Encode frames [T,H,W,3] uint8 with `codec` at about `kbps`, decode, count the bits."""
    _check_frames(frames)
    if not kbps > 0:
        raise ValueError(f"kbps must be positive, got {kbps}")
    bitstream, encode_s = _encode_bitstream(frames, fps, codec, keyint, kbps)
    result = _result(bitstream, keyint, kbps, encode_s)
    log.info("%s %s: asked %.2f kbps, got %.2f kbps", codec, keyint, kbps, result.kbps_actual)
    return result


def encode_max_quantizer(frames: np.ndarray, fps: float, codec: Codec, keyint: KeyInt = "clip") -> ClassicalResult:
    """Encode in constant-quality mode at the codec's coarsest quantizer (x264/x265 QP 51,
    VP9/AV1 CRF 63): about the fewest bits the codec spends on this clip and GOP."""
    _check_frames(frames)
    bitstream, encode_s = _encode_bitstream(frames, fps, codec, keyint, None)
    return _result(bitstream, keyint, None, encode_s)


def sweep(
    frames: np.ndarray, fps: float, codec: Codec, keyint: KeyInt, kbps_list: Sequence[float]
) -> list[ClassicalResult]:
    """One encode per target bitrate, for rate-distortion curves."""
    return [encode_classical(frames, fps, codec, kbps, keyint) for kbps in kbps_list]


@dataclass(frozen=True, eq=False)
class LowestPoint:
    """The lowest bitrate found, the encode that reached it, and every encode tried on the way."""

    kbps: float
    result: ClassicalResult
    tried: tuple[ClassicalResult, ...]


def find_lowest(
    frames: np.ndarray,
    fps: float,
    codec: Codec,
    keyint: KeyInt = "clip",
    start_kbps: float = 32.0,
    min_gain: float = 0.03,
    max_steps: int = 8,
) -> LowestPoint:
    """Halve the target from `start_kbps` until asking for less no longer gives at least
    `min_gain` (3 %) less; also try the max-quantizer encode. The lowest actual bitrate wins."""
    kbps = start_kbps
    tried = [encode_classical(frames, fps, codec, kbps, keyint)]
    for _ in range(max_steps - 1):
        kbps /= 2
        tried.append(encode_classical(frames, fps, codec, kbps, keyint))
        if tried[-1].kbps_actual > (1.0 - min_gain) * tried[-2].kbps_actual:
            break
    tried.append(encode_max_quantizer(frames, fps, codec, keyint))
    best = min(tried, key=lambda r: r.kbps_actual)
    return LowestPoint(kbps=best.kbps_actual, result=best, tried=tuple(tried))


def lowest_bitrate(frames: np.ndarray, fps: float, codec: Codec, keyint: KeyInt = "clip") -> float:
    """The lowest bitrate (kbps, payload bits) `codec` actually reaches on these frames."""
    return find_lowest(frames, fps, codec, keyint).kbps


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m frontal.eval.classical",
        description="Classical-codec baselines on a 256x256 face tube (default: the embedded carphone clip).",
    )
    p.add_argument("video", nargs="?", help="input video (default: the embedded carphone clip, face-cropped)")
    p.add_argument("--lowest", action="store_true", help="measure each codec's lowest reachable bitrate")
    p.add_argument("--kbps", type=float, nargs="+", help="encode at these bitrates (rate-distortion sweep)")
    p.add_argument("--codec", choices=CODECS, nargs="+", default=list(CODECS))
    p.add_argument("--keyint", choices=KEYINTS, nargs="+", default=list(KEYINTS))
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing --json file")
    return p


def _load(args: argparse.Namespace) -> tuple[np.ndarray, float]:

    if args.video is None:
        return default_face_clip(size=args.size, fps=args.fps, max_frames=args.max_frames)
    frames, fps = read_video(Path(args.video), fps=args.fps, max_frames=args.max_frames)
    return crop_resize(frames, None, args.size), fps


def _row(ref: np.ndarray, r: ClassicalResult) -> dict[str, object]:

    return {
        "codec": r.codec,
        "keyint": r.keyint,
        "kbps_target": r.kbps_target,
        "kbps_actual": round(r.kbps_actual, 3),
        "bits_total": r.bits_total,
        "keyframe_bits": int(r.bits_per_frame[np.array(r.bitstream.keyframes)].sum()),
        "psnr_db": round(float(psnr(ref, r.frames).mean()), 3),
        "ssim": round(float(ssim(ref, r.frames).mean()), 4),
        "encode_s": round(r.encode_s, 3),
    }


def _run(args: argparse.Namespace, frames: np.ndarray, fps: float) -> dict[str, object]:

    rows: list[dict[str, object]] = []
    jobs = [(codec, keyint) for codec in args.codec for keyint in args.keyint]
    for codec, keyint in tqdm(jobs, desc="classical", unit="setting", file=sys.stderr):
        if args.lowest:
            point = find_lowest(frames, fps, codec, keyint)
            rows.append({**_row(frames, point.result), "tried": [_row(frames, r) for r in point.tried]})
        for kbps in args.kbps or []:
            rows.append(_row(frames, encode_classical(frames, fps, codec, kbps, keyint)))
    return {"video": args.video or "carphone (embedded)", "n_frames": len(frames), "fps": fps, "size": args.size, "results": rows}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.lowest and not args.kbps:
        print("classical: give --lowest and/or --kbps", file=sys.stderr)
        return 2
    if args.json is not None and args.json.exists() and not args.force:
        print(f"classical: {args.json} exists (use -f to overwrite)", file=sys.stderr)
        return 1
    try:
        frames, fps = _load(args)
        report = _run(args, frames, fps)
    except (EvalError, ValueError, OSError) as exc:
        print(f"classical: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
