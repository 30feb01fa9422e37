"""Helpers for call tests: peers on loopback, a partner peer in a thread, the CLI's peer watched."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from frontal.call.peer import CallPeer, CallReport, PeerConfig
from receiver.render import LandmarkFrameRenderer
from sender.live import SenderConfig
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import Invite, create_room

FPS = 10.0


def invite(url: str) -> Invite:
    return create_room(url, proxy=None)


def make_peer(url: str, room: Invite, send: bool, **kwargs: Any) -> CallPeer:
    cfg = PeerConfig(url, room.room, room.token, sender=SenderConfig(fps=FPS), loopback_only=True,
                     wait_peer_s=20, silence_timeout_s=kwargs.pop("silence", 5.0))
    source = VideoSource(default_video(), FPS) if send else None
    return CallPeer(cfg, source, kwargs.pop("renderer", LandmarkFrameRenderer), **kwargs)


async def two_peers(pa: CallPeer, pb: CallPeer, duration_s: float, limit_s: float = 40.0) -> tuple[CallReport, CallReport]:
    """Run A, then B once A has joined; bounded by `limit_s`."""
    ta = asyncio.create_task(pa.run(duration_s))
    await asyncio.wait_for(pa.joined.wait(), 20)
    tb = asyncio.create_task(pb.run(duration_s + 5))
    ra, rb = await asyncio.wait_for(asyncio.gather(ta, tb), limit_s)
    return ra, rb


class Partner:
    """A sending peer on an event loop of its own, in a thread: the other end of a CLI call."""

    def __init__(self, url: str, room: Invite, duration_s: float = 30.0) -> None:
        self.peer = make_peer(url, room, True)
        self.duration_s = duration_s
        self.report: CallReport | None = None
        self.error: BaseException | None = None
        self.ended_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="partner", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        async def run() -> CallReport:
            self._loop = asyncio.get_running_loop()
            return await self.peer.run(self.duration_s)

        try:
            self.report = asyncio.run(run())
        except BaseException as exc:  # reported to the test
            self.error = exc
        self.ended_at = time.monotonic()

    def hang_up(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.peer.hang_up, "stopped")

    def join(self, timeout_s: float = 20.0) -> CallReport | None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the partner peer did not end"
        return self.report


class Watched(CallPeer):
    """A `CallPeer` that keeps its instances and when its call ended (for the CLI's peer)."""

    instances: list[Watched] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended_at: float | None = None
        Watched.instances.append(self)

    def _finish(self, reason: str) -> None:
        if not self._end.is_set():
            self.ended_at = time.monotonic()
        super()._finish(reason)


def when(condition: Callable[[], bool], action: Callable[[], None], timeout_s: float = 30.0) -> threading.Thread:
    """Run `action` in a thread as soon as `condition()` holds (polled)."""
    def wait() -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def connected_for(seconds: float) -> Callable[[], bool]:
    """True once the CLI's peer has been connected for `seconds`."""
    since: list[float] = []

    def check() -> bool:
        peers = Watched.instances
        if not peers or not peers[-1].connected.is_set():
            return False
        if not since:
            since.append(time.monotonic())
        return time.monotonic() - since[0] >= seconds

    return check


def frame_count(path: Path) -> int:
    with av.open(str(path)) as video:
        return sum(1 for _ in video.decode(video=0))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
