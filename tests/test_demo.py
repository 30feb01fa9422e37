"""`make demo`: the bits table, then input | Frontal | AV1 side by side in reports/demo/.

The command is read from the Makefile, so the test and the target cannot drift apart. The fast
test runs it on 8 frames with PSNR only; the slow one runs it exactly as `make demo` does.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import av
import pytest

from frontal.loopback import main as loopback_main

REPO = Path(__file__).resolve().parent.parent
TILE = 256


def demo_command() -> list[str]:
    """The `demo` target's recipe line, split like a shell does."""
    recipe = re.search(r"^demo:.*\n\t(.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None, "no demo target in the Makefile"
    return shlex.split(recipe.group(1))


def check_demo_output(stdout: str, folder: Path, cwd: Path) -> None:
    """The bits table first, then the paths (relative to `cwd`) of the side-by-side video and of the page."""
    assert stdout.index("bits/frame") < stdout.index("side by side (")
    video = cwd / Path(re.search(r"^side by side \(input \| Frontal [^|]+\| av1 [^)]+\)\): (.+)$", stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]
    page = cwd / Path(re.search(r"^report: (.+)$", stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert video.parent.resolve() == page.parent.resolve() == folder.resolve()
    with av.open(str(video)) as v:
        first = next(v.decode(video=0)).to_ndarray(format="rgb24")
    assert first.shape[1] == 3 * TILE  # input | Frontal | AV1
    html = page.read_text()
    assert "<h1>Frontal vs AV1 at the same bitrate</h1>" in html and f"<video src='{video.name}'" in html
    assert "Packet loss" not in html  # --loss none: no empty section


def test_demo_command_on_a_few_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = demo_command()
    assert Path(command[0]).name == "codec-loopback"
    fast = ["--max-frames", "8", "--metrics", "psnr", "--headline-metrics", "psnr", "--report", str(tmp_path / "demo"), "-q"]
    assert loopback_main([*command[1:], *fast]) == 0  # argparse: the last of a repeated option wins
    check_demo_output(capsys.readouterr().out, tmp_path / "demo", Path.cwd())


@pytest.mark.slow
def test_make_demo_as_is(tmp_path: Path) -> None:
    """The recipe verbatim (about a minute on 2 cores), run from an empty folder."""
    command = demo_command()
    command[0] = command[0].replace("$(VENV)", str(Path(sys.executable).parent.parent))
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    check_demo_output(done.stdout, tmp_path / "reports" / "demo", tmp_path)
