"""Live call statistics: counters kept by one peer, and the rates and percentiles derived from them.

Rates are per second of call (from `start()`), in kbit/s (1 kbit = 1000 bits):

    payload_kbps   driving data-channel payload sent (the packets, or bundles, as handed to aiortc)
    view_kbps      source views sent (chunk bytes, chunk headers and the `view` JSON)
    wire_kbps      everything the peer connection sent: the DTLS transport's bytes (SCTP data, SACKs,
                   heartbeats, handshake: aiortc's RTCTransportStats.bytesSent), ICE's STUN messages
                   (connectivity checks, consent freshness: counted by `transport.count_stun`) and
                   28 bytes of IPv4 + UDP header per packet of either
    wire_*_kbps    the same bytes by layer (`wire_breakdown`): message bytes in DATA chunks, DATA
                   chunk headers and padding, SACK chunks, other SCTP chunks, SCTP common headers,
                   DTLS (record headers, nonces and tags, handshake), IPv4 + UDP, STUN
    fps            frames shown per second (new poses plus held ones), `fps_rendered` new poses only
    latency_ms_*   capture (sender's clock) to rendered (receiver's clock), new poses only
    audio_kbps     speech sent: the Opus packets; `audio_framing_kbps` their message framing (6 bytes
                   + a length byte per frame), `audio_alone_messages` the messages of speech alone
    audio_latency_ms_*  mouth to ear: a speech frame's capture (its first sample, sender's clock)
                   to its playout (receiver's clock)
    av_offset_ms   median audio latency minus median video latency: > 0, the voice lags the face
    audio_concealed  frames played by packet loss concealment (lost or not there in time)
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

IP_UDP_HEADER_BYTES = 28
SCTP_COMMON_HEADER_BYTES = 12


@dataclass
class CallStats:
    # sending side
    frames_captured: int = 0
    frames_encoded: int = 0
    frames_stale_dropped: int = 0
    codec_bits: int = 0  # whole driving packets (header + payload + CRC)
    payload_bits: int = 0  # range-coded payloads only
    driving_messages_sent: int = 0
    driving_bytes_sent: int = 0
    intra_frames: int = 0
    phase_shifts: int = 0  # messages sent a frame early to move our sends away from the other's arrivals
    views_sent: int = 0
    view_bytes_sent: int = 0
    transport_bytes_sent: int = 0
    transport_packets_sent: int = 0
    track_ms_total: float = 0.0
    sctp: dict[str, int] = field(default_factory=dict)  # `TransportCounters.as_dict()`, SCTP and STUN
    # receiving side
    driving_messages_received: int = 0
    driving_bytes_received: int = 0
    packets_received: int = 0
    packets_decoded: int = 0
    packets_lost: int = 0
    packets_bad: int = 0  # malformed or foreign: CodecError other than a missing reference
    packets_unusable: int = 0  # a reference was missing (after a loss): pose held
    packets_late: int = 0  # older than a packet already decoded
    intra_requests_sent: int = 0
    intra_requests_received: int = 0
    control_bad: int = 0
    views_received: int = 0
    frames_rendered: int = 0
    frames_held: int = 0
    frames_skipped: int = 0  # decoded poses replaced by a newer one before the renderer got to them
    render_ms_total: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # speech, sending
    audio_frames_sent: int = 0
    audio_bytes_sent: int = 0  # Opus packets
    audio_framing_bytes: int = 0  # the audio sections' headers and length bytes
    audio_alone_messages: int = 0  # 0xA0: speech without a compact bundle
    # speech, receiving
    audio_frames_received: int = 0
    audio_frames_played: int = 0
    audio_concealed: int = 0  # played by Opus PLC: lost, or not there in time
    audio_late: int = 0  # arrived after its playout time
    audio_bad: int = 0  # audio messages that do not parse, packets that do not decode
    audio_stretched: int = 0  # PLC frames inserted when the jitter buffer grew
    audio_dropped: int = 0  # frames skipped when the jitter buffer shrank
    audio_sink_errors: int = 0  # frames a sink (recorder, speaker) raised on; logged the first time
    audio_latencies_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> None:
        self.started = time.monotonic()

    def add(self, **counts: float) -> None:
        """Thread-safe increments, e.g. `stats.add(frames_rendered=1, render_ms_total=12.5)`."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def add_latency(self, ms: float) -> None:
        with self._lock:
            self.latencies_ms.append(ms)

    def add_audio_latency(self, ms: float) -> None:
        with self._lock:
            self.audio_latencies_ms.append(ms)

    def elapsed(self) -> float:
        return max(1e-6, time.monotonic() - self.started) if self.started else 1e-6

    def snapshot(self, elapsed_s: float | None = None) -> dict[str, float | int]:
        """Rates and counters as a flat dict (the benchmark's and the page's keys)."""
        t = self.elapsed() if elapsed_s is None else max(1e-6, elapsed_s)
        with self._lock:
            lat = np.asarray(self.latencies_ms, dtype=np.float64)
            alat = np.asarray(self.audio_latencies_ms, dtype=np.float64)
            shown = self.frames_rendered + self.frames_held
            layers = wire_breakdown(self.transport_bytes_sent, self.transport_packets_sent, self.sctp)
            wire_bytes = sum(layers.values())
            out: dict[str, float | int] = {
                "duration_s": round(t, 3),
                "payload_kbps": _kbps(self.driving_bytes_sent, t),
                "codec_kbps": round(self.codec_bits / t / 1000, 3),
                "view_kbps": _kbps(self.view_bytes_sent, t),
                "transport_kbps": _kbps(self.transport_bytes_sent, t),
                "wire_kbps": _kbps(wire_bytes, t),
                "received_payload_kbps": _kbps(self.driving_bytes_received, t),
                "fps": round(shown / t, 2),
                "fps_rendered": round(self.frames_rendered / t, 2),
                "fps_sent": round(self.frames_encoded / t, 2),
                "latency_ms_p50": _pct(lat, 50),
                "latency_ms_p95": _pct(lat, 95),
                "render_ms_mean": round(self.render_ms_total / max(1, self.frames_rendered), 2),
                "track_ms_mean": round(self.track_ms_total / max(1, self.frames_captured), 2),
                "payload_bits_per_frame": round(self.payload_bits / max(1, self.frames_encoded), 1),
                "transport_bytes_per_packet": round(self.transport_bytes_sent / max(1, self.transport_packets_sent), 1),
                "audio_kbps": _kbps(self.audio_bytes_sent, t),
                "audio_framing_kbps": _kbps(self.audio_framing_bytes, t),
                "audio_latency_ms_p50": _pct(alat, 50),
                "audio_latency_ms_p95": _pct(alat, 95),
                "av_offset_ms": round(_pct(alat, 50) - _pct(lat, 50), 1) if alat.size and lat.size else float("nan"),
            }
            for layer, nbytes in layers.items():
                out[f"wire_{layer}_kbps"] = _kbps(nbytes, t)
            out.update(self.sctp)
            for name in ("frames_encoded", "frames_stale_dropped", "intra_frames", "phase_shifts", "driving_messages_sent",
                         "driving_bytes_sent", "codec_bits", "payload_bits", "views_sent", "view_bytes_sent",
                         "transport_bytes_sent", "transport_packets_sent", "packets_received",
                         "packets_decoded", "packets_lost", "packets_bad", "packets_unusable",
                         "packets_late", "intra_requests_sent", "intra_requests_received", "control_bad",
                         "views_received", "frames_rendered", "frames_held", "frames_skipped",
                         "driving_bytes_received", "audio_frames_sent", "audio_bytes_sent", "audio_alone_messages",
                         "audio_frames_received", "audio_frames_played", "audio_concealed", "audio_late",
                         "audio_bad", "audio_stretched", "audio_dropped", "audio_sink_errors"):
                out[name] = getattr(self, name)
        return out


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float (a percentile before the first sample) as None, in
    nested dicts, lists and tuples: what strict JSON (`json.dumps(..., allow_nan=False)`) accepts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def wire_breakdown(dtls_bytes: int, dtls_packets: int, sctp: dict[str, int]) -> dict[str, int]:
    """Bytes sent by layer; they sum to the wire bytes. Without SCTP counters (`sctp` empty) all of
    the DTLS transport's bytes count as `dtls`."""
    chunk_bytes = {k.removeprefix("sctp_chunk_bytes_"): v for k, v in sctp.items() if k.startswith("sctp_chunk_bytes_")}
    data, sack = chunk_bytes.pop("data", 0), chunk_bytes.pop("sack", 0)
    user = sctp.get("sctp_data_user_bytes", 0)
    stun_bytes, stun_packets = sctp.get("stun_bytes_sent", 0), sctp.get("stun_sent", 0)
    return {
        "user_data": user,
        "data_headers": data - user,
        "sack": sack,
        "sctp_other": sum(chunk_bytes.values()),
        "sctp_common": SCTP_COMMON_HEADER_BYTES * sctp.get("sctp_packets_sent", 0),
        "dtls": dtls_bytes - sctp.get("sctp_bytes_sent", 0),
        "ip_udp": IP_UDP_HEADER_BYTES * (dtls_packets + stun_packets),
        "stun": stun_bytes,
    }


def _kbps(nbytes: int, seconds: float) -> float:
    return round(8 * nbytes / seconds / 1000, 3)


def _pct(values: NDArray[Any], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values.size else float("nan")


class SeqCounter:
    """Packets lost, from gaps in 16-bit sequence numbers (as RTP receivers count them)."""

    def __init__(self) -> None:
        self.highest: int | None = None  # unwrapped
        self.first: int | None = None
        self.received = 0

    def unwrap(self, seq: int) -> int:
        if self.highest is None:
            return seq
        delta = ((seq - self.highest + 0x8000) & 0xFFFF) - 0x8000
        return self.highest + delta

    def add(self, seq: int) -> int:
        """Record one packet; returns its unwrapped number."""
        u = self.unwrap(seq)
        if self.highest is None or self.first is None:
            self.first = self.highest = u
        self.first = min(self.first, u)
        self.highest = max(self.highest, u)
        self.received += 1
        return u

    @property
    def lost(self) -> int:
        if self.highest is None or self.first is None:
            return 0
        return max(0, self.highest - self.first + 1 - self.received)
