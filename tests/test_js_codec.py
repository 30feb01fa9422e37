"""The JavaScript codec (frontal/web/codec/) against codec/: the same bytes, both ways.

Python writes golden streams with codec/ (seeded random walks of realistic records, for the 33
landmarks, the default model's field set, a Jacobian set and the shape field set, in both coding
modes, with intra requests, losses and corrupt packets), and the call's messages; Node decodes and
re-encodes them (`node --test tests/js`) and must reproduce every byte and every decoded value.
Then Node encodes fresh records (tests/js/encode_cli.mjs) and Python decodes its packets.

`tests/expected/js/golden.json` is a small committed copy that `node --test tests/js` (`make
test-js`) reads without Python; `test_committed_golden_is_current` says when it needs rewriting:
`python -m tests.test_js_codec --write-expected`.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codec import messages, wire
from codec.errors import CodecError
from codec.fields import LANDMARK_FIELDS, DrivingRecord, FieldSet
from codec.messages import Bye, CompactContext, FieldSpec, Hello, IntraRequest
from codec.stream import MissingReference, StreamDecoder, StreamEncoder, default_tables, encode_intra_record
from codec.tables import tables_path_for

REPO = Path(__file__).resolve().parent.parent
JS_TESTS = REPO / "tests" / "js"
EXPECTED = REPO / "tests" / "expected" / "js" / "golden.json"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js (`node`) is not on PATH: the JavaScript codec cannot be checked")

DEFAULT_MODEL_FIELDS = FieldSet(n_sup=33, n_unsup=10, n_expr=16)
JAC_FIELDS = FieldSet(n_sup=33, n_unsup=10, jacobians=True, n_expr=16)
SHAPE_FIELDS = FieldSet(n_sup=0, n_shape=48)
CASES: list[tuple[str, FieldSet, str]] = [
    ("landmarks-predictive", LANDMARK_FIELDS, "predictive"),
    ("landmarks-paper", LANDMARK_FIELDS, "paper"),
    ("model-predictive", DEFAULT_MODEL_FIELDS, "predictive"),
    ("model-paper", DEFAULT_MODEL_FIELDS, "paper"),
    ("jacobians-paper", JAC_FIELDS, "paper"),
    ("shape-predictive", SHAPE_FIELDS, "predictive"),
    ("shape-paper", SHAPE_FIELDS, "paper"),
]


# --- inputs -------------------------------------------------------------------------------------


def _f32(a: Any) -> str:
    """float32 values as base64 of little-endian bytes (exact, compact)."""
    return base64.b64encode(np.asarray(a, "<f4").tobytes()).decode()


def records(fields: FieldSet, frames: int, seed: int) -> list[DrivingRecord]:
    """A seeded walk of plausible records: a turning, nodding face with tracker jitter, and a few
    jumps (head turns, a point off the crop) so that escapes and clipping are exercised."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 15.0
    out = []
    if fields.n_shape:
        pose = np.zeros((frames, 6))
        pose[:, 0] = 0.4 * np.sin(0.9 * t + rng.uniform(0, 6))
        pose[:, 1] = 0.2 * np.sin(1.3 * t)
        pose[:, 2] = 0.1 * np.sin(0.7 * t)
        pose[:, 3] = 0.05 * np.sin(0.5 * t)
        pose[:, 4:] = 0.05 * np.sin(t[:, None] * [0.6, 0.8])
        shape = np.cumsum(rng.normal(0, 0.08, (frames, fields.n_shape)), 0) + rng.normal(0, 1, fields.n_shape)
        jumps = rng.choice(frames, size=max(1, frames // 12), replace=False)
        shape[jumps] += rng.normal(0, 2.5, (len(jumps), fields.n_shape))
        pose[jumps[:1], 0] += 1.0
        for k in range(frames):
            out.append(DrivingRecord(pose=pose[k].astype(np.float32), shape=shape[k].astype(np.float32)))
        return out
    ang = 0.25 * np.sin(1.1 * t + rng.uniform(0, 6))
    scale = 1.0 + 0.05 * np.sin(0.5 * t)
    shift = np.stack([0.06 * np.sin(0.7 * t), 0.03 * np.cos(0.9 * t)], -1)
    c, s = np.cos(ang), np.sin(ang)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    n_pts = max(fields.n_sup, fields.n_unsup)
    face = rng.uniform(-0.45, 0.45, (n_pts, 2))
    pts = np.einsum("tij,nj->tni", rot, face) * scale[:, None, None] + shift[:, None, :]
    pts += rng.normal(0, 0.003, pts.shape)
    jumps = rng.choice(np.arange(1, frames), size=max(1, frames // 10), replace=False)
    pts[jumps] += rng.normal(0, 0.25, (len(jumps), n_pts, 2))
    pts[jumps[0], 0] = [1.7, -1.3]  # off the crop: clipped
    pts[jumps[0] - 1, 0] = [-1.0, 0.9]  # and from the other side of it: an escape in either mode
    unsup = pts[:, ::3][:, : fields.n_unsup] + rng.normal(0, 0.01, (frames, fields.n_unsup, 2))
    expr = np.clip(np.cumsum(rng.normal(0, 0.05, (frames, fields.n_expr)), 0), -1.2, 1.2)
    jac = np.eye(2) + np.cumsum(rng.normal(0, 0.05, (frames, fields.n_unsup, 2, 2)), 0)
    for k in range(frames):
        out.append(DrivingRecord(
            sup=pts[k, : fields.n_sup].astype(np.float32) if fields.n_sup else None,
            unsup=unsup[k].astype(np.float32) if fields.n_unsup else None,
            jac=jac[k].astype(np.float32) if fields.jacobians else None,
            expr=expr[k].astype(np.float32) if fields.n_expr else None,
        ))
    return out


def _record_json(rec: DrivingRecord) -> dict[str, str]:
    return {k: _f32(np.asarray(v).reshape(-1)) for k in ("sup", "unsup", "jac", "expr", "pose", "shape")
            if (v := getattr(rec, k)) is not None}


def _outcomes(dec: StreamDecoder, packets: list[bytes], keep_q: set[int] | None = None) -> list[dict[str, Any]]:
    """Per packet: {"seq", "q"} (q only at `keep_q`, default all) or {"error": its class}."""
    out: list[dict[str, Any]] = []
    for k, p in enumerate(packets):
        try:
            f = dec.decode(p)
            out.append({"seq": f.seq, "q": f.q.tolist()} if keep_q is None or k in keep_q else {"seq": f.seq})
        except MissingReference:
            out.append({"error": "MissingReference"})
        except CodecError:
            out.append({"error": "CodecError"})
    return out


def _corruptions(packets: list[bytes], rng: np.random.Generator, flips: int) -> list[dict[str, Any]]:
    """Damaged packets in a stream: (index, bytes) replacements."""
    def refit(body: bytes) -> bytes:
        return body + wire.crc16(body).to_bytes(2, "big")

    k = 3 if len(packets) > 3 else len(packets) - 1
    p = packets[k]
    body = bytearray(p[:-2])
    variants: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("truncated header", p[:5]),
        ("crc bit flip", p[:-1] + bytes([p[-1] ^ 1])),
        ("payload cut, crc refit", refit(p[: max(wire.HEADER_SIZE, len(p) - 2 - 3)])),
        ("payload emptied, crc refit", refit(p[: wire.HEADER_SIZE])),
        ("reserved flag, crc refit", refit(bytes([p[0], p[1] | 0x10]) + p[2:-2])),
        ("bad magic", bytes([0xE1]) + p[1:]),
        ("payload extended, crc refit", refit(p[:-2] + b"\x00\x37\xff")),
    ]
    for j in range(flips):
        b = bytearray(body)
        pos = int(rng.integers(wire.HEADER_SIZE, len(b))) if len(b) > wire.HEADER_SIZE else wire.HEADER_SIZE - 1
        b[pos] ^= 1 << int(rng.integers(0, 8))
        variants.append((f"payload bit flip {j}, crc refit", refit(bytes(b))))
    # an intra packet damaged (frame 0)
    b0 = bytearray(packets[0][:-2])
    b0[-1] ^= 0x5A
    variants.append(("intra payload damaged, crc refit", refit(bytes(b0))))
    return [{"name": name, "index": 0 if name.startswith("intra") else k, "packet": data.hex()} for name, data in variants]


def stream_case(name: str, fields: FieldSet, mode: str, frames: int, fps: float, seed: int, t0: int) -> dict[str, Any]:
    tables = default_tables(fields)
    recs = records(fields, frames, seed)
    enc = StreamEncoder(fields, tables, mode=mode, fps=fps)
    intra_requests = [frames // 2 + 1]
    timestamps = [(t0 + round(k * 1000 / fps)) for k in range(frames)]
    packets, qs, intra, escapes = [], [], [], 0
    for k, rec in enumerate(recs):
        if k in intra_requests:
            enc.request_intra()
        before = enc.state.copy()
        f = enc.encode(rec, timestamp_ms=timestamps[k])
        assert f.q is not None
        sym, _, _, _ = enc.coder.analyze(f.q, before, f.intra)
        escapes += int(np.sum(np.abs(sym) > tables.radius))
        packets.append(f.packet)
        qs.append(f.q.tolist())
        intra.append(f.intra)
    decoded = []
    dec = StreamDecoder(fields, tables)
    for p in packets:
        d = dec.decode(p)
        decoded.append(_record_json(d.record))
    drop = [4, frames // 2 - 2] if frames > 8 else [2]
    lossy = [p for k, p in enumerate(packets) if k not in drop]
    rng = np.random.default_rng(seed + 1)
    corrupt = []
    for c in _corruptions(packets, rng, flips=4 if frames < 20 else 16):
        stream = list(packets)
        stream[c["index"]] = bytes.fromhex(c["packet"])
        keep = {c["index"], c["index"] + 1}
        corrupt.append({**c, "outcomes": _outcomes(StreamDecoder(fields, tables), stream, keep)})
    intra_payload = encode_intra_record(fields, recs[1], mode, tables)
    return {
        "name": name,
        "fields": fields.to_dict(),
        "mode": mode,
        "tables": tables_path_for(fields).name,
        "fps": fps,
        "records": [_record_json(r) for r in recs],
        "timestamps": timestamps,
        "intra_requests": intra_requests,
        "q": qs,
        "intra": intra,
        "escapes": escapes,
        "packets": [p.hex() for p in packets],
        "decoded": decoded,
        "lossy": {"drop": drop, "outcomes": _outcomes(StreamDecoder(fields, tables), lossy)},
        "corrupt": corrupt,
        "intra_record": {"payload": intra_payload.hex()},
    }


def message_cases(stream: dict[str, Any]) -> dict[str, Any]:
    """Compact bundles, views and control messages, from one stream's packets."""
    packets = [bytes.fromhex(h) for h in stream["packets"]]
    mode = stream["mode"]
    bundles: list[dict[str, Any]] = []
    k, size = 0, 1
    while k < len(packets):
        group = packets[k: k + size]
        bundles.append({"packets": [p.hex() for p in group], "message": messages.pack_driving(group).hex()})
        k += len(group)
        size = size % messages.MAX_BUNDLE + 1
    # A receiver's view of the bundles: parse each with the context it would hold.
    parsed: list[dict[str, Any]] = []
    newest, intra_seq = None, None
    for b in bundles:
        ctx = CompactContext(mode, newest, intra_seq)
        frames = messages.parse_driving(bytes.fromhex(b["message"]), ctx)
        parsed.append({"newest_seq": newest, "intra_seq": intra_seq, "packets": [wire.pack(f).hex() for f in frames]})
        newest = frames[-1].seq
        intra_seq = next((f.seq for f in reversed(frames) if f.intra), intra_seq)
    # Seq extension across the wrap, and a context without an intra frame.
    wrap: list[dict[str, Any]] = [{"newest_seq": n, "seq8": s, "seq": CompactContext(mode, n).extend(s)}
            for n, s in [(None, 7), (65530, 3), (3, 250), (300, 44), (200, 72), (200, 71)]]
    first = bytes.fromhex(bundles[1]["message"])
    lonely: dict[str, Any] = {"message": first.hex(), "packets": [wire.pack(f).hex() for f in messages.parse_driving(first, CompactContext(mode))]}
    bad_msgs: list[bytes] = [b"", b"\xf1\x00\x00\x00", b"\x40\x00\x00", bytes([0x41 | 0x10, 0, 0, 0, 1, 1]),
                             bytes([0x41, 0, 0, 0, 0x80, 0x80, 0x80, 0x01]), bytes([0x41, 0, 0, 0, 0x85, 0x00]),
                             bytes([0x41, 0, 0, 0, 0xFF, 0xFF, 0x07, 1]), bytes([0x41, 0, 0, 0, 1, 40, 0, 0]),
                             bytes([0x42, 0, 0, 0, 1, 1, 5, 2, 3]), first[:-1], first[:3], bytes([0x7F, 9, 9, 9, 1, 1, 1, 0, 0, 0, 0, 0])]
    bad: list[dict[str, Any]] = []
    for m in bad_msgs:
        try:
            fr = messages.parse_driving(m, CompactContext(mode, 10, 5))
            bad.append({"message": m.hex(), "packets": [wire.pack(f).hex() for f in fr]})
        except ValueError:
            bad.append({"message": m.hex(), "error": True})
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, 2500, dtype=np.uint8).tobytes()
    sup = rng.uniform(-1.2, 1.2, (33, 2))
    views: list[dict[str, Any]] = []
    for index, fmt, data, yaw, pitch, pts, record in [
        (0, "avif", image, 0.12345, -0.5, sup, None),
        (3, "webp", image[:700], 3.5, -3.9, None, None),
        (1, "jpeg", image, -0.00005, 0.00015, sup[:5], bytes(range(1, 31))),
        (4, "avif", image[:1], 0.0, 0.0, None, bytes([9])),
    ]:
        msgs = messages.view_messages(index, fmt, data, yaw, pitch, pts, record)
        meta, _ = messages.parse_view_start(msgs[0])
        views.append({
            "args": {"index": index, "format": fmt, "data": data.hex(), "yaw": yaw, "pitch": pitch,
                     "sup": None if pts is None else np.asarray(pts, np.float64).reshape(-1).tolist(),
                     "record": None if record is None else record.hex()},
            "messages": [m.hex() for m in msgs],
            "meta": {**meta.model_dump(exclude={"record"}), "record": None if meta.record is None else meta.record.hex()},
        })
    bad_views: list[dict[str, Any]] = []
    v0 = bytes.fromhex(views[0]["messages"][0])
    for m in [v0[:10], bytes([0xF6, 0, 3]) + v0[3:], bytes([0xF6, 7]) + v0[2:], v0[:11 + 4 * 33 - 1], bytes([0xF7]) + v0[1:11],
              bytes([0xF7]) + v0[1:9] + b"\x00\x00\x00", bytes([0xF7]) + v0[1:9] + b"\x00\x00\x05\x01"]:
        try:
            messages.parse_view_start(m)
            bad_views.append({"message": m.hex(), "error": False})
        except ValueError:
            bad_views.append({"message": m.hex(), "error": True})
    shape_model = "ab" * 32
    hellos = [
        Hello(fps=15, fields=FieldSpec.of(DEFAULT_MODEL_FIELDS), mode="predictive", frames_per_message=2, epoch_ms=1767225600000),
        Hello(fps=12.5, fields=FieldSpec.of(LANDMARK_FIELDS), mode="paper", epoch_ms=0.1 + 0.2),
        Hello(fps=30, fields=FieldSpec.of(SHAPE_FIELDS, shape_model), mode="predictive", frames_per_message=4, epoch_ms=1767225600123.25),
    ]
    control: list[dict[str, Any]] = [{"message": json.loads(encode := messages.encode_control(h)), "text": encode} for h in hellos]
    control += [{"message": {"type": "intra-request"}, "text": messages.encode_control(IntraRequest())},
                {"message": {"type": "bye", "reason": None}, "text": messages.encode_control(Bye())},
                {"message": {"type": "bye", "reason": "hung up: é \"ok\""}, "text": messages.encode_control(Bye(reason='hung up: é "ok"'))}]
    base: dict[str, Any] = {"type": "hello", "version": 2, "fps": 15, "fields": {"n_sup": 33, "n_unsup": 0, "jacobians": 0, "n_expr": 0},
            "mode": "paper", "epoch_ms": 0}
    texts = [json.dumps(base), json.dumps({**base, "fps": "15"}), json.dumps({**base, "fps": 0}), json.dumps({**base, "fps": 61}),
             json.dumps({**base, "version": 1}), json.dumps({**base, "version": "2"}), json.dumps({**base, "extra": 1}),
             json.dumps({**base, "mode": "other"}), json.dumps({**base, "frames_per_message": 5}),
             json.dumps({**base, "fields": {**base["fields"], "n_sup": 479}}),
             json.dumps({**base, "fields": {**base["fields"], "n_shape": 48}}),
             json.dumps({**base, "fields": {**base["fields"], "n_shape": 48, "shape_model": shape_model}}),
             json.dumps({**base, "fields": {**base["fields"], "n_sup": 33.5}}), json.dumps({**base, "epoch_ms": -1}),
             '{"type":"intra-request"}', '{"type":"intra-request","x":1}', '{"type":"bye"}', '{"type":"bye","reason":5}',
             json.dumps({"type": "bye", "reason": "x" * 257}), '{"type":"nope"}', "not json", "[]", " " * 4097]
    parsed_control = control_verdicts(texts)
    out: dict[str, Any] = {"mode": mode, "bundles": bundles, "parsed": parsed, "extend": wrap, "lonely": lonely, "bad": bad,
           "views": views, "bad_views": bad_views, "control": control, "parsed_control": parsed_control}
    if hasattr(messages, "pack_audio"):  # speech on the driving channel (0xA0 / 0xA1)
        out["audio"] = audio_cases(bytes.fromhex(bundles[1]["message"]), base)
    return out


def audio_cases(bundle: bytes, hello: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(9)
    opus = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (1, 40, 127, 128, 1275)]
    packs: list[dict[str, Any]] = []
    for seq, ts, frames, driving in [(0, 0, opus[:1], None), (65535, 65500, opus, bundle), (300, 12, opus[1:3] * 8, None), (7, 9, opus[2:4], bundle)]:
        packs.append({"seq": seq, "timestamp_ms": ts, "frames": [f.hex() for f in frames], "driving": None if driving is None else driving.hex(),
                      "message": messages.pack_audio(seq, ts, frames, driving).hex()})
    good = bytes.fromhex(packs[1]["message"])
    verdicts: list[dict[str, Any]] = []
    for m in [good[:5], bytes([0xA2]) + good[1:], bytes([0xA0, 0x10]) + good[2:], bytes([0xA0, 0, 0, 0, 0, 0, 0]),
              bytes([0xA0, 0, 0, 0, 0, 0, 0x8C, 0x0A, 1]), bytes([0xA0, 0, 0, 0, 0, 0, 2, 1]), bytes([0xA0, 0, 0, 0, 0, 0, 1, 1, 9]),
              bytes([0xA1, 0, 0, 0, 0, 0, 1, 1]), bytes([0xA1, 0, 0, 0, 0, 0, 1, 1, 0xF1, 0]), good[:-1]]:
        try:
            a = messages.parse_audio(m)
            verdicts.append({"message": m.hex(), "frames": [f.hex() for f in a.frames], "driving": None if a.driving is None else a.driving.hex()})
        except ValueError:
            verdicts.append({"message": m.hex(), "error": True})
    texts = [json.dumps({**hello, "audio": a}) for a in [
        {"rate": 16000, "frame_ms": 20, "bitrate": 6000}, {"codec": "opus", "rate": "16000", "frame_ms": 20, "bitrate": 6000},
        {"rate": 8000.0, "frame_ms": 60, "bitrate": "6000"}, {"rate": 16000, "frame_ms": 20}, {"rate": 16000, "frame_ms": 30, "bitrate": 6000},
        {"rate": 16000, "frame_ms": 20, "bitrate": 2499}, {"rate": 16000, "frame_ms": 20, "bitrate": 6000, "x": 1}, None,
        {"codec": "aac", "rate": 16000, "frame_ms": 20, "bitrate": 6000}, {"rate": True, "frame_ms": 20, "bitrate": 6000}]]
    return {"packs": packs, "verdicts": verdicts, "control": control_verdicts(texts)}


def control_verdicts(texts: list[str]) -> list[dict[str, Any]]:
    """Each control text as Python parses and re-encodes it, or refuses it (the golden verdicts)."""
    out: list[dict[str, Any]] = []
    for text in texts:
        try:
            out.append({"text": text, "encoded": messages.encode_control(messages.parse_control(text))})
        except ValueError:
            out.append({"text": text, "error": True})
    return out


def golden(frames: int, fps: float, seed: int) -> dict[str, Any]:
    cases = [stream_case(name, fields, mode, frames, fps, seed + i, t0=65000 if i % 2 else 0)
             for i, (name, fields, mode) in enumerate(CASES)]
    return {"format": "frontal-js-golden", "version": 1, "cases": cases, "messages": message_cases(cases[2])}


def committed_golden() -> dict[str, Any]:
    return golden(frames=16, fps=10.0, seed=11)


def _run_node(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# --- tests ------------------------------------------------------------------------------------


def test_golden_streams_cover_escapes_and_losses() -> None:
    g = golden(frames=16, fps=10.0, seed=11)
    assert all(c["escapes"] > 0 for c in g["cases"]), [c["name"] for c in g["cases"] if not c["escapes"]]
    for c in g["cases"]:
        assert sum(c["intra"]) >= 2
        assert any("error" in o for o in c["lossy"]["outcomes"])
        assert any("q" in o for o in c["lossy"]["outcomes"][c["lossy"]["drop"][0] + 1:])  # resynced


def test_committed_golden_is_current() -> None:
    """tests/expected/js/golden.json is what codec/ writes today (else: --write-expected)."""
    assert EXPECTED.is_file(), "missing; run: python -m tests.test_js_codec --write-expected"
    assert json.loads(EXPECTED.read_text()) == committed_golden(), \
        "codec/ no longer writes tests/expected/js/golden.json; run: python -m tests.test_js_codec --write-expected"


@needs_node
def test_node_reproduces_python_streams(tmp_path: Path) -> None:
    """Node decodes fresh golden streams to the same records and re-encodes them byte for byte."""
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(golden(frames=48, fps=15.0, seed=2024)))
    proc = _run_node(["--test", "tests/js/"], env={"FRONTAL_JS_GOLDEN": str(path)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "# fail 0" in proc.stdout


@needs_node
@pytest.mark.parametrize(("name", "fields", "mode"), CASES, ids=[c[0] for c in CASES])
def test_python_decodes_node_streams(tmp_path: Path, name: str, fields: FieldSet, mode: str) -> None:
    """Records encoded in Node (quantized and coded there) are the bytes Python writes, and decode."""
    recs = records(fields, 30, seed=77)
    timestamps = [66 * k for k in range(len(recs))]
    job = {"fields": fields.to_dict(), "mode": mode, "tables": str(tables_path_for(fields)), "fps": 15.0,
           "records": [_record_json(r) for r in recs], "timestamps": timestamps, "intra_requests": [9]}
    (tmp_path / "in.json").write_text(json.dumps(job))
    proc = _run_node(["tests/js/encode_cli.mjs", str(tmp_path / "in.json"), str(tmp_path / "out.json")], timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    js_packets = [bytes.fromhex(h) for h in json.loads((tmp_path / "out.json").read_text())["packets"]]
    tables = default_tables(fields)
    enc = StreamEncoder(fields, tables, mode=mode, fps=15.0)
    dec = StreamDecoder(fields, tables)
    for k, (rec, pkt) in enumerate(zip(recs, js_packets, strict=True)):
        if k == 9:
            enc.request_intra()
        assert pkt == enc.encode(rec, timestamp_ms=timestamps[k]).packet, f"{name}: frame {k} differs"
        assert dec.decode(pkt).seq == k


def main(argv: list[str]) -> int:
    if argv != ["--write-expected"]:
        print("usage: python -m tests.test_js_codec --write-expected", file=sys.stderr)
        return 2
    EXPECTED.parent.mkdir(parents=True, exist_ok=True)
    EXPECTED.write_text(json.dumps(committed_golden(), separators=(",", ":")) + "\n")
    print(f"wrote {EXPECTED} ({EXPECTED.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
