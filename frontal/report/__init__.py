"""Frontal against the classical codecs at the same bitrate: the `codec-loopback --report` engine.

    compare.py         one clip through both paths; `CompareOptions` (source views: live or oracle)
    frontal_side.py    Frontal's honest bits (packets + source views), render, hold-and-resync loss
    classical_side.py  floor, rate sweep and an encode matched to Frontal's bitrate per codec
    quality.py         `Scorer`: every metric of `frontal.eval.metrics` and expression fidelity, face models loaded once
    summary.py         frame-weighted means over clips, the headline table
    types.py           the report's typed records (what report.json holds)
    plots.py           rate-distortion and loss plots (PNG)
    video.py           the labelled side-by-side video
    html.py, folder.py the report folder: report.json, plots, index.html
"""
from frontal.report.compare import CompareOptions, compare_clip
from frontal.report.folder import write_report
from frontal.report.summary import markdown_table, summarize, text_table

__all__ = ["CompareOptions", "compare_clip", "markdown_table", "summarize", "text_table", "write_report"]
