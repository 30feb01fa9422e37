"""Writing the report folder: report.json, plots, the HTML page (videos are written per clip)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from codec.atomic import atomic_write
from frontal.report.html import render_html
from frontal.report.plots import write_plots

log = logging.getLogger(__name__)


def write_report(doc: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write plots, `index.html` and `report.json` into `folder` (which holds the videos already).
    Files are written atomically; returns {what: path}."""

    folder.mkdir(parents=True, exist_ok=True)
    plots = write_plots(doc["comparison"], folder)
    doc["report"] = {"plots": plots, "html": "index.html"}
    atomic_write(folder / "report.json", (json.dumps(doc, indent=1, allow_nan=False, default=_json_default) + "\n").encode())
    atomic_write(folder / "index.html", render_html(doc, plots).encode())
    return {"json": str(folder / "report.json"), "html": str(folder / "index.html"), **{k: str(folder / v) for k, v in plots.items()}}


def _json_default(obj: Any) -> Any:

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
