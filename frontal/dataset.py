"""The talking-head clip manifest (`../shared/data/faces/MANIFEST.tsv`) and its train/validation split.

The split is by `identity_label`, never by file (one person can appear in several files), and
deterministic: an identity is in validation when sha1(label) mod 100 < `val_percent` (about that
share of the identities, whatever order the rows come in, and stable as clips are added).
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED_COLUMNS = ("file", "identity_label")
DEFAULT_VAL_PERCENT = 20


class ManifestError(ValueError):
    """A manifest that is missing or malformed (message: one line, names the file)."""


@dataclass(frozen=True)
class ManifestRow:
    """One clip: `file` relative to the manifest's folder; `path` resolved; every column in `fields`."""

    file: str
    identity_label: str
    path: Path
    fields: dict[str, str] = field(default_factory=dict, compare=False)


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Rows of a tab-separated manifest with at least the columns `file` and `identity_label`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = [_row(path, n, record) for n, record in enumerate(reader, start=2)]
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a UTF-8 text manifest") from None
    return rows


def _row(manifest: Path, line: int, record: dict[str, str | None]) -> ManifestRow:
    file, label = (record.get("file") or "").strip(), (record.get("identity_label") or "").strip()
    if not file or not label:
        raise ManifestError(f"{manifest}:{line}: empty file or identity_label")
    fields = {k: (v or "") for k, v in record.items() if k is not None}
    return ManifestRow(file, label, (manifest.parent / file).resolve(), fields)


def is_validation(identity_label: str, val_percent: int = DEFAULT_VAL_PERCENT) -> bool:
    """Whether this identity belongs to the validation set."""
    digest = hashlib.sha1(identity_label.encode("utf-8")).hexdigest()
    return int(digest, 16) % 100 < val_percent


def split_rows(
    rows: list[ManifestRow], val_percent: int = DEFAULT_VAL_PERCENT
) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """(train, validation) rows, by identity, in the rows' order."""
    if not 0 <= val_percent <= 100:
        raise ValueError(f"val_percent must be in 0..100, got {val_percent}")
    train = [r for r in rows if not is_validation(r.identity_label, val_percent)]
    val = [r for r in rows if is_validation(r.identity_label, val_percent)]
    return train, val


def split_manifest(
    path: str | Path, val_percent: int = DEFAULT_VAL_PERCENT
) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """(train_rows, val_rows) of a manifest file, split by identity_label."""
    return split_rows(read_manifest(path), val_percent)
