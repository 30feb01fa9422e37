"""Train/validation split by identity: deterministic, never an identity on both sides."""
from __future__ import annotations

from pathlib import Path

import pytest

from frontal.dataset import ManifestError, is_validation, read_manifest, split_manifest
from frontal.paths import shared_faces


def write_manifest(path: Path, labels: list[str]) -> Path:
    lines = ["file\tsource_repo\tidentity_label"]
    lines += [f"clips/{i}.mp4\trepo\t{label}" for i, label in enumerate(labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_split_by_identity(tmp_path: Path) -> None:
    labels = [f"person{i % 40}" for i in range(120)]  # 40 identities, 3 files each
    train, val = split_manifest(write_manifest(tmp_path / "MANIFEST.tsv", labels))
    assert len(train) + len(val) == 120
    assert not {r.identity_label for r in train} & {r.identity_label for r in val}
    assert 2 <= len({r.identity_label for r in val}) <= 16  # ~20 % of 40
    assert train[0].path == (tmp_path / "clips" / "0.mp4").resolve()
    assert train[0].fields["source_repo"] == "repo"


def test_split_is_deterministic_and_order_free(tmp_path: Path) -> None:
    labels = [f"id{i}" for i in range(50)]
    _, val_a = split_manifest(write_manifest(tmp_path / "a.tsv", labels))
    _, val_b = split_manifest(write_manifest(tmp_path / "b.tsv", labels[::-1]))
    assert {r.identity_label for r in val_a} == {r.identity_label for r in val_b}
    assert all(is_validation(r.identity_label) for r in val_a)


def test_bad_manifests(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        read_manifest(tmp_path / "missing.tsv")
    (tmp_path / "cols.tsv").write_text("file\tlabel\nx.mp4\ty\n")
    with pytest.raises(ManifestError, match="identity_label"):
        read_manifest(tmp_path / "cols.tsv")
    (tmp_path / "empty_label.tsv").write_text("file\tidentity_label\nx.mp4\t\n")
    with pytest.raises(ManifestError, match=":2:"):
        read_manifest(tmp_path / "empty_label.tsv")


@pytest.mark.data
def test_shared_manifest_split() -> None:
    faces = shared_faces()
    if faces is None:
        pytest.skip("../shared/data/faces is not here")
    train, val = split_manifest(faces / "MANIFEST.tsv")
    train_ids, val_ids = {r.identity_label for r in train}, {r.identity_label for r in val}
    assert not train_ids & val_ids
    assert 0.1 < len(val_ids) / (len(train_ids) + len(val_ids)) < 0.3
    obama = {r.file for r in train + val if r.identity_label == "obama"}
    assert len(obama) > 1 and (obama <= {r.file for r in train} or obama <= {r.file for r in val})
