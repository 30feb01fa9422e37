"""`frontal bench-page`: the page's per-frame costs measured in headless Chromium through the
DevTools protocol. Checks that it runs the real pipeline (faces found, messages and views coded,
times measured and written as JSON) and that a missing browser is one line, exit 1; it asserts no
speed (the command prints that). Skipped without chromium or the built page files (`make web`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frontal.serve import asset_problems

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium absent")
@pytest.mark.skipif(bool(asset_problems()), reason="the page's files are not built (`make web`)")
def test_bench_page_measures_the_real_pipeline_in_the_page(tmp_path: Path) -> None:
    out = tmp_path / "page.json"
    run = subprocess.run([sys.executable, "-m", "frontal.pagebench", "--frames", "30", "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["frames"] == 30 and result["faces_found"] == 30
    assert result["views"] >= 1 and result["driving_messages"] >= 10 and result["driving_bytes"] > 0
    for part in ("facemesh_ms", "track_ms", "encode_ms", "track_encode_ms"):
        assert result[part]["n"] == 30 and 0 < result[part]["p50"] <= result[part]["p95"]
    # the receiving half added the views that arrived (the last may still be in the pacer's queue)
    # and drew the frames decoded after the first
    assert 1 <= result["view_add_ms"]["n"] <= result["views"]
    assert 0 < result["render_ms"]["n"] <= 30 and result["render_ms"]["p50"] > 0
    assert "tracking + encoding" in run.stdout and "render (receiver)" in run.stdout


def test_bench_page_without_a_browser_is_one_line(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "frontal.pagebench", "--chromium", str(tmp_path / "no-browser")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and run.stderr.startswith("frontal bench-page:"), run.stderr
