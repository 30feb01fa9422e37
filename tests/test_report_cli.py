"""`codec-loopback --report`: the whole path on a few frames of the embedded clip, and its errors."""
from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from frontal.loopback import main as loopback_main

FAST = ["--max-frames", "10", "--baselines", "x264", "--keyint", "1s", "--rates", "none", "--metrics", "psnr",
        "--headline-metrics", "psnr,vmaf,expr", "--loss", "0.2", "--mode", "predictive", "-q"]


def test_report_folder_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert loopback_main([*FAST, "--report", str(out), "--json", str(tmp_path / "lb.json")]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert json.loads((tmp_path / "lb.json").read_text())["comparison"] == doc["comparison"]
    s = doc["comparison"]
    f = s["frontal"]
    r = f["rates"]["predictive"]
    assert f["frames"] == 10 and r["kbps_clip"] > r["kbps_call"] > r["packet_kbps"] > 0  # views cost something
    assert f["fields"] == "shape48" and f["model"] == "mesh" and f["render_fps"] > 0  # the shipped model
    assert set(f["quality"]) >= {"psnr", "vmaf", "expr_mouth", "expr_eyes", "expr_brows"} and f["loss"][0]["loss"] == 0.2
    (c,) = s["classical"]
    assert (c["codec"], c["keyint"]) == ("x264", "1s") and c["floor_kbps"] > 0 and c["matched_kbps"] > 0
    assert c["matched_quality"]["psnr"] > 15 and {"vmaf", "expr_mouth", "expr_eyes", "expr_brows"} <= set(c["matched_quality"])
    # live views by default: the call's choice, its bytes in the rate, the figure after the first view
    assert f["view_choice"] == "live" and f["view_format"] == "avif q35" and f["quality_after_first_view"]["psnr"] > 0
    clip = doc["clips"][0]
    fr = clip["comparison"]["frontal"]
    sched = fr["view_schedule"]
    assert sched["choice"] == "live" and fr["first_view_frame"] == sched["first_arrival_frame"] is not None
    assert sum(fr["rates"]["predictive"]["view_bytes"]) == sched["bytes_sent"]
    assert "Frontal (predictive, live views)" in (out / "index.html").read_text()
    assert clip["render"]["side_by_side"] == clip["comparison"]["side_by_side"]
    for name in ("index.html", "rd_psnr.png", "rd_vmaf.png", "loss_psnr.png"):
        assert (out / name).is_file(), name
    with av.open(clip["comparison"]["side_by_side"]) as v:
        frames = [fr.to_ndarray(format="rgb24") for fr in v.decode(video=0)]
    assert len(frames) == 10 and frames[0].shape[1] == 3 * 256  # input | Frontal | x264
    # an existing report is not overwritten without -f
    assert loopback_main([*FAST, "--report", str(out)]) == 1


def test_oracle_views_are_labelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    fast = [*FAST, "--headline-metrics", "psnr", "--loss", "none"]
    assert loopback_main([*fast, "--views", "oracle", "--report", str(out)]) == 0
    doc = json.loads((out / "report.json").read_text())
    f = doc["comparison"]["frontal"]
    assert f["view_choice"] == "oracle" and f["view_format"] == "webp q80" and f["views_mean"] == 3
    assert doc["clips"][0]["comparison"]["frontal"]["view_schedule"]["choice"] == "oracle"
    text = capsys.readouterr().out
    assert "Frontal (predictive, oracle views)" in text and "ORACLE" in text
    page = (out / "index.html").read_text()
    assert "oracle views" in page and "ORACLE" in page


@pytest.mark.parametrize("bad", [["--baselines", "mpeg2"], ["--keyint", "2s"], ["--metrics", "lpips"],
                                 ["--loss", "1.5"], ["--rates", "fast"], ["--max-clips", "0"]])
def test_bad_options_one_line_error(bad: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert loopback_main([*FAST, *bad, "--report", str(tmp_path / "r")]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("codec-loopback:")]
    assert len(err) == 1
    assert not (tmp_path / "r" / "report.json").exists()
