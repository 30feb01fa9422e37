// The page's geometry renderer (frontal/web/render/) on its own: OpenCV's operations it ports
// (checked by hand on small cases), the renderer's refusals, a round trip of a view through the
// atlas, and the records the codec yields. tests/test_js_render.py compares whole frames with Python.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { FieldSet, StreamDecoder, StreamEncoder, decodeIntraRecord, encodeIntraRecord } from '../../frontal/web/codec/index.js';
import { ShapeModel } from '../../frontal/web/peer/shape.js';
import {
  MeshTopology, PageMeshRenderer, RENDER_DEFAULTS, distanceTransform, feather, loadTopology, rasterize, sampleBilinear, toPixels,
} from '../../frontal/web/render/index.js';
import { REPO, loadTables } from './helpers.mjs';

const topologyJson = JSON.parse(readFileSync(join(REPO, 'receiver', 'mesh_data', 'facemesh.json'), 'utf8'));
const topology = loadTopology(topologyJson);
const shapeModel = ShapeModel.fromSafetensors(readFileSync(join(REPO, 'codec', 'shape_data', 'facemesh_shape.safetensors')));
const f = Math.fround;

/** A record as the decoder yields it: pose in degrees here, the first coefficients given. */
function record(yaw = 0, pitch = 0, coeffs = [], k = 48) {
  const shape = new Float32Array(k);
  coeffs.forEach((c, i) => { shape[i] = c; });
  return { pose: Float32Array.of((yaw * Math.PI) / 180, (pitch * Math.PI) / 180, 0, Math.log(0.8), 0, 0.02), shape };
}

/** A smooth 256x256 RGBA view (gradients only: bilinear resampling barely changes it). */
function smoothView() {
  const data = new Uint8ClampedArray(256 * 256 * 4);
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) {
      const o = 4 * (256 * y + x);
      data[o] = 60 + 0.6 * x; data[o + 1] = 50 + 0.7 * y; data[o + 2] = 100 + 0.3 * (x + y); data[o + 3] = 255;
    }
  }
  return { data, width: 256, height: 256 };
}

test('distance transform: the 3x3 chamfer steps of OpenCV around one zero, FLT_MAX without any', () => {
  const src = new Uint8Array(25).fill(1);
  src[12] = 0;
  const d = distanceTransform(src, 5, 5, new Float32Array(25));
  const a = f(0.955), b = f(1.3693);
  const expected = [
    f(b + b), f(a + b), f(a + a), f(a + b), f(b + b),
    f(a + b), b, a, b, f(a + b),
    f(a + a), a, 0, a, f(a + a),
    f(a + b), b, a, b, f(a + b),
    f(b + b), f(a + b), f(a + a), f(a + b), f(b + b),
  ];
  assert.deepEqual(Array.from(d), expected);
  assert.ok(Array.from(distanceTransform(new Uint8Array(6).fill(1), 3, 2, new Float32Array(6))).every((v) => v === 3.4028234663852886e38));
});

test('feather: 0 outside the mask, a ramp to 1 at `width` pixels inside its border', () => {
  const s = 20, mask = new Uint8Array(s * s);
  for (let y = 2; y < 18; y++) for (let x = 2; x < 18; x++) mask[y * s + x] = 1;
  const alpha = feather(mask, s, 2);
  assert.equal(alpha[0], 0);
  assert.equal(alpha[2 * s + 2], f(f(0.955) / 2)); // the border pixel: one step to the outside
  assert.equal(alpha[10 * s + 10], 1);
  assert.deepEqual(Array.from(feather(mask, s, 0)), Array.from(mask));
});

test('rasterize covers a triangle as cv2.fillConvexPoly does: its pixels and its outline', () => {
  const ids = rasterize(new Int32Array(9 * 8), 9, 8, Float64Array.of(1.2, 0.7, 7.6, 2.3, 2.9, 6.8), Int32Array.of(0));
  const picture = Array.from({ length: 8 }, (_, y) => Array.from(ids.subarray(9 * y, 9 * y + 9), (v) => (v >= 0 ? '#' : '.')).join(''));
  assert.deepEqual(picture, [
    '.........',
    '.####....',
    '.########',
    '..######.',
    '..#####..',
    '..####...',
    '...##....',
    '...#.....',
  ]);
  // painter's order: a later triangle covers an earlier one; `order` decides, not the index
  const both = Float64Array.of(1.2, 0.7, 7.6, 2.3, 2.9, 6.8, 0, 0, 8, 0, 0, 3);
  const ids2 = rasterize(new Int32Array(9 * 8), 9, 8, both, Int32Array.of(0, 1));
  assert.equal(ids2[9 * 1 + 2], 1);
  assert.equal(ids2[9 * 4 + 3], 0);
  assert.equal(ids2[9 * 7 + 8], -1);
  assert.equal(rasterize(new Int32Array(9 * 8), 9, 8, both, Int32Array.of(1, 0))[9 * 1 + 2], 0);
});

test('bilinear sampling: OpenCV fixed point, replicate and constant borders', () => {
  const src = Uint8Array.of(0, 255, 10, 20); // 2x2, one channel
  const out = new Uint8Array(1);
  const at = (x, y, border) => { sampleBilinear(src, 2, 2, 1, 1, f(x), f(y), border, out, 0); return out[0]; };
  assert.equal(at(0, 0, 1), 0);
  assert.equal(at(0.5, 0, 1), 128); // 127.5 rounds up
  assert.equal(at(0.5, 0.5, 1), 71); // (0 + 255 + 10 + 20) / 4 = 71.25
  assert.equal(at(0.01, 0, 1), 0); // below 1/64 pixel: the same 1/32 position
  assert.equal(at(-3, 0, 1), 0); // replicate: the edge
  assert.equal(at(5, 1, 1), 20);
  assert.equal(at(5, 1, 0), 0); // constant: 0 outside
  assert.equal(at(1.5, 0, 0), 128); // half of the edge pixel, half the 0 beyond it
});

test('the topology: the shipped mesh, and clear errors for a foreign one', () => {
  assert.equal(topology.numTriangles, 898);
  assert.ok(topology instanceof MeshTopology);
  assert.throws(() => loadTopology({ ...topologyJson, version: 2 }), /mesh data version 2, this code reads 1/);
  assert.throws(() => loadTopology({ ...topologyJson, uv: topologyJson.uv.slice(1) }), /inconsistent mesh arrays/);
  assert.throws(() => loadTopology({ ...topologyJson, triangles: [[0, 1, 999], ...topologyJson.triangles.slice(1)] }), /triangle indices/);
});

test('ShapeModel.reconstruct: the mean at the identity pose; a pose moves it rigidly', () => {
  const mean = Float64Array.from(shapeModel.mean);
  const zero = new Float32Array(48);
  assert.deepEqual(Array.from(shapeModel.reconstruct([0, 0, 0, 0, 0, 0], zero)), Array.from(mean));
  const moved = shapeModel.reconstruct([0.3, -0.1, 0.2, Math.log(0.5), 0.1, -0.2], zero);
  const dist = (p, i, j) => Math.hypot(p[3 * i] - p[3 * j], p[3 * i + 1] - p[3 * j + 1], p[3 * i + 2] - p[3 * j + 2]);
  assert.ok(Math.abs(dist(moved, 1, 152) - 0.5 * dist(mean, 1, 152)) < 1e-12);
  assert.throws(() => shapeModel.reconstruct([0, 0, 0], zero), /expected a pose of 6 values, got 3/);
  assert.throws(() => shapeModel.reconstruct([0, 0, 0, 0, 0, 0], new Float32Array(3)), /expected 48 shape coefficients, got 3/);
  const px = toPixels(Float64Array.of(-1, 1, 0.5), 256);
  assert.deepEqual(Array.from(px), [-0.5, 255.5, 64]);
});

test('the renderer refuses what it cannot draw, with one-line errors', () => {
  assert.throws(() => new PageMeshRenderer({ shapeModel }), /needs the mesh topology \(loadTopology\) before any view/);
  assert.throws(() => new PageMeshRenderer({ topology: topologyJson, shapeModel }), /needs the mesh topology/);
  assert.throws(() => new PageMeshRenderer({ topology }), /needs the shape model/);
  assert.throws(() => new PageMeshRenderer({ topology, shapeModel, config: { size: 8 } }), /RenderConfig: size >= 16/);
  assert.throws(() => new PageMeshRenderer({ topology, shapeModel, config: { atlas: { pad: -1 } } }), /AtlasConfig/);
  assert.throws(() => new PageMeshRenderer({ topology, shapeModel, config: { feathr: 3 } }), /RenderConfig has no field feathr/);
  const r = new PageMeshRenderer({ topology, shapeModel, config: { atlas: { max_views: 1 } } });
  assert.throws(() => r.render(record()), /^Error: no source view yet$/);
  const view = smoothView();
  assert.throws(() => r.addViewRecord(view, { sup: new Float32Array(66) }), /needs a shape stream's record \(pose and shape\)/);
  assert.throws(() => r.addViewRecord(view, null), /needs a shape stream's record/);
  assert.throws(() => r.addViewRecord(view, record(0, 0, [], 49)), /the record has 49 shape coefficients, the shape model 48/);
  assert.throws(() => r.addViewRecord(view, { pose: new Float32Array(5), shape: new Float32Array(48) }), /expected a pose of 6 values/);
  assert.throws(() => r.addViewRecord(view, { pose: Float32Array.of(0, 0, 0, NaN, 0, 0), shape: new Float32Array(48) }), /mesh points must be finite/);
  assert.throws(() => r.addViewRecord({ data: new Uint8ClampedArray(128 * 128 * 4), width: 128, height: 128 }, record()), /expected a 256x256 view, got 128x128/);
  assert.throws(() => r.addViewRecord({ data: new Uint8ClampedArray(256 * 256 * 3), width: 256, height: 256 }, record()), /expected an RGBA image/);
  assert.equal(r.numViews, 0);
  assert.equal(r.addViewRecord(view, record()), 0);
  assert.throws(() => r.addViewRecord(view, record(10)), /the atlas holds at most 1 views/);
  assert.equal(r.numViews, 1);
  assert.equal(r.maxViews, 1);
  r.reset();
  assert.equal(r.numViews, 0);
  assert.throws(() => r.render(record()), /no source view yet/);
});

test('a view drawn back at its own pose reproduces it; the head moves the face', async () => {
  const r = new PageMeshRenderer({ topology, shapeModel });
  const view = smoothView();
  r.addViewRecord(view, record(0, 0, [0.5, -0.2]));
  const frame = r.render(record(0, 0, [0.5, -0.2]));
  assert.equal(frame.image.length, 256 * 256 * 4);
  let faces = 0, error = 0;
  for (let i = 0; i < 256 * 256; i++) {
    assert.equal(frame.image[4 * i + 3], 255);
    if (frame.alpha[i] !== 1) continue;
    faces++;
    for (let c = 0; c < 3; c++) error += Math.abs(frame.image[4 * i + c] - view.data[4 * i + c]);
  }
  assert.ok(faces > 3000, `the face covers ${faces} fully blended pixels`);
  assert.ok(error / (3 * faces) < 1.0, `mean error ${error / (3 * faces)} levels`);
  const turned = r.render(record(25, 0, [0.5, -0.2]));
  let moved = 0;
  for (let i = 0; i < 256 * 256; i++) moved += turned.mask[i] !== frame.mask[i];
  assert.ok(moved > 500, `turning the head changes ${moved} mask pixels`);
  const d = await r.describe();
  assert.deepEqual(Object.keys(d), ['renderer', 'config', 'shape_model', 'refiner']);
  assert.equal(d.shape_model, await shapeModel.digest());
  assert.deepEqual({ ...d.config, atlas: undefined }, { ...RENDER_DEFAULTS, atlas: undefined });
});

test('it draws the records the codec yields: a 0xF7 view record and a stream frame', () => {
  const fields = new FieldSet({ n_sup: 0, n_shape: 48 });
  const tables = loadTables('shape.json');
  const r = new PageMeshRenderer({ topology, shapeModel });
  const viewRecord = decodeIntraRecord(fields, encodeIntraRecord(fields, record(10, 0, [0.3]), 'paper', tables), 'paper', tables);
  assert.equal(r.addViewRecord(smoothView(), viewRecord), 0);
  const encoder = new StreamEncoder(fields, tables);
  const decoder = new StreamDecoder(fields, tables);
  const decoded = decoder.decode(encoder.encode(record(-5, 3, [0.2, 0.1]), 0).packet).record;
  const frame = r.render(decoded);
  assert.ok(frame.mask.some((v) => v === 1));
});
