"""`frontal bench-signaling`: load-test the signaling server on loopback.

Starts a server in a child process on 127.0.0.1 (ephemeral port), opens `--clients` WebSocket
clients in pairs (one room per pair, bounded connect concurrency), then every client sends
`--messages` app messages to its partner at `--rate` per second, each stamped with its send
time. Reports joins/s, relay latency p50/p99/max, messages sent vs received (lost) and errors.
Everything stops by itself within `--duration-limit` seconds; traffic never leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import logging
import multiprocessing
import random
import resource
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pydantic import JsonValue
from tqdm import tqdm
from websockets.exceptions import WebSocketException

from signaling.cli import OneLineParser, positive_int
from signaling.client import SignalingClient, SignalingError, create_room
from signaling.config import ServerConfig
from signaling.protocol import AppMessage, Error, Message
from signaling.server import bind_socket, serve, socket_url

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
P99_TARGET_MS = 50.0
FD_MARGIN = 256
START_TIMEOUT_S = 20.0
CLOSE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class BenchConfig:
    clients: int = 1000
    messages: int = 20
    rate_per_s: float = 5.0
    payload_bytes: int = 256
    connect_concurrency: int = 100
    duration_limit_s: float = 60.0
    drain_timeout_s: float = 5.0
    progress: bool = True

    @property
    def rooms(self) -> int:
        return self.clients // 2


@dataclass
class BenchStats:
    """Counters and samples filled in by the clients while the benchmark runs."""

    join_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    all_received: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0
    closing: bool = False

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def got_message(self, latency_ms: float) -> None:
        self.received += 1
        self.latency_ms.append(latency_ms)
        if self.expected and self.received >= self.expected:
            self.all_received.set()


@dataclass(frozen=True)
class BenchResult:
    clients: int
    rooms: int
    messages_per_client: int
    rate_per_client: float
    joined: int
    join_s: float
    joins_per_s: float
    join_ms_p50: float
    join_ms_p99: float
    sent: int
    received: int
    lost: int
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_max: float
    errors: dict[str, int]
    timed_out: bool
    duration_s: float
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    p99_target_ms: float = P99_TARGET_MS

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and not self.errors
            and not self.timed_out
            and self.joined == self.clients
        )

    @property
    def meets_target(self) -> bool:
        return self.ok and self.latency_ms_p99 < self.p99_target_ms


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100, nearest rank) of `samples`; 0.0 when empty."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100.0 * len(ordered))) - 1))
    return ordered[rank]


# --- one pair of clients ----------------------------------------------------------------------


class BenchPeer:
    """One benchmark client: joins, reads everything, and sends stamped messages."""

    def __init__(self, url: str, room: str, token: str, stats: BenchStats) -> None:
        self.client = SignalingClient(url, room, token, proxy=None)  # loopback only
        self._stats = stats
        self._reader: asyncio.Task[None] | None = None
        self.joined = False

    async def join(self, limit: asyncio.Semaphore) -> None:
        async with limit:
            start = time.perf_counter()
            try:
                await self.client.connect()
            except (TimeoutError, SignalingError, OSError, WebSocketException) as exc:
                self._stats.error(f"join:{getattr(exc, 'code', type(exc).__name__)}")
                return
            self._stats.join_ms.append((time.perf_counter() - start) * 1000.0)
        self.joined = True
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.client:
                self._on_message(message)
        except SignalingError as exc:
            self._stats.error(f"receive:{exc.code}")

    def _on_message(self, message: Message) -> None:
        if isinstance(message, AppMessage):
            self._on_app_message(message)
        elif isinstance(message, Error):
            self._stats.error(f"server:{message.code.value}")
        elif message.type == "peer-left" and not self._stats.closing:
            self._stats.error("unexpected:peer-left")
        elif message.type not in ("peer-joined", "peer-left"):
            self._stats.error(f"unexpected:{message.type}")

    def _on_app_message(self, message: AppMessage) -> None:
        sent_ns = message.data.get("t") if isinstance(message.data, dict) else None
        if isinstance(sent_ns, int):
            self._stats.got_message((time.perf_counter_ns() - sent_ns) / 1e6)
        else:
            self._stats.error("unexpected:message")

    async def send_all(self, count: int, rate_per_s: float, pad: str) -> None:
        interval = 1.0 / rate_per_s
        await asyncio.sleep(random.uniform(0.0, interval))
        start = time.perf_counter()
        for seq in range(count):
            await asyncio.sleep(max(0.0, start + seq * interval - time.perf_counter()))
            data: dict[str, JsonValue] = {"seq": seq, "t": time.perf_counter_ns(), "pad": pad}
            try:
                await self.client.send(AppMessage(data=data))
            except SignalingError:
                self._stats.error("send:closed")
                return
            self._stats.sent += 1

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            await self.client.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=2.0)
            self._reader.cancel()


def make_peers(url: str, cfg: BenchConfig, stats: BenchStats) -> list[BenchPeer]:
    """Two peers per room; the rooms are issued by the server (`POST /rooms`, blocking)."""
    peers: list[BenchPeer] = []
    for _ in range(cfg.rooms):
        invite = create_room(url, proxy=None)  # loopback only
        peers += [BenchPeer(url, invite.room, invite.token, stats), BenchPeer(url, invite.room, invite.token, stats)]
    return peers


# --- phases ---------------------------------------------------------------------------------


async def _with_progress(tasks: list[asyncio.Task[None]], label: str, show: bool) -> None:
    """Wait for `tasks` with a progress bar; if interrupted (time limit), cancel the rest."""
    bar = tqdm(total=len(tasks), desc=label, unit="client", disable=not show, leave=False)
    try:
        for finished in asyncio.as_completed(tasks):
            await finished
            bar.update(1)
    finally:
        bar.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def join_phase(peers: list[BenchPeer], cfg: BenchConfig) -> float:
    """Join every peer (bounded concurrency); returns the wall time in seconds."""
    limit = asyncio.Semaphore(cfg.connect_concurrency)
    start = time.perf_counter()
    tasks = [asyncio.create_task(peer.join(limit)) for peer in peers]
    await _with_progress(tasks, "joining", cfg.progress)
    return time.perf_counter() - start


async def message_phase(peers: list[BenchPeer], cfg: BenchConfig, stats: BenchStats) -> None:
    """Every peer whose partner also joined sends its messages; wait for them to arrive."""
    pairs = [(a, b) for a, b in zip(peers[::2], peers[1::2], strict=True) if a.joined and b.joined]
    senders = [peer for pair in pairs for peer in pair]
    stats.expected = len(senders) * cfg.messages
    pad = "x" * cfg.payload_bytes
    tasks = [asyncio.create_task(p.send_all(cfg.messages, cfg.rate_per_s, pad)) for p in senders]
    await _with_progress(tasks, "sending", cfg.progress)
    if stats.received < stats.expected:
        try:
            await asyncio.wait_for(stats.all_received.wait(), cfg.drain_timeout_s)
        except TimeoutError:
            log.warning("drain: %d of %d messages arrived", stats.received, stats.expected)


async def close_phase(peers: list[BenchPeer], cfg: BenchConfig, stats: BenchStats) -> None:
    stats.closing = True
    limit = asyncio.Semaphore(cfg.connect_concurrency)

    async def close_one(peer: BenchPeer) -> None:
        async with limit:
            await peer.close()

    await asyncio.gather(*(close_one(peer) for peer in peers), return_exceptions=True)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the clients' own garbage collector from pausing the measurement.

    The thousand connections are long-lived; moving them out of the collector's reach stops a
    full collection from stalling every client at once, which would be counted as relay latency.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def run_bench(url: str, cfg: BenchConfig) -> BenchResult:
    """Run the benchmark against a server at `url` (a ws:// URL on loopback)."""
    stats = BenchStats()
    peers = await asyncio.to_thread(make_peers, url, cfg, stats)
    start, cpu_start = time.perf_counter(), time.process_time()
    join_s, timed_out = 0.0, False
    try:
        async with asyncio.timeout(cfg.duration_limit_s):
            join_s = await join_phase(peers, cfg)
            with frozen_heap():
                await message_phase(peers, cfg, stats)
    except TimeoutError:
        timed_out = True
        log.warning("duration limit of %.0f s reached; stopping", cfg.duration_limit_s)
    finally:
        try:
            await asyncio.wait_for(close_phase(peers, cfg, stats), CLOSE_TIMEOUT_S)
        except TimeoutError:
            stats.error("close:timeout")
    joined = sum(peer.joined for peer in peers)
    result = _result(cfg, stats, joined, join_s, timed_out, time.perf_counter() - start)
    return replace(result, client_cpu_s=round(time.process_time() - cpu_start, 2))


def _result(
    cfg: BenchConfig, stats: BenchStats, joined: int, join_s: float, timed_out: bool, total_s: float
) -> BenchResult:
    return BenchResult(
        clients=cfg.clients,
        rooms=cfg.rooms,
        messages_per_client=cfg.messages,
        rate_per_client=cfg.rate_per_s,
        joined=joined,
        join_s=round(join_s, 3),
        joins_per_s=round(joined / join_s, 1) if join_s > 0 else 0.0,
        join_ms_p50=round(percentile(stats.join_ms, 50), 2),
        join_ms_p99=round(percentile(stats.join_ms, 99), 2),
        sent=stats.sent,
        received=stats.received,
        lost=max(0, stats.sent - stats.received),
        latency_ms_p50=round(percentile(stats.latency_ms, 50), 2),
        latency_ms_p99=round(percentile(stats.latency_ms, 99), 2),
        latency_ms_max=round(max(stats.latency_ms, default=0.0), 2),
        errors=dict(stats.errors),
        timed_out=timed_out,
        duration_s=round(total_s, 2),
    )


# --- the server under test ------------------------------------------------------------------


def _serve_child(sock: socket.socket, log_level: str) -> None:
    logging.basicConfig(level=log_level.upper())
    serve(sock, ServerConfig(rooms_per_minute=None), log_level)  # the bench issues its rooms from one address


class ServerProcess:
    """The server under test, in a spawned child process listening on 127.0.0.1:ephemeral."""

    def __init__(self, log_level: str = "warning") -> None:
        self._sock = bind_socket(LOOPBACK, 0)
        self._address: tuple[str, int] = self._sock.getsockname()[:2]
        self.url = socket_url(self._sock)
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(
            target=_serve_child,
            args=(self._sock, log_level),
            name="signaling-bench-server",
            daemon=True,
        )
        self._cpu_s = 0.0

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        self._process.start()
        self._sock.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._process.is_alive():
                raise RuntimeError("the signaling server process exited at start")
            if self._healthy():
                return
            time.sleep(0.05)
        raise RuntimeError("the signaling server did not answer /healthz in time")

    def _healthy(self) -> bool:
        """GET /healthz straight to the child (http.client: no proxy can intervene)."""
        host, port = self._address
        connection = http.client.HTTPConnection(host, port, timeout=1.0)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server used; known once it has stopped."""
        return self._cpu_s

    def stop(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._stop_process()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    def _stop_process(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)

    def __enter__(self) -> ServerProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def raise_fd_limit(needed: int) -> None:
    """Raise the soft open-files limit to `needed` (children inherit it); OSError if impossible."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise OSError(f"open-files hard limit {hard} is below the {needed} needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


# --- command line ---------------------------------------------------------------------------


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="frontal bench-signaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=positive_int, default=1000, help="WebSocket clients")
    parser.add_argument("--rooms", type=positive_int, default=None, help="rooms (clients / 2)")
    parser.add_argument("--messages", type=positive_int, default=20, help="messages per client")
    parser.add_argument("--rate", type=positive_float, default=5.0, help="messages/s per client")
    parser.add_argument("--payload-bytes", type=int, default=256, help="padding per message")
    parser.add_argument("--concurrency", type=positive_int, default=100, help="parallel joins")
    parser.add_argument("--duration-limit", type=positive_float, default=60.0, help="seconds")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Check the arguments together; raise ValueError with a one-line reason."""
    limits = ServerConfig()
    if args.clients < 2 or args.clients % 2:
        raise ValueError("--clients must be an even number >= 2 (rooms of exactly two)")
    if args.rooms is not None and args.rooms * 2 != args.clients:
        raise ValueError("--clients must be twice --rooms (rooms of exactly two)")
    if args.rate > limits.rate_per_s:
        raise ValueError(f"--rate must be at most the server's limit of {limits.rate_per_s}/s")
    if not 0 <= args.payload_bytes <= limits.max_message_bytes // 2:
        raise ValueError(f"--payload-bytes must be in 0..{limits.max_message_bytes // 2}")
    return BenchConfig(
        clients=args.clients,
        messages=args.messages,
        rate_per_s=args.rate,
        payload_bytes=args.payload_bytes,
        connect_concurrency=args.concurrency,
        duration_limit_s=args.duration_limit,
        progress=not args.no_progress,
    )


def _triple(p50: float, p99: float, worst: float) -> str:
    return f"{p50:.2f} / {p99:.2f} / {worst:.2f}"


def format_table(result: BenchResult) -> str:
    rows = [
        ("clients / rooms", f"{result.clients} / {result.rooms} ({result.joined} joined)"),
        ("joins/s", f"{result.joins_per_s:.0f} ({result.join_s:.2f} s)"),
        ("join ms p50 / p99", f"{result.join_ms_p50:.1f} / {result.join_ms_p99:.1f}"),
        ("messages sent / received", f"{result.sent} / {result.received}"),
        ("lost", str(result.lost)),
        (
            "latency ms p50 / p99 / max",
            _triple(result.latency_ms_p50, result.latency_ms_p99, result.latency_ms_max),
        ),
        ("errors", ", ".join(f"{k}={v}" for k, v in result.errors.items()) or "none"),
        ("timed out", "yes" if result.timed_out else "no"),
        ("cpu s client / server", f"{result.client_cpu_s:.2f} / {result.server_cpu_s:.2f}"),
        (
            "p99 < target",
            f"{'yes' if result.meets_target else 'NO'} ({result.p99_target_ms:.0f} ms)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def result_json(result: BenchResult) -> dict[str, object]:
    return {**asdict(result), "ok": result.ok, "meets_target": result.meets_target}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_from_args(args)
        raise_fd_limit(cfg.clients + FD_MARGIN)
    except (ValueError, OSError) as exc:
        print(f"frontal bench-signaling: {exc}", file=sys.stderr)
        return 2
    try:
        server = ServerProcess()
        with server:
            result = asyncio.run(run_bench(server.ws_url, cfg))
        result = replace(result, server_cpu_s=round(server.cpu_s, 2))
    except (RuntimeError, OSError) as exc:
        print(f"frontal bench-signaling: {exc}", file=sys.stderr)
        return 1
    print(format_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result_json(result), indent=2) + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
