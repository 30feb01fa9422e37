"""Atomic file writes: a file appears whole or not at all, with the usual permissions.

    atomic_write(path, data)                      # bytes in memory

    target = AtomicFile(path, suffix=".mp4")      # a file written by someone else (an encoder)
    try:
        encode_to(target.tmp)
        target.commit()                           # renamed over `path`, mode following the umask
    finally:
        target.discard()                          # the temp file is removed unless committed
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A temp file beside `path` (mkstemp: private until committed) that `commit` renames over it."""

    def __init__(self, path: str | os.PathLike[str], suffix: str = ".part") -> None:
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent if str(self.path.parent) else ".",
                                   prefix="." + self.path.name + ".", suffix=suffix)
        os.close(fd)
        self.tmp = Path(tmp)
        self.committed = False

    def commit(self) -> None:
        """Give the temp file the mode a new file gets (0666 less the umask) and rename it over `path`."""
        os.chmod(self.tmp, 0o666 & ~_umask())
        os.replace(self.tmp, self.path)
        self.committed = True

    def discard(self) -> None:
        """Remove the temp file if it was not committed (safe to call more than once)."""
        if not self.committed and self.tmp.exists():
            self.tmp.unlink()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a temp file beside `path`, then rename it over `path`."""
    target = AtomicFile(path)
    try:
        target.tmp.write_bytes(data)
        target.commit()
    finally:
        target.discard()
