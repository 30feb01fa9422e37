"""Probability tables and predictor coefficients: integers only, versioned, identical on both ends.

The file `codec/tables/default.json` is written by `frontal fit-tables` from tracked training data
and read by both encoder and decoder. Everything in it is an integer, so the models the two ends
build from it are bit-identical on any hardware (`tests/test_codec_tables.py` pins its digest).

Shape field sets (`codec.fields`: `n_shape` > 0) are coded with `codec/tables/shape.json`
(`tables_path_for`; its digest is pinned by `tests/test_shape.py`), written by `frontal fit-shape`:
the default tables with the `pose` and `shape` groups and the shape field set's entries added, so
a landmark stream codes to the same bytes with either file (only the digest differs).

Contents:
- `radius` R: residual symbols cover [-R, R] plus one escape symbol (alphabet 2R+2).
- `ladder_q8`: the predictive mode's scale buckets (in 1/256 quantization steps).
- `bucket_freqs` [n_buckets, 2R+2]: residual histograms per scale bucket (predictive mode).
- `paper`: per group, `inter` (delta to the previous frame) and `intra` (value minus layout)
  histograms [2R+2] (paper mode).
- `fieldsets`: per fitted field-set prefix (e.g. `mean+sup33`), the intra `layout` (mean
  quantized vector), the temporal predictor `alpha_q8` per group, and for `inter` and `intra` the
  strictly-lower-triangular regression `coef_q12` (conditional mean of each residual given the
  ones coded before it) and the per-element mean absolute deviation `mad_q8`.
- `defaults`: per group, `mad_q8` for inter and intra, used for groups no data was fitted for.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from codec.atomic import atomic_write
from codec.errors import CodecError
from codec.fields import GROUP_BITS, FieldSet

TABLES_FORMAT = "frontal-tables"
TABLES_VERSION = 1
DEFAULT_TABLES = Path(__file__).resolve().parent / "tables" / "default.json"
SHAPE_TABLES = Path(__file__).resolve().parent / "tables" / "shape.json"


@dataclass(frozen=True)
class ModeParams:
    """Per-element predictor parameters for one frame kind (inter or intra)."""

    coef_q12: NDArray[Any]  # [n, n] int64, strictly lower triangular
    mad_q8: NDArray[Any]  # [n] int64, >= 16


@dataclass(frozen=True)
class FieldTables:
    """Everything a frame coder needs for one field set."""

    fields: FieldSet
    layout: NDArray[Any]  # [n] int64: the intra base (mean quantized record)
    alpha_q8: NDArray[Any]  # [n] int64: temporal linear prediction weight per element
    inter: ModeParams
    intra: ModeParams
    fitted: tuple[str, ...]  # groups whose parameters came from data


class Tables:
    """A loaded tables file."""

    def __init__(self, doc: dict[str, Any], source: str = "<memory>") -> None:
        self.doc = doc
        self.source = source
        try:
            if doc.get("format") != TABLES_FORMAT:
                raise CodecError(f"{source}: not a Frontal tables file")
            if int(doc.get("version", -1)) != TABLES_VERSION:
                raise CodecError(f"{source}: tables version {doc.get('version')} unsupported (expected {TABLES_VERSION})")
            self.radius = int(doc["radius"])
            self.ladder_q8 = np.asarray(doc["ladder_q8"], np.int64)
            self.bucket_freqs = np.asarray(doc["bucket_freqs"], np.int64)
            self.paper = {g: {k: np.asarray(v, np.int64) for k, v in d.items()} for g, d in doc["paper"].items()}
            self.defaults = {g: {k: int(v) for k, v in d.items()} for g, d in doc["defaults"].items()}
            self.fieldsets = doc["fieldsets"]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CodecError):
                raise
            raise CodecError(f"{source}: malformed tables file ({exc})") from None
        alphabet = 2 * self.radius + 2
        if self.bucket_freqs.shape != (len(self.ladder_q8), alphabet):
            raise CodecError(f"{source}: bucket_freqs shape {self.bucket_freqs.shape} != {(len(self.ladder_q8), alphabet)}")
        self._cache: dict[tuple[FieldSet, str, tuple[tuple[str, int], ...]], FieldTables] = {}

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON: both ends must agree on it."""
        return hashlib.sha256(canonical_json(self.doc).encode()).hexdigest()

    @property
    def tables_id(self) -> int:
        """A 32-bit id of this table set, carried in recorded files' headers."""
        return int(self.digest[:8], 16)

    def for_fields(self, fields: FieldSet, mode: str = "paper", depths: dict[str, int] | None = None) -> FieldTables:
        """The parameters for `fields` quantized as coding `mode` does (`FieldSet.groups(mode, depths)`).

        Raises CodecError when these tables have nothing for one of its groups."""
        key = (fields, mode, tuple(sorted((depths or {}).items())))
        if key not in self._cache:
            self._cache[key] = self._build(fields, mode, depths)
        return self._cache[key]

    def _build(self, fields: FieldSet, mode: str, depths: dict[str, int] | None) -> FieldTables:
        groups = fields.groups(mode, depths)
        missing = [g.name for g in groups if g.name not in self.defaults or g.name not in self.paper]
        if missing:
            raise CodecError(f"{self.source}: no tables for field group(s) {', '.join(missing)} "
                             f"(a shape field set is coded with {SHAPE_TABLES.name})")
        n = fields.size
        sizes = [g.size for g in groups]
        # Longest fitted prefix of groups (e.g. "mean+sup33") whose coefficients apply verbatim:
        # a conditional regression only looks at elements coded before, so a prefix's is exact.
        prefix_names = []
        best: dict[str, Any] | None = None
        best_len = 0
        for i in range(len(groups)):
            prefix_names.append(_group_key(groups[i], fields))
            key = "+".join(prefix_names)
            if key in self.fieldsets:
                best, best_len = self.fieldsets[key], i + 1
        layout = np.concatenate([np.full(g.size, (g.levels + 1) // 2, np.int64) for g in groups])
        alpha = np.zeros(n, np.int64)
        modes = {}
        for kind in ("inter", "intra"):
            coef = np.zeros((n, n), np.int64)
            mad = np.concatenate([np.full(g.size, self.defaults[g.name][f"{kind}_mad_q8"], np.int64) for g in groups])
            modes[kind] = (coef, mad)
        fitted: tuple[str, ...] = ()
        if best is not None:
            m = sum(sizes[:best_len])
            layout[:m] = np.asarray(best["layout"], np.int64)
            alpha[:m] = np.asarray(best["alpha_q8"], np.int64)
            for kind in ("inter", "intra"):
                modes[kind][0][:m, :m] = np.asarray(best[kind]["coef_q12"], np.int64).reshape(m, m)
                modes[kind][1][:m] = np.asarray(best[kind]["mad_q8"], np.int64)
            fitted = tuple(g.name for g in groups[:best_len])
        return FieldTables(
            fields=fields,
            layout=layout,
            alpha_q8=alpha,
            inter=ModeParams(*modes["inter"]),
            intra=ModeParams(*modes["intra"]),
            fitted=fitted,
        )


def _group_key(group: Any, fields: FieldSet) -> str:
    """e.g. 'sup33'; a depth other than the paper's is appended: 'unsup10q8' (8-bit unsup)."""
    key = {"mean": "mean", "sup": f"sup{fields.n_sup}", "unsup": f"unsup{fields.n_unsup}", "jac": "jac", "expr": f"expr{fields.n_expr}",
           "pose": "pose", "shape": f"shape{fields.n_shape}"}[group.name]
    return key if group.bits == GROUP_BITS[group.name][0] else f"{key}q{group.bits}"


def prefix_key(fields: FieldSet, mode: str = "paper", depths: dict[str, int] | None = None) -> str:
    """The fieldsets key for a whole field set quantized as `mode` does, e.g. 'mean+sup33' or
    'mean+sup33+unsup10q8+expr16q7' (the predictive mode's depths)."""
    return "+".join(_group_key(g, fields) for g in fields.groups(mode, depths))


def tables_path_for(fields: FieldSet) -> Path:
    """The shipped tables that code `fields`: `SHAPE_TABLES` for a shape field set, else `DEFAULT_TABLES`."""
    return SHAPE_TABLES if fields.n_shape else DEFAULT_TABLES


def canonical_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def load_tables(path: str | os.PathLike[str] | None = None) -> Tables:
    p = Path(path) if path is not None else DEFAULT_TABLES
    try:
        text = p.read_text()
    except OSError as exc:
        raise CodecError(f"cannot read tables file {p}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodecError(f"{p}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise CodecError(f"{p}: not a Frontal tables file")
    return Tables(doc, source=str(p))


def save_tables(doc: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write atomically, indented so that diffs of refits stay readable."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
