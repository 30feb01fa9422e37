"""Browser to browser: two headless Chromium pages, each with a fake camera playing the embedded
clip, hold a shape call through the real signaling server: each tracks and sends its face, and
decodes and draws the other's with the geometry renderer.

Skipped without chromium, chromedriver, selenium or the built page files (`make web`). Everything
stays on 127.0.0.1. Slow-marked (about a minute on 2 cores); `-s` prints both pages' statistics,
FRONTAL_TEST_ARTIFACTS=DIR keeps their screenshots and statistics there:

    OMP_NUM_THREADS=1 python -m pytest -q -m slow tests/test_browser_b2b.py -s
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from frontal.serve import DIST_DIR, WEB_DIR, asset_problems
from signaling.client import create_room
from signaling.server import ServerThread
from tests.test_browser_call import CALL_S, SNAPSHOT, check_page_received, join_page, keep, wait_state, wire_window
from tests.test_call_browser import CHROMEDRIVER, CHROMIUM, chrome, write_y4m

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium/chromedriver absent"),
    pytest.mark.skipif(bool(asset_problems()), reason=f"{DIST_DIR} is not built with FaceMesh (`make web`)"),
]


@pytest.mark.slow
def test_two_pages_call_each_other(tmp_path: Path) -> None:
    y4m = tmp_path / "clip.y4m"
    write_y4m(y4m)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    snaps: dict[str, Any] = {}
    with ServerThread(web_dir=WEB_DIR) as server:
        invite = create_room(server.ws_url, proxy=None)
        link = f"{server.url}/r/{invite.room}?autojoin=1#token={invite.token}"
        a = chrome(tmp_path / "a", y4m)
        b = None
        try:
            join_page(a, link, "Waiting for the other caller")
            b = chrome(tmp_path / "b", y4m)
            join_page(b, link, "In a call")
            wait_state(a, "In a call", 30)
            time.sleep(CALL_S / 2)
            for name, driver in (("a", a), ("b", b)):
                snaps[f"{name}_mid"] = driver.execute_script(SNAPSHOT)
                keep(tmp_path, driver, f"page-{name}-mid-call", snaps[f"{name}_mid"])
            time.sleep(CALL_S / 2)
            snaps["b_live"] = b.execute_script(SNAPSHOT)  # what B had sent when A hangs up, just after
            a.execute_script("window.frontalCall.end('hangup');")
            snaps["a"] = wait_state(a, "Call ended", 10)
            snaps["b"] = wait_state(b, "Call ended", 10)
            keep(tmp_path, a, "page-a", snaps["a"])
            keep(tmp_path, b, "page-b", snaps["b"])
        finally:
            a.quit()
            if b is not None:
                b.quit()
    sa, sb = snaps["a"], snaps["b"]
    figures: dict[str, Any] = {
        "a_wire_second_half": wire_window(snaps["a_mid"], sa),
        "b_wire_second_half": wire_window(snaps["b_mid"], snaps["b_live"]),
        "a_wire_call": sa["wire"], "b_wire_call": snaps["b_live"]["wire"],
    }
    try:
        figures["a_to_b"] = check_page_received(sa["sender"]["frames_encoded"], sb)
        figures["b_to_a"] = check_page_received(snaps["b_live"]["sender"]["frames_encoded"], sa)
    finally:
        print(json.dumps({"figures": figures, "a": sa, "b": sb}, indent=1)[:16000])
    assert sa["ended"] == "hangup" and sb["ended"] == "bye", (sa["state"], sb["state"])
    assert "the other caller hung up" in sb["state"]
    for name, snap in (("a", sa), ("b", snaps["b_live"])):
        assert snap["sender"]["frames_encoded"] >= 2 * CALL_S, (name, snap["sender"])  # 2+ FPS coded on average
        assert snap["sender"]["views_sent"] >= 1, (name, snap["sender"])
    for name, window in (("a", figures["a_wire_second_half"]), ("b", figures["b_wire_second_half"])):
        assert 0 < window["wire_kbps_sent_less_views"] <= window["target_kbps"], (name, window)
