"""Rooms of exactly two peers, and the registry that owns them.

A room is made only by the server (`RoomRegistry.create`, behind `POST /rooms`), which issues its
unguessable name and token together: the invite. Joining needs both, so nobody can claim a room
before its participants arrive, and a join without the right token gets the same refusal whether
or not the room exists. A room outlives its peers for `empty_room_ttl_s` (a dropped peer can come
back, the other can rejoin), then it and its token are gone.

The registry's methods never await, so under one asyncio event loop each call is atomic: a join
and a leave can never interleave half-way.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from signaling.protocol import ErrorCode, ProtocolError

ROOM_CAPACITY = 2
EMPTY_ROOM_TTL_S = 3600.0  # an issued room with nobody in it lasts this long
NO_ACCESS = "no such room, or wrong token"  # one answer for both: a refusal reveals nothing


class PeerLink(Protocol):
    """What a room needs to know of a peer: its id and a way to send it a message."""

    @property
    def peer_id(self) -> str: ...

    async def send(self, text: str) -> bool: ...


@dataclass
class Room:
    """One room: its id, the join token, the peers in it (at most two) and since when it is empty."""

    room_id: str
    token: str
    empty_since: float  # the registry's clock; meaningless while peers are in the room
    peers: list[PeerLink] = field(default_factory=list)

    def other(self, peer: PeerLink) -> PeerLink | None:
        """The peer in the room that is not `peer`, if any."""
        for candidate in self.peers:
            if candidate is not peer:
                return candidate
        return None

    def token_matches(self, token: str | None) -> bool:
        """Constant-time comparison of `token` with the room's token."""
        return _same(token, self.token)


def _same(token: str | None, expected: str) -> bool:
    return hmac.compare_digest((token or "").encode("utf-8"), expected.encode("utf-8"))


def _random_text(nbytes: int) -> str:
    """URL-safe random text that does not start with `-` (it would read as an option on a command line)."""
    while (text := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return text


def issue_room_id() -> str:
    """A fresh random room name (16 URL-safe characters, about 96 bits): unguessable, so unprobeable."""
    return _random_text(12)


def issue_token() -> str:
    """A fresh random room token (32 URL-safe characters, about 192 bits)."""
    return _random_text(24)


class RoomRegistry:
    """All rooms of one server, issued by `create`; an empty room expires after `empty_room_ttl_s`."""

    def __init__(self, max_rooms: int, empty_room_ttl_s: float = EMPTY_ROOM_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_rooms = max_rooms
        self._ttl_s = empty_room_ttl_s
        self._clock = clock
        self._rooms: dict[str, Room] = {}
        self._pruned = -1e18

    @property
    def room_count(self) -> int:
        self._prune(force=True)
        return len(self._rooms)

    @property
    def peer_count(self) -> int:
        return sum(len(room.peers) for room in self._rooms.values())

    def get(self, room_id: str) -> Room | None:
        room = self._rooms.get(room_id)
        return None if room is None or self._expired(room) else room

    def create(self) -> Room:
        """Issue a new, empty room with its token; `ProtocolError(SERVER_FULL)` at `max_rooms`."""
        self._prune(force=len(self._rooms) >= self._max_rooms)
        if len(self._rooms) >= self._max_rooms:
            raise ProtocolError(ErrorCode.SERVER_FULL, "server has no room for a new room")
        room_id = issue_room_id()
        while room_id in self._rooms:  # 96 bits: never in practice
            room_id = issue_room_id()
        room = Room(room_id=room_id, token=issue_token(), empty_since=self._clock())
        self._rooms[room_id] = room
        return room

    def join(self, room_id: str, token: str | None, peer: PeerLink) -> Room:
        """Put `peer` in the existing room `room_id`; raise `ProtocolError` if refused.

        A missing room and a wrong or missing token get the same `bad-token` refusal (after a
        token comparison either way), and the token is checked before the capacity, so a caller
        without the token learns nothing about the room, not even whether it exists.
        """
        room = self.get(room_id)
        if room is None:
            _same(token, issue_token())  # the same work as for a room that exists
            raise ProtocolError(ErrorCode.BAD_TOKEN, NO_ACCESS)
        if not room.token_matches(token):
            raise ProtocolError(ErrorCode.BAD_TOKEN, NO_ACCESS)
        if len(room.peers) >= ROOM_CAPACITY:
            raise ProtocolError(ErrorCode.ROOM_FULL, "room already has two peers")
        room.peers.append(peer)
        return room

    def leave(self, room_id: str, peer: PeerLink) -> PeerLink | None:
        """Take `peer` out of its room; return the peer left behind (None if the room emptied:
        it stays, for `empty_room_ttl_s`)."""
        room = self._rooms.get(room_id)
        if room is None or peer not in room.peers:
            return None
        room.peers.remove(peer)
        if not room.peers:
            room.empty_since = self._clock()
            return None
        return room.peers[0]

    def _expired(self, room: Room) -> bool:
        return not room.peers and self._clock() - room.empty_since >= self._ttl_s

    def _prune(self, force: bool = False) -> None:
        """Drop expired rooms (a full scan, at most once a second unless forced)."""
        now = self._clock()
        if not force and now - self._pruned < 1.0:
            return
        self._pruned = now
        for room_id in [r.room_id for r in self._rooms.values() if self._expired(r)]:
            del self._rooms[room_id]
