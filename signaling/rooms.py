"""Rooms of exactly two peers, and the registry that owns them.

The registry's methods never await, so under one asyncio event loop each call is atomic: a join
and a leave can never interleave half-way.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol

from signaling.protocol import ErrorCode, ProtocolError

ROOM_CAPACITY = 2


class PeerLink(Protocol):
    """What a room needs to know of a peer: its id and a way to send it a message."""

    @property
    def peer_id(self) -> str: ...

    async def send(self, text: str) -> bool: ...


@dataclass
class Room:
    """One room: its id, the join token, the peers in it (at most two) and when it was made."""

    room_id: str
    token: str
    created: float = field(default_factory=time.time)
    peers: list[PeerLink] = field(default_factory=list)

    def other(self, peer: PeerLink) -> PeerLink | None:
        """The peer in the room that is not `peer`, if any."""
        for candidate in self.peers:
            if candidate is not peer:
                return candidate
        return None

    def token_matches(self, token: str | None) -> bool:
        """Constant-time comparison of `token` with the room's token."""
        if token is None:
            return False
        return hmac.compare_digest(token.encode("utf-8"), self.token.encode("utf-8"))


def issue_token() -> str:
    """A fresh random room token (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


class RoomRegistry:
    """All rooms of one server. An empty room is removed at once (its token goes with it)."""

    def __init__(self, max_rooms: int) -> None:
        self._max_rooms = max_rooms
        self._rooms: dict[str, Room] = {}

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    @property
    def peer_count(self) -> int:
        return sum(len(room.peers) for room in self._rooms.values())

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def join(self, room_id: str, token: str | None, peer: PeerLink) -> Room:
        """Put `peer` in `room_id`, creating the room if needed; raise `ProtocolError` if refused.

        The first joiner sets the token (or gets one issued when `token` is None); later joiners
        must present it. The token is checked before the capacity, so a caller without the token
        learns nothing about the room.
        """
        room = self._rooms.get(room_id)
        if room is None:
            return self._create(room_id, token, peer)
        if not room.token_matches(token):
            raise ProtocolError(ErrorCode.BAD_TOKEN, "wrong or missing token for this room")
        if len(room.peers) >= ROOM_CAPACITY:
            raise ProtocolError(ErrorCode.ROOM_FULL, "room already has two peers")
        room.peers.append(peer)
        return room

    def _create(self, room_id: str, token: str | None, peer: PeerLink) -> Room:
        if len(self._rooms) >= self._max_rooms:
            raise ProtocolError(ErrorCode.SERVER_FULL, "server has no room for a new room")
        room = Room(room_id=room_id, token=token if token is not None else issue_token())
        room.peers.append(peer)
        self._rooms[room_id] = room
        return room

    def leave(self, room_id: str, peer: PeerLink) -> PeerLink | None:
        """Take `peer` out of its room; return the peer left behind (None if the room emptied)."""
        room = self._rooms.get(room_id)
        if room is None or peer not in room.peers:
            return None
        room.peers.remove(peer)
        if not room.peers:
            del self._rooms[room_id]
            return None
        return room.peers[0]
