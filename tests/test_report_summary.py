"""Aggregation over clips, the headline table, plots, the HTML page and the report folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from frontal.report import markdown_table, summarize, text_table, write_report
from frontal.report.frontal_side import FrontalRate
from frontal.report.html import render_html
from frontal.report.types import (
    ClassicalPoint,
    ClipComparison,
    ClipResult,
    FrontalClip,
    FrontalFloor,
    LoopbackReport,
    LossResult,
    MatchedPoint,
    SettingResult,
)
from frontal.views_live import ViewScheduleReport


def _point(target: float | None, kbps: float, psnr: float, floor: bool = False, matched: bool = False) -> ClassicalPoint:
    return ClassicalPoint(target, kbps, int(kbps * 4000), 800, "x", floor, matched, {"n_frames": 10, "psnr": psnr, "nme": None})


def _clip(frames: int, scale: float, extra_target: bool, choice: str = "live", first: int | None = 0) -> ClipComparison:
    points = [_point(None, 5 * scale, 20.0, floor=True), _point(16.0, 16 * scale, 28.0)]
    if extra_target:
        points.append(_point(64.0, 60.0, 35.0))
    matched = MatchedPoint(**vars(_point(9.0, 9 * scale, 25.0, matched=True)), goal_kbps=9 * scale, reachable=True,
                           decode_ms_per_frame=1.0, decode_fps=1000.0, loss=[LossResult(0.2, 2, 5, quality={"psnr": 21.0})])
    points.append(matched)
    # packets at 9 * scale - 0.6 kbps, and 4.5 kB of views over a 60-s call: 9 * scale kbps
    rate = FrontalRate("predictive", frames, 15.0, round((9 * scale - 0.6) * 1000 * frames / 15), 1, (1500, 1500, 1500), 60.0,
                       same_decoded_values=True)
    schedule = ViewScheduleReport(choice, "avif", 35, 1.0, 8192, first, None, 4500, [])
    frontal = FrontalClip(
        model="m", trained=False, fields="sup33", view_choice=choice, views=[0, 1, 2], view_format="avif q35",
        view_schedule=schedule, first_view_frame=first, frames_after_first_view=0 if first is None else frames - first,
        rates={"predictive": rate}, primary_mode="predictive", render_ms_mean=20.0, render_ms_median=10.0, render_fps=100.0,
        render_fps_mean=50.0,
        floor=FrontalFloor(fps=15.0, kbps_call=9.0 * scale, kbps_clip=50.0 * scale, packet_kbps=6.0 * scale, header_kbps=1.08,
                           renders_real_time=True),
        quality={"n_frames": frames, "psnr": 12.0 * scale, "nme": None, "expr_mouth": 0.5 * scale},
        quality_after_first_view=None if first is None else
        {"n_frames": frames - first, "psnr": 14.0 * scale, "nme": None, "expr_mouth": 0.5 * scale},
        loss=[LossResult(0.2, 3, 6, rerendered=0, quality={"psnr": 11.0})])
    return ClipComparison(frames, 15.0, frames / 15, 60.0, 9 * scale, "g", frontal, [SettingResult("x264", "1s", points[0], matched, points)],
                          f"/nowhere/clip{frames}_compare.mp4", ["input", "Frontal", "x264"])


def _doc(comparisons: list[ClipComparison]) -> LoopbackReport:
    clips = [ClipResult(f"c{i}.mp4", 15.0, c.frames, 1.0, 10.0, 20.0, {}, comparison=c) for i, c in enumerate(comparisons)]
    return LoopbackReport("sup33", "predictive", 40, 400.0, 328.0, 6.0, None, 10.0, 1.0, 0.3, "t", 0.0, True, {}, clips, [],
                          comparison=summarize(comparisons), command="codec-loopback --report x", load=[5.0, 5.0, 5.0])


@pytest.fixture
def doc() -> LoopbackReport:
    return _doc([_clip(30, 1.0, True, first=10), _clip(10, 2.0, False, first=0)])


def test_frame_weighted_means(doc: LoopbackReport) -> None:
    s = doc.comparison
    assert s is not None
    f = s.frontal
    assert f.frames == 40 and not f.trained
    assert f.rates["predictive"].kbps_call == pytest.approx((30 * 9 + 10 * 18) / 40)
    assert f.quality["psnr"] == pytest.approx((30 * 12 + 10 * 24) / 40)
    assert f.quality["nme"] is None  # no clip had a face for FaceMesh
    assert f.quality["expr_mouth"] == pytest.approx((30 * 0.5 + 10 * 1.0) / 40)
    # after the first view: weighted by the frames after it (20 and 10)
    assert f.frames_after_first_view == 30 and f.view_choice == "live"
    assert f.quality_after_first_view["psnr"] == pytest.approx((20 * 14 + 10 * 28) / 30)
    assert f.render_fps == pytest.approx(100.0)
    (c,) = s.classical
    assert c.floor_kbps == pytest.approx((30 * 5 + 10 * 10) / 40) and c.floor_kbps_max == 10
    assert c.matched_reachable == 2 and c.loss[0].quality["psnr"] == pytest.approx(21.0)
    # the 64-kbps target only one clip has is left out of the averaged curve
    assert [p.target for p in c.rd] == ["maxq", "16"]


def test_tables_name_every_row(doc: LoopbackReport) -> None:
    assert doc.comparison is not None
    text, md = text_table(doc.comparison), markdown_table(doc.comparison)
    for t in (text, md):
        assert "Frontal (predictive, live views, untrained)" in t and "x264" in t and "1 per second" in t
        assert "after 1st view (30/40 frames)" in t and "mouth r" in t
    assert md.count("\n") == 4  # header, rule, Frontal, Frontal after the first view, x264


def test_oracle_is_labelled_and_has_no_after_row() -> None:
    clips = [_clip(30, 1.0, True, choice="oracle"), _clip(10, 2.0, False, choice="oracle")]
    s = summarize(clips)
    assert s.frontal.view_choice == "oracle"
    md = markdown_table(s)
    assert "Frontal (predictive, oracle views, untrained)" in md and "after 1st view" not in md
    page = render_html(_doc(clips), {})
    assert "ORACLE" in page and "oracle views" in page


def test_a_clip_without_any_view() -> None:
    s = summarize([_clip(30, 1.0, True, first=None), _clip(10, 2.0, False, first=0)])
    f = s.frontal
    assert f.clips_without_view == 1 and f.frames_after_first_view == 10
    assert f.quality_after_first_view["psnr"] == pytest.approx(28.0)


def test_report_folder(doc: LoopbackReport, tmp_path: Path) -> None:
    written = write_report(doc, tmp_path)
    assert (tmp_path / "rd_psnr.png").stat().st_size > 1000 and (tmp_path / "loss_psnr.png").is_file()
    assert not (tmp_path / "rd_nme.png").exists()  # no output had the metric: no empty plot
    back = json.loads((tmp_path / "report.json").read_text())
    assert back["comparison"]["frontal"]["frames"] == 40 and back["report"]["plots"]["rd_psnr"] == "rd_psnr.png"
    page = Path(written["html"]).read_text()
    assert "untrained" in page and "<img src='rd_psnr.png'" in page and "clip30_compare.mp4" in page
    assert "live views" in page and "chosen live" in page and (tmp_path / "rd_expr_mouth.png").is_file()
    assert "<script" not in page


def test_html_escapes(doc: LoopbackReport) -> None:
    doc.command = "codec-loopback <b>"
    assert "&lt;b&gt;" in render_html(doc, {})
