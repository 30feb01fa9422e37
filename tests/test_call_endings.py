"""Every way a call ends ends `frontal call` within 5 s, with the recording whole or not at all.

The peer under test is `frontal call` itself (`cli.main`, in this process, or a child process for the
real exit); its partner is a `CallPeer` on a thread of its own, or a child `frontal call` to kill.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from frontal.call import cli
from receiver import sinks
from signaling.client import Invite
from signaling.server import ServerThread
from tests.call_helpers import FPS, Partner, Watched, connected_for, frame_count, invite, leftovers, when

REPO = Path(__file__).resolve().parent.parent
END_S = 5.0  # from the call's end to the process's


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as srv:
        yield srv


@pytest.fixture(autouse=True)
def watched(monkeypatch: pytest.MonkeyPatch) -> None:
    Watched.instances.clear()
    monkeypatch.setattr(cli, "CallPeer", Watched)


def call_args(url: str, room: Invite, out: Path, duration_s: float = 20.0) -> list[str]:
    return ["--room", room.room, "--token", room.token, "--signaling", url, "--receive-only", "--no-window",
            "--renderer", "landmarks", "--loopback-only", "--fps", str(FPS), "--duration", str(duration_s),
            "--record", str(out)]


def run_cli(argv: list[str]) -> tuple[int, float]:
    """`frontal call` in this process: its exit status and how long after its call's end it returned."""
    code = cli.main(argv)
    returned = time.monotonic()
    peer = Watched.instances[-1]
    assert peer.ended_at is not None, "the call never ended"
    print(f"\n[{peer._reason}] returned {returned - peer.ended_at:.2f} s after the call's end")
    return code, returned - peer.ended_at


def assert_whole(out: Path, at_least: int) -> None:
    assert out.exists() and frame_count(out) >= at_least
    assert leftovers(out.parent) == []


def test_duration(server: ServerThread, tmp_path: Path) -> None:
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    partner = Partner(server.ws_url, room)
    code, late = run_cli(call_args(server.ws_url, room, out, duration_s=3.0))
    assert code == 0 and late < END_S
    assert_whole(out, 2 * FPS)
    assert (report := partner.join()) is not None and report.reason == "bye"


def test_hang_up_in_the_window(server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def window(latest: Any, title: str, stop: Any) -> None:  # the user presses q after 2 s
        import asyncio

        ready = connected_for(2.0)
        while not ready():
            await asyncio.sleep(0.05)
        stop.set()

    monkeypatch.setattr(cli, "show_window", window)
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    partner = Partner(server.ws_url, room)
    argv = [a for a in call_args(server.ws_url, room, out) if a != "--no-window"]
    code, late = run_cli(argv)
    assert code == 0 and late < END_S and Watched.instances[-1]._reason == "stopped"
    assert_whole(out, FPS)
    assert (report := partner.join()) is not None and report.reason == "bye"


def test_the_other_peers_bye(server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    partner = Partner(server.ws_url, room)
    when(connected_for(2.0), partner.hang_up)
    code, late = run_cli(call_args(server.ws_url, room, out))
    assert code == 0 and late < END_S and "call ended: bye" in capsys.readouterr().err
    assert_whole(out, FPS)
    partner.join()


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_hang_up_cleanly(server: ServerThread, tmp_path: Path, signum: int, status: int) -> None:
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    partner = Partner(server.ws_url, room)
    when(connected_for(2.0), lambda: os.kill(os.getpid(), signum))
    code, late = run_cli(call_args(server.ws_url, room, out))
    assert code == status and late < END_S
    assert_whole(out, FPS)
    assert (report := partner.join()) is not None and report.reason == "bye"  # the other was told


def test_a_recorder_that_cannot_keep_up(server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    def slow(path: object, frames: Iterator[np.ndarray], fps: float, crf: int = 18, **kwargs: object) -> int:
        count = 0
        for _ in frames:  # a writer at a frame a second: far behind 10 frames a second
            time.sleep(1.0)
            count += 1
        return count

    monkeypatch.setattr(sinks, "encode_mp4", slow)
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    partner = Partner(server.ws_url, room)
    code, late = run_cli(call_args(server.ws_url, room, out))
    assert code == 1 and late < END_S and "call ended: recorder-failed" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []  # not at all: never half
    partner.join()


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, "PYTHONPATH": str(REPO)}


def test_the_other_peer_killed(server: ServerThread, tmp_path: Path) -> None:
    """The other peer is a `frontal call` process killed with SIGKILL: no bye, no close."""
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    other = subprocess.Popen([sys.executable, "-m", "frontal.call", "--room", room.room, "--token", room.token,
                              "--signaling", server.ws_url, "--video", "default", "--no-window", "--renderer",
                              "landmarks", "--loopback-only", "--fps", str(FPS), "--duration", "60"],
                             cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed: list[float] = []
    try:
        when(connected_for(2.0), lambda: (other.kill(), killed.append(time.monotonic())), timeout_s=60)
        code = cli.main(call_args(server.ws_url, room, out, duration_s=60))
        returned = time.monotonic()
    finally:
        other.kill()
        other.wait()
    print(f"\n[killed] returned {returned - killed[0]:.2f} s after the other peer was killed")
    assert killed and returned - killed[0] < END_S
    assert code == 1 and Watched.instances[-1]._reason in ("peer-left", "channel-closed", "silence")
    assert_whole(out, FPS)


SERVER = """
import sys
from signaling.config import ServerConfig
from signaling.server import bind_socket, serve, socket_url
sock = bind_socket("127.0.0.1", 0)
print(socket_url(sock, "ws") + "/ws", flush=True)
serve(sock, ServerConfig(), "warning")
"""


@contextlib.contextmanager
def server_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A signaling server in a child process (to kill): its ws:// URL, once it answers."""
    child = subprocess.Popen([sys.executable, "-c", SERVER], cwd=REPO, env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url.replace("ws://", "http://").removesuffix("/ws") + "/healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield url, child
    finally:
        child.kill()
        child.wait()


def test_the_signaling_server_killed(tmp_path: Path) -> None:
    """The server dies mid-call: the call goes on to its end, then both peers end as usual."""
    with server_process() as (url, child):
        room, out = invite(url), tmp_path / "out.mp4"
        partner = Partner(url, room)
        when(connected_for(1.0), child.kill)
        code, late = run_cli(call_args(url, room, out, duration_s=4.0))
    assert code == 0 and late < END_S and Watched.instances[-1]._reason == "duration"
    assert_whole(out, 2 * FPS)
    assert (report := partner.join()) is not None and report.reason == "bye"


def test_the_signaling_server_killed_before_the_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Alone in the room, waiting for the other: the server dies, `frontal call` fails at once."""
    with server_process() as (url, child):
        room = invite(url)
        when(lambda: bool(Watched.instances) and Watched.instances[-1].joined.is_set(), child.kill)
        t0 = time.monotonic()
        code = cli.main(call_args(url, room, tmp_path / "out.mp4"))
    assert code == 1 and time.monotonic() - t0 < 20
    assert "the signaling server went away before the call started" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_sigterm_ends_the_process(server: ServerThread, tmp_path: Path) -> None:
    """The real thing: a `frontal call` process told SIGTERM mid-call exits within 5 s (143), with
    its recording whole."""
    room, out = invite(server.ws_url), tmp_path / "out.mp4"
    partner = Partner(server.ws_url, room)
    child = subprocess.Popen([sys.executable, "-m", "frontal.call", *call_args(server.ws_url, room, out, 60)],
                             cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    signalled = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while not (partner.peer.connected.is_set() and partner.peer.stats.frames_rendered + 1 > 0):
            assert time.monotonic() < deadline and child.poll() is None, "the call did not start"
            time.sleep(0.05)
        time.sleep(2.0)
        child.send_signal(signal.SIGTERM)
        signalled.set()
        t0 = time.monotonic()
        status = child.wait(timeout=30)
        exited = time.monotonic() - t0
    finally:
        child.kill()
        _, err = child.communicate()
    print(f"\n[terminated] the process exited {exited:.2f} s after SIGTERM")
    assert status == 143 and exited < END_S, err[-500:]
    assert_whole(out, FPS)
    assert (report := partner.join()) is not None and report.reason == "bye"


def test_create_prints_the_invite_and_joins_the_new_room(server: ServerThread,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`--create` asks the server for a room, prints its invite and waits there; Ctrl-C while it
    waits for the other peer ends it at once."""
    when(lambda: bool(Watched.instances) and Watched.instances[-1].joined.is_set(),
         lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    code = cli.main(["--create", "--signaling", server.ws_url, "--receive-only", "--no-window", "--renderer",
                     "landmarks", "--loopback-only"])
    assert code == 130 and time.monotonic() - t0 < 20
    invite_line = re.search(r"room (\S+) token (\S+)", capsys.readouterr().err)
    assert invite_line is not None
    config = Watched.instances[-1].config
    assert (config.room, config.token) == (invite_line[1], invite_line[2])


@pytest.mark.parametrize("argv", [["--room", "kitchen"], ["--token", "a-token-1234"],
                                  ["--create", "--room", "kitchen"]])
def test_a_call_needs_an_invite(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--receive-only", "--no-window"]) == 1
    assert "--create" in capsys.readouterr().err

