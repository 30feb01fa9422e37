// Runs the page's geometry renderer (frontal/web/render/) on a case tests/test_js_render.py wrote:
//
//   node tests/js/render_cli.mjs DIR
//
// DIR/case.json: {views: [{image: "view0.bin" (RGBA 256*256*4), pose: [6], shape: [k]}],
// frames: [{pose, shape}]}. Writes per frame i DIR/frame{i}.rgba, .mask (uint8), .alpha (float32),
// .mesh (float64 [478*3]: the shape model's reconstruct, normalised coordinates), and
// DIR/result.json {describe, view_ms, frame_ms}.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ShapeModel } from '../../frontal/web/peer/shape.js';
import { PageMeshRenderer, loadTopology } from '../../frontal/web/render/index.js';
import { REPO } from './helpers.mjs';

const dir = process.argv[2];
const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
const shapeModel = ShapeModel.fromSafetensors(readFileSync(join(REPO, 'codec', 'shape_data', 'facemesh_shape.safetensors')));
const topology = loadTopology(JSON.parse(readFileSync(join(REPO, 'receiver', 'mesh_data', 'facemesh.json'), 'utf8')));
const renderer = new PageMeshRenderer({ topology, shapeModel });
const record = (r) => ({ pose: Float32Array.from(r.pose), shape: Float32Array.from(r.shape) });

const viewMs = [];
for (const v of spec.views) {
  const bytes = readFileSync(join(dir, v.image));
  const image = { data: new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength), width: 256, height: 256 };
  const t = performance.now();
  renderer.addViewRecord(image, record(v));
  viewMs.push(performance.now() - t);
}
const frameMs = [];
spec.frames.forEach((f, i) => {
  const rec = record(f);
  const t = performance.now();
  const frame = renderer.render(rec);
  frameMs.push(performance.now() - t);
  const mesh = shapeModel.truncated(rec.shape.length).reconstruct(rec.pose, rec.shape);
  writeFileSync(join(dir, `frame${i}.rgba`), frame.image);
  writeFileSync(join(dir, `frame${i}.mask`), frame.mask);
  writeFileSync(join(dir, `frame${i}.alpha`), new Uint8Array(frame.alpha.buffer));
  writeFileSync(join(dir, `frame${i}.mesh`), new Uint8Array(mesh.buffer));
});
const describe = await renderer.describe();
writeFileSync(join(dir, 'result.json'), JSON.stringify({ describe, view_ms: viewMs, frame_ms: frameMs }));
