"""Headless Chromium with a fake camera joins a call with a desktop peer through the page.

Skipped cleanly without chromium, chromedriver or selenium. Everything stays on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import queue
import shutil
import threading
import time
from pathlib import Path

import cv2
import pytest

from frontal.call.cli import build_parser
from frontal.call.peer import CallPeer, PeerConfig
from frontal.call.render import LandmarkFrameRenderer
from frontal.call.sender_side import SenderConfig
from frontal.call.sinks import LatestFrame
from frontal.call.sources import VideoSource
from frontal.paths import default_video
from sender.video import open_video
from signaling.server import ServerThread

FPS = 10.0
TOKEN = "browser-test-token"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium/chromedriver absent")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


def write_y4m(path: Path, seconds: float = 4.0) -> None:
    """The embedded talking head as a Y4M file (Chromium's fake camera plays it in a loop)."""
    with open_video(default_video(), fps=FPS, max_frames=int(seconds * FPS)) as video, path.open("wb") as out:
        for i, rgb in enumerate(video):
            if i == 0:
                h, w = rgb.shape[:2]
                out.write(f"YUV4MPEG2 W{w} H{h} F{int(FPS)}:1 Ip A1:1 C420jpeg\n".encode())
            out.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())


def chrome(tmp: Path, y4m: Path):  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--no-proxy-server", "--allow-loopback-in-peer-connection",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp / 'profile'}",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--use-file-for-fake-video-capture={y4m}"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


REMOTE_FRAMES = """
const v = document.getElementById('remote');
const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
return [v.videoWidth, v.currentTime, q, document.getElementById('status').textContent,
        document.getElementById('stats').textContent];
"""


def test_browser_page_calls_a_desktop_peer(tmp_path: Path) -> None:
    y4m = tmp_path / "clip.y4m"
    write_y4m(y4m)
    urls: queue.Queue[str] = queue.Queue()
    results: dict[str, object] = {}
    desktop_frames = LatestFrame()
    stop = threading.Event()

    with ServerThread() as server:
        args = build_parser().parse_args([
            "--room", "web1", "--token", TOKEN, "--signaling", server.ws_url, "--browser", "--ui-port", "0",
            "--loopback-only", "--renderer", "landmarks", "--duration", "30", "--fps", str(FPS)])

        async def both() -> None:
            from frontal.call.browser import browser_call

            page = asyncio.create_task(browser_call(args, on_ready=urls.put))
            cfg = PeerConfig(server.ws_url, "web1", TOKEN, sender=SenderConfig(fps=FPS), loopback_only=True,
                             wait_peer_s=60)
            desktop = CallPeer(cfg, VideoSource(default_video(), FPS), LandmarkFrameRenderer)
            desktop.receiver.sinks.append(desktop_frames)
            call = asyncio.create_task(desktop.run(30))
            while not stop.is_set() and not call.done():
                await asyncio.sleep(0.1)
            desktop.hang_up("stopped")
            results["desktop"] = await call
            results["page"] = await asyncio.wait_for(page, 20)

        worker = threading.Thread(target=lambda: asyncio.run(both()), daemon=True)
        worker.start()
        url = urls.get(timeout=60)
        driver = chrome(tmp_path, y4m)
        try:
            driver.set_page_load_timeout(20)
            driver.get(f"{url}&autostart=1")
            deadline = time.monotonic() + 45
            state = None
            while time.monotonic() < deadline:
                state = driver.execute_script(REMOTE_FRAMES)
                if state[0] > 0 and state[2] >= 20 and desktop_frames.count >= 20:
                    break
                time.sleep(0.5)
        finally:
            driver.quit()
            stop.set()
            worker.join(60)
    assert state is not None and state[0] > 0 and state[2] >= 20, state  # the page plays the remote caller
    assert desktop_frames.count >= 20  # the desktop peer renders the browser's camera
    assert "kbps" in state[4]
    assert results["desktop"].reason in ("stopped", "duration")  # type: ignore[union-attr]
