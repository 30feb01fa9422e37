"""A call's failures are never silent: a bad source is refused before joining, stats never kill the
peer, and a failure in any background task ends the call with a logged reason and a failing exit."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codec.callstats import CallStats
from frontal.call import cli
from frontal.call.browser import BrowserSession
from receiver import sinks
from receiver.render import LandmarkFrameRenderer
from receiver.sinks import Recorder
from receiver.videoout import write_mp4
from signaling.server import ServerThread
from tests.call_helpers import invite, make_peer, two_peers


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as srv:
        yield srv


# -- reproduction 2: statistics before the first frame ----------------------------------------


class FakeChannel:
    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)


def test_stats_before_the_first_frame_reach_the_page_as_null() -> None:
    """Reproduction 2: NaN latencies made `json.dumps(allow_nan=False)` raise in the watch loop."""
    session = BrowserSession(argparse.Namespace())
    channel = FakeChannel()
    session.ui_channel = channel
    stats = CallStats().snapshot()
    assert math.isnan(float(stats["latency_ms_p50"]))
    session.push_stats(stats)
    message = json.loads(channel.sent[0])
    assert message["type"] == "stats" and message["stats"]["latency_ms_p50"] is None
    assert message["stats"]["frames_rendered"] == 0


# -- reproduction 3: a bad --video is refused before joining ----------------------------------


def bad_videos(folder: Path) -> dict[str, Path]:
    text, empty, faceless = folder / "notes.mp4", folder / "empty.mp4", folder / "wall.mp4"
    text.write_text("this is not a video\n")
    empty.write_bytes(b"")
    write_mp4(faceless, (np.full((96, 128, 3), 90 + i, np.uint8) for i in range(20)), 10.0)
    return {"not a readable video": text, "empty file": empty, "no face found": faceless}


def test_call_refuses_a_bad_video_before_joining(server: ServerThread, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Reproduction 3: a text file, an empty file or a faceless video joined the room, sent nothing
    and, with a partner, exited 0 without a word."""
    room = invite(server.ws_url)
    for reason, video in bad_videos(tmp_path).items():
        code = cli.main(["--room", room.room, "--token", room.token, "--signaling", server.ws_url,
                         "--video", str(video), "--no-window", "--renderer", "landmarks", "--loopback-only",
                         "--duration", "5", "--fps", "10"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and err[-1].startswith("frontal call: error: ") and reason in err[-1], err
        assert str(video) in err[-1]
        assert server_peers(server) == 0  # it never joined


def server_peers(server: ServerThread) -> int:
    import httpx

    return int(httpx.get(server.url + "/healthz", timeout=5).json()["peers"])


# -- no silent task death ---------------------------------------------------------------------


def failed(caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    return any(r.levelno >= logging.ERROR and reason in r.getMessage() for r in caplog.records)


def call_with(url: str, duration_s: float = 8.0, a: dict[str, Any] | None = None,
              b: dict[str, Any] | None = None, setup: Any = None) -> tuple[Any, Any, Any, Any]:
    room = invite(url)
    pa, pb = make_peer(url, room, True, **(a or {})), make_peer(url, room, False, **(b or {}))
    if setup is not None:
        setup(pa, pb)
    ra, rb = asyncio.run(two_peers(pa, pb, duration_s))
    return pa, pb, ra, rb


def test_a_failing_watch_loop_ends_the_call(server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    def on_stats(stats: dict[str, float | int]) -> None:
        raise ValueError("Out of range float values are not JSON compliant")

    pa, pb, ra, rb = call_with(server.ws_url, b={"on_stats": on_stats})
    assert rb.reason == "watch-failed" and cli.exit_status(rb.reason) == 1
    assert ra.reason == "bye" and rb.stats["duration_s"] < 4
    assert failed(caplog, "watch-failed")


class BrokenRenderer(LandmarkFrameRenderer):
    def add_source(self, image: np.ndarray, sup: np.ndarray | None) -> None:
        raise RuntimeError("out of memory")


def test_a_failing_render_worker_ends_the_call(server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    pa, pb, ra, rb = call_with(server.ws_url, b={"renderer": BrokenRenderer})
    assert rb.reason == "renderer-failed" and cli.exit_status(rb.reason) == 1
    assert isinstance(pb.receiver.error, RuntimeError) and rb.stats["duration_s"] < 5
    assert failed(caplog, "renderer-failed") and failed(caplog, "the render worker failed")


def test_a_failing_recorder_ends_the_call(server: ServerThread, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: object, frames: Iterator[np.ndarray], fps: float, crf: int = 18) -> int:
        next(iter(frames))
        raise OSError("No space left on device")

    monkeypatch.setattr(sinks, "encode_mp4", broken)
    out = tmp_path / "out.mp4"

    def setup(pa: Any, pb: Any) -> None:
        pb.recorder = Recorder(out, 10.0, on_failure=lambda exc: pb.fail("recorder-failed", exc))
        pb.receiver.sinks.append(pb.recorder)

    pa, pb, ra, rb = call_with(server.ws_url, setup=setup)
    assert not pb.recorder.close(2.0)
    assert rb.reason == "recorder-failed" and cli.exit_status(rb.reason) == 1 and rb.stats["duration_s"] < 5
    assert failed(caplog, "recorder-failed") and failed(caplog, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_view_encoder_ends_the_call(server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    def setup(pa: Any, pb: Any) -> None:
        def encode_view(view: object) -> bytes:
            raise OSError("libavif: encoder failed")

        pa.sender.encode_view = encode_view

    pa, pb, ra, rb = call_with(server.ws_url, setup=setup)
    assert ra.reason == "view-encoder-failed" and cli.exit_status(ra.reason) == 1 and ra.stats["duration_s"] < 5
    assert rb.reason == "bye" and failed(caplog, "view-encoder-failed")


def test_a_failing_pacer_ends_the_call(server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    def setup(pa: Any, pb: Any) -> None:
        def take(now: float) -> list[str | bytes]:
            raise RuntimeError("pacer bug")

        pa.sender.pacer.take = take

    pa, pb, ra, rb = call_with(server.ws_url, setup=setup)
    assert ra.reason == "send-failed" and cli.exit_status(ra.reason) == 1 and ra.stats["duration_s"] < 3
    assert rb.reason == "bye" and failed(caplog, "send-failed") and failed(caplog, "pacer bug")
