"""`frontal bench-render` runs end to end and writes the agreed JSON keys (timing is not tested)."""
from __future__ import annotations

import json
from pathlib import Path

from receiver.bench import main


def test_bench_render_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--model", "fom-mobile", "--frames", "1", "--sources", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["model"] == "fom-mobile"
    assert report["fps"] > 0 and report["ms_per_frame"] > 0
    nets = report["models"][0]["networks"]
    assert nets["decoder"]["params"] > 0 and nets["decoder"]["macs_per_frame_receiver"] > 0
    assert nets["encoder"]["macs_per_source"] > 0 and nets["encoder"]["macs_per_frame_receiver"] == 0


def test_bench_render_rejects_bad_arguments() -> None:
    assert main(["--frames", "0"]) == 2
