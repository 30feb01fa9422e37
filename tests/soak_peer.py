"""One peer of the soak test, in a process of its own (so its memory is its own).

    python -m tests.soak_peer URL ROOM TOKEN DURATION_S OUT.json [RECORD.mp4]

Sends the embedded clip at 15 FPS with 10 % loss and 50 ms jitter on its driving channel, renders
the other peer (landmark renderer), optionally records it, samples its resident memory every 5 s
and writes the call's report, the samples and the recording's outcome to OUT.json.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from codec.callstats import json_safe
from frontal.call.impair import Impairment
from frontal.call.peer import CallPeer, PeerConfig
from receiver.render import LandmarkFrameRenderer
from receiver.sinks import Recorder
from sender.live import SenderConfig
from sender.sources import VideoSource
from sender.video import default_video

FPS = 15.0
LOSS, JITTER_MS = 0.10, 50.0


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def soak(url: str, room: str, token: str, duration_s: float, record: Path | None) -> dict[str, object]:
    impair = Impairment(loss=LOSS, jitter_ms=JITTER_MS, seed=hash(record) & 0xFFFF)
    cfg = PeerConfig(url, room, token, sender=SenderConfig(fps=FPS), loopback_only=True, wait_peer_s=60)
    peer = CallPeer(cfg, VideoSource(default_video(), FPS), LandmarkFrameRenderer, impairment=impair)
    recorder = None
    if record is not None:
        recorder = Recorder(record, FPS, on_failure=lambda exc: peer.fail("recorder-failed", exc))
        peer.receiver.sinks.append(recorder)
    samples: list[tuple[float, int]] = []

    async def sample() -> None:
        await peer.connected.wait()
        t0 = time.monotonic()
        while True:
            samples.append((round(time.monotonic() - t0, 1), rss_bytes()))
            await asyncio.sleep(5.0)

    sampler = asyncio.create_task(sample())
    t0 = time.monotonic()
    report = await peer.run(duration_s)
    ended = time.monotonic()
    sampler.cancel()
    written = recorder.close(5.0) if recorder is not None else None
    return {"reason": report.reason, "stats": json_safe(report.stats), "rss": samples,
            "run_s": round(ended - t0, 1), "dropped": impair.dropped, "delayed": impair.delayed,
            "recorded": written, "recorded_frames": recorder.frames if recorder is not None else None}


def main(argv: list[str]) -> int:
    url, room, token, duration, out = argv[:5]
    record = Path(argv[5]) if len(argv) > 5 else None
    result = asyncio.run(soak(url, room, token, float(duration), record))
    Path(out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
