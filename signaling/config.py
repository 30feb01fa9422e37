"""The signaling server's limits, in one frozen dataclass passed to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    """Limits of one signaling server. Every field has a safe default.

    `max_message_bytes` is checked on the raw UTF-8 text of each message before it is parsed;
    `ws_max_frame_bytes` is the transport's hard cap (uvicorn closes with 1009 above it), so a
    message between the two gets a polite `too-large` error instead of a dropped connection.
    `rooms_per_minute` / `rooms_burst`: a token bucket per client address on `POST /rooms`, so
    one client cannot fill the server's `max_rooms` (issued rooms last an hour empty); behind a
    reverse proxy every client has the proxy's address, so raise it or limit there.
    `compression` (permessage-deflate) is off by default: signaling messages are small and rare,
    and a zlib context per connection costs memory and CPU at thousands of connections.
    """

    max_message_bytes: int = 64 * 1024
    ws_max_frame_bytes: int = 1024 * 1024
    rate_per_s: float = 50.0
    rate_burst: int = 100
    max_strikes: int = 10
    join_timeout_s: float = 10.0
    max_rooms: int = 10_000
    rooms_per_minute: float | None = 60.0  # rooms one client address may have issued (POST /rooms); None: no limit
    rooms_burst: int = 60
    send_timeout_s: float = 5.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    compression: bool = False

    def __post_init__(self) -> None:
        if self.max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {self.max_message_bytes}")
        if self.ws_max_frame_bytes < self.max_message_bytes:
            raise ValueError("ws_max_frame_bytes must be >= max_message_bytes")
        if self.rate_per_s <= 0 or self.rate_burst < 1:
            raise ValueError("rate_per_s must be > 0 and rate_burst >= 1")
        if self.max_strikes < 1:
            raise ValueError(f"max_strikes must be >= 1, got {self.max_strikes}")
        if self.join_timeout_s <= 0 or self.send_timeout_s <= 0:
            raise ValueError("join_timeout_s and send_timeout_s must be > 0")
        if self.max_rooms < 1:
            raise ValueError(f"max_rooms must be >= 1, got {self.max_rooms}")
        if (self.rooms_per_minute is not None and self.rooms_per_minute <= 0) or self.rooms_burst < 1:
            raise ValueError("rooms_per_minute must be > 0 (or None: no limit) and rooms_burst >= 1")
