// The page peer's sending half (frontal/web/peer/) against Python: tests/test_browser_peer.py
// writes the golden file (FRONTAL_JS_PEER_GOLDEN); without it these tests are skipped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { FieldSet } from '../../frontal/web/codec/index.js';
import { PageSender } from '../../frontal/web/peer/sender.js';
import { ShapeFitter, ShapeModel, fitSimilarity, svd3 } from '../../frontal/web/peer/shape.js';
import { PageTracker } from '../../frontal/web/peer/tracker.js';
import { ViewSelector, eyeOpenness } from '../../frontal/web/peer/views.js';
import { REPO, f32, hex, loadTables } from './helpers.mjs';

const GOLDEN = process.env.FRONTAL_JS_PEER_GOLDEN;
const skip = GOLDEN ? false : 'FRONTAL_JS_PEER_GOLDEN not set (tests/test_browser_peer.py sets it)';
const golden = GOLDEN ? JSON.parse(readFileSync(GOLDEN, 'utf8')) : null;
const model = ShapeModel.fromSafetensors(readFileSync(join(REPO, 'codec', 'shape_data', 'facemesh_shape.safetensors')));

/** tracker.json as `python -m frontal.serve --build-assets` writes it. */
function trackerData() {
  return JSON.parse(readFileSync(join(REPO, 'frontal', 'web', 'dist', 'data', 'tracker.json'), 'utf8'));
}

function close(a, b, tol, what) {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('3x3 SVD and Umeyama recover a known similarity', () => {
  const { U, sigma, V } = svd3([3, 1, 0.5, -1, 2, 0.2, 0.3, -0.4, 0.7]);
  const back = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) back[3 * i + j] += U[3 * i + k] * sigma[k] * V[3 * j + k];
  close(back, [3, 1, 0.5, -1, 2, 0.2, 0.3, -0.4, 0.7], 1e-12, 'U S V^T');
  const src = Float64Array.from({ length: 30 }, (_, i) => Math.sin(i * 1.7) + (i % 3) * 0.3);
  const c = Math.cos(0.4), s = Math.sin(0.4);
  const tgt = new Float64Array(30);
  for (let i = 0; i < 30; i += 3) {
    tgt[i] = 2 * (c * src[i] - s * src[i + 1]) + 1; tgt[i + 1] = 2 * (s * src[i] + c * src[i + 1]) - 2; tgt[i + 2] = 2 * src[i + 2] + 0.5;
  }
  const sim = fitSimilarity(src, tgt);
  assert.ok(Math.abs(sim.scale - 2) < 1e-12);
  close(sim.rotation, [c, -s, 0, s, c, 0, 0, 0, 1], 1e-12, 'rotation');
  close(sim.translation, [1, -2, 0.5], 1e-12, 'translation');
});

test('the shape model file reads back with Python\'s digest', { skip }, async () => {
  assert.equal(model.k, 48);
  assert.equal(await model.digest(), golden.shape_model_digest);
});

test('the tracker gives Python\'s boxes, poses and crop landmarks', { skip }, () => {
  const tracker = new PageTracker(trackerData());
  for (const [t, f] of golden.frames.entries()) {
    const out = tracker.track(f.face === null ? null : f32(f.face), golden.width, golden.height);
    assert.equal(out.faceFound, f.face_found);
    close([out.box.x0, out.box.y0, out.box.size], f.box, 1e-6, `frame ${t} box`);
    close([out.pose.yaw, out.pose.pitch, out.pose.roll], f.pose, 1e-9, `frame ${t} pose`);
    close(out.landmarks, f32(f.landmarks), 1e-6, `frame ${t} landmarks`);
  }
});

test('the shape fit gives Python\'s pose and coefficients', { skip }, () => {
  const fitter = new ShapeFitter(model, 48);
  for (const [t, f] of golden.frames.entries()) {
    const { pose, coeffs } = fitter.fit(f32(f.landmarks));
    close(pose, f.shape_pose, 1e-9, `frame ${t} pose`);
    close(coeffs, f.coeffs, 1e-9, `frame ${t} coefficients`);
  }
});

test('the view selector takes Python\'s views', { skip }, () => {
  const views = new ViewSelector();
  for (const [t, f] of golden.frames.entries()) {
    const landmarks = f32(f.landmarks);
    assert.ok(Math.abs(eyeOpenness(landmarks) - f.openness) < 1e-6); // numpy's norm of float32 is float32
    views.consider({ index: t, faceFound: f.face_found, landmarks, sup: null, pose: { yaw: f.pose[0], pitch: f.pose[1], roll: f.pose[2] } });
    const taken = views.ready() ? views.take() : null;
    assert.deepEqual(taken && { yaw: taken.yaw, pitch: taken.pitch }, f.view, `frame ${t}`);
  }
});

test('the sender sends Python\'s hello, driving messages and view messages, byte for byte', { skip }, () => {
  const fields = new FieldSet({ n_sup: 0, n_shape: 48 });
  const sender = new PageSender({ fields, tables: loadTables('shape.json'), fitter: new ShapeFitter(model, 48),
    shapeModelDigest: golden.shape_model_digest });
  assert.equal(sender.hello(1767225600000.0), golden.hello);
  const viewBytes = Uint8Array.from(Buffer.from(golden.view_bytes, 'hex'));
  for (const [t, f] of golden.frames.entries()) {
    const tracked = { index: t, faceFound: f.face_found, landmarks: f32(f.landmarks), sup: null,
      pose: { yaw: f.pose[0], pitch: f.pose[1], roll: f.pose[2] } };
    const out = sender.process(tracked, f.capture_ms, f.now_s);
    assert.equal(out.driving === null ? null : hex(out.driving), f.driving, `frame ${t} driving`);
    assert.deepEqual(out.control.map(hex), f.control, `frame ${t} control`);
    assert.equal(out.view !== null, f.view_out, `frame ${t} view handed out`);
    if (out.view) sender.addEncodedView(out.view, viewBytes, 'webp');
  }
});
