"""Fewer bytes for small data-channel messages: delayed and bundled SACKs on aiortc's SCTP,
ChaCha20-Poly1305 DTLS, and counters of every byte a peer connection sends.

aiortc 1.16.0 answers every received SCTP packet that carries DATA with a packet of its own holding
one SACK chunk (`RTCSctpTransport._handle_data` -> `_send_sack`, no bundling). For a call whose
messages are ~30 bytes, that SACK packet (16-byte chunk + 12-byte SCTP header + 37 bytes of DTLS
record + 28 of IPv4/UDP = 93 bytes) costs more than the message it acknowledges. RFC 4960 allows
better; `FrontalSctpTransport` does, for our peer connections only (`install(pc)`):

- **bundled** (§6.10): a pending SACK rides in front of the next DATA chunk this side sends, in
  the same packet (+16 bytes instead of a 93-byte packet). In a two-way call most SACKs go this
  way.
- **delayed** (§6.2): otherwise the SACK goes on its own once `SackPolicy.every` packets with DATA
  are unacknowledged ("at least every second packet", a SHOULD; default 2), or `delay_s` after the
  first unacknowledged one (the RFC: SHOULD within 200 ms, MUST within 500 ms; we allow 200 ms).
- **immediate**, as aiortc did: when the received TSNs have a gap or a duplicate (§6.7: the sender
  needs gap reports to fast-retransmit or, on the unreliable channel, to abandon and send FORWARD
  TSN), after a FORWARD TSN, and outside the ESTABLISHED state (handshake, shutdown).

Everything on the wire stays standard SCTP (Chromium's dcsctp delays and bundles its own SACKs
the same way), so browsers interoperate (tests/test_call_browser.py).

The class is a subclass of aiortc's private transport, put in place by swapping the class of the
peer connection's SCTP transport object before its association starts. It relies on private
methods of aiortc 1.16.0 (`_handle_data`, `_send_sack`, `_send_chunk`, `_receive_forward_tsn_chunk`,
the `_sack_*` state, `serialize_packet`); `_check_aiortc()` verifies them when this module is
imported and raises ImportError naming what moved, so an aiortc upgrade fails loudly instead of
silently sending no SACKs.

`prefer_chacha20(pc)` puts ChaCha20-Poly1305 first in the DTLS cipher list (the same suites aiortc
offers): its records carry no 8-byte explicit nonce, 29 bytes of overhead per record instead of 37.

`TransportCounters` counts what our SCTP layer sends, by chunk type (DATA user bytes, DATA chunk
headers, SACKs alone or bundled, HEARTBEAT ACKs, ...), and the STUN messages (ICE checks and
consent freshness, which aiortc's transport statistics leave out) by wrapping the connection's
aioice protocols (`count_stun(pc)`).
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import aiortc
from aiortc import RTCCertificate, RTCPeerConnection
from aiortc import rtcsctptransport as _sctp
from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport, SackChunk
from OpenSSL import SSL

log = logging.getLogger(__name__)

SCTP_COMMON_HEADER_BYTES = 12
DATA_CHUNK_HEADER_BYTES = 16
MAX_SACK_DELAY_S = 0.2  # RFC 4960 §6.2: "MUST NOT be delayed more than 500 ms", SHOULD be 200 ms

# private parts of aiortc this module builds on, with a line of each that our code depends on
_AIORTC_PRIVATE = {
    "__init__": "self._sack_needed = False",
    "_handle_data": "await self._send_sack()",
    "_receive_data_chunk": "self._sack_needed = True",
    "_receive_forward_tsn_chunk": "self._sack_needed = True",
    "_send_sack": "await self._send_chunk(sack)",
    "_send_chunk": "serialize_packet(",
}


def _check_aiortc() -> None:
    """Raise ImportError if aiortc's RTCSctpTransport no longer has what this module patches."""
    problems = []
    for name, marker in _AIORTC_PRIVATE.items():
        method = getattr(RTCSctpTransport, name, None)
        try:
            source = inspect.getsource(method) if method is not None else ""
        except (OSError, TypeError):
            source = ""
        if marker not in source:
            problems.append(f"RTCSctpTransport.{name} (expected `{marker}`)")
    for name in ("serialize_packet", "SCTP_MAX_PACKET_LENGTH"):
        if not hasattr(_sctp, name):
            problems.append(f"aiortc.rtcsctptransport.{name}")
    try:
        ssl_source = inspect.getsource(RTCCertificate._create_ssl_context)
    except (AttributeError, OSError, TypeError):
        ssl_source = ""
    if "return ctx" not in ssl_source:
        problems.append("RTCCertificate._create_ssl_context (expected `return ctx`)")
    if "self.__certificates = [" not in inspect.getsource(RTCPeerConnection.__init__):
        problems.append("RTCPeerConnection.__init__ (expected `self.__certificates = [`)")
    if problems:
        raise ImportError(
            f"frontal.call.transport patches private parts of aiortc 1.16.0; aiortc {aiortc.__version__} "
            f"lacks: {', '.join(problems)}. Pin aiortc==1.16.0 or port frontal/call/transport.py.")


_check_aiortc()


@dataclass(frozen=True)
class SackPolicy:
    """When a receiver acknowledges (RFC 4960 §6.2). `every=1, delay_s=0, bundle=False` is aiortc's
    own behaviour (a SACK packet per received packet)."""

    delay_s: float = MAX_SACK_DELAY_S  # at most this long after the first unacknowledged packet
    every: int = 2  # a SACK on its own once this many packets with DATA are unacknowledged
    bundle: bool = True  # a pending SACK rides with the next DATA this side sends

    def __post_init__(self) -> None:
        if not 0 <= self.delay_s <= MAX_SACK_DELAY_S:
            raise ValueError(f"delay_s must be in [0, {MAX_SACK_DELAY_S}] (RFC 4960 §6.2)")
        if self.every < 1:
            raise ValueError("every must be >= 1")


AIORTC_SACKS = SackPolicy(delay_s=0.0, every=1, bundle=False)


@dataclass
class TransportCounters:
    """What one peer connection's SCTP association sent and received, and its STUN messages."""

    packets_sent: int = 0
    bytes_sent: int = 0  # SCTP packets: common headers + chunks (the DTLS records' plaintext)
    chunks: Counter[str] = field(default_factory=Counter)  # chunk type -> chunks sent
    chunk_bytes: Counter[str] = field(default_factory=Counter)  # chunk type -> bytes, padding included
    data_user_bytes: int = 0  # data-channel message bytes in DATA chunks (retransmissions included)
    sacks_alone: int = 0  # packets holding a SACK and nothing else
    # why they went alone: "second" (a second packet with DATA unacknowledged), "timer" (delay_s
    # after the first one), "immediate" (a gap, a duplicate, FORWARD TSN, not ESTABLISHED, or a
    # SACK that did not fit in a packet with the DATA chunk it was to ride with)
    sacks_alone_by_reason: Counter[str] = field(default_factory=Counter)
    sacks_bundled: int = 0  # SACKs sent in front of a DATA chunk
    packets_received: int = 0
    packets_received_needing_sack: int = 0  # packets that carried DATA or FORWARD TSN
    stun_sent: int = 0
    stun_bytes_sent: int = 0  # STUN messages (UDP payload)

    @property
    def sacks_sent(self) -> int:
        return self.chunks["SackChunk"]

    def count_packet(self, chunks: list[Any], nbytes: int) -> None:
        self.packets_sent += 1
        self.bytes_sent += nbytes
        for chunk in chunks:
            name = type(chunk).__name__
            self.chunks[name] += 1
            self.chunk_bytes[name] += len(bytes(chunk))
            if isinstance(chunk, DataChunk):
                self.data_user_bytes += len(chunk.user_data)
        if len(chunks) == 1 and isinstance(chunks[0], SackChunk):
            self.sacks_alone += 1
        elif any(isinstance(c, SackChunk) for c in chunks):
            self.sacks_bundled += 1

    def as_dict(self) -> dict[str, int]:
        out = {
            "sctp_packets_sent": self.packets_sent,
            "sctp_bytes_sent": self.bytes_sent,
            "sctp_data_chunks": self.chunks["DataChunk"],
            "sctp_data_user_bytes": self.data_user_bytes,
            "sctp_sacks_sent": self.sacks_sent,
            "sctp_sacks_alone": self.sacks_alone,
            "sctp_sacks_bundled": self.sacks_bundled,
            "sctp_packets_received": self.packets_received,
            "sctp_packets_received_needing_sack": self.packets_received_needing_sack,
            "stun_sent": self.stun_sent,
            "stun_bytes_sent": self.stun_bytes_sent,
        }
        for reason in ("second", "timer", "immediate"):
            out[f"sctp_sacks_alone_{reason}"] = self.sacks_alone_by_reason[reason]
        for name, nbytes in sorted(self.chunk_bytes.items()):
            out[f"sctp_chunk_bytes_{name.removesuffix('Chunk').lower()}"] = nbytes
        return out


class _Chunks:
    """Several chunks serialised back to back, for aiortc's `serialize_packet` (which takes one)."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks

    def __bytes__(self) -> bytes:
        return b"".join(bytes(c) for c in self.chunks)


class FrontalSctpTransport(RTCSctpTransport):
    """aiortc's RTCSctpTransport with delayed and bundled SACKs and byte counters.

    Never constructed directly: `adopt()` turns the transport a peer connection made into one.
    """

    sack_policy: SackPolicy
    counters: TransportCounters
    _unacked_packets: int
    _sack_timer: asyncio.TimerHandle | None
    _sack_task: asyncio.Task[None] | None
    _sack_now: bool
    _captured: list[Any] | None
    _packet_needs_sack: bool
    _sack_reason: str

    @classmethod
    def adopt(cls, sctp: RTCSctpTransport, policy: SackPolicy,
              counters: TransportCounters | None = None) -> FrontalSctpTransport:
        if type(sctp) is not RTCSctpTransport and not isinstance(sctp, FrontalSctpTransport):
            raise TypeError(f"expected aiortc's RTCSctpTransport, got {type(sctp).__name__}")
        if sctp._association_state != RTCSctpTransport.State.CLOSED:
            raise RuntimeError("install the SACK policy before the SCTP association starts")
        sctp.__class__ = cls
        sctp = cast(FrontalSctpTransport, sctp)
        sctp.sack_policy = policy
        sctp.counters = counters or TransportCounters()
        sctp._unacked_packets = 0
        sctp._sack_timer = None
        sctp._sack_task = None
        sctp._sack_now = False
        sctp._captured = None
        sctp._packet_needs_sack = False
        sctp._sack_reason = "immediate"
        return sctp

    # -- receiving: decide when to acknowledge -------------------------------------------------
    async def _handle_data(self, data: bytes) -> None:
        self.counters.packets_received += 1
        self._packet_needs_sack = False
        await super()._handle_data(data)
        if self._packet_needs_sack:
            self.counters.packets_received_needing_sack += 1

    async def _receive_data_chunk(self, chunk: Any) -> None:
        self._packet_needs_sack = True
        await super()._receive_data_chunk(chunk)

    async def _receive_forward_tsn_chunk(self, chunk: Any) -> None:
        self._packet_needs_sack = self._sack_now = True
        await super()._receive_forward_tsn_chunk(chunk)

    async def _send_sack(self) -> None:
        """Called by aiortc after each received packet that needs acknowledging: maybe defer it."""
        self._unacked_packets += 1
        policy = self.sack_policy
        if (self._sack_now or self._sack_misordered or self._sack_duplicates or policy.delay_s <= 0
                or self._association_state != RTCSctpTransport.State.ESTABLISHED):
            await self._send_sack_now("immediate")
        elif self._unacked_packets >= policy.every:
            await self._send_sack_now("second")
        elif self._sack_timer is None:
            self._sack_timer = self._loop.call_later(policy.delay_s, self._sack_timer_fired)

    def _sack_timer_fired(self) -> None:
        self._sack_timer = None
        if self._sack_needed and self._sack_task is None:
            self._sack_task = asyncio.ensure_future(self._sack_after_delay())

    async def _sack_after_delay(self) -> None:
        try:
            if self._association_state != RTCSctpTransport.State.CLOSED:
                await self._send_sack_now("timer")
        except ConnectionError:  # the DTLS transport closed meanwhile
            pass
        finally:
            self._sack_task = None

    def _sack_sent(self) -> None:
        self._unacked_packets = 0
        self._sack_now = False
        if self._sack_timer is not None:
            self._sack_timer.cancel()
            self._sack_timer = None

    async def _send_sack_now(self, reason: str) -> None:
        self._sack_sent()
        if self._sack_needed:
            self._sack_reason = reason
            await RTCSctpTransport._send_sack(self)

    async def _take_sack(self) -> SackChunk:
        """Build the pending SACK as aiortc would send it, without sending it."""
        self._sack_sent()
        self._captured = []
        try:
            await RTCSctpTransport._send_sack(self)  # its _send_chunk(sack) lands in _captured
            (sack,) = self._captured
        finally:
            self._captured = None
        return sack

    # -- sending: bundle a pending SACK with DATA ------------------------------------------------
    async def _send_chunk(self, chunk: Any) -> None:
        if self._captured is not None:
            self._captured.append(chunk)
            return
        chunks = [chunk]
        if (self.sack_policy.bundle and self._sack_needed and isinstance(chunk, DataChunk)
                and self._association_state == RTCSctpTransport.State.ESTABLISHED):
            sack = await self._take_sack()
            size = SCTP_COMMON_HEADER_BYTES + len(bytes(sack)) + len(bytes(chunk))
            if size <= _sctp.SCTP_MAX_PACKET_LENGTH:
                chunks = [sack, chunk]  # control chunks before DATA (RFC 4960 §6.10)
            else:
                self._sack_reason = "immediate"
                await self._send_packet([sack])
        await self._send_packet(chunks)

    async def _send_packet(self, chunks: list[Any]) -> None:
        packet = _sctp.serialize_packet(self._local_port, self._remote_port, self._remote_verification_tag,
                                        _Chunks(chunks))  # type: ignore[arg-type]
        self.counters.count_packet(chunks, len(packet))
        if len(chunks) == 1 and isinstance(chunks[0], SackChunk):
            self.counters.sacks_alone_by_reason[self._sack_reason] += 1
        await self.transport._send_data(packet)

    async def stop(self) -> None:
        self._sack_sent()
        await super().stop()


def install(pc: RTCPeerConnection, policy: SackPolicy = SackPolicy(),
            counters: TransportCounters | None = None) -> TransportCounters:
    """Give `pc`'s SCTP transport our SACK policy and counters; call it after the transport exists
    (`createDataChannel`, or `setRemoteDescription` of an offer with data) and before it connects."""
    if pc.sctp is None:
        raise RuntimeError("the peer connection has no SCTP transport yet")
    return FrontalSctpTransport.adopt(pc.sctp, policy, counters).counters


# aiortc's own cipher list (rtcdtlstransport.py), ChaCha20-Poly1305 moved first
CHACHA20_FIRST = (b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
                  b"ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")


class _ChaCha20FirstCertificate(RTCCertificate):
    """aiortc's certificate whose DTLS context prefers ChaCha20-Poly1305 (RFC 7905)."""

    def _create_ssl_context(self, srtp_profiles: Any) -> SSL.Context:
        ctx = super()._create_ssl_context(srtp_profiles)
        ctx.set_cipher_list(CHACHA20_FIRST)
        ctx.set_options(SSL.OP_CIPHER_SERVER_PREFERENCE)
        return ctx


def prefer_chacha20(pc: RTCPeerConnection) -> None:
    """Make `pc`'s DTLS prefer ChaCha20-Poly1305 to AES-128-GCM: its records carry no 8-byte explicit
    nonce (29 bytes of overhead per record instead of 37). Same cipher suites as aiortc offers, in
    another order, so any peer that speaks aiortc's list still connects (with AES-GCM if it must).
    Call it before the DTLS transport starts (right after creating `pc`)."""
    certificates = pc._RTCPeerConnection__certificates  # type: ignore[attr-defined]
    for certificate in certificates:
        if type(certificate) is RTCCertificate:
            certificate.__class__ = _ChaCha20FirstCertificate


def dtls_cipher(pc: RTCPeerConnection | None) -> str | None:
    """The DTLS cipher suite `pc` negotiated (OpenSSL's name), None before the handshake."""
    with contextlib.suppress(Exception):
        return pc.sctp.transport._ssl.get_cipher_name()  # type: ignore[union-attr]
    return None


def count_stun(pc: RTCPeerConnection, counters: TransportCounters) -> bool:
    """Count the STUN messages `pc`'s ICE connection sends from now on (checks, consent freshness,
    their responses); False if aioice's internals are not where we expect them."""
    try:
        protocols = pc.sctp.transport.transport._connection._protocols  # type: ignore[union-attr]
    except AttributeError:
        return False
    for protocol in protocols:
        if getattr(protocol, "_frontal_counted", False):
            continue
        send = protocol.send_stun

        def counted(message: Any, addr: Any, _send: Any = send) -> None:
            counters.stun_sent += 1
            counters.stun_bytes_sent += len(bytes(message))
            _send(message, addr)

        protocol.send_stun = counted
        protocol._frontal_counted = True
    return True


def dtls_counters(pc: RTCPeerConnection | None) -> tuple[int, int] | None:
    """(bytes, packets) the peer connection's DTLS transport has sent, from aiortc's
    RTCTransportStats (`getStats()` only reports it with a media track, so we ask the transport)."""
    sctp = pc.sctp if pc is not None else None
    if sctp is None:
        return None
    with contextlib.suppress(Exception):  # aiortc internals moved: report nothing rather than fail the call
        for stat in sctp.transport._get_stats().values():
            if getattr(stat, "type", None) == "transport":
                return int(stat.bytesSent), int(stat.packetsSent)
    return None
