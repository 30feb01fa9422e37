// The page renderer's speed in Node: three source views, then frames of a turning, talking head.
//
//   node frontal/web/render/bench.mjs [--frames N] [--json]
//
// Prints the view cost (unwrap + fusion, per view) and the frame cost (ms/frame: mean, median,
// p95) after a warm-up. Reads the shipped shape model and mesh topology from the repository.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ShapeModel } from '../peer/shape.js';
import { PageMeshRenderer, loadTopology } from './index.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
const at = args.indexOf('--frames');
const frames = at >= 0 ? Number(args[at + 1]) : 200;
if (!(frames >= 1)) {
  console.error('bench.mjs: --frames takes a positive number');
  process.exit(1);
}

const shapeModel = ShapeModel.fromSafetensors(readFileSync(join(REPO, 'codec', 'shape_data', 'facemesh_shape.safetensors')));
const topology = loadTopology(JSON.parse(readFileSync(join(REPO, 'receiver', 'mesh_data', 'facemesh.json'), 'utf8')));
const renderer = new PageMeshRenderer({ topology, shapeModel });
const k = shapeModel.k;

/** A record: yaw/pitch/roll in degrees, the first coefficients swinging with `t`. */
function record(yaw, pitch, roll, t) {
  const shape = new Float32Array(k);
  for (let i = 0; i < 6; i++) shape[i] = shapeModel.std[i] * Math.sin(t * (0.7 + 0.3 * i) + i);
  const rad = Math.PI / 180;
  return { pose: Float32Array.of(yaw * rad, pitch * rad, roll * rad, Math.log(0.8), 0, 0.02), shape };
}

/** A 256x256 RGBA view: colour gradients and a fine pattern (the renderer does not care what). */
function view(seed) {
  const data = new Uint8ClampedArray(256 * 256 * 4);
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) {
      const o = 4 * (256 * y + x);
      data[o] = 80 + x / 2 + 20 * Math.sin(x * 0.7 + seed);
      data[o + 1] = 60 + y / 2 + 20 * Math.cos(y * 0.9 - seed);
      data[o + 2] = 120 + 40 * Math.sin((x + y) * 0.05 * (seed + 1));
      data[o + 3] = 255;
    }
  }
  return { data, width: 256, height: 256 };
}

const viewMs = [];
[[0, 0], [20, 3], [-20, -4]].forEach(([yaw, pitch], i) => {
  const t = performance.now();
  renderer.addViewRecord(view(i), record(yaw, pitch, 0, 0));
  viewMs.push(performance.now() - t);
});

const poses = (n) => record(25 * Math.sin(n * 0.05), 8 * Math.sin(n * 0.08), 5 * Math.sin(n * 0.03), n * 0.2);
for (let n = 0; n < 20; n++) renderer.render(poses(n)); // warm-up (JIT)
const frameMs = [];
for (let n = 0; n < frames; n++) {
  const rec = poses(n);
  const t = performance.now();
  renderer.render(rec);
  frameMs.push(performance.now() - t);
}
const sorted = [...frameMs].sort((a, b) => a - b);
const result = {
  views: viewMs.length,
  view_ms: viewMs.reduce((a, b) => a + b, 0) / viewMs.length,
  frames,
  ms_per_frame: frameMs.reduce((a, b) => a + b, 0) / frames,
  median_ms: sorted[Math.floor(frames / 2)],
  p95_ms: sorted[Math.min(frames - 1, Math.floor(frames * 0.95))],
  node: process.version,
};
if (json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${result.views} views: ${result.view_ms.toFixed(1)} ms each (unwrap + fusion)`);
  console.log(`${frames} frames: ${result.ms_per_frame.toFixed(2)} ms/frame (median ${result.median_ms.toFixed(2)}, p95 ${result.p95_ms.toFixed(2)})`);
}
