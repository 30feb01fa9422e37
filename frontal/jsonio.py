"""Reports as JSON: the benchmark reports are dataclasses, written here, one way.

`to_json` turns a report into plain JSON data: dataclasses become objects (keys in field order),
tuples lists, numpy scalars and arrays Python numbers and lists, paths strings, and NaN or
infinite floats null (strict JSON). A field made with `optional()` is left out while it is None
(a key that only some runs have); one with `metadata=NOT_WRITTEN` is never written (data kept for
aggregation only).
"""
from __future__ import annotations

import json
import math
from dataclasses import field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codec.atomic import atomic_write

NOT_WRITTEN = {"json": "skip"}  # field metadata: never written
OPTIONAL = {"json": "optional"}  # field metadata: left out while None (`optional()` gives a default too)


def optional() -> Any:
    """A dataclass field that defaults to None and is left out of the JSON while None (where
    required fields follow it, mark the fields from there keyword-only: `_: KW_ONLY`)."""
    return field(default=None, metadata=OPTIONAL)


def to_json(obj: Any) -> Any:
    """`obj` as JSON data (see the module docstring)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in fields(obj):
            value, how = getattr(obj, f.name), f.metadata.get("json")
            if how != "skip" and not (how == "optional" and value is None):
                out[f.name] = to_json(value)
        return out
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return str(obj) if isinstance(obj, Path) else obj


def write_json(path: Path | str, report: Any, indent: int = 1) -> None:
    """Write `report` as strict JSON to `path` (atomically, its folder made if need be)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(to_json(report), indent=indent, allow_nan=False) + "\n").encode())
