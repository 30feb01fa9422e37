"""`frontal serve`: the signaling server with Frontal's web app (`WEB_DIR`) at `/`.

The web app is one folder of static files shipped as package data (`frontal/web/`):

    index.html, style.css  the page
    app.js                 its two modes, rooms, invite links and join commands
    call.js                the in-browser half of `frontal call --browser` (camera -> local agent)
    signaling.js           the signaling protocol as an ES module (`SignalingChannel`; no page uses
                           it yet: the in-page codec will)

`frontal serve` serves it to create a room, share the invite link and show the `frontal call`
commands that join it; `frontal call --browser` (`frontal.call.browser`) serves it to run the
call. Both serve it at `/` and `/r/ROOM` with its files under `/web/` (`signaling.app.add_web_app`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from signaling.cli import main as signaling_main

WEB_DIR = Path(__file__).resolve().parent / "web"


def main(argv: Sequence[str] | None = None) -> int:
    """`frontal serve [--host H] [--port P] ...` (the options of `signaling.cli`)."""
    return signaling_main(argv, web_dir=WEB_DIR)


__all__ = ["WEB_DIR", "main"]
