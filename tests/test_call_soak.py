"""Soak: a 10-minute two-way loopback call with 10 % loss and 50 ms jitter on both driving channels.

No hang, each peer's memory grows at most 10 % after the first minute, at least 95 % of the frames
sent are shown, the recording is whole. Slow (10 minutes of two busy processes): run it alone,
`pytest -m slow tests/test_call_soak.py -s`; FRONTAL_SOAK_S shortens it for a trial. The figures
are in docs/call.md ("Soak test").
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signaling.server import ServerThread
from tests.call_helpers import frame_count, invite, leftovers

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SOAK_S = float(os.environ.get("FRONTAL_SOAK_S", "600"))
WARM_S = 60.0  # memory is compared with what each peer held after this long


def growth(samples: list[tuple[float, int]]) -> float:
    """The largest resident size after the first minute, relative to the size at one minute."""
    base = next(rss for t, rss in samples if t >= min(WARM_S, samples[-1][0]))
    return max(rss for t, rss in samples if t >= WARM_S) / base - 1.0 if samples[-1][0] >= WARM_S else 0.0


def test_soak(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {"PYTHONPATH": str(REPO)}
    with ServerThread() as server:
        room = invite(server.ws_url)
        record = tmp_path / "remote.mp4"
        runs = [(tmp_path / "a.json", []), (tmp_path / "b.json", [str(record)])]
        peers = [subprocess.Popen([sys.executable, "-m", "tests.soak_peer", server.ws_url, room.room, room.token,
                                   str(SOAK_S), str(out), *extra], cwd=REPO, env=env) for out, extra in runs]
        try:
            codes = [p.wait(timeout=SOAK_S + 120) for p in peers]  # no hang
        finally:
            for p in peers:
                p.kill()
    assert codes == [0, 0]
    a, b = (json.loads(out.read_text()) for out, _ in runs)
    print()
    for name, me, other in (("A", a, b), ("B", b, a)):
        shown = me["stats"]["frames_rendered"] + me["stats"]["frames_held"]
        sent = other["stats"]["frames_encoded"]
        print(f"peer {name}: {me['reason']}, ran {me['run_s']} s, rss {me['rss'][0][1] / 2**20:.0f} MiB at start, "
              f"{me['rss'][-1][1] / 2**20:.0f} MiB at end, growth after 1 min {100 * growth(me['rss']):+.1f} %; "
              f"shown {shown} of {sent} frames sent ({100 * shown / sent:.1f} %), rendered "
              f"{me['stats']['frames_rendered']}, lost {me['stats']['packets_lost']} packets "
              f"(the other dropped {other['dropped']} messages); latency p50 {me['stats']['latency_ms_p50']} ms, "
              f"p95 {me['stats']['latency_ms_p95']} ms; payload {me['stats']['payload_kbps']} kbps, "
              f"wire {me['stats']['wire_kbps']} kbps")
        assert me["reason"] in ("duration", "bye")
        assert growth(me["rss"]) <= 0.10
        assert shown >= 0.95 * sent
    assert b["recorded"] and frame_count(record) == b["recorded_frames"] >= 0.95 * a["stats"]["frames_encoded"]
    assert leftovers(tmp_path) == []
    print(f"recording: {b['recorded_frames']} frames, whole")
