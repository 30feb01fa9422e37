"""docker-compose.yml stays in step with the code: its files exist and its commands parse.

No Docker engine or image registry is reachable where the tests run, so the compose file cannot be
brought up here; this checks everything about it that does not need one.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_build_files() -> None:
    doc = _compose()
    services = doc["services"]
    assert {"signaling", "turn", "peer-a", "peer-b"} <= set(services)
    dockerfile = ROOT / services["signaling"]["build"]["dockerfile"]
    assert dockerfile.is_file()
    # every file and folder the image copies from the context exists and is not .dockerignore'd
    # (a renamed package would break the build); copies from a build stage are the stage's
    text = dockerfile.read_text()
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")}
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        parts = line.split()
        if parts[0].startswith("--from="):
            continue
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
            assert src not in ignored, f".dockerignore leaves out {src}, which the Dockerfile copies"
    # the page's FaceMesh is installed from the lock file and built into the image, or the build fails
    assert "npm ci" in text and "package-lock.json" in text
    assert "--build-assets --require-face-mesh" in text
    # the peers inherit the build and the demo profile from the anchor
    for name in ("peer-a", "peer-b"):
        assert services[name]["profiles"] == ["demo"]
        assert services[name]["build"] == services["signaling"]["build"]


def test_commands_parse_with_the_current_command_lines() -> None:
    from frontal.call.cli import build_parser as call_parser
    from signaling.cli import build_parser as serve_parser

    services = _compose()["services"]
    cmd = services["signaling"]["command"]
    assert cmd[:2] == ["frontal", "serve"]
    args = serve_parser().parse_args(cmd[2:])
    assert args.host == "0.0.0.0" and args.port == 8080
    for name in ("peer-a", "peer-b"):
        cmd = services[name]["command"]
        assert cmd[:3] == ["python", "-m", "frontal.call"]
        args = call_parser().parse_args(cmd[3:])
        assert args.room == "demo" and args.signaling == "ws://signaling:8080/ws"
        assert str(args.video) == "default" and args.no_window
    # both peers join the same room with the same token, and record to different files
    a, b = (services[n]["command"] for n in ("peer-a", "peer-b"))
    assert a[a.index("--token") + 1] == b[b.index("--token") + 1]
    assert a[a.index("--record") + 1] != b[b.index("--record") + 1]


def test_turn_credentials_match_the_peers() -> None:
    services = _compose()["services"]
    user = next(c for c in services["turn"]["command"] if c.startswith("--user="))
    name, secret = re.fullmatch(r"--user=(\w+):\$\{TURN_SECRET:-(.+)\}", user).groups()  # type: ignore[union-attr]
    for peer in ("peer-a", "peer-b"):
        cmd = services[peer]["command"]
        assert cmd[cmd.index("--ice-username") + 1] == name
        assert cmd[cmd.index("--ice-credential") + 1] == secret
