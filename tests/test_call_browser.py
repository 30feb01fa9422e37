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

import pytest

from frontal import pagebench
from frontal.call.cli import build_parser
from frontal.call.peer import CallPeer, PeerConfig
from receiver.render import LandmarkFrameRenderer
from receiver.sinks import LatestFrame
from sender.live import SenderConfig
from sender.sources import VideoSource
from sender.video import default_video
from signaling.client import create_room
from signaling.server import ServerThread

FPS = 10.0
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium/chromedriver absent")


def write_y4m(path: Path, seconds: float = 4.0) -> None:
    """The embedded talking head as a Y4M file (Chromium's fake camera plays it in a loop)."""
    pagebench.write_y4m(default_video(), path, FPS, seconds)


def chrome(tmp: Path, y4m: Path, *extra: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*pagebench.chromium_flags(tmp / "profile", y4m), *extra):
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
        room = create_room(server.ws_url, proxy=None)
        args = build_parser().parse_args([
            "--room", room.room, "--token", room.token, "--signaling", server.ws_url, "--browser", "--ui-port", "0",
            "--loopback-only", "--renderer", "landmarks", "--duration", "30", "--fps", str(FPS)])

        async def both() -> None:
            from frontal.call.browser import browser_call

            page = asyncio.create_task(browser_call(args, on_ready=urls.put))
            cfg = PeerConfig(server.ws_url, room.room, room.token, sender=SenderConfig(fps=FPS), loopback_only=True,
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
            driver.get(f"{url}?autostart=1")  # url: http://127.0.0.1:PORT/r/ROOM
            deadline = time.monotonic() + 45
            state = None
            while time.monotonic() < deadline:
                state = driver.execute_script(REMOTE_FRAMES)
                # frames on both sides, and the page's first statistics line (sent once a second)
                if state[0] > 0 and state[2] >= 20 and desktop_frames.count >= 20 and "kbps" in state[4]:
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


PAGE = b"<!doctype html><title>sctp</title>"

OFFER = """
const done = arguments[arguments.length - 1];
const pc = new RTCPeerConnection();
const d = pc.createDataChannel("d", {negotiated: true, id: 0, ordered: false, maxRetransmits: 0});
const c = pc.createDataChannel("c", {negotiated: true, id: 1});
window.got = {d: 0, c: []};
d.onmessage = () => { window.got.d += 1; };
c.onmessage = (e) => { window.got.c.push(e.data); };
Object.assign(window, {pc, d, c});
pc.onicegatheringstatechange = () => {
  if (pc.iceGatheringState === "complete") done(pc.localDescription.sdp);
};
pc.createOffer().then((o) => pc.setLocalDescription(o));
"""

SEND = """
const [answer, n, period] = arguments;
window.pc.setRemoteDescription({type: "answer", sdp: answer});
const start = () => {
  if (window.c.readyState !== "open") return setTimeout(start, 20);
  let k = 0;
  const timer = setInterval(() => {
    if (k % 5 === 0) window.d.send(new Uint8Array(28));
    window.c.send("B" + String(k).padStart(3, "0"));
    if (++k >= n) clearInterval(timer);
  }, period);
};
start();
"""


def loopback_candidates_only(sdp: str) -> str:
    """The offer without candidates on other addresses: nothing of ours leaves 127.0.0.1."""
    lines = [ln for ln in sdp.splitlines() if not ln.startswith("a=candidate:") or " 127.0.0.1 " in ln]
    assert any(ln.startswith("a=candidate:") for ln in lines), sdp
    return "\r\n".join(lines) + "\r\n"


def test_chromium_sctp_talks_to_our_delayed_sacks(tmp_path: Path) -> None:
    """Chromium's SCTP (dcsctp) and ours (delayed, bundled SACKs) exchange messages at a call's rate,
    both ways, on both kinds of channel: everything reliable arrives in order, and our SACKs mostly
    ride with DATA."""
    import http.server

    from aiortc import RTCPeerConnection, RTCSessionDescription

    from frontal.call.peer import loopback_ice
    from frontal.call.transport import install

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    n, period_ms = 45, 67  # 3 s at 15 messages/s on each channel, each way
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def on_loop(coro, timeout: float = 30):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    got: dict[str, list[bytes | str]] = {"d": [], "c": []}

    async def answer(offer: str) -> tuple[RTCPeerConnection, object, str]:
        pc = RTCPeerConnection()
        d = pc.createDataChannel("d", ordered=False, maxRetransmits=0, negotiated=True, id=0)
        c = pc.createDataChannel("c", negotiated=True, id=1)
        d.on("message", got["d"].append)
        c.on("message", got["c"].append)
        counters = install(pc)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc, (d, c, counters), pc.localDescription.sdp

    async def send(channels) -> None:  # type: ignore[no-untyped-def]
        d, c, _ = channels
        while c.readyState != "open":
            await asyncio.sleep(0.02)
        for k in range(n):
            if k % 5 == 0:
                d.send(bytes(28))
            c.send(f"P{k:03d}")
            await asyncio.sleep(period_ms / 1000)
        await asyncio.sleep(1.0)

    # no camera here, so keep Chromium from hiding its host candidates behind mDNS names
    driver = chrome(tmp_path, tmp_path / "unused.y4m", "--disable-features=WebRtcHideLocalIpsWithMdns")
    pc = None
    try:
        with loopback_ice(True):
            driver.set_script_timeout(20)
            driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/")
            offer = loopback_candidates_only(driver.execute_async_script(OFFER))
            pc, channels, sdp = on_loop(answer(offer))
            driver.execute_script(SEND, sdp, n, period_ms)
            on_loop(send(channels))
            page = driver.execute_script("return window.got;")
    finally:
        driver.quit()
        if pc is not None:
            on_loop(pc.close())
        loop.call_soon_threadsafe(loop.stop)
        httpd.shutdown()
    counters = channels[2]
    assert page["c"] == [f"P{k:03d}" for k in range(n)]  # Chromium got all of ours, in order
    assert got["c"] == [f"B{k:03d}" for k in range(n)]  # and we all of Chromium's
    assert min(page["d"], len(got["d"])) >= n // 5 - 1  # unreliable, but loopback loses ~nothing
    assert counters.sacks_bundled > 2 * counters.sacks_alone, counters
    assert counters.sacks_alone < 0.4 * counters.packets_received_needing_sack, counters
