"""Signaling protocol, token bucket and room registry: pure unit tests (no sockets)."""

from __future__ import annotations

import pytest

from signaling.protocol import (
    AppMessage,
    Candidate,
    Error,
    ErrorCode,
    Join,
    Joined,
    Offer,
    ProtocolError,
    encode,
    parse_client_message,
    parse_server_message,
)
from signaling.ratelimit import TokenBucket
from signaling.rooms import NO_ACCESS, RoomRegistry

LIMIT = 64 * 1024


class FakePeer:
    def __init__(self, peer_id: str) -> None:
        self._peer_id = peer_id

    @property
    def peer_id(self) -> str:
        return self._peer_id

    async def send(self, text: str) -> bool:
        return True


def refused(text: str, max_bytes: int = LIMIT) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(text, max_bytes)
    return info.value


def test_join_and_candidate_parse_with_browser_field_names() -> None:
    join = parse_client_message('{"type":"join","room":"r-1_A","token":null}', LIMIT)
    assert join == Join(room="r-1_A")
    text = '{"type":"candidate","candidate":"candidate:1","sdpMid":"0","sdpMLineIndex":0}'
    candidate = parse_client_message(text, LIMIT)
    assert isinstance(candidate, Candidate)
    assert (candidate.sdp_mid, candidate.sdp_mline_index) == ("0", 0)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"room": "r"}',
        '{"type": "teleport"}',
        '{"type": "offer"}',
        '{"type": "offer", "sdp": 5}',
        '{"type": "offer", "sdp": "v=0", "extra": 1}',
        '{"type": "join", "room": "no spaces"}',
        '{"type": "join", "room": "r", "token": "short"}',
        '{"type": "candidate", "candidate": "c", "sdpMLineIndex": "0"}',
        '{"type": "candidate", "candidate": "c", "sdpMLineIndex": -1}',
    ],
)
def test_malformed_messages_are_refused_as_malformed(text: str) -> None:
    assert refused(text).code is ErrorCode.MALFORMED


def test_size_is_checked_on_raw_utf8_before_parsing() -> None:
    assert refused("x" * 2000, max_bytes=1024).code is ErrorCode.TOO_LARGE
    # 600 characters, 1200 bytes: refused on bytes, not characters.
    assert refused('"' + "é" * 600 + '"', max_bytes=1024).code is ErrorCode.TOO_LARGE


def test_server_messages_round_trip_with_wire_names() -> None:
    stamped = Offer(sdp="v=0").model_copy(update={"from_": "peer1"})
    assert '"from":"peer1"' in encode(stamped)
    for message in [
        stamped,
        Joined(room="r", peer_id="p", token="t" * 32, peers=1, initiator=True),
        Error(code=ErrorCode.ROOM_FULL, message="full", fatal=True),
        AppMessage(data={"t": 1, "nested": [None, 1.5, "x"]}),
    ]:
        assert parse_server_message(encode(message)) == message


def test_token_bucket_allows_burst_then_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=3, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1
    assert bucket.allow() and not bucket.allow()
    now[0] += 100.0
    assert sum(bucket.allow() for _ in range(10)) == 3


def join_refused(registry: RoomRegistry, room: str, token: str | None) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        registry.join(room, token, FakePeer("stranger"))
    return info.value


def test_registry_token_capacity_and_expiry() -> None:
    now = [0.0]
    registry = RoomRegistry(max_rooms=10, empty_room_ttl_s=60.0, clock=lambda: now[0])
    room = registry.create()
    assert len(room.room_id) >= 16 and len(room.token) >= 32
    a, b, c = FakePeer("a"), FakePeer("b"), FakePeer("c")
    assert registry.join(room.room_id, room.token, a) is room
    assert join_refused(registry, room.room_id, "other-token").code is ErrorCode.BAD_TOKEN
    registry.join(room.room_id, room.token, b)
    with pytest.raises(ProtocolError) as full:
        registry.join(room.room_id, room.token, c)
    assert full.value.code is ErrorCode.ROOM_FULL
    assert (registry.room_count, registry.peer_count) == (1, 2)
    assert registry.leave(room.room_id, a) is b
    assert registry.leave(room.room_id, b) is None
    now[0] += 59.0
    assert registry.join(room.room_id, room.token, c) is room  # an empty room waits for its peers
    registry.leave(room.room_id, c)
    now[0] += 60.0
    assert registry.room_count == 0  # then it and its token are gone
    assert join_refused(registry, room.room_id, room.token).code is ErrorCode.BAD_TOKEN


def test_a_join_never_creates_a_room_and_reveals_nothing() -> None:
    """Reproduction 4: joining a room that did not exist created it with the joiner's token, and a
    wrong token on an existing room answered differently from a missing room."""
    registry = RoomRegistry(max_rooms=10)
    room = registry.create()
    for token in (None, "squatter-token"):
        missing = join_refused(registry, "kitchen", token)
        wrong = join_refused(registry, room.room_id, token)
        assert (missing.code, missing.message) == (wrong.code, wrong.message) == (ErrorCode.BAD_TOKEN, NO_ACCESS)
    assert registry.get("kitchen") is None and registry.room_count == 1


def test_registry_checks_token_before_capacity_and_limits_rooms() -> None:
    registry = RoomRegistry(max_rooms=1)
    room = registry.create()
    registry.join(room.room_id, room.token, FakePeer("a"))
    registry.join(room.room_id, room.token, FakePeer("b"))
    assert join_refused(registry, room.room_id, "wrong-token").code is ErrorCode.BAD_TOKEN  # not told it is full
    with pytest.raises(ProtocolError) as server_full:
        registry.create()
    assert server_full.value.code is ErrorCode.SERVER_FULL
