"""The geometry renderer in the benchmark (`codec-loopback --model mesh`): the shape stream coded
as a call codes it, live views each with its own coded record, the call's own renderer; and
`frontal bench-render --model mesh`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codec.fields import FieldSet
from codec.tables import load_tables, tables_path_for
from frontal.loopback import main as loopback_main
from frontal.pipeline import MESH, model_fields, shape_records, track_clip
from frontal.views_live import ViewRecords, live_views
from receiver import bench as render_bench
from receiver.render import make_renderer
from sender.video import default_video


@pytest.fixture(scope="module")
def clip():  # type: ignore[no-untyped-def]
    return track_clip(default_video(), fps=15.0, max_frames=30)


def test_live_views_of_a_shape_stream_carry_their_own_coded_records(clip) -> None:  # type: ignore[no-untyped-def]
    fields = model_fields(MESH)
    assert fields == FieldSet.parse("shape")
    records = shape_records(clip, fields)
    shape = ViewRecords(records, fields, load_tables(tables_path_for(fields)))
    plain, with_records = live_views(clip), live_views(clip, shape=shape)
    assert [v.frame for v in plain.views] == [v.frame for v in with_records.views]  # the same choice
    arrived = with_records.arrived
    assert arrived and all(v.record is not None and v.sup is None for v in arrived)
    for v in arrived:  # the record is the view frame's own, through the coder (a few quantization steps off)
        assert v.record is not None and v.record.pose is not None and v.record.shape is not None
        assert np.allclose(v.record.pose, records[v.frame].pose, atol=0.05)
        assert np.abs(v.record.shape - records[v.frame].shape).max() < 0.5 * float(np.abs(records[v.frame].shape).max()) + 0.05
    # a shape view start carries its record instead of 33 landmarks: the bytes differ
    assert with_records.bytes_sent != plain.bytes_sent


def test_loopback_with_the_mesh_model_codes_the_shape_and_renders_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    rc = loopback_main(["--model", "mesh", "--render", "--mode", "predictive", "--max-frames", "30",
                        "--out", str(tmp_path), "--json", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["fields"] == model_fields(MESH).name
    assert 100 < doc["payload_bits_per_frame"] < 260  # 48 shape coefficients + pose, predictive
    assert doc["landmark_error_px"] < 3.0  # the decoded mesh's 33 landmarks against the tracker's
    render = doc["clips"][0]["render"]
    assert render["model"] == "mesh" and render["view_choice"] == "live"
    assert render["psnr"] > 12.0  # a face, not a black or grey frame (those score below 10 dB here)
    assert Path(render["side_by_side"]).is_file()


def test_the_benchmark_reports_the_calls_renderer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = loopback_main(["--model", "mesh", "--max-frames", "20", "--baselines", "av1", "--keyint", "clip", "--rates", "none",
                        "--loss", "none", "--metrics", "psnr", "--headline-metrics", "psnr", "--report", str(tmp_path / "rep"), "-q"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    frontal = doc["clips"][0]["comparison"]["frontal"]
    assert frontal["model"] == "mesh" and frontal["view_choice"] == "live"
    assert frontal["renderer"] == json.loads(json.dumps(make_renderer("mesh").describe()))


def test_unknown_models_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert loopback_main(["--model", "nonesuch", "--render"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("codec-loopback: unknown model 'nonesuch'") and "mesh" in err and "\n" not in err


def test_bench_render_times_the_mesh_renderer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    assert render_bench.main(["--model", "mesh", "--frames", "5", "--threads", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    row = doc["models"][0]
    assert row["model"] == "mesh" and row["num_sources"] == 3
    assert row["ms_per_frame"] > 0 and row["fps"] == pytest.approx(1000.0 / row["ms_per_frame"])
    assert row["stages_ms"]["draw"] > 0 and (row["stages_ms"]["refine"] > 0) == row["refined"]
    assert "mesh (geometry renderer" in capsys.readouterr().out
