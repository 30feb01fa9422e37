"""Where things are: the shared data folder and the repo root (the embedded clip: `sender.video.default_video`)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FACES = REPO_ROOT.parent / "shared" / "data" / "faces"


def shared_faces() -> Path | None:
    """`../shared/data/faces` beside the repo, or None where it is absent."""
    return SHARED_FACES if (SHARED_FACES / "MANIFEST.tsv").is_file() else None
