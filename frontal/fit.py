"""Fitting the codec's integer tables on tracked training data (`frontal fit-tables`).

    frontal fit-tables --data .cache/faces15 [--out codec/tables/default.json]

`--data` is a folder written by `frontal prepare` (one .npz per clip with `sup` [T,33,2] and
`face_found` [T], and an index.tsv with each clip's identity_label). Only training identities are
used (the split is by identity: `frontal.dataset`). Without data, `default_doc()` builds parametric
tables (discretised Laplace) so the codec works out of the box; the shipped file is the fitted one.
"""
from __future__ import annotations

import argparse
import copy
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from codec.errors import CodecError
from codec.fields import LANDMARK_FIELDS, DrivingRecord, FieldSet
from codec.frame_coder import MODES, CoderState, FrameCoder
from codec.quant import Quantizer
from codec.tables import (
    DEFAULT_TABLES,
    TABLES_FORMAT,
    TABLES_VERSION,
    Tables,
    prefix_key,
    save_tables,
)
from frontal.dataset import is_validation
from frontal.pipeline import model_fields
from models.extractor import DrivingExtractor
from models.registry import has_weights
from sender.smoothing import DrivingSmoother, SmoothingConfig

log = logging.getLogger(__name__)

RADIUS = 128
N_BUCKETS = 28
FREQ_TOTAL = 1 << 16
# Default per-group mean absolute deviations (q8: 1/256 of a quantization step) for groups that no
# data was fitted for yet; generous so nothing escapes often.
DEFAULT_MAD = {
    "mean": (256, 8 * 256),
    "sup": (256, 8 * 256),
    "unsup": (8 * 256, 96 * 256),
    "jac": (64 * 256, 2048 * 256),
    "expr": (8 * 256, 64 * 256),
}
# The same for groups that only some tables have (`extend_doc`): a shape field set's pose and coefficients.
EXTRA_DEFAULT_MAD = {
    "pose": (2 * 256, 32 * 256),
    "shape": (2 * 256, 16 * 256),
}


def ladder_q8() -> list[int]:
    """Geometric scale ladder from 1/16 to 64 quantization steps (12-bit keypoints jitter by tens of steps)."""
    return [int(round(16 * 1024.0 ** (i / (N_BUCKETS - 1)))) for i in range(N_BUCKETS)]


def laplace_freqs(mad: float, radius: int = RADIUS, total: int = FREQ_TOTAL) -> list[int]:
    """Discretised Laplace with mean absolute deviation `mad` over [-R, R] + escape (tail mass)."""
    b = max(mad, 1e-3)
    edges = np.arange(-radius - 0.5, radius + 1.5)
    tail = 0.5 * np.exp(-np.abs(edges) / b)
    cdf = np.where(edges < 0, tail, 1 - tail)
    p = np.diff(cdf)
    tail = 1.0 - p.sum()
    p = np.append(p, tail)
    return _to_freqs(p, total)


def _to_freqs(p: np.ndarray, total: int = FREQ_TOTAL) -> list[int]:
    p = np.asarray(p, np.float64)
    p = p / p.sum()
    f = np.maximum(1, np.floor(p * (total - len(p))).astype(np.int64))
    return [int(x) for x in f]


def default_doc() -> dict[str, Any]:
    ladder = ladder_q8()
    return {
        "format": TABLES_FORMAT,
        "version": TABLES_VERSION,
        "radius": RADIUS,
        "ladder_q8": ladder,
        "bucket_freqs": [laplace_freqs(s / 256.0) for s in ladder],
        "paper": {
            g: {"inter": [laplace_freqs(inter / 256.0)], "intra": [laplace_freqs(min(intra / 256.0, RADIUS / 3))]}
            for g, (inter, intra) in DEFAULT_MAD.items()
        },
        "defaults": {g: {"inter_mad_q8": inter, "intra_mad_q8": intra} for g, (inter, intra) in DEFAULT_MAD.items()},
        "fieldsets": {},
        "provenance": {"fitted": False, "note": "parametric defaults, no data"},
    }


def intra_flags(n: int, period: int) -> np.ndarray:
    return (np.arange(n) % max(1, period)) == 0


def _fit_predictor(seqs: list[np.ndarray], periods: list[int], quant: Quantizer) -> dict[str, Any]:
    """Layout, temporal weights and the sequential regression of one field set's residuals."""
    allq = np.concatenate(seqs).astype(np.float64)
    layout = np.rint(allq.mean(axis=0)).astype(np.int64)
    # Temporal predictor: alpha_i by least squares of (q_t - q_{t-1}) on (q_{t-1} - q_{t-2}).
    d = np.concatenate([s[2:] - s[1:-1] for s in seqs]).astype(np.float64)
    v = np.concatenate([s[1:-1] - s[:-2] for s in seqs]).astype(np.float64)
    alpha = np.clip((d * v).sum(0) / np.maximum((v * v).sum(0), 1e-9), 0.0, 1.0)
    alpha_q8 = np.rint(alpha * 256).astype(np.int64)
    # Residuals the way the coder forms them.
    inter_r, intra_r = [], []
    for s, period in zip(seqs, periods):
        flags = intra_flags(len(s), period)
        for t in range(len(s)):
            if flags[t]:
                intra_r.append(s[t] - layout)
            elif t >= 2 and not flags[t - 1]:
                inter_r.append(s[t] - np.clip(s[t - 1] + ((alpha_q8 * (s[t - 1] - s[t - 2]) + 128) >> 8), 0, quant.maxima))
            else:
                inter_r.append(s[t] - s[t - 1])
    entry: dict[str, Any] = {"layout": layout.tolist(), "alpha_q8": alpha_q8.tolist()}
    for kind, rows in (("inter", inter_r), ("intra", intra_r)):
        r = np.asarray(rows, np.float64)
        coef_q12 = _regression_q12(r)
        e = r - ((coef_q12 @ r.T.astype(np.int64) + 2048) >> 12).T
        mad_q8 = np.maximum(16, np.rint(np.abs(e).mean(0) * 256)).astype(np.int64)
        entry[kind] = {"coef_q12": coef_q12.reshape(-1).tolist(), "mad_q8": mad_q8.tolist()}
    return entry


FitData = list[tuple[list[DrivingRecord], float]]  # clips: (records, fps)


def fit_doc(datasets: dict[FieldSet, FitData], intra_period_s: float = 1.0, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit tables for one or more field sets; the histograms are pooled over all of them."""
    doc = default_doc()
    # Each field set is fitted once per distinct quantization: the paper mode's depths and the
    # predictive mode's (`codec.fields.MODE_BITS`); field sets whose depths agree share one entry.
    prepared, frames = _fit_predictors(doc, datasets, intra_period_s)
    # Histograms: run the actual coders over the data (each on its own mode's quantization).
    bucket_hist, paper_hist = _histograms(Tables(doc), prepared)
    ladder = doc["ladder_q8"]
    doc["bucket_freqs"] = [_smoothed(bucket_hist[i], ladder[i] / 256.0) for i in range(N_BUCKETS)]
    _set_paper(doc, paper_hist)
    doc["provenance"] = {
        "fitted": True,
        "frames": frames,
        "clips": max(len(seqs) for _, _, _, seqs, _ in prepared),
        "fieldsets": [f.name for f in datasets],
        "intra_period_s": intra_period_s,
        **(provenance or {}),
    }
    return doc


def extend_doc(base: dict[str, Any], datasets: dict[FieldSet, FitData], intra_period_s: float = 1.0,
               provenance: dict[str, Any] | None = None, depths: dict[str, int] | None = None) -> dict[str, Any]:
    """`base` tables plus what `datasets` need that they lack: the defaults and paper histograms of
    new groups (`EXTRA_DEFAULT_MAD`: the shape field sets' `pose` and `shape`) and the field sets'
    predictor entries. What `base` has stays as it is (its residual histograms included), so every
    field set `base` codes is coded to the same bytes with the result. `depths`: studies only
    (`codec.fields.FieldSet.groups`)."""
    doc = copy.deepcopy(base)
    new_groups: set[str] = set()
    for fields in datasets:
        for g in fields.groups("paper", depths):
            if g.name in doc["defaults"]:
                continue
            if g.name not in EXTRA_DEFAULT_MAD:
                raise CodecError(f"no default deviations for field group '{g.name}'")
            inter, intra = EXTRA_DEFAULT_MAD[g.name]
            doc["defaults"][g.name] = {"inter_mad_q8": inter, "intra_mad_q8": intra}
            doc["paper"][g.name] = {"inter": [laplace_freqs(inter / 256.0)], "intra": [laplace_freqs(min(intra / 256.0, RADIUS / 3))]}
            new_groups.add(g.name)
    prepared, frames = _fit_predictors(doc, datasets, intra_period_s, depths)
    _, paper_hist = _histograms(Tables(doc), prepared, depths)
    _set_paper(doc, {g: h for g, h in paper_hist.items() if g in new_groups})
    doc["provenance"] = {
        **base.get("provenance", {}),
        "extended": {
            "frames": frames,
            "clips": max(len(seqs) for _, _, _, seqs, _ in prepared),
            "fieldsets": [f.name for f in datasets],
            "groups": sorted(new_groups),
            "intra_period_s": intra_period_s,
            **(provenance or {}),
        },
    }
    return doc


Prepared = list[tuple[FieldSet, str, Quantizer, list[np.ndarray], list[int]]]


def _fit_predictors(doc: dict[str, Any], datasets: dict[FieldSet, FitData], intra_period_s: float,
                    depths: dict[str, int] | None = None) -> tuple[Prepared, int]:
    """Adds each field set's predictor entry (per distinct quantization) to `doc`; returns the
    quantized clips and the number of frames."""
    prepared: Prepared = []
    frames = 0
    for fields, clips in datasets.items():
        kept = [(recs, fps) for recs, fps in clips if len(recs) >= 3]
        if not kept:
            raise CodecError(f"no clip with at least 3 frames to fit {fields.name} on")
        periods = [max(1, int(round(fps * intra_period_s))) for _, fps in kept]
        for mode in MODES:
            quant = Quantizer(fields, mode=mode, depths=depths)
            seqs = [np.stack([quant.quantize(r) for r in recs]) for recs, _ in kept]
            key = prefix_key(fields, mode, depths)
            if key not in doc["fieldsets"]:
                doc["fieldsets"][key] = _fit_predictor(seqs, periods, quant)
            prepared.append((fields, mode, quant, seqs, periods))
        frames += sum(len(recs) for recs, _ in kept)
    return prepared, frames


def _histograms(tables: Tables, prepared: Prepared, depths: dict[str, int] | None = None) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """The residual symbols the coders make on the data: per scale bucket (predictive mode) and per
    group and frame kind (paper mode)."""
    alphabet = 2 * RADIUS + 2
    bucket_hist = np.zeros((N_BUCKETS, alphabet))
    paper_hist: dict[str, dict[str, np.ndarray]] = {}
    for fields, mode, quant, seqs, periods in prepared:
        coder = FrameCoder(fields, tables, mode, depths)
        for s, period in zip(seqs, periods):
            flags = intra_flags(len(s), period)
            state = CoderState()
            for t in range(len(s)):
                intra = bool(flags[t])
                vals, _, a_norm, bucket = coder.analyze(s[t], state, intra)
                if mode == "predictive":
                    np.add.at(bucket_hist, (bucket, _symbol(vals)), 1)
                else:
                    for g in quant.groups:
                        h = paper_hist.setdefault(g.name, {"inter": np.zeros(alphabet), "intra": np.zeros(alphabet)})
                        np.add.at(h["intra" if intra else "inter"], _symbol(vals[quant.slices[g.name]]), 1)
                coder._advance(state, s[t], a_norm, intra)
    return bucket_hist, paper_hist


def _set_paper(doc: dict[str, Any], which: dict[str, dict[str, np.ndarray]]) -> None:
    """The paper mode's histograms of the groups in `which` (group -> frame kind -> counts), smoothed."""
    for name, kinds in which.items():
        for kind, h in kinds.items():
            mad = max(0.25, float((np.abs(np.arange(-RADIUS, RADIUS + 1)) * h[:-1]).sum() / max(h.sum(), 1)))
            doc["paper"][name][kind] = [_smoothed(h, mad)]


def _symbol(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) > RADIUS, 2 * RADIUS + 1, values + RADIUS)


def _smoothed(hist: np.ndarray, mad: float) -> list[int]:
    """Histogram + a small parametric floor (5% of the mass, at least 1 count per symbol)."""
    prior = np.asarray(laplace_freqs(mad), np.float64)
    prior /= prior.sum()
    n = hist.sum()
    weight = max(0.05 * n, 50.0)
    return _to_freqs(hist + weight * prior)


def _regression_q12(r: np.ndarray) -> np.ndarray:
    """C = I - L^{-1} from the LDL^T factor of the residuals' covariance, in 1/4096 (int64)."""
    n = r.shape[1]
    cov = np.cov(r, rowvar=False) if len(r) > 1 else np.eye(n)
    cov = np.atleast_2d(cov) + 0.05 * np.eye(n)
    g = np.linalg.cholesky(cov)
    lower = g / np.diag(g)[None, :]
    c = np.eye(n) - np.linalg.inv(lower)
    c = np.tril(c, k=-1)
    return np.rint(c * 4096).astype(np.int64)


# ---- data loading ---------------------------------------------------------------------------------
def load_prepared(folder: Path, split: str, fields: FieldSet = LANDMARK_FIELDS, extractor: Any = None,
                  smoothing: Any = None) -> tuple[FitData, list[str]]:
    """Clips of one split ("train" or "val", by identity) from a `frontal prepare` folder, as records.

    A clip is cut at frames without a face, so no residual spans a tracking gap. Fields beyond the
    tracker's landmarks (unsup, jac, expr) come from `extractor` (a model's DrivingExtractor) run on
    the clip's cached face-tube crops, smoothed over time as the sender does (`smoothing`: a
    `sender.smoothing.SmoothingConfig`, default `SmoothingConfig.default()`).
    """

    clips: FitData = []
    names: list[str] = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            label = str(z["identity_label"]) if "identity_label" in z else ""
            if not label or (split == "val") != is_validation(label):
                continue
            sup = z["sup"].astype(np.float32)
            found = z["face_found"].astype(bool) if "face_found" in z else np.ones(len(sup), bool)
            fps = float(z["fps"]) if "fps" in z else 15.0
            crops = None
            if extractor is not None:
                if "crops" not in z:
                    raise CodecError(f"{path.name} has no face-tube crops (prepare it without --no-crops)")
                crops = z["crops"]
        for run in _face_runs(found):
            if len(run) < 3:
                continue
            code = extractor.extract_batch(crops[run]) if crops is not None else None
            recs = []
            for k, t in enumerate(run):
                rec = DrivingRecord(sup=sup[t] if fields.n_sup else None)
                if code is not None:
                    rec.unsup = code.unsup[k] if fields.n_unsup else None
                    rec.jac = code.jac[k] if fields.jacobians and code.jac is not None else None
                    rec.expr = code.expr[k] if fields.n_expr and code.expr is not None else None
                recs.append(rec)
            if code is not None:
                recs = DrivingSmoother(smoothing if smoothing is not None else SmoothingConfig.default(), fps).run(recs)
            clips.append((recs, fps))
            names.append(path.stem)
    return clips, names


def _face_runs(found: np.ndarray) -> Iterable[np.ndarray]:
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    return np.split(idx, breaks)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="frontal fit-tables", description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="folder written by `frontal prepare`")
    ap.add_argument("--out", type=Path, default=DEFAULT_TABLES, help="tables file to write (default: the shipped one)")
    ap.add_argument("--model", default=None, help="also fit the field set this registered model declares (needs crops and its weights)")
    ap.add_argument("--intra-period", type=float, default=1.0, help="seconds between intra frames (default 1)")
    ap.add_argument("--no-smoothing", action="store_true", help="fit the detector's raw keypoints/expression (the sender smooths them by default)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.data.is_dir():
        print(f"frontal fit-tables: no such folder: {args.data}", file=sys.stderr)
        return 2
    try:
        sup_only = LANDMARK_FIELDS
        clips, names = load_prepared(args.data, "train", sup_only)
        if not clips:
            raise CodecError(f"no training clips with identities in {args.data}")
        datasets: dict[FieldSet, FitData] = {sup_only: clips}
        provenance: dict[str, Any] = {"data": args.data.name, "split": "train", "clip_names": sorted(set(names))}
        if args.model:

            smoothing = SmoothingConfig.off() if args.no_smoothing else SmoothingConfig.default()
            fields = model_fields(args.model)
            datasets[fields] = load_prepared(args.data, "train", fields, DrivingExtractor(args.model), smoothing)[0]
            provenance["model"] = args.model
            provenance["smoothing"] = asdict(smoothing)
            provenance["model_trained"] = bool(has_weights(args.model))
        doc = fit_doc(datasets, args.intra_period, provenance)
    except (CodecError, ValueError) as exc:
        print(f"frontal fit-tables: {exc}", file=sys.stderr)
        return 1
    save_tables(doc, args.out)
    fitted = ", ".join(doc["provenance"]["fieldsets"])
    print(f"wrote {args.out} ({doc['provenance']['frames']} frames of {fitted} from {len(set(names))} training clips)")
    return 0
