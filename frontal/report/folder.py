"""Writing the report folder: report.json, plots, the HTML page (videos are written per clip)."""
from __future__ import annotations

import logging
from pathlib import Path

from codec.atomic import atomic_write
from frontal.jsonio import write_json
from frontal.report.html import render_html
from frontal.report.plots import write_plots
from frontal.report.types import LoopbackReport, ReportFiles

log = logging.getLogger(__name__)


def write_report(doc: LoopbackReport, folder: Path) -> dict[str, str]:
    """Write plots, `index.html` and `report.json` into `folder` (which holds the videos already);
    sets `doc.report`. Files are written atomically; returns {what: path}."""

    if doc.comparison is None:
        raise ValueError("the report has no comparison")
    folder.mkdir(parents=True, exist_ok=True)
    plots = write_plots(doc.comparison, folder)
    doc.report = ReportFiles(plots=plots, html="index.html")
    write_json(folder / "report.json", doc)
    atomic_write(folder / "index.html", render_html(doc, plots).encode())
    return {"json": str(folder / "report.json"), "html": str(folder / "index.html"), **{k: str(folder / v) for k, v in plots.items()}}
