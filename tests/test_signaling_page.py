"""The web app's signaling module (`frontal/web/signaling.js`), in Node.js against a live server;
skipped without Node."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontal.serve import WEB_DIR
from signaling.server import ServerThread

SCRIPT = """
import { SignalingChannel, createRoom } from "./signaling.mjs";
const url = process.argv[2];
const origin = process.argv[3];
const event = (channel, type) => new Promise((resolve) =>
  channel.addEventListener(type, (e) => resolve(e.detail), { once: true }));

const invite = await createRoom(origin);
let probed = null;
try {
  await new SignalingChannel(url).join("no-such-room", invite.token);
} catch (e) {
  probed = e;
}
const a = new SignalingChannel(url);
const infoA = await a.join(invite.room, invite.token);
const peerJoined = event(a, "peer-joined");
const b = new SignalingChannel(url);
const offer = event(b, "offer");
const infoB = await b.join(invite.room, invite.token);
await peerJoined;
a.send({ type: "offer", sdp: "v=0" });
const relayed = await offer;
let refused = null;
try {
  await new SignalingChannel(url).join(invite.room, "wrong-token-123");
} catch (e) {
  refused = e;
}
const left = event(a, "peer-left");
b.close();
const peerLeft = await left;
a.close();
console.log(JSON.stringify({ invite, infoA, infoB, relayed, refused, probed, peerLeft }));
"""


def node_command() -> list[str] | None:
    """`node` (with the WebSocket flag if this version needs it), or None."""
    node = shutil.which("node")
    if node is None:
        return None
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run(
            [node, *flags, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
            capture_output=True,
            timeout=20,
        )
        if probe.returncode == 0:
            return [node, *flags]
    return None


@pytest.fixture
def node() -> list[str]:
    command = node_command()
    if command is None:
        pytest.skip("Node.js with WebSocket support is not installed")
    return command


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread() as srv:
        yield srv


def test_browser_module_joins_relays_and_sees_refusals(
    node: list[str], server: ServerThread, tmp_path: Path
) -> None:
    shutil.copy(WEB_DIR / "signaling.js", tmp_path / "signaling.mjs")
    (tmp_path / "run.mjs").write_text(SCRIPT)
    done = subprocess.run(
        [*node, "run.mjs", server.ws_url, server.url], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["infoA"]["initiator"] and not out["infoB"]["initiator"]
    assert out["relayed"] == {"from": out["infoA"]["peer_id"], "type": "offer", "sdp": "v=0"}
    assert (out["refused"]["code"], out["refused"]["fatal"]) == ("bad-token", True)
    # a missing room answers exactly as a wrong token does: nothing is revealed
    assert (out["probed"]["code"], out["probed"]["message"]) == (out["refused"]["code"], out["refused"]["message"])
    assert out["peerLeft"] == {
        "type": "peer-left",
        "peer_id": out["infoB"]["peer_id"],
        "reason": "closed",
    }
