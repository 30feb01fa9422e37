"""The report's static HTML page: the headline table, the side-by-side videos and the plots."""
from __future__ import annotations

import html
from pathlib import Path

from frontal.report.summary import table_rows, views_sentence
from frontal.report.types import LoopbackReport

CODEC_NAMES = {"x264": "H.264", "x265": "H.265", "vp9": "VP9", "av1": "AV1"}
CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
table { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } td:first-child, td:nth-child(2) { text-align: left; }
tr.frontal td { background: #fff3f0; }
.warn { background: #fff4d6; border: 1px solid #e0b84c; padding: 8px 12px; }
.plots img { width: 48%; min-width: 420px; margin: 4px; border: 1px solid #ddd; }
video { max-width: 100%; border: 1px solid #ddd; }
code { background: #f4f4f4; padding: 1px 4px; }
"""


def render_html(doc: LoopbackReport, plots: dict[str, str]) -> str:
    """A self-contained page (no scripts) referencing files beside it."""
    s = doc.comparison
    if s is None:
        raise ValueError("the report has no comparison")
    f = s.frontal
    esc = html.escape
    header, rows = table_rows(s)
    codecs = " / ".join(dict.fromkeys(CODEC_NAMES.get(c.codec, c.codec) for c in s.classical))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Frontal vs {esc(codecs)}</title><style>{CSS}</style></head><body>",
             f"<h1>Frontal vs {esc(codecs)} at the same bitrate</h1>"]
    if not f.trained:
        parts.append("<p class='warn'><b>The model is untrained</b> (random weights): Frontal's pictures are not faces yet, "
                     "so its image-quality numbers are meaningless as quality; its bitrate side is real.</p>")
    parts.append(f"<p>{f.clips} clip(s), {f.frames} frames at 15 FPS ({s.seconds:.1f} s). "
                 f"Frontal sends {esc(f.fields)} per frame plus its source views ({f.view_bytes_mean / 1000:.1f} kB per clip). "
                 f"{esc(views_sentence(s))} Its bitrate is shown with the views amortised over a "
                 f"{s.call_seconds:g}-second call and over the clip itself. Each classical codec is encoded at Frontal's "
                 f"{s.call_seconds:g}-s-call bitrate ({s.goal_kbps:.2f} kbps); where its floor is higher, the floor is used. "
                 "Metrics are against the 256×256 input face tube. FPS: Frontal's render (median ms, this machine), "
                 "the classical decoders' decode.</p>")
    parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    for r in rows:
        cls = " class='frontal'" if r[0].startswith("Frontal") else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    parts.append("</table>")
    floor = f.floor
    parts.append(f"<p>Frontal's lowest rate at 15 FPS: {floor.kbps_call:.2f} kbps ({s.call_seconds:g}-s call; "
                 f"{floor.packet_kbps:.2f} kbps of packets, of which {floor.header_kbps:.2f} kbps packet headers) — "
                 f"it renders at {'–' if f.render_fps is None else format(f.render_fps, '.1f')} FPS here. Floors of the classical codecs are in the table "
                 "(lowest bitrate each actually reaches on these clips).</p>")
    parts.append("<h2>Side by side</h2>")
    play = " autoplay preload='auto'" if len(doc.clips) == 1 else " preload='metadata'"  # one clip: it plays at once
    for c in doc.clips:
        if c.comparison is None:
            continue
        name = Path(c.comparison.side_by_side).name
        parts.append(f"<p>{esc(Path(c.clip).name)}: {' | '.join(esc(t) for t in c.comparison.side_by_side_tiles)} "
                     f"(<a href='{esc(name)}'>{esc(name)}</a>)</p>"
                     f"<video src='{esc(name)}' controls loop muted playsinline{play}></video>")
    parts.append("<h2>Rate–distortion</h2><div class='plots'>")
    parts += [f"<img src='{esc(name)}' alt='{esc(key)}'>" for key, name in plots.items() if key.startswith("rd_")]
    parts.append("</div>")
    loss_plots = [f"<img src='{esc(name)}' alt='{esc(key)}'>" for key, name in plots.items() if key.startswith("loss_")]
    if loss_plots:  # none with --loss none
        parts += ["<h2>Packet loss</h2><div class='plots'>", *loss_plots, "</div>"]
    parts.append(f"<p>Command: <code>{esc(doc.command or '')}</code>; machine load {esc('' if doc.load is None else str(doc.load))}. "
                 "All numbers: <a href='report.json'>report.json</a>.</p></body></html>")
    return "\n".join(parts)
