"""In-process network impairment for the driving channel: loss and jitter from a seeded RNG.

    impair = Impairment(loss=0.2, jitter_ms=100, seed=1)
    impair.send(channel.send, message)    # drops, or delivers after 0..jitter_ms (may reorder)

Applied by the sending peer just before the data channel, so the receiver sees exactly what a
lossy, jittery network would hand it. `active = False` ends the impairment (messages already
delayed still arrive late).
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

log = logging.getLogger(__name__)


class Impairment:
    def __init__(self, loss: float = 0.0, jitter_ms: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= loss <= 1.0:
            raise ValueError("loss must be in [0, 1]")
        if jitter_ms < 0:
            raise ValueError("jitter_ms must be >= 0")
        self.loss = loss
        self.jitter_ms = jitter_ms
        self.active = True
        self.dropped = 0
        self.delayed = 0
        self._rng = random.Random(seed)

    def send(self, deliver: Callable[[bytes], None], message: bytes) -> None:
        """Deliver `message` now, later, or never (call from the event loop)."""
        if not self.active:
            deliver(message)
            return
        if self._rng.random() < self.loss:
            self.dropped += 1
            return
        delay = self._rng.uniform(0.0, self.jitter_ms) / 1000.0
        if delay <= 0.0:
            deliver(message)
            return
        self.delayed += 1
        asyncio.get_running_loop().call_later(delay, _safe, deliver, message)


def _safe(deliver: Callable[[bytes], None], message: bytes) -> None:
    try:
        deliver(message)
    except Exception as exc:  # the channel closed while the message was in flight
        log.debug("delayed message not delivered: %s", exc)
