"""Serving the page peer: `frontal serve --tls-cert/--tls-key` (HTTPS + WSS) and the page's built
files (`python -m frontal.serve --build-assets`, frontal/web/dist/) at stable URLs.

    OMP_NUM_THREADS=1 python -m pytest -q tests/test_browser_serve.py
"""
from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import shutil
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import websockets

from codec.shape import DEFAULT_SHAPE_MODEL, load_shape_model
from codec.tables import DEFAULT_TABLES
from frontal.serve import TOPOLOGY, WEB_DIR, asset_problems, build_assets, template_document
from receiver.mesh import MESH_DATA_VERSION
from sender.face_template import TEMPLATE
from sender.landmarks import RIGID_INDICES
from signaling.cli import main as serve_main
from signaling.server import ServerThread


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: `cryptography`, else `openssl`, else skip."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl: no certificate to test with")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=frontal-test",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
        return cert, key
    import ipaddress

    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "frontal-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pkey.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                                x509.DNSName("localhost")]), critical=False)
                   .sign(pkey, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, key


def _get(url: str) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as reply:
        return reply.status, reply.read()


def test_serves_the_page_and_the_websocket_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with ServerThread(web_dir=WEB_DIR, tls=(cert, key)) as server:
        assert server.url.startswith("https://") and server.ws_url.startswith("wss://")
        status, body = _get(server.url + "/")
        assert status == 200 and b"<title>Frontal call</title>" in body
        status, body = _get(server.url + "/web/peer/call.js")
        assert status == 200 and b"PageCall" in body

        # a room issued over HTTPS, joined over WSS
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), urllib.request.ProxyHandler({}))
        with opener.open(urllib.request.Request(server.url + "/rooms", method="POST"), timeout=10) as reply:
            invite = json.loads(reply.read())

        async def join() -> dict:
            async with websockets.connect(server.ws_url, ssl=context, proxy=None) as ws:
                await ws.send(json.dumps({"type": "join", "room": invite["room"], "token": invite["token"]}))
                return json.loads(await ws.recv())

        joined = asyncio.run(join())
        assert joined["type"] == "joined" and joined["initiator"] is True


@pytest.mark.parametrize("case", ["missing-key", "not-a-pair", "only-cert"])
def test_bad_tls_files_are_one_line_errors(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = self_signed(tmp_path)
    args = {"missing-key": ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.pem")],
            "not-a-pair": ["--tls-cert", str(cert), "--tls-key", str(cert)],
            "only-cert": ["--tls-cert", str(cert)]}[case]
    code = serve_main(["--port", "0", *args], web_dir=WEB_DIR)
    err = capsys.readouterr().err
    assert code == (2 if case == "only-cert" else 1)
    assert err.count("\n") == 1 and err.startswith("frontal serve: "), err


def test_built_assets_match_the_python_packages(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    manifest = build_assets(dist, node_modules=tmp_path / "no_node_modules")
    assert manifest["face_mesh"] is None
    assert asset_problems(dist) == ["it has no FaceMesh (Node.js and `npm ci` were not run)"]
    for src in DEFAULT_TABLES.parent.glob("*.json"):
        assert (dist / "data" / "tables" / src.name).read_bytes() == src.read_bytes()
    assert (dist / "data" / DEFAULT_SHAPE_MODEL.name).read_bytes() == DEFAULT_SHAPE_MODEL.read_bytes()
    assert manifest["shape_model"]["digest"] == load_shape_model().digest
    tracker = json.loads((dist / "data" / "tracker.json").read_text())
    assert tracker == json.loads(json.dumps(template_document()))
    assert tracker["template"] == [list(p) for p in TEMPLATE] and tracker["rigid"] == list(RIGID_INDICES)
    # the renderer's mesh topology, byte for byte, named with its sha256
    assert TOPOLOGY == Path(__file__).resolve().parent.parent / "receiver" / "mesh_data" / "facemesh.json"
    copy = dist / "data" / "facemesh.json"
    assert copy.read_bytes() == TOPOLOGY.read_bytes()
    assert manifest["topology"] == {"file": "facemesh.json", "version": MESH_DATA_VERSION,
                                    "sha256": hashlib.sha256(TOPOLOGY.read_bytes()).hexdigest()}


def test_asset_problems_notice_a_stale_topology(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build_assets(dist, node_modules=tmp_path / "no_node_modules")
    stale = sorted([*asset_problems(dist), "its mesh topology is not the installed one"])
    copy = dist / "data" / "facemesh.json"
    copy.write_text(copy.read_text().replace('"version": 1', '"version": 1 '))
    assert sorted(asset_problems(dist)) == stale
    copy.unlink()
    assert sorted(asset_problems(dist)) == stale
    build_assets(dist, node_modules=tmp_path / "no_node_modules")
    manifest_path = dist / "data" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["topology"]  # a dist built before the page could render
    manifest_path.write_text(json.dumps(manifest))
    assert sorted(asset_problems(dist)) == stale


def test_build_command_without_node_modules(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "frontal.serve", "--build-assets", "--out", str(tmp_path / "d"),
                           "--node-modules", str(tmp_path), "--require-face-mesh"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "FaceMesh not installed" in proc.stderr


@pytest.mark.skipif(bool(asset_problems()), reason="frontal/web/dist is not built with FaceMesh (`make web`)")
def test_served_urls_of_the_built_files() -> None:
    with ServerThread(web_dir=WEB_DIR) as server:
        for path in ("/web/dist/data/manifest.json", "/web/dist/data/tables/shape.json", "/web/dist/data/tracker.json",
                     "/web/dist/data/facemesh_shape.safetensors", "/web/dist/data/facemesh.json", "/web/render/index.js",
                     "/web/dist/face_mesh/face_mesh.js",
                     "/web/dist/face_mesh/face_mesh_solution_simd_wasm_bin.wasm", "/web/codec/index.js", "/web/peer/call.js"):
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(server.url + path, timeout=10) as reply:
                assert reply.status == 200, path
                if path.endswith(".wasm"):
                    assert reply.headers["content-type"] == "application/wasm"
