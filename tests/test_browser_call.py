"""The page as a peer (frontal/web/peer/): headless Chromium, a fake camera playing the embedded
clip, FaceMesh in the page, the shape call sent straight to a desktop `frontal call --renderer mesh`
that records what it receives.

Skipped without chromium, chromedriver, selenium or the built page files (`make web`). Everything
stays on 127.0.0.1. The call is slow-marked (about a minute on 2 cores):

    OMP_NUM_THREADS=1 python -m pytest -q -m slow tests/test_browser_call.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frontal.serve import DIST_DIR, WEB_DIR, asset_problems
from signaling.client import create_room
from signaling.server import ServerThread
from tests.test_call_browser import CHROMEDRIVER, CHROMIUM, chrome, write_y4m

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium/chromedriver absent"),
    pytest.mark.skipif(bool(asset_problems()), reason=f"{DIST_DIR} is not built with FaceMesh (`make web`)"),
]

SNAPSHOT = "return window.frontalCall ? window.frontalCall.snapshot() : null;"

FACEMESH = """
const done = arguments[arguments.length - 1];
(async () => {
  const { PageFaceMesh } = await import('/web/peer/facemesh.js');
  const v = document.createElement('video'); v.muted = true; document.body.appendChild(v);
  v.srcObject = await navigator.mediaDevices.getUserMedia({video: true});
  await v.play();
  const fm = await PageFaceMesh.create();
  const out = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const f = await fm.detect(v);
    out.push({ms: performance.now() - t, n: f ? f.length : 0});
  }
  done({width: v.videoWidth, height: v.videoHeight, frames: out});
})().catch((e) => done({error: String(e && e.stack || e)}));
"""


def test_facemesh_runs_offline_in_the_page(tmp_path: Path) -> None:
    """FaceMesh from /web/dist/face_mesh/ finds the clip's face: 478 points a frame."""
    y4m = tmp_path / "clip.y4m"
    write_y4m(y4m, seconds=2)
    with ServerThread(web_dir=WEB_DIR) as server:
        driver = chrome(tmp_path, y4m)
        try:
            driver.set_script_timeout(120)
            driver.get(server.url + "/")
            result = driver.execute_async_script(FACEMESH)
        finally:
            driver.quit()
    assert "error" not in result, result
    assert all(f["n"] == 478 for f in result["frames"]), result


@pytest.mark.slow
def test_page_sends_a_shape_call_to_a_desktop_peer(tmp_path: Path) -> None:
    y4m = tmp_path / "clip.y4m"
    write_y4m(y4m)
    record, stats = tmp_path / "desktop.mp4", tmp_path / "desktop.json"
    with ServerThread(web_dir=WEB_DIR) as server:
        invite = create_room(server.ws_url, proxy=None)
        driver = chrome(tmp_path, y4m)
        desktop = None
        try:
            driver.set_page_load_timeout(30)
            driver.get(f"{server.url}/r/{invite.room}?autojoin=1#token={invite.token}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                snap = driver.execute_script(SNAPSHOT)
                if snap and "Waiting for the other caller" in snap["state"]:
                    break
                assert not (snap and snap["state"].startswith("error")), snap
                time.sleep(0.5)
            else:
                pytest.fail(f"the page did not join: {driver.execute_script(SNAPSHOT)}")
            desktop = subprocess.Popen(
                [sys.executable, "-m", "frontal.call", "--room", invite.room, "--token", invite.token,
                 "--signaling", server.ws_url, "--renderer", "mesh", "--video", "default", "--no-window",
                 "--loopback-only", "--duration", "25", "--record", str(record), "--json", str(stats), "-f"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            out, _ = desktop.communicate(timeout=150)
            snap = driver.execute_script(SNAPSHOT)
        finally:
            if desktop is not None and desktop.poll() is None:
                desktop.kill()
            driver.quit()
    report = json.loads(stats.read_text()) if stats.is_file() else {}
    print(json.dumps({"page": snap, "desktop": report}, indent=1)[:6000])
    assert desktop.returncode == 0, out[-3000:]
    assert snap["sender"]["frames_encoded"] >= 20 and snap["sender"]["views_sent"] >= 1, snap
    assert snap["driving_messages_received"] > 0, "the desktop's stream reached the page"
    assert record.is_file() and record.stat().st_size > 0
