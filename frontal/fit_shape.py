"""Fitting the dense face shape model and its tables on tracked training data (`frontal fit-shape`).

    frontal fit-shape --data .cache/faces15m [--k 32] [--study 8,16,24,32,48] [--json OUT]

`--data` is a folder written by `frontal prepare` (one .npz a clip with `landmarks [T, 478, 3]`,
`face_found [T]`, `fps` and `identity_label`). The model (`codec.shape`) is fitted on training
identities only (`frontal.dataset` splits by identity): a generalised Procrustes alignment of every
frame's mesh on the rigid points gives the mean shape, in the sender's template frame; the principal
components of what the pose leaves give the basis. Then the tables that code the shape field set
(`FieldSet(n_sup=0, n_shape=k)`) are fitted on the same clips: the shipped default tables extended
with the `pose` and `shape` groups (`frontal.fit.extend_doc`). Written: the model
(`codec/shape_data/facemesh_shape.safetensors`) and the tables (`codec/tables/shape.json`), unless
`--no-write`.

Figures, all on validation identities (px of the 256 crop, x and y only: what the picture shows):

- `--study K,...`: the mesh error of the model with K coefficients (no coding), and of the
  alternative, the 33 landmarks + a ridge regression lifting them to the dense mesh (fitted on
  training identities, pose-normalised by a 2-D similarity); then both coded in predictive mode
  (15 FPS, an intra frame a second): payload bits/frame and the mesh error after decoding.
- `--depths pose=9,10,11 shape=6,7,8`: bits against error of the `pose` and `shape` groups' depths.
- always: the shipped model and tables coded and decoded on validation clips, with the sender's fit,
  the coder's and the rebuild's ms/frame.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from codec.errors import CodecError
from codec.fields import LANDMARK_FIELDS, DrivingRecord, FieldSet
from codec.frame_coder import CoderState, FrameCoder
from codec.quant import Quantizer
from codec.shape import DEFAULT_SHAPE_MODEL, NUM_POINTS, ShapeModel
from codec.tables import DEFAULT_TABLES, SHAPE_TABLES, Tables, load_tables, save_tables
from frontal.dataset import is_validation
from frontal.fit import FitData, extend_doc, intra_flags
from receiver.mesh import EYE_LIDS, INNER_LIPS, MESH_POINTS, MeshTopology, Region
from sender.landmarks import RIGID_INDICES, SUP33_INDICES
from sender.pose import template_points
from sender.shape import ShapeFitter

log = logging.getLogger(__name__)

PX = 128.0  # pixels of the 256 crop per normalised crop unit
PROCRUSTES_ITERATIONS = 4
EXPRESSION_WEIGHT = 8.0  # docs/shape.md: the weights measured
BROW_POINTS = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276)  # FaceMesh's brows
BROW_GAPS = ((105, 159), (334, 386))  # (brow middle, upper lid middle): `frontal.mesh_check.BROWS`
RIDGE_LAMBDAS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclass(frozen=True)
class MeshClip:
    """One run of frames with a face: `meshes [T, 478, 3]` float32 (normalised crop coordinates)."""

    name: str
    identity: str
    fps: float
    meshes: NDArray[np.float32]


# ---- data -----------------------------------------------------------------------------------------
def load_meshes(folder: Path, split: str, min_frames: int = 3) -> list[MeshClip]:
    """The clips of one split ("train" or "val", by identity) of a `frontal prepare` folder, cut at
    frames without a face."""
    clips = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            label = str(z["identity_label"]) if "identity_label" in z else ""
            if not label or (split == "val") != is_validation(label) or "landmarks" not in z:
                continue
            meshes = z["landmarks"].astype(np.float32)
            found = z["face_found"].astype(bool) if "face_found" in z else np.ones(len(meshes), bool)
            fps = float(z["fps"]) if "fps" in z else 15.0
        if meshes.shape[1:] != (NUM_POINTS, 3):
            continue
        idx = np.flatnonzero(found)
        for k, run in enumerate(np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if len(idx) else []):
            if len(run) >= min_frames:
                clips.append(MeshClip(f"{path.stem}#{k}", label, fps, meshes[run]))
    return clips


# ---- the model ------------------------------------------------------------------------------------
def align_batch(source: NDArray[Any], targets: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per target the least-squares similarity (Umeyama) taking `source [P, 3]` onto `targets [N, P, 3]`:
    (scale [N], rotation [N, 3, 3], translation [N, 3])."""
    src = np.asarray(source, np.float64)
    tgt = np.asarray(targets, np.float64)
    mu_s, mu_t = src.mean(axis=0), tgt.mean(axis=1)
    s0, t0 = src - mu_s, tgt - mu_t[:, None, :]
    cov = np.einsum("npi,pj->nij", t0, s0) / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones((len(tgt), 3))
    d[:, 2] = np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)
    rotation = (u * d[:, None, :]) @ vt
    scale = (sigma * d).sum(axis=1) / float((s0**2).sum() / len(src))
    translation = mu_t - scale[:, None] * np.einsum("nij,j->ni", rotation, mu_s)
    return scale, rotation, translation


def normalise_batch(meshes: NDArray[Any], reference: NDArray[Any], rigid: NDArray[Any]) -> NDArray[np.float64]:
    """`meshes [N, 478, 3]` with their pose removed: each aligned (on `rigid`) to `reference [478, 3]`."""
    scale, rotation, translation = align_batch(reference[rigid], meshes[:, rigid])
    out: NDArray[np.float64] = np.einsum("npi,nij->npj", meshes - translation[:, None, :], rotation) / scale[:, None, None]
    return out


def procrustes_mean(meshes: NDArray[Any], rigid: NDArray[Any], iterations: int = PROCRUSTES_ITERATIONS) -> NDArray[np.float64]:
    """The mean shape `[478, 3]` of `meshes [N, 478, 3]` (generalised Procrustes on the `rigid`
    points), in the frame of the sender's frontal template (a similarity fit to it on the rigid
    points), translated so that the rigid points' centroid is the origin."""
    template = template_points()
    gauge = np.zeros((NUM_POINTS, 3))
    gauge[: len(template)] = template
    mean = normalise_batch(meshes, gauge, rigid).mean(axis=0)
    for _ in range(iterations):
        mean = normalise_batch(meshes, mean, rigid).mean(axis=0)
        scale, rotation, translation = align_batch(mean[rigid], template[rigid][None])
        mean = scale[0] * mean @ rotation[0].T + translation[0]
    centred: NDArray[np.float64] = mean - mean[rigid].mean(axis=0)
    return centred


def expression_points() -> NDArray[np.intp]:
    """The points that carry expression: the rims of the eyes and of the mouth (the points of the
    receiver mesh's eye and mouth fills) and the brows."""
    topology = MeshTopology.load()
    rims = np.unique(topology.triangles[topology.regions != int(Region.SKIN)])
    return np.union1d(rims, BROW_POINTS).astype(np.intp)


def fit_model(clips: list[MeshClip], k: int, rigid: Sequence[int] = RIGID_INDICES,
              expression_weight: float = EXPRESSION_WEIGHT) -> ShapeModel:
    """The shape model of the clips' meshes with `k` coefficients (module docstring); the PCA weighs
    the `expression_points` `expression_weight` times as much as the others."""
    meshes = np.concatenate([c.meshes for c in clips]).astype(np.float64)
    rigid_idx = np.asarray(rigid, np.int32)
    mean = procrustes_mean(meshes, rigid_idx)
    weight = np.ones(NUM_POINTS)
    weight[expression_points()] = expression_weight
    root = np.sqrt(weight)[None, :, None]
    residual = ((normalise_batch(meshes, mean, rigid_idx) - mean) * root).reshape(len(meshes), -1)
    cov = residual.T @ residual / len(residual)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:k]
    basis = vectors[:, order].T  # [k, 1434], orthonormal in the weighted space
    sign = np.sign(basis[np.arange(k), np.argmax(np.abs(basis), axis=1)])
    basis = (basis * sign[:, None]).reshape(k, NUM_POINTS, 3) / root  # back to mesh units: orthonormal under `weight`
    std = np.sqrt(np.maximum(values[order], 0.0))
    provenance = {"frames": int(len(meshes)), "clips": len(clips), "identities": len({c.identity for c in clips}),
                  "split": "train", "expression_weight": expression_weight,
                  "variance_kept": round(float(values[order].sum() / values.sum()), 6)}
    return ShapeModel(mean.astype(np.float32), basis.astype(np.float32), std.astype(np.float32),
                      weight.astype(np.float32), rigid_idx, provenance)


# ---- errors ---------------------------------------------------------------------------------------
def mesh_errors(truth: NDArray[Any], estimate: NDArray[Any]) -> dict[str, float]:
    """2-D errors in px of the 256 crop between `truth` and `estimate` `[T, 478, 2+]`: the mean over
    the 468 mesh points (and over all 478), the 95th percentile of the frames' means, and the mean
    error of the mouth's inner-lip gap, of the eyes' lid gaps and of the brows' height above the lids
    (what `frontal bench-mesh-render --expressions` reads expression off)."""
    d = np.linalg.norm(truth[:, :, :2] - estimate[:, :, :2], axis=2) * PX
    per_frame = d[:, :MESH_POINTS].mean(axis=1)

    def gaps(points: NDArray[Any], pairs: Sequence[tuple[int, int]]) -> NDArray[Any]:
        return np.stack([np.linalg.norm(points[:, a, :2] - points[:, b, :2], axis=1) for a, b in pairs], axis=1)

    lips = list(INNER_LIPS[2])
    lids = list(EYE_LIDS["right"][2]) + list(EYE_LIDS["left"][2])
    return {
        "mean_px": round(float(per_frame.mean()), 4),
        "mean_px_478": round(float(d.mean()), 4),
        "p95_frame_px": round(float(np.percentile(per_frame, 95)), 4),
        "mouth_gap_px": round(float(np.abs(gaps(truth, lips) - gaps(estimate, lips)).mean() * PX), 4),
        "eye_gap_px": round(float(np.abs(gaps(truth, lids) - gaps(estimate, lids)).mean() * PX), 4),
        "brow_px": round(float(np.abs(gaps(truth, BROW_GAPS) - gaps(estimate, BROW_GAPS)).mean() * PX), 4),
    }


def model_meshes(fitter: ShapeFitter, meshes: NDArray[Any]) -> NDArray[np.float64]:
    """Each mesh of `meshes [T, 478, 3]` fitted and rebuilt by the model (no coding)."""
    return np.stack([fitter.model.reconstruct(*fitter.fit(m)) for m in meshes])


# ---- the alternative: 33 landmarks lifted to the dense mesh ---------------------------------------
def similarity_2d(source: NDArray[Any], targets: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per target the least-squares 2-D similarity taking `source [P, 2]` onto `targets [N, P, 2]`, as
    complex numbers: (z [N] = scale · e^{i angle}, translation [N])."""
    s = source[:, 0] + 1j * source[:, 1]
    t = targets[:, :, 0] + 1j * targets[:, :, 1]
    s0, t0 = s - s.mean(), t - t.mean(axis=1, keepdims=True)
    z = (t0 * np.conj(s0)).sum(axis=1) / float((np.abs(s0) ** 2).sum())
    return z, t.mean(axis=1) - z * s.mean()


@dataclass(frozen=True)
class Lift:
    """Ridge regression from the 33 landmarks to the dense mesh, both pose-normalised by the 2-D
    similarity that takes the mean shape's 33 points onto the frame's."""

    anchor: NDArray[np.float64]  # [33, 2] the mean shape's 33 points
    weights: NDArray[np.float64]  # [66, 1434]
    x_mean: NDArray[np.float64]  # [66]
    y_mean: NDArray[np.float64]  # [1434]

    @staticmethod
    def features(anchor: NDArray[Any], sup: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """(normalised sup [N, 66], z [N], translation [N]) of `sup [N, 33, 2]`."""
        z, tr = similarity_2d(anchor, sup)
        c = (sup[:, :, 0] + 1j * sup[:, :, 1] - tr[:, None]) / z[:, None]
        return np.concatenate([c.real, c.imag], axis=1), z, tr

    @classmethod
    def fit(cls, anchor: NDArray[Any], sup: NDArray[Any], meshes: NDArray[Any], lam: float) -> Lift:
        x, z, tr = cls.features(anchor, sup)
        y = _normalise_dense(meshes, z, tr)
        xm, ym = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - xm, y - ym
        gram = xc.T @ xc / len(x)
        weights = np.linalg.solve(gram + lam * np.trace(gram) / len(gram) * np.eye(len(gram)), xc.T @ yc / len(x))
        return cls(np.asarray(anchor, np.float64), weights, xm, ym)

    def __call__(self, sup: NDArray[Any]) -> NDArray[np.float64]:
        """Dense meshes `[N, 478, 3]` from `sup [N, 33, 2]`."""
        x, z, tr = self.features(self.anchor, sup)
        y = ((x - self.x_mean) @ self.weights + self.y_mean).reshape(len(x), NUM_POINTS, 3)
        c = (y[:, :, 0] + 1j * y[:, :, 1]) * z[:, None] + tr[:, None]
        out: NDArray[np.float64] = np.stack([c.real, c.imag, y[:, :, 2] * np.abs(z)[:, None]], axis=2)
        return out


def _normalise_dense(meshes: NDArray[Any], z: NDArray[Any], tr: NDArray[Any]) -> NDArray[np.float64]:
    c = (meshes[:, :, 0] + 1j * meshes[:, :, 1] - tr[:, None]) / z[:, None]
    out: NDArray[np.float64] = np.stack([c.real, c.imag, meshes[:, :, 2] / np.abs(z)[:, None]], axis=2).reshape(len(meshes), -1)
    return out


def decoded_sup(meshes: NDArray[Any]) -> NDArray[np.float64]:
    """The 33 landmarks of `meshes [N, 478, 3]` as a receiver decodes them: quantized at the
    predictive mode's depths (the coder is lossless in the quantized domain): `[N, 33, 2]`."""
    quant = Quantizer(LANDMARK_FIELDS, mode="predictive")
    sup = meshes[:, list(SUP33_INDICES), :2]
    out = [quant.dequantize(quant.quantize(DrivingRecord(sup=s))).sup for s in sup]
    return np.stack(out).astype(np.float64)


def fit_lift(clips: list[MeshClip], anchor: NDArray[Any]) -> tuple[Lift, float]:
    """The lift fitted on `clips`' decoded landmarks (`decoded_sup`: what a receiver lifts) with the
    ridge weight that does best on a fifth of their identities held out (every fifth identity,
    sorted), refitted on them all; returns it and its weight."""
    identities = sorted({c.identity for c in clips})
    tune = set(identities[::5])

    def stack(cs: list[MeshClip]) -> NDArray[Any]:
        return np.concatenate([c.meshes for c in cs]).astype(np.float64)

    fit_part = stack([c for c in clips if c.identity not in tune])
    tune_part = stack([c for c in clips if c.identity in tune])
    fit_sup, tune_sup = decoded_sup(fit_part), decoded_sup(tune_part)
    scores = {}
    for lam in RIDGE_LAMBDAS:
        lift = Lift.fit(anchor, fit_sup, fit_part, lam)
        scores[lam] = mesh_errors(tune_part, lift(tune_sup))["mean_px"]
    best = min(scores, key=lambda k: scores[k])
    everything = stack(clips)
    return Lift.fit(anchor, decoded_sup(everything), everything, best), best


# ---- coding ---------------------------------------------------------------------------------------
def shape_records(fitter: ShapeFitter, clips: list[MeshClip]) -> FitData:
    """The clips as shape field-set records (`pose`, `shape`), with their frame rates."""
    return [([fitter.record(m) for m in c.meshes], c.fps) for c in clips]


def code_clips(fields: FieldSet, tables: Tables, clips: list[list[DrivingRecord]], fps: list[float],
               depths: dict[str, int] | None = None, intra_period_s: float = 1.0) -> tuple[list[NDArray[Any]], dict[str, Any]]:
    """Codes and decodes each clip in predictive mode (an intra frame every `intra_period_s`);
    returns the decoded quantized vectors per clip and the figures: payload bits/frame (whole
    bytes; mean, p95, intra and inter frames), the information content per group, and the coder's
    encode and decode ms/frame."""
    coder = FrameCoder(fields, tables, "predictive", depths)
    decoder = FrameCoder(fields, tables, "predictive", depths)
    quant = Quantizer(fields, mode="predictive", depths=depths)
    encode_s = decode_s = 0.0
    bits: list[int] = []
    kinds: list[bool] = []
    groups: dict[str, float] = {g.name: 0.0 for g in quant.groups}
    decoded = []
    for recs, rate in zip(clips, fps):
        flags = intra_flags(len(recs), max(1, int(round(rate * intra_period_s))))
        state, dec_state = CoderState(), CoderState()
        qs = []
        for rec, intra in zip(recs, flags):
            start = time.perf_counter()
            q = quant.quantize(rec)
            payload, info = coder.encode(q, state, bool(intra))
            middle = time.perf_counter()
            back = decoder.decode(payload, dec_state, bool(intra))
            encode_s += middle - start
            decode_s += time.perf_counter() - middle
            if not np.array_equal(back, q):
                raise CodecError("a decoded frame differs from the coded one")
            bits.append(8 * len(payload))
            kinds.append(bool(intra))
            for name, value in info.per_group.items():
                groups[name] += value
            qs.append(q)
        decoded.append(np.stack(qs))
    n = max(len(bits), 1)
    intra_bits = [b for b, k in zip(bits, kinds) if k]
    inter_bits = [b for b, k in zip(bits, kinds) if not k]
    figures = {"frames": len(bits), "payload_bits_mean": round(float(np.mean(bits)), 2),
               "payload_bits_p95": round(float(np.percentile(bits, 95)), 1),
               "intra_bits_mean": round(float(np.mean(intra_bits)), 1) if intra_bits else None,
               "inter_bits_mean": round(float(np.mean(inter_bits)), 1) if inter_bits else None,
               "info_bits_per_group": {k: round(v / n, 2) for k, v in groups.items()},
               "encode_ms": round(1000 * encode_s / n, 3), "decode_ms": round(1000 * decode_s / n, 3)}
    return decoded, figures


def coded_shape(model: ShapeModel, tables: Tables, val: list[MeshClip], depths: dict[str, int] | None = None) -> dict[str, Any]:
    """The shape field set with `model.k` coefficients coded on the validation clips: bits and the
    decoded meshes' errors against the tracked ones (and against the uncoded model's)."""
    fitter = ShapeFitter(model)
    fields = FieldSet(n_sup=0, n_shape=model.k)
    quant = Quantizer(fields, mode="predictive", depths=depths)
    start = time.perf_counter()
    records = [[fitter.record(m) for m in c.meshes] for c in val]
    fit_s = time.perf_counter() - start
    decoded, figures = code_clips(fields, tables, records, [c.fps for c in val], depths)
    truth = np.concatenate([c.meshes for c in val])
    rebuilt = []
    start = time.perf_counter()
    for qs in decoded:
        for q in qs:
            rec = quant.dequantize(q)
            assert rec.pose is not None and rec.shape is not None
            rebuilt.append(model.reconstruct(rec.pose, rec.shape))
    rebuild_s = time.perf_counter() - start
    coded = np.stack(rebuilt)
    figures["fit_ms"] = round(1000 * fit_s / len(coded), 3)
    figures["dequantize_reconstruct_ms"] = round(1000 * rebuild_s / len(coded), 3)
    uncoded = np.concatenate([model_meshes(fitter, c.meshes) for c in val])
    figures["error_vs_tracked"] = mesh_errors(truth, coded)
    figures["error_vs_uncoded"] = mesh_errors(uncoded, coded)
    return figures


def coded_lift(lift: Lift, tables: Tables, val: list[MeshClip]) -> dict[str, Any]:
    """The 33 landmarks coded (predictive mode, the default tables) on the validation clips and
    lifted to the dense mesh: bits and the mesh error."""
    fields = LANDMARK_FIELDS
    sup_idx = list(SUP33_INDICES)
    records = [[DrivingRecord(sup=m[sup_idx, :2]) for m in c.meshes] for c in val]
    decoded, figures = code_clips(fields, tables, records, [c.fps for c in val])
    quant = Quantizer(fields, mode="predictive")
    sup = np.stack([quant.dequantize(q).sup for qs in decoded for q in qs]).astype(np.float64)
    truth = np.concatenate([c.meshes for c in val])
    figures["error_vs_tracked"] = mesh_errors(truth, lift(sup))
    return figures


# ---- the command ----------------------------------------------------------------------------------
def parse_depths(items: Sequence[str]) -> dict[str, list[int]]:
    """["pose=9,10", "shape=6,7"] -> {"pose": [9, 10], "shape": [6, 7]}."""
    out: dict[str, list[int]] = {}
    for item in items:
        name, _, values = item.partition("=")
        if name not in ("pose", "shape") or not values:
            raise ValueError(f"--depths: expected pose=B,B... or shape=B,B..., got {item!r}")
        out[name] = [int(v) for v in values.split(",")]
    return out


def study(train: list[MeshClip], val: list[MeshClip], model: ShapeModel, ks: list[int], base: Tables,
          intra_period_s: float) -> dict[str, Any]:
    """The K sweep and the lift alternative (module docstring), uncoded and coded."""
    truth = np.concatenate([c.meshes for c in val])
    out: dict[str, Any] = {"pca": {}, "lift": {}}
    for k in tqdm(ks, desc="K", disable=not sys.stderr.isatty()):
        sub = model.truncated(k)
        fitter = ShapeFitter(sub)
        uncoded = mesh_errors(truth, np.concatenate([model_meshes(fitter, c.meshes) for c in val]))
        tables = Tables(extend_doc(base.doc, {FieldSet(n_sup=0, n_shape=k): shape_records(fitter, train)}, intra_period_s))
        out["pca"][k] = {"uncoded": uncoded, "coded": coded_shape(sub, tables, val)}
        log.info("K=%d: %s px uncoded; coded %s bits/frame, %s px", k, uncoded["mean_px"],
                 out["pca"][k]["coded"]["payload_bits_mean"], out["pca"][k]["coded"]["error_vs_tracked"]["mean_px"])
    lift, lam = fit_lift(train, model.mean[list(SUP33_INDICES), :2].astype(np.float64))
    sup_idx = list(SUP33_INDICES)
    out["lift"] = {"ridge_lambda": lam, "uncoded": mesh_errors(truth, lift(truth[:, sup_idx, :2].astype(np.float64))),
                   "quantized_sup": mesh_errors(truth, lift(decoded_sup(truth))),
                   "coded": coded_lift(lift, base, val)}
    log.info("lift: %s px uncoded; coded %s bits/frame, %s px", out["lift"]["uncoded"]["mean_px"],
             out["lift"]["coded"]["payload_bits_mean"], out["lift"]["coded"]["error_vs_tracked"]["mean_px"])
    return out


def depth_sweep(train: list[MeshClip], val: list[MeshClip], model: ShapeModel, sweep: dict[str, list[int]], base: Tables,
                intra_period_s: float) -> list[dict[str, Any]]:
    """Bits and error of the shape field set at each depth in `sweep` (one group varied at a time)."""
    fitter = ShapeFitter(model)
    fields = FieldSet(n_sup=0, n_shape=model.k)
    records = shape_records(fitter, train)
    rows = []
    for name, values in sweep.items():
        for bits in values:
            depths = {name: bits}
            tables = Tables(extend_doc(base.doc, {fields: records}, intra_period_s, depths=depths))
            figures = coded_shape(model, tables, val, depths)
            rows.append({"depths": depths, **figures})
            log.info("%s at %d bits: %s bits/frame, %s px", name, bits, figures["payload_bits_mean"], figures["error_vs_tracked"]["mean_px"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="frontal fit-shape", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="folder written by `frontal prepare` (with landmarks)")
    ap.add_argument("--k", type=int, default=48, help="coefficients of the shipped model (default 48)")
    ap.add_argument("--study", default="", help="also measure these K (comma-separated) and the 33-landmark lift")
    ap.add_argument("--depths", nargs="*", default=[], metavar="GROUP=B,B", help="also measure these depths (pose=..., shape=...)")
    ap.add_argument("--expression-weight", type=float, default=EXPRESSION_WEIGHT,
                    help=f"the PCA weight of the eyes', lips' and brows' points (default {EXPRESSION_WEIGHT:g}; 1: plain PCA)")
    ap.add_argument("--base-tables", type=Path, default=DEFAULT_TABLES, help="tables to extend (default: the shipped ones)")
    ap.add_argument("--model-out", type=Path, default=DEFAULT_SHAPE_MODEL, help="shape model to write (default: the shipped one)")
    ap.add_argument("--tables-out", type=Path, default=SHAPE_TABLES, help="tables to write (default: the shipped shape tables)")
    ap.add_argument("--no-write", action="store_true", help="measure only; write no model or tables")
    ap.add_argument("--intra-period", type=float, default=1.0, help="seconds between intra frames (default 1)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.data.is_dir():
        print(f"frontal fit-shape: no such folder: {args.data}", file=sys.stderr)
        return 2
    try:
        ks = sorted({int(k) for k in args.study.split(",") if k.strip()})
        sweep = parse_depths(args.depths)
        if args.k < 1 or any(k < 1 for k in ks):
            raise ValueError("K must be at least 1")
        if args.expression_weight <= 0:
            raise ValueError("--expression-weight must be positive")
        train, val = load_meshes(args.data, "train"), load_meshes(args.data, "val")
        if not train or not val:
            raise CodecError(f"{args.data}: needs training and validation clips with landmarks (found {len(train)} and {len(val)})")
        base = load_tables(args.base_tables)
        full = fit_model(train, max([args.k, *ks]), expression_weight=args.expression_weight)
        model = full.truncated(args.k)
        model = ShapeModel(model.mean, model.basis, model.std, model.weight, model.rigid,
                           {**full.provenance, "k": args.k, "data": args.data.name})
        fields = FieldSet(n_sup=0, n_shape=args.k)
        doc = extend_doc(base.doc, {fields: shape_records(ShapeFitter(model), train)}, args.intra_period,
                         provenance={"data": args.data.name, "split": "train", "shape_model": model.digest})
        result: dict[str, Any] = {"data": str(args.data), "train_clips": len(train), "val_clips": len(val),
                                  "val_frames": int(sum(len(c.meshes) for c in val)), "k": args.k, "model_digest": model.digest,
                                  "model_provenance": model.provenance}
        if ks:
            result["study"] = study(train, val, full, ks, base, args.intra_period)
        if sweep:
            result["depth_sweep"] = depth_sweep(train, val, model, sweep, base, args.intra_period)
        result["shipped"] = coded_shape(model, Tables(doc), val)
    except (CodecError, ValueError, OSError) as exc:
        print(f"frontal fit-shape: {exc}", file=sys.stderr)
        return 1
    if not args.no_write:
        model.save(args.model_out)
        save_tables(doc, args.tables_out)
        print(f"wrote {args.model_out} (K={args.k}, digest {model.digest[:12]}) and {args.tables_out}")
    shipped = result["shipped"]
    print(f"K={args.k} on {result['val_frames']} validation frames: {shipped['payload_bits_mean']} payload bits/frame "
          f"(p95 {shipped['payload_bits_p95']}), mesh error {shipped['error_vs_tracked']['mean_px']} px after coding")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
