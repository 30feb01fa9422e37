"""The dense shape: the model (`codec.shape`), the sender's fit (`sender.shape`), the shape field set
coded and decoded (`codec.fields`, `codec.quant`, `codec.frame_coder`, `codec/tables/shape.json`),
the fitter (`frontal.fit_shape`) and the mesh renderer driven by it (`receiver.render`).

Synthetic models here are the sender's frontal template (padded to 478 points) deformed by a few
orthonormal directions that leave the rigid points still, so a mesh's pose and coefficients are
recovered exactly.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from codec.errors import CodecError
from codec.fields import DrivingRecord, FieldSet
from codec.frame_coder import CoderState, FrameCoder
from codec.quant import Quantizer
from codec.shape import (
    DEFAULT_SHAPE_MODEL,
    NUM_POINTS,
    ShapeModel,
    ShapeModelError,
    angles_from_rotation,
    load_shape_model,
    rotation_matrix,
)
from codec.stream import StreamDecoder, StreamEncoder
from codec.tables import DEFAULT_TABLES, SHAPE_TABLES, Tables, load_tables, tables_path_for
from sender.landmarks import RIGID_INDICES
from sender.pose import Pose, template_points
from sender.pose import rotation_matrix as sender_rotation
from sender.shape import ShapeFitter
from tests.test_codec_tables import _ints_only

GOLDEN = Path(__file__).parent / "expected" / "golden_q.json"
# sha256 of codec/tables/shape.json re-serialised canonically (`Tables.digest`): a refit
# (`frontal fit-shape`) changes the shape streams' bitstream: update it on purpose.
SHAPE_TABLES_SHA256 = "c78051080881e6014c647a0b986c0937485239c79c7b83f4a8521109523cec7c"
SHAPE_MODEL_SHA256 = "e8592a4523892d8889f0d28139de9deaee00d33bb770fc44cf7fa6dfc4fcc85e"  # `ShapeModel.digest` of the shipped model
SHAPE_K = 48


def synthetic_model(k: int = 4, seed: int = 0, weight: float = 1.0) -> ShapeModel:
    """The template (iris points: copies of eye points) with `k` random directions, zero on the rigid
    points, orthonormal under a per-point weight (`weight` on every tenth point, 1 elsewhere)."""
    rng = np.random.default_rng(seed)
    template = template_points()
    mean = np.concatenate([template, template[[33, 133, 159, 145, 468 - 1, 362, 263, 386, 374, 1]]])
    rigid = np.asarray(RIGID_INDICES, np.int32)
    mean = mean - mean[rigid].mean(axis=0)
    w = np.ones(NUM_POINTS)
    w[::10] = weight
    raw = rng.normal(size=(NUM_POINTS, 3, k))
    raw[rigid] = 0.0
    q, _ = np.linalg.qr((raw * np.sqrt(w)[:, None, None]).reshape(-1, k))
    basis = (q.T.reshape(k, NUM_POINTS, 3) / np.sqrt(w)[None, :, None]) * 1.0
    std = np.linspace(0.2, 0.05, k)
    return ShapeModel(mean.astype(np.float32), basis.astype(np.float32), std.astype(np.float32), w.astype(np.float32), rigid)


def synthetic_meshes(model: ShapeModel, frames: int = 30, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(meshes [T, 478, 3], poses [T, 6], coefficients [T, K]) moving smoothly."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 15.0
    poses = np.stack([0.3 * np.sin(0.9 * t), 0.15 * np.sin(1.3 * t + 1), 0.1 * np.sin(0.7 * t + 2),
                      np.log(0.9) + 0.05 * np.sin(0.5 * t), 0.05 * np.sin(0.6 * t), -0.04 + 0.03 * np.cos(0.8 * t)], axis=1)
    phase = rng.uniform(0, 6, model.k)
    coeffs = model.std[None, :] * np.sin(1.7 * t[:, None] + phase[None, :])
    meshes = np.stack([model.reconstruct(p, c) for p, c in zip(poses, coeffs)])
    meshes[:, :, 2] += 0.3  # a depth offset, which the coefficients do not carry
    return meshes, poses, coeffs


# ---- the model ------------------------------------------------------------------------------------
def test_rotation_convention_is_the_senders() -> None:
    for yaw, pitch, roll in ((0.3, -0.2, 0.1), (-0.6, 0.4, -0.3), (0.0, 0.0, 0.0)):
        r = rotation_matrix(yaw, pitch, roll)
        np.testing.assert_allclose(r, sender_rotation(Pose(yaw, pitch, roll)), atol=1e-12)
        np.testing.assert_allclose(angles_from_rotation(r), (yaw, pitch, roll), atol=1e-12)


@pytest.mark.parametrize("weight", [1.0, 8.0])
def test_fit_recovers_pose_and_coefficients(weight: float) -> None:
    model = synthetic_model(weight=weight)
    fitter = ShapeFitter(model)
    meshes, poses, coeffs = synthetic_meshes(model)
    for mesh, pose, c in zip(meshes, poses, coeffs):
        params = fitter.fit(mesh)
        np.testing.assert_allclose(params.pose, pose, atol=1e-5)
        np.testing.assert_allclose(params.coeffs, c, atol=1e-5)
        rebuilt = model.reconstruct(*params)
        np.testing.assert_allclose(rebuilt[:, :2], mesh[:, :2], atol=1e-5)
        np.testing.assert_allclose(rebuilt[:, 2] - rebuilt[:, 2].mean(), mesh[:, 2] - mesh[:, 2].mean(), atol=1e-5)


def test_fewer_coefficients_project_onto_the_first_ones() -> None:
    model = synthetic_model(k=6)
    meshes, _, coeffs = synthetic_meshes(model, frames=5)
    small = ShapeFitter(model, k=3)
    assert small.model.k == 3
    np.testing.assert_allclose(small.fit(meshes[2]).coeffs, coeffs[2, :3], atol=1e-5)


def test_fitter_refuses_bad_meshes() -> None:
    fitter = ShapeFitter(synthetic_model())
    with pytest.raises(ValueError, match="478, 3"):
        fitter.fit(np.zeros((468, 3)))
    bad = np.zeros((NUM_POINTS, 3))
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fitter.fit(bad)


def test_model_file_round_trip(tmp_path: Path) -> None:
    model = synthetic_model(weight=8.0)
    path = tmp_path / "m.safetensors"
    model.save(path)
    back = load_shape_model(path)
    assert back.digest == model.digest and back.k == model.k
    np.testing.assert_array_equal(back.basis, model.basis)
    np.testing.assert_array_equal(back.weight, model.weight)
    assert model.truncated(2).digest != model.digest


def test_model_file_errors(tmp_path: Path) -> None:
    data = synthetic_model().to_bytes()
    with pytest.raises(ShapeModelError, match="not a safetensors"):
        ShapeModel.from_bytes(b"nonsense!" * 4, "x")
    with pytest.raises(ShapeModelError, match="not a Frontal shape model"):
        ShapeModel.from_bytes(data.replace(b"frontal-shape", b"frontal-other"), "x")
    other = save({"mean": np.zeros((NUM_POINTS, 3), np.float32)}, metadata={"format": "frontal-shape", "version": "9"})
    with pytest.raises(ShapeModelError, match="version 9 unsupported"):
        ShapeModel.from_bytes(other, "x")
    lacking = save({"mean": np.zeros((NUM_POINTS, 3), np.float32)}, metadata={"format": "frontal-shape", "version": "1"})
    with pytest.raises(ShapeModelError, match="lacks basis, std, weight, rigid"):
        ShapeModel.from_bytes(lacking, "x")
    with pytest.raises(ShapeModelError, match="cannot read"):
        load_shape_model(tmp_path / "missing.safetensors")


def test_shipped_model() -> None:
    model = load_shape_model()
    assert DEFAULT_SHAPE_MODEL.stat().st_size < 400_000
    assert model.k == SHAPE_K and model.digest == SHAPE_MODEL_SHA256
    flat = model.basis.reshape(model.k, -1).astype(np.float64)
    w = np.repeat(model.weight.astype(np.float64), 3)
    np.testing.assert_allclose((flat * w) @ flat.T, np.eye(model.k), atol=1e-4)  # orthonormal under the weight
    assert abs(float(model.mean[152, 1] - model.mean[10, 1]) - 1.0) < 0.1  # the template's face height
    assert np.abs(model.mean[model.rigid].mean(axis=0)).max() < 1e-5
    assert model.provenance["split"] == "train"


# ---- the field set --------------------------------------------------------------------------------
def test_shape_field_set() -> None:
    fields = FieldSet(n_sup=0, n_shape=8)
    assert fields.name == "shape8"
    assert [g.name for g in fields.groups("predictive")] == ["mean", "pose", "shape"]
    assert [g.size for g in fields.groups()] == [2, 4, 8]
    assert fields.to_dict() == {"n_sup": 0, "n_unsup": 0, "jacobians": 0, "n_expr": 0, "n_shape": 8}
    assert FieldSet.from_dict(fields.to_dict()) == fields
    assert FieldSet(n_sup=33).to_dict() == {"n_sup": 33, "n_unsup": 0, "jacobians": 0, "n_expr": 0}  # unchanged
    assert FieldSet.parse("shape", n_shape=12) == FieldSet(n_sup=0, n_shape=12)
    with pytest.raises(ValueError, match="no keypoints"):
        FieldSet(n_sup=33, n_shape=8)
    with pytest.raises(ValueError, match="unknown field group"):
        fields.groups("predictive", {"bogus": 3})
    assert fields.groups("predictive", {"shape": 6})[2].bits == 6


def test_record_check_names_the_shape_fields() -> None:
    fields = FieldSet(n_sup=0, n_shape=4)
    with pytest.raises(ValueError, match="'pose'"):
        DrivingRecord(shape=np.zeros(4)).check(fields)
    with pytest.raises(ValueError, match="'shape'"):
        DrivingRecord(pose=np.zeros(6), shape=np.zeros(5)).check(fields)


def test_quantizer_round_trip_within_half_a_step() -> None:
    model = synthetic_model()
    fields = FieldSet(n_sup=0, n_shape=model.k)
    quant = Quantizer(fields, mode="predictive")
    steps = {g.name: g.step for g in quant.groups}
    _, poses, coeffs = synthetic_meshes(model, frames=10)
    for pose, c in zip(poses, coeffs):
        back = quant.dequantize(quant.quantize(DrivingRecord(pose=pose, shape=c)))
        assert back.pose is not None and back.shape is not None
        assert np.abs(back.pose[:4] - pose[:4]).max() <= steps["pose"] / 2 + 1e-6
        assert np.abs(back.pose[4:] - pose[4:]).max() <= steps["mean"] / 2 + 1e-6
        assert np.abs(back.shape - c).max() <= steps["shape"] / 2 + 1e-6


def test_default_tables_refuse_a_shape_field_set() -> None:
    assert tables_path_for(FieldSet(n_sup=33)) == DEFAULT_TABLES
    assert tables_path_for(FieldSet(n_sup=0, n_shape=4)) == SHAPE_TABLES
    with pytest.raises(CodecError, match="no tables for field group"):
        FrameCoder(FieldSet(n_sup=0, n_shape=4), load_tables(), "predictive")


# ---- the shipped shape tables ---------------------------------------------------------------------
def test_shape_tables_are_pinned_and_extend_the_default_ones() -> None:
    shape, default = load_tables(SHAPE_TABLES), load_tables()
    assert shape.digest == SHAPE_TABLES_SHA256, "shape tables changed: a bitstream change (update the pin on purpose)"
    for key in ("radius", "ladder_q8", "bucket_freqs"):
        assert shape.doc[key] == default.doc[key]
    assert {k: v for k, v in shape.doc["fieldsets"].items() if k in default.doc["fieldsets"]} == default.doc["fieldsets"]
    assert f"mean+pose+shape{SHAPE_K}" in shape.doc["fieldsets"]
    assert _ints_only(shape.doc) == []
    assert shape.doc["provenance"]["extended"]["shape_model"] == SHAPE_MODEL_SHA256


@pytest.mark.parametrize("mode", ["paper", "predictive"])
def test_landmarks_code_to_the_same_bytes_with_the_shape_tables(mode: str) -> None:
    fields = FieldSet(n_sup=33)
    q = [np.asarray(v, np.int64) for v in json.loads(GOLDEN.read_text())["q"]]
    digests = []
    for tables in (load_tables(), load_tables(SHAPE_TABLES)):
        coder, state, h = FrameCoder(fields, tables, mode), CoderState(), hashlib.sha256()
        for i, v in enumerate(q):
            h.update(coder.encode(v, state, intra=(i % 15 == 0))[0])
        digests.append(h.hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.parametrize("mode", ["paper", "predictive"])
def test_shape_stream_round_trip(mode: str) -> None:
    """Shipped model and tables: fit -> quantize -> code -> pack -> decode gives the quantized values."""
    model = load_shape_model()
    fitter = ShapeFitter(model)
    fields = FieldSet(n_sup=0, n_shape=model.k)
    tables = load_tables(SHAPE_TABLES)
    enc, dec = StreamEncoder(fields, tables, mode=mode, fps=15), StreamDecoder(fields, tables)
    rng = np.random.default_rng(3)
    meshes, _, _ = synthetic_meshes(synthetic_model(), frames=20)
    bits = []
    for mesh in meshes:
        mesh = mesh + rng.normal(0, 0.002, mesh.shape)
        record = fitter.record(mesh)
        frame = enc.encode(record)
        back = dec.decode(frame.packet)
        np.testing.assert_array_equal(back.q, frame.q)
        assert back.record.pose is not None and back.record.shape is not None
        np.testing.assert_allclose(model.reconstruct(back.record.pose, back.record.shape)[:, :2],
                                   model.reconstruct(record.pose, record.shape)[:, :2], atol=0.01)
        bits.append(frame.payload_bits)
    assert np.mean(bits[1:]) < 400


# ---- the fitter -----------------------------------------------------------------------------------
def test_extend_doc_codes_losslessly() -> None:
    from frontal.fit import extend_doc

    model = synthetic_model(k=3)
    fitter = ShapeFitter(model)
    fields = FieldSet(n_sup=0, n_shape=3)
    clips = [([fitter.record(m) for m in synthetic_meshes(model, 25, seed=s)[0]], 15.0) for s in range(3)]
    doc = extend_doc(json.loads(DEFAULT_TABLES.read_text()), {fields: clips})
    tables = Tables(doc)
    assert tables.for_fields(fields, "predictive").fitted == ("mean", "pose", "shape")
    for mode in ("paper", "predictive"):
        enc, dec = StreamEncoder(fields, tables, mode=mode, fps=15), StreamDecoder(fields, tables)
        for rec in clips[0][0]:
            frame = enc.encode(rec)
            np.testing.assert_array_equal(dec.decode(frame.packet).q, frame.q)


def test_fit_model_recovers_a_synthetic_subspace() -> None:
    from frontal.fit_shape import MeshClip, fit_model, model_meshes

    truth = synthetic_model(k=3, seed=5)
    clips = [MeshClip(f"c{s}", f"id{s}", 15.0, synthetic_meshes(truth, 40, seed=s)[0].astype(np.float32)) for s in range(4)]
    model = fit_model(clips, 3, expression_weight=4.0)
    assert model.k == 3 and model.provenance["frames"] == 160
    test = synthetic_meshes(truth, 10, seed=9)[0]
    rebuilt = model_meshes(ShapeFitter(model), test)
    assert np.abs(rebuilt[:, :, :2] - test[:, :, :2]).max() < 1e-3


def test_fit_shape_command(tmp_path: Path) -> None:
    """`frontal fit-shape` on a tiny prepared folder writes a model and tables that code losslessly."""
    from frontal.dataset import is_validation
    from frontal.fit_shape import main as fit_shape_main

    truth = synthetic_model(k=3, seed=2)
    labels = [f"person_{i}" for i in range(10)]
    assert any(is_validation(lab) for lab in labels) and not all(is_validation(lab) for lab in labels)
    for i, lab in enumerate(labels):
        meshes = synthetic_meshes(truth, 20, seed=i)[0].astype(np.float16)
        np.savez(tmp_path / f"clip{i}.npz", landmarks=meshes, face_found=np.ones(20, bool), fps=np.float64(15.0), identity_label=np.array(lab))
    model_out, tables_out, report = tmp_path / "m.safetensors", tmp_path / "t.json", tmp_path / "r.json"
    argv = ["--data", str(tmp_path), "--k", "3", "--model-out", str(model_out), "--tables-out", str(tables_out), "--json", str(report)]
    assert fit_shape_main(argv) == 0
    model, tables = load_shape_model(model_out), load_tables(tables_out)
    assert model.k == 3 and tables.doc["provenance"]["extended"]["shape_model"] == model.digest
    result = json.loads(report.read_text())
    assert result["shipped"]["error_vs_tracked"]["mean_px"] < 0.5
    assert fit_shape_main(["--data", str(tmp_path / "missing")]) == 2


# ---- the renderer ---------------------------------------------------------------------------------
def test_mesh_frame_renderer_draws_the_view_back() -> None:
    from receiver.render import MeshFrameRenderer

    model = synthetic_model(k=3)
    renderer = MeshFrameRenderer(model)
    yy, xx = np.mgrid[0:256, 0:256]
    image = np.stack([128 + 60 * np.sin(xx / 9.0), 128 + 60 * np.sin(yy / 11.0), 128 + 60 * np.sin((xx + yy) / 13.0)], axis=2).astype(np.uint8)
    view = DrivingRecord(pose=np.array([0.0, 0.0, 0.0, np.log(0.8), 0.0, 0.0]), shape=np.zeros(3))
    with pytest.raises(RuntimeError, match="no source view"):
        renderer.render(view)
    with pytest.raises(ValueError, match="shape parameters"):
        renderer.add_source(image, np.zeros((33, 2)))
    renderer.add_source_record(image, view)
    assert renderer.num_sources == 1
    out = renderer.render(view)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    centre = (slice(100, 156), slice(100, 156))
    assert np.abs(out[centre].astype(np.float64) - image[centre]).mean() < 6.0  # the face, drawn where it was
    moved = renderer.render(DrivingRecord(pose=np.array([0.2, 0.0, 0.0, np.log(0.8), 0.05, 0.0]), shape=np.zeros(3)))
    assert np.abs(moved[centre].astype(np.float64) - image[centre]).mean() > 6.0
    with pytest.raises(ValueError, match="shape coefficients"):
        renderer.render(DrivingRecord(pose=np.zeros(6), shape=np.zeros(4)))
    fewer = DrivingRecord(pose=view.pose, shape=np.zeros(2))  # a stream of fewer coefficients: the model's first ones
    np.testing.assert_array_equal(renderer.render(fewer), out)


@pytest.mark.slow
def test_shipped_model_on_the_embedded_clip() -> None:
    """The embedded carphone clip (an identity the model never saw), tracked at 15 FPS, through the
    shipped model and tables: bits and the mesh error after coding."""
    from sender.tracker import track_video
    from sender.video import default_video

    meshes = np.stack([tf.landmarks for tf in track_video(default_video(), fps=15.0, max_frames=60) if tf.face_found])
    model = load_shape_model()
    fitter, tables = ShapeFitter(model), load_tables(SHAPE_TABLES)
    fields = FieldSet(n_sup=0, n_shape=model.k)
    enc, dec = StreamEncoder(fields, tables, mode="predictive", fps=15), StreamDecoder(fields, tables)
    bits, errors = [], []
    for mesh in meshes:
        frame = enc.encode(fitter.record(mesh))
        rec = dec.decode(frame.packet).record
        assert rec.pose is not None and rec.shape is not None
        errors.append(np.linalg.norm(model.reconstruct(rec.pose, rec.shape)[:468, :2] - mesh[:468, :2], axis=1).mean() * 128)
        bits.append(frame.payload_bits)
    assert len(meshes) >= 50
    assert float(np.mean(errors)) < 0.6 and float(np.mean(bits)) < 250
