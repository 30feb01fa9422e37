"""The Sup set of 33 landmarks: valid, unique, documented, and named for the right sides."""
from __future__ import annotations

import re

import numpy as np

from frontal.paths import REPO_ROOT
from sender.face_template import MIRROR
from sender.landmarks import (
    NUM_MESH_POINTS,
    RIGID_INDICES,
    SUP33,
    SUP33_GROUPS,
    SUP33_INDICES,
    SUP33_NAMES,
)
from sender.pose import template_points


def test_sup33_is_33_unique_mesh_indices() -> None:
    assert len(SUP33_INDICES) == 33
    assert len(set(SUP33_INDICES)) == 33
    assert all(isinstance(i, int) and 0 <= i < NUM_MESH_POINTS for i in SUP33_INDICES)
    assert len(set(SUP33_NAMES)) == 33


def test_groups_have_the_documented_sizes() -> None:
    sizes = {g: SUP33_GROUPS.count(g) for g in set(SUP33_GROUPS)}
    assert sizes == {"contour": 9, "brows": 6, "eyes": 8, "nose": 4, "lips": 6}


def test_rigid_indices_are_valid_and_avoid_the_mouth() -> None:
    assert len(set(RIGID_INDICES)) == len(RIGID_INDICES)
    assert all(0 <= i < NUM_MESH_POINTS for i in RIGID_INDICES)
    mouth = {SUP33_INDICES[SUP33_NAMES.index(n)] for n in ("mouth_r", "mouth_l", "lip_lower_outer", "chin")}
    assert not mouth & set(RIGID_INDICES)


def test_sides_and_mirror_pairs_match_the_names() -> None:
    """`_r` points lie on the image's left of a frontal face and mirror their `_l` partners."""
    template = template_points()
    index = dict(zip(SUP33_NAMES, SUP33_INDICES))
    for name, i in index.items():
        if name.endswith("_r") or "_r_" in name:
            partner = index[name.replace("_r", "_l", 1)]
            assert template[i, 0] < 0 < template[partner, 0], name
            assert MIRROR[i] == partner, name
        elif not (name.endswith("_l") or "_l_" in name):  # midline points
            assert MIRROR[i] == i, name
            assert abs(template[i, 0]) < 1e-3, name
    # up is up: brows above eyes above nose tip above mouth above chin (y grows downwards)
    y = {n: template[index[n], 1] for n in ("brow_r_mid", "eye_r_upper", "nose_tip", "lip_upper_outer", "chin")}
    assert list(y.values()) == sorted(y.values())


def test_docs_table_lists_the_same_indices() -> None:
    text = (REPO_ROOT / "docs" / "landmarks.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\w+) \| `(\w+)` \| (\d+) \|", text, flags=re.M)
    assert [(g, n, int(i)) for _, g, n, i in rows] == list(SUP33)
    assert np.array_equal([int(r[0]) for r in rows], np.arange(33))
