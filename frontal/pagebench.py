"""`frontal bench-page`: what a call costs the browser page per frame, measured in the page.

    frontal bench-page                          # the embedded clip as the camera, 150 frames
    frontal bench-page --video talk.mp4 --frames 300 --json reports/bench_page.json

Serves the page (`frontal serve`'s files) on 127.0.0.1, starts headless Chromium with a fake camera
playing the clip, and runs `frontal/web/bench.js` in the page through the DevTools protocol (no
WebDriver needed): FaceMesh, the tracker and the sender exactly as a call runs them, then the
receiving half on the messages that came out (decode, views, the geometry renderer). Prints
ms/frame (mean, p50, p95) for each part and, with --json, everything. The targets of issue 16 are
tracking + encoding <= 15 ms and render <= 50 ms a frame in headless Chromium on this machine.

Needs Chromium (`--chromium`, else `chromium`/`chromium-browser`/`google-chrome` on PATH) and the
page's built files (`make web`). Exit status 1 with one line when either is missing or the page fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2

from codec.atomic import atomic_write
from frontal.serve import WEB_DIR, asset_problems
from sender.video import VideoError, default_video, open_video
from signaling.server import ServerThread

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")
TARGETS_MS = {"track_encode_ms": 15.0, "render_ms": 50.0}


class PageBenchError(RuntimeError):
    """The benchmark cannot run or the page failed (one line)."""


def write_y4m(video: Path, out: Path, fps: float, seconds: float, max_side: int = 640) -> tuple[int, int]:
    """`seconds` of `video` at `fps` as a Y4M file (Chromium's fake camera loops it at the file's
    size, whatever the page asks for), scaled down to at most `max_side` wide or tall as the call's
    camera (640x480) would give it; returns its size."""
    size = (0, 0)
    with open_video(video, fps=fps, max_frames=max(1, int(seconds * fps))) as frames, out.open("wb") as f:
        for i, rgb in enumerate(frames):
            if i == 0:
                h, w = rgb.shape[:2]
                scale = min(1.0, max_side / max(h, w))
                w, h = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
                size = (w, h)
                f.write(f"YUV4MPEG2 W{w} H{h} F{round(fps)}:1 Ip A1:1 C420jpeg\n".encode())
            if rgb.shape[:2] != (size[1], size[0]):
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            f.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    if size == (0, 0):
        raise PageBenchError(f"{video}: no frames")
    return size


def chromium_flags(profile: Path, y4m: Path) -> list[str]:
    """Headless Chromium, offline, with a fake camera playing `y4m` and the camera allowed (the
    flags the browser tests use too)."""
    return ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--no-proxy-server",
            "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={y4m}"]


def find_chromium(given: str | None) -> str:
    if given:
        if shutil.which(given) is None and not Path(given).is_file():
            raise PageBenchError(f"--chromium {given}: not found")
        return given
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise PageBenchError("no Chromium found (install chromium, or give --chromium PATH)")


class DevTools:
    """A minimal DevTools-protocol client over one WebSocket (the browser target, flattened sessions)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
                   timeout: float = 60.0) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise PageBenchError(f"{method}: {reply['error'].get('message', reply['error'])}")
                result: dict[str, Any] = reply.get("result", {})
                return result


RUN = """(async () => {
  const { runBench } = await import('/web/bench.js');
  return JSON.stringify(await runBench({ frames: %d, fps: %s%s }));
})()"""


async def _drive(devtools_url: str, page_url: str, frames: int, fps: float, side: str, timeout: float) -> dict[str, Any]:
    import websockets  # noqa: PLC0415 (only this command speaks the DevTools protocol)

    async with websockets.connect(devtools_url, max_size=1 << 24) as ws:
        cdp = DevTools(ws)
        target = (await cdp.call("Target.createTarget", {"url": page_url}))["targetId"]
        session = (await cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        for _ in range(100):  # the page loads
            state = await cdp.call("Runtime.evaluate", {"expression": "location.protocol + ' ' + document.readyState",
                                                        "returnByValue": True}, session)
            if state.get("result", {}).get("value") == "http: complete":
                break
            await asyncio.sleep(0.1)
        out = await cdp.call("Runtime.evaluate", {"expression": RUN % (frames, json.dumps(fps), side), "awaitPromise": True,
                                                  "returnByValue": True}, session, timeout=timeout)
        if "exceptionDetails" in out:
            details = out["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "exception")
            raise PageBenchError(f"the page failed: {text.splitlines()[0]}")
        result: dict[str, Any] = json.loads(out["result"]["value"])
        return result


def run_bench(video: Path, frames: int, fps: float, chromium: str, timeout: float, facemesh_side: int | None = None) -> dict[str, Any]:
    problems = asset_problems()
    if problems:
        raise PageBenchError(f"the page's files are not built: {'; '.join(problems)} (run `make web`)")
    with tempfile.TemporaryDirectory(prefix="frontal-bench-page-") as tmp_name:
        tmp = Path(tmp_name)
        y4m = tmp / "camera.y4m"
        width, height = write_y4m(video, y4m, fps, seconds=10.0)
        with ServerThread(web_dir=WEB_DIR) as server:
            args = [chromium, *chromium_flags(tmp / "profile", y4m), "--remote-debugging-port=0", "about:blank"]
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                url = None
                deadline = time.monotonic() + 30
                assert proc.stderr is not None
                while url is None and time.monotonic() < deadline:
                    line = proc.stderr.readline()
                    if not line and proc.poll() is not None:
                        break
                    m = DEVTOOLS_LINE.search(line)
                    url = m.group(1) if m else None
                if url is None:
                    raise PageBenchError(f"{chromium} did not start (no DevTools endpoint)")
                side = "" if facemesh_side is None else f", facemeshSide: {int(facemesh_side)}"
                result = asyncio.run(_drive(url, server.url + "/", frames, fps, side, timeout))
            finally:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
    result.update({"video": str(video), "camera": [width, height], "browser": Path(chromium).name,
                   "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
                   "targets_ms": TARGETS_MS})
    return result


def _row(name: str, s: dict[str, Any] | None, target: float | None) -> str:
    if not s or s.get("mean") is None:
        return f"{name:<22} (not measured)"
    verdict = "" if target is None else ("  meets" if s["mean"] <= target else "  misses") + f" the {target:g}-ms target (mean)"
    return f"{name:<22} mean {s['mean']:7.2f}  p50 {s['p50']:7.2f}  p95 {s['p95']:7.2f} ms{verdict}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="frontal bench-page", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default="default", help="the camera's clip ('default': the embedded clip)")
    p.add_argument("--frames", type=int, default=150, help="camera frames to run (default 150)")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--facemesh-side", type=int, help="the longer side FaceMesh sees (default: the page's, 320; 0: the whole frame)")
    p.add_argument("--chromium", help="the browser binary (default: chromium on PATH)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before the run is abandoned")
    p.add_argument("--json", type=Path, help="write everything measured as JSON")
    p.add_argument("-f", "--force", action="store_true", help="overwrite --json")
    args = p.parse_args(argv)
    try:
        if args.frames < 1 or not 0 < args.fps <= 60:
            raise PageBenchError("--frames >= 1 and 0 < --fps <= 60")
        if args.json is not None and args.json.exists() and not args.force:
            raise PageBenchError(f"{args.json} exists (use -f to overwrite)")
        video = default_video() if args.video == "default" else Path(args.video)
        if not video.is_file():
            raise PageBenchError(f"{video}: no such file")
        result = run_bench(video, args.frames, args.fps, find_chromium(args.chromium), args.timeout, args.facemesh_side)
    except (PageBenchError, VideoError, OSError, TimeoutError) as exc:
        print(f"frontal bench-page: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    side = result["facemesh_side"]
    sees = f"at most {side} px" if side else "the whole frame"
    print(f"{result['browser']} ({result['hardware_concurrency']} cores), camera {result['camera'][0]}x{result['camera'][1]} "
          f"(FaceMesh sees {sees}), {result['frames']} frames in {result['seconds']:.1f} s; faces found "
          f"{result['faces_found']}/{result['frames']}; views {result['views']}; load {result['load_average'][0]:.1f}")
    print(_row("FaceMesh", result["facemesh_ms"], None))
    print(_row("tracking (FaceMesh+fit)", result["track_ms"], None))
    print(_row("encoding", result["encode_ms"], None))
    print(_row("tracking + encoding", result["track_encode_ms"], TARGETS_MS["track_encode_ms"]))
    print(_row("render (receiver)", result["render_ms"], TARGETS_MS["render_ms"]))
    print(_row("a view arriving (once)", result["view_add_ms"], None))
    if args.json is not None:
        atomic_write(args.json, json.dumps(result, indent=2).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
