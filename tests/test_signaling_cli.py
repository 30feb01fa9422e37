"""`frontal serve` and `frontal bench-signaling`: argument errors and a small benchmark run."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from signaling import bench, cli


@pytest.mark.parametrize("argv", [["--port", "70000"], ["--port", "http"], ["--log-level", "loud"]])
def test_serve_rejects_bad_arguments_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("frontal serve: error:")


def test_serve_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert cli.main(["--port", str(port), "--log-level", "error"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--clients", "7"],
        ["--clients", "10", "--rooms", "4"],
        ["--rate", "500"],
        ["--clients", "0"],
    ],
)
def test_bench_rejects_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = bench.main(argv + ["--no-progress"])
    except SystemExit as exc:
        code = int(str(exc.code))
    assert code == 2
    assert capsys.readouterr().err.startswith("frontal bench-signaling")


def test_bench_small_run_reports_no_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = [
        "--clients",
        "20",
        "--rooms",
        "10",
        "--messages",
        "5",
        "--rate",
        "25",
        "--duration-limit",
        "30",
        "--no-progress",
        "--json",
        str(out),
    ]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert {"clients", "rooms", "joins_per_s", "latency_ms_p50", "latency_ms_p99", "lost"} <= set(
        report
    )
    assert (report["clients"], report["rooms"], report["joined"]) == (20, 10, 20)
    assert (report["sent"], report["received"], report["lost"]) == (100, 100, 0)
    assert report["errors"] == {} and report["ok"] and not report["timed_out"]
    assert report["joins_per_s"] > 0 and 0 < report["latency_ms_p50"] <= report["latency_ms_p99"]
    assert "latency ms p50 / p99" in capsys.readouterr().out


def test_percentile_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert (bench.percentile(samples, 50), bench.percentile(samples, 99)) == (50.0, 99.0)
    assert bench.percentile([], 99) == 0.0
