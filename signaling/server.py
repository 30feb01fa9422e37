"""Running the signaling app under uvicorn on a socket we bind ourselves.

Binding first gives a clear error for a busy port, lets port 0 pick an ephemeral port whose
number we know, and lets a benchmark hand the socket to a child process.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import uvicorn

from signaling.app import create_app
from signaling.config import ServerConfig

log = logging.getLogger(__name__)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one. Raises OSError."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket, scheme: str = "http") -> str:
    """`scheme://host:port` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


class TlsError(ValueError):
    """A certificate or key that cannot be used (the message is one line, for the user)."""


def check_tls(cert: Path, key: Path) -> None:
    """Raises TlsError unless `cert` (PEM, the chain) and `key` (PEM, unencrypted) load as a pair."""
    for label, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise TlsError(f"TLS {label} {path}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key), password=lambda: b"")
    except ssl.SSLError as exc:
        raise TlsError(f"TLS certificate {cert} and key {key} do not load as a pair ({exc.reason or exc})") from None
    except OSError as exc:
        raise TlsError(f"TLS certificate {cert} or key {key} cannot be read ({exc.strerror or exc})") from None


def uvicorn_config(config: ServerConfig, log_level: str = "info", web_dir: Path | None = None,
                   tls: tuple[Path, Path] | None = None) -> uvicorn.Config:
    """The uvicorn settings for a fresh app built from `config` (serving the web app in `web_dir`;
    over HTTPS/WSS with `tls` = (certificate, key), PEM files checked by `check_tls`)."""
    return uvicorn.Config(
        create_app(config, web_dir),
        log_level=log_level,
        ws_max_size=config.ws_max_frame_bytes,
        ws_ping_interval=config.ping_interval_s,
        ws_ping_timeout=config.ping_timeout_s,
        ws_per_message_deflate=config.compression,
        lifespan="off",
        access_log=log_level == "debug",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


def serve(sock: socket.socket, config: ServerConfig, log_level: str = "info", web_dir: Path | None = None,
          tls: tuple[Path, Path] | None = None) -> None:
    """Serve on `sock` until interrupted (blocking; uvicorn handles SIGINT/SIGTERM)."""
    server = uvicorn.Server(uvicorn_config(config, log_level, web_dir, tls))
    server.run(sockets=[sock])


class ServerThread:
    """A server running in a background thread of this process (tests, embedding).

    Use as a context manager: `with ServerThread(ServerConfig()) as srv: srv.ws_url`; with
    `web_dir`, it serves that web app too; with `tls` = (certificate, key), over HTTPS and WSS.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        host: str = "127.0.0.1",
        log_level: str = "warning",
        web_dir: Path | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.config = config if config is not None else ServerConfig()
        self._tls = tls is not None
        self._sock = bind_socket(host, 0)
        self._server = uvicorn.Server(uvicorn_config(self.config, log_level, web_dir, tls))
        self._thread = threading.Thread(target=self._run, name="signaling-server", daemon=True)

    @property
    def url(self) -> str:
        return socket_url(self._sock, "https" if self._tls else "http")

    @property
    def ws_url(self) -> str:
        return socket_url(self._sock, "wss" if self._tls else "ws") + "/ws"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("signaling server did not start")
            time.sleep(0.01)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
