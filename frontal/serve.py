"""`frontal serve`: the signaling server with Frontal's web app (`WEB_DIR`) at `/`.

The web app is one folder of static files shipped as package data (`frontal/web/`):

    index.html, style.css  the page
    app.js                 its modes, rooms, invite links and join commands
    call.js                the in-browser half of `frontal call --browser` (camera -> local agent)
    signaling.js           the signaling protocol as an ES module (`SignalingChannel`)
    codec/                 the codec in JavaScript (docs/browser.md)
    peer/                  the page as a peer: tracking, the shape fit, views, the sender, WebRTC
    render/                the geometry renderer in JavaScript (the page's receiving half)
    dist/                  built, not committed (`build_assets`, `make web`): the page's data
                           (`dist/data/`: the entropy tables, the shape model, the renderer's
                           mesh topology, the tracker's template and settings, `manifest.json`) and FaceMesh
                           (`dist/face_mesh/`: the npm package `@mediapipe/face_mesh`, pinned in
                           package-lock.json, installed by `npm ci`)

`frontal serve` serves it to create a room, share the invite link and join it from the page;
`frontal call --browser` (`frontal.call.browser`) serves it to run the call through a local
agent. Both serve it at `/` and `/r/ROOM` with its files under `/web/` (`signaling.app.add_web_app`).
With `--tls-cert/--tls-key` the page is served over HTTPS (a secure context off localhost: the
camera needs one).

    python -m frontal.serve --build-assets [--node-modules DIR]    # (re)build frontal/web/dist/
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import receiver
from codec.shape import DEFAULT_SHAPE_MODEL, load_shape_model
from codec.tables import DEFAULT_TABLES, load_tables
from sender.face_template import TEMPLATE
from sender.landmarks import RIGID_INDICES, SUP33_INDICES
from signaling.cli import main as signaling_main

WEB_DIR = Path(__file__).resolve().parent / "web"
DIST_DIR = WEB_DIR / "dist"
REPO_DIR = Path(__file__).resolve().parents[1]
FACE_MESH_PACKAGE = "@mediapipe/face_mesh"
FACE_MESH_VERSION = "0.4.1633559619"  # newer builds abort under software GL in headless Chromium (issue 16)
# the files FaceMesh's loader fetches (locateFile), from the npm package
FACE_MESH_FILES = (
    "face_mesh.js",
    "face_mesh.binarypb",
    "face_mesh_solution_packed_assets.data",
    "face_mesh_solution_packed_assets_loader.js",
    "face_mesh_solution_simd_wasm_bin.data",
    "face_mesh_solution_simd_wasm_bin.js",
    "face_mesh_solution_simd_wasm_bin.wasm",
    "face_mesh_solution_wasm_bin.js",
    "face_mesh_solution_wasm_bin.wasm",
)
MANIFEST_VERSION = 1
# the renderer's triangle mesh (receiver.mesh.MeshTopology; `import receiver` loads no cv2 nor torch)
TOPOLOGY = Path(receiver.__file__).resolve().parent / "mesh_data" / "facemesh.json"
BUILD_HINT = "run `make web` (needs Node.js and npm for FaceMesh), or `npm ci && python -m frontal.serve --build-assets`"


class AssetError(RuntimeError):
    """The page's files cannot be built (one line, for the user)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def template_document() -> dict[str, Any]:
    """What the page's tracker needs of `sender`: the frontal template (468 points, face height 1),
    the rigid points the pose and the crop box are fitted on, the 33 landmarks' indices and the
    crop box's settings (`sender.tracker.TrackerConfig`)."""
    from sender.tracker import TrackerConfig  # noqa: PLC0415 (only the build needs it: serving never loads cv2)

    c = TrackerConfig()
    return {
        "format": "frontal-tracker",
        "version": 1,
        "template": [[float(v) for v in p] for p in TEMPLATE],
        "rigid": list(RIGID_INDICES),
        "sup33": list(SUP33_INDICES),
        "top": 10,
        "chin": 152,
        "config": {k: getattr(c, k) for k in ("crop_size", "box_scale", "box_raise", "box_depth", "dead_zone",
                                              "size_dead_zone", "ease", "settle", "min_detection_confidence",
                                              "min_tracking_confidence")},
    }


def build_assets(dist: Path = DIST_DIR, node_modules: Path | None = None) -> dict[str, Any]:
    """(Re)build `dist`: `data/` always, `face_mesh/` from `node_modules` (default: the
    repository's) when the npm package is installed there. Returns the manifest it wrote
    (`data/manifest.json`); raises AssetError for a FaceMesh package of the wrong version."""
    node_modules = node_modules if node_modules is not None else REPO_DIR / "node_modules"
    dist.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dist-", dir=dist.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide it from a server running as another user
    try:
        data = tmp / "data"
        (data / "tables").mkdir(parents=True)
        tables: dict[str, Any] = {}
        for src in sorted(DEFAULT_TABLES.parent.glob("*.json")):
            shutil.copyfile(src, data / "tables" / src.name)
            tables[src.name] = {"digest": load_tables(src).digest}
        shutil.copyfile(DEFAULT_SHAPE_MODEL, data / DEFAULT_SHAPE_MODEL.name)
        model = load_shape_model()
        shutil.copyfile(TOPOLOGY, data / TOPOLOGY.name)
        topology_version = json.loads(TOPOLOGY.read_text(encoding="utf-8")).get("version")
        (data / "tracker.json").write_text(json.dumps(template_document(), separators=(",", ":")))
        face_mesh: dict[str, Any] | None = None
        package = node_modules / FACE_MESH_PACKAGE
        if (package / "package.json").is_file():
            version = json.loads((package / "package.json").read_text()).get("version")
            if version != FACE_MESH_VERSION:
                raise AssetError(f"{package} is version {version}, expected {FACE_MESH_VERSION}: run `npm ci`")
            (tmp / "face_mesh").mkdir()
            for name in FACE_MESH_FILES:
                if not (package / name).is_file():
                    raise AssetError(f"{package} lacks {name}: run `npm ci`")
                shutil.copyfile(package / name, tmp / "face_mesh" / name)
            face_mesh = {"package": FACE_MESH_PACKAGE, "version": version, "files": list(FACE_MESH_FILES)}
        manifest = {
            "format": "frontal-web-assets",
            "version": MANIFEST_VERSION,
            "tables": tables,
            "shape_model": {"file": DEFAULT_SHAPE_MODEL.name, "digest": model.digest, "k": model.k,
                            "sha256": _sha256(DEFAULT_SHAPE_MODEL)},
            "topology": {"file": TOPOLOGY.name, "version": topology_version, "sha256": _sha256(TOPOLOGY)},
            "tracker": "tracker.json",
            "face_mesh": face_mesh,
        }
        (data / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        old = dist.parent / f".old-{dist.name}-{os.getpid()}"
        if dist.exists():
            dist.rename(old)
        tmp.rename(dist)
        shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def asset_problems(dist: Path = DIST_DIR) -> list[str]:
    """What is missing or stale in `dist` for the page to hold a call (empty: nothing)."""
    path = dist / "data" / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return [f"{dist} is not built"]
    problems = []
    if manifest.get("version") != MANIFEST_VERSION:
        problems.append(f"{path} is of another version")
    if manifest.get("shape_model", {}).get("sha256") != _sha256(DEFAULT_SHAPE_MODEL):
        problems.append("its shape model is not the installed one")
    installed, copy = _sha256(TOPOLOGY), dist / "data" / TOPOLOGY.name
    if (manifest.get("topology") or {}).get("sha256") != installed or not copy.is_file() or _sha256(copy) != installed:
        problems.append("its mesh topology is not the installed one")
    for name in manifest.get("tables", {}):
        src = DEFAULT_TABLES.parent / name
        if not src.is_file() or (dist / "data" / "tables" / name).read_bytes() != src.read_bytes():
            problems.append(f"its tables {name} are not the installed ones")
    if not manifest.get("face_mesh"):
        problems.append("it has no FaceMesh (Node.js and `npm ci` were not run)")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """`frontal serve [--host H] [--port P] [--tls-cert F --tls-key F] ...` (the options of `signaling.cli`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--build-assets":
        return build_main(args[1:])
    if "-h" not in args and "--help" not in args:
        problems = asset_problems()
        if problems:
            print(f"frontal serve: the page cannot hold a call itself: {'; '.join(problems)}; {BUILD_HINT}. "
                  "Serving it anyway (rooms, invites, join commands).", file=sys.stderr)
    return signaling_main(args, web_dir=WEB_DIR)


def build_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontal.serve --build-assets",
                                     description="Build frontal/web/dist/: the page's data and FaceMesh (docs/browser.md).")
    parser.add_argument("--node-modules", type=Path, default=None, help="where `npm ci` installed (the repository's node_modules)")
    parser.add_argument("--out", type=Path, default=DIST_DIR, help=f"the folder to (re)build ({DIST_DIR})")
    parser.add_argument("--require-face-mesh", action="store_true", help="fail (exit 1) when FaceMesh is not installed")
    args = parser.parse_args(list(argv))
    try:
        manifest = build_assets(args.out, args.node_modules)
    except (AssetError, OSError) as exc:
        print(f"frontal serve --build-assets: {exc}", file=sys.stderr)
        return 1
    if manifest["face_mesh"] is None:
        print(f"frontal serve --build-assets: {args.out}: data built; FaceMesh not installed (no Node.js / `npm ci`): "
              "the page cannot track a face", file=sys.stderr)
        return 1 if args.require_face_mesh else 0
    print(f"{args.out}: data and FaceMesh {manifest['face_mesh']['version']} built")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["DIST_DIR", "WEB_DIR", "AssetError", "asset_problems", "build_assets", "main", "template_document"]
