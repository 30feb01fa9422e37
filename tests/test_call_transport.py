"""Delayed and bundled SCTP acknowledgements (frontal/call/transport.py): two aiortc peer connections
in this process, on 127.0.0.1 only, with data channels negotiated like the call's."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcsctptransport import DataChunk

from codec.callstats import wire_breakdown
from frontal.call.peer import loopback_ice
from frontal.call.transport import (
    AIORTC_SACKS,
    FrontalSctpTransport,
    SackPolicy,
    TransportCounters,
    install,
)


class Pair:
    """Two connected peer connections, each with an unreliable (id 0) and a reliable (id 1) channel."""

    def __init__(self, policy: SackPolicy) -> None:
        self.pcs = [RTCPeerConnection(), RTCPeerConnection()]
        self.driving = [pc.createDataChannel("d", ordered=False, maxRetransmits=0, negotiated=True, id=0)
                        for pc in self.pcs]
        self.control = [pc.createDataChannel("c", negotiated=True, id=1) for pc in self.pcs]
        self.counters = [install(pc, policy) for pc in self.pcs]
        self.received: list[dict[str, list[bytes]]] = [{"d": [], "c": []}, {"d": [], "c": []}]
        for side in (0, 1):
            for name, channel in (("d", self.driving[side]), ("c", self.control[side])):
                channel.on("message", self.received[side][name].append)

    async def connect(self) -> None:
        a, b = self.pcs
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        async with asyncio.timeout(20):
            while not all(c.readyState == "open" for c in self.driving + self.control):
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()


def run(policy: SackPolicy, body: Any) -> Pair:
    async def main() -> Pair:
        with loopback_ice(True):
            pair = Pair(policy)
            try:
                await pair.connect()
                await body(pair)
            finally:
                await pair.close()
            return pair

    return asyncio.run(main())


async def send_both(pair: Pair, senders: tuple[int, ...], n: int = 60, period_s: float = 0.02) -> None:
    """`n` messages on each channel from each side in `senders`, one of each every `period_s`."""
    for k in range(n):
        for side in senders:
            pair.driving[side].send(b"D%03d" % k + bytes(24))
            pair.control[side].send(b"C%03d" % k)
        await asyncio.sleep(period_s)
    await asyncio.sleep(0.5)  # the last SACK is at most 200 ms late


async def call_like(pair: Pair, n: int = 60, period_s: float = 0.03) -> None:
    """Both sides send one reliable message per period, half a period apart (like a call's frames)."""
    async def side(k0: int, delay: float) -> None:
        await asyncio.sleep(delay)
        for k in range(n):
            pair.control[k0].send(b"C%03d" % k)
            await asyncio.sleep(period_s)

    await asyncio.gather(side(0, 0.0), side(1, period_s / 2))
    await asyncio.sleep(0.5)


def expected(n: int = 60) -> list[bytes]:
    return [b"C%03d" % k for k in range(n)]


def test_one_way_receiver_acknowledges_every_second_packet_and_everything_arrives() -> None:
    pair = run(SackPolicy(), lambda p: send_both(p, (0,)))
    receiver = pair.counters[1]
    assert pair.received[1]["c"] == expected()  # reliable, ordered: all of it, in order
    assert len(pair.received[1]["d"]) == 60  # no loss on loopback
    assert receiver.packets_received_needing_sack >= 100
    ratio = receiver.sacks_sent / receiver.packets_received_needing_sack
    assert ratio <= 0.6, ratio  # aiortc alone: 1.0
    # nothing to bundle with on a one-way receiver: its SACKs go alone, for every second packet
    reasons = receiver.sacks_alone_by_reason
    assert reasons["second"] > 0 and sum(reasons.values()) == receiver.sacks_alone


def test_two_way_sacks_ride_with_data() -> None:
    pair = run(SackPolicy(), call_like)
    for side in (0, 1):
        c = pair.counters[side]
        assert pair.received[side]["c"] == expected()
        assert c.sacks_bundled > 4 * c.sacks_alone, (c.sacks_bundled, c.sacks_alone)
        assert c.packets_sent <= 60 + 10  # one packet per message, about no SACK packets (aiortc: 120)


def test_a_lone_packet_is_acknowledged_by_the_timer() -> None:
    async def body(pair: Pair) -> None:
        await asyncio.sleep(0.3)  # let the handshake's acknowledgements settle
        before = pair.counters[1].sacks_alone
        pair.control[0].send(b"only")
        await asyncio.sleep(0.1)
        assert pair.counters[1].sacks_alone == before  # not yet: aiortc would have answered at once
        await asyncio.sleep(0.5)  # the delayed SACK is due 200 ms after the packet
        sender = pair.pcs[0].sctp
        assert not sender._sent_queue  # acknowledged: nothing left outstanding
        assert pair.counters[1].sacks_alone == before + 1
        assert pair.counters[1].sacks_alone_by_reason["timer"] >= 1

    pair = run(SackPolicy(), body)
    assert pair.received[1]["c"] == [b"only"]


def test_aiortc_policy_sends_one_sack_per_packet() -> None:
    pair = run(AIORTC_SACKS, lambda p: send_both(p, (0,), n=20))
    receiver = pair.counters[1]
    assert receiver.sacks_sent >= receiver.packets_received_needing_sack > 0
    assert receiver.sacks_bundled == 0


def test_losses_get_immediate_sacks_and_the_reliable_channel_recovers() -> None:
    dropped: list[int] = []
    first_sends = [0]

    async def body(pair: Pair) -> None:
        sctp = pair.pcs[0].sctp
        assert isinstance(sctp, FrontalSctpTransport)
        send = sctp._send_packet

        async def lossy(chunks: list[Any]) -> None:  # drop every 5th first transmission of DATA
            data = [c for c in chunks if isinstance(c, DataChunk) and c._sent_count == 1]
            if data:
                first_sends[0] += 1
                if first_sends[0] % 5 == 0:
                    dropped.append(data[0].tsn)
                    return
            await send(chunks)

        sctp._send_packet = lossy  # type: ignore[method-assign]
        await send_both(pair, (0,), n=40)
        await asyncio.sleep(1.5)  # retransmission by T3 (RTO >= 1 s) where fast retransmit did not

    pair = run(SackPolicy(), body)
    assert len(dropped) >= 5
    assert pair.received[1]["c"] == expected(40)  # every reliable message, in order
    assert len(pair.received[1]["d"]) < 40  # the unreliable channel lost some (maxRetransmits=0)


def test_a_moved_private_api_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from frontal.call import transport

    transport._check_aiortc()  # aiortc 1.16.0 as pinned: fine
    monkeypatch.setitem(transport._AIORTC_PRIVATE, "_send_sack", "await self._send_sacks_later()")
    with pytest.raises(ImportError, match="RTCSctpTransport._send_sack"):
        transport._check_aiortc()


def test_policy_limits_and_breakdown_sums_to_the_wire() -> None:
    with pytest.raises(ValueError):
        SackPolicy(delay_s=0.3)
    with pytest.raises(ValueError):
        SackPolicy(every=0)
    c = TransportCounters()
    sctp = {**c.as_dict(), "sctp_packets_sent": 10, "sctp_bytes_sent": 540, "sctp_data_user_bytes": 260,
            "sctp_chunk_bytes_data": 420, "sctp_chunk_bytes_sack": 0, "stun_sent": 2, "stun_bytes_sent": 180}
    layers = wire_breakdown(870, 10, sctp)
    assert layers["dtls"] == 330 and layers["data_headers"] == 160 and layers["ip_udp"] == 28 * 12
    assert sum(layers.values()) == 870 + 180 + 28 * 12
