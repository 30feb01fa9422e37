"""`frontal serve`: run the signaling server under uvicorn, and the web app `frontal` hands in.

Signaling ships no page: `frontal serve` (`frontal.serve`) calls `main(argv, web_dir=...)`
with the `frontal` package's web app; `python -m signaling.cli` serves `/ws` and `/healthz` only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from signaling.config import ServerConfig
from signaling.server import LOG_LEVELS, TlsError, bind_socket, check_tls, serve, socket_url

log = logging.getLogger(__name__)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 (pick a free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {port}")
    return port


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _env_path(name: str) -> Path | None:
    """The path in environment variable `name`, or None when it is unset or empty."""
    value = os.environ.get(name, "")
    return Path(value) if value else None


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="frontal serve", description="Run the signaling server and the web app (page at /, WebSocket at /ws, rooms at POST /rooms).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8080, help="TCP port (8080; 0: any)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    parser.add_argument("--max-rooms", type=positive_int, default=ServerConfig.max_rooms)
    parser.add_argument("--rooms-per-minute", type=float, default=ServerConfig.rooms_per_minute, metavar="N",
                        help=f"rooms one client address may have issued per minute, after a burst of "
                             f"{ServerConfig.rooms_burst} ({ServerConfig.rooms_per_minute:g}; 0: no limit)")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE", default=_env_path("FRONTAL_TLS_CERT"),
                        help="serve HTTPS and WSS with this PEM certificate (chain); needs --tls-key; default $FRONTAL_TLS_CERT (docs/browser.md)")
    parser.add_argument("--tls-key", type=Path, metavar="FILE", default=_env_path("FRONTAL_TLS_KEY"),
                        help="the certificate's PEM private key, unencrypted; default $FRONTAL_TLS_KEY")
    return parser


def main(argv: Sequence[str] | None = None, web_dir: Path | None = None) -> int:
    """Serve until interrupted; with `web_dir`, that web app at `/` too."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if (args.tls_cert is None) != (args.tls_key is None):
        print("frontal serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = None
    if args.tls_cert is not None:
        tls = (args.tls_cert, args.tls_key)
        try:
            check_tls(*tls)
        except TlsError as exc:
            print(f"frontal serve: {exc}", file=sys.stderr)
            return 1
    if web_dir is not None and not (web_dir / "index.html").is_file():
        print(f"frontal serve: {web_dir} has no index.html (a broken install?)", file=sys.stderr)
        return 1
    if not args.rooms_per_minute >= 0:
        print("frontal serve: --rooms-per-minute must be >= 0 (0: no limit)", file=sys.stderr)
        return 2
    config = ServerConfig(max_rooms=args.max_rooms, rooms_per_minute=args.rooms_per_minute or None)
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"frontal serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    page = "web app at /, " if web_dir is not None else ""
    log.info("signaling server on %s (%sWebSocket at /ws)", socket_url(sock, "https" if tls else "http"), page)
    with sock:
        serve(sock, config, args.log_level, web_dir, tls)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
