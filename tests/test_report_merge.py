"""`frontal merge-reports`: frame-weighted means over the clips of several reports."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from frontal.report.merge import main, merge


def _clip(name: str, frames: int, after: int, psnr: float, eyes: float | None, av1_psnr: float, reachable: bool,
          model: str = "mesh") -> dict[str, Any]:
    q = {"psnr": psnr, "expr_eyes": eyes}
    return {"clip": name, "comparison": {"frames": frames, "frontal": {
        "model": model, "view_choice": "live", "fields": "shape48", "primary_mode": "predictive",
        "frames_after_first_view": after, "rates": {"predictive": {"kbps_call": 3.0 if frames < 50 else 4.0, "bits_per_frame": 200.0}},
        "quality": q, "quality_after_first_view": {"psnr": psnr + 1, "expr_eyes": eyes}},
        "classical": [{"codec": "av1", "keyint": "clip", "matched": {"kbps_actual": 5.0, "reachable": reachable,
                                                                    "quality": {"psnr": av1_psnr, "expr_eyes": 0.1}}}]}}


def _report(*clips: dict[str, Any]) -> dict[str, Any]:
    return {"clips": list(clips)}


def test_means_are_weighted_by_frames_and_missing_values_left_out() -> None:
    m = merge([_report(_clip("a", 30, 20, 20.0, None, 25.0, True)), _report(_clip("b", 90, 90, 24.0, 0.8, 27.0, False))])
    assert m["clips"] == 2 and m["frames"] == 120 and m["reports"] == 2
    assert m["quality"]["psnr"] == pytest.approx((30 * 20 + 90 * 24) / 120)
    assert m["quality"]["expr_eyes"] == pytest.approx(0.8)  # clip a has no value: left out, not a zero
    assert m["quality_after_first_view"]["psnr"] == pytest.approx((20 * 21 + 90 * 25) / 110)
    assert m["kbps_call"] == pytest.approx((30 * 3.0 + 90 * 4.0) / 120)
    av1 = m["classical"]["av1 clip"]
    assert av1["clips"] == 2 and av1["at_floor"] == 1 and av1["quality"]["psnr"] == pytest.approx((30 * 25 + 90 * 27) / 120)


def test_refuses_duplicates_and_mixed_models() -> None:
    a = _clip("a", 30, 30, 20.0, 0.5, 25.0, True)
    with pytest.raises(ValueError, match="more than one report"):
        merge([_report(a), _report(a)])
    with pytest.raises(ValueError, match="differ in model"):
        merge([_report(a), _report(_clip("b", 30, 30, 20.0, 0.5, 25.0, True, model="frontalizer-mobile"))])


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.json"
    a.write_text(json.dumps(_report(_clip("a", 30, 30, 20.0, 0.5, 25.0, True))))
    b.write_text(json.dumps(_report(_clip("b", 30, 30, 22.0, 0.7, 25.0, True))))
    assert main([str(a), str(b), "--json", str(out)]) == 0
    assert "2 clips, 60 frames" in capsys.readouterr().out
    assert json.loads(out.read_text())["quality"]["psnr"] == pytest.approx(21.0)
    (tmp_path / "bad.json").write_text("{")
    assert main([str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("frontal merge-reports:") and "\n" not in err
