// The geometry renderer: receiver/atlas.py MeshRenderer and feather, and receiver/render.py
// MeshFrameRenderer (without the refiner) as PageMeshRenderer. receiver/atlas.py's docstring
// describes the drawing: the atlas drawn on the frame's mesh far to near; outside the face the
// first view, following the head near the face and still farther out; the face blended over it
// along a `feather`-pixel ramp.
//
// Float32 arithmetic is reproduced where Python computes in float32 (numpy 1.26's casting), so
// the page draws the desktop's frame up to rounding (tests/test_js_render.py measures it).

import { TextureAtlas, atlasConfig, checkImage } from './atlas.js';
import { barycentricInverses, checkPoints, cornersOf, fitSimilarity, invertAffine, painterOrder, signedAreas, toPixels } from './mesh.js';
import { BORDER_CONSTANT, BORDER_REPLICATE, distanceTransform, rasterize, rint, sampleBilinear } from './raster.js';
import { MESH_POINTS, MeshTopology, Region } from './topology.js';

const f32 = Math.fround;

/** RenderConfig() of receiver/atlas.py (field names as Python's, so describe() compares). */
export const RENDER_DEFAULTS = Object.freeze({ size: 256, feather: 6.0, min_area: 0.01, background_reach: 0.3 });

/** RenderConfig's checks: `config` (RenderConfig's fields; `atlas`: AtlasConfig's) completed with the defaults. */
export function renderConfig(config = {}) {
  const unknown = Object.keys(config).filter((k) => k !== 'atlas' && !(k in RENDER_DEFAULTS));
  if (unknown.length) throw new Error(`RenderConfig has no field ${unknown.join(', ')}`);
  const c = { ...RENDER_DEFAULTS, ...config, atlas: atlasConfig(config.atlas) };
  if (!(c.size >= 16 && Number.isInteger(c.size) && c.feather >= 0 && c.background_reach >= 0 && Number.isFinite(c.min_area))) {
    throw new Error('RenderConfig: size >= 16, feather >= 0 and background_reach >= 0 are required');
  }
  return c;
}

/** receiver.atlas.feather: 0 outside `mask` (Uint8Array s*s), rising linearly to 1 at `width`
 * pixels inside its border. `out`: Float32Array s*s. */
export function feather(mask, s, width, out = new Float32Array(s * s)) {
  if (width <= 0) {
    for (let i = 0; i < out.length; i++) out[i] = mask[i];
    return out;
  }
  out.fill(0);
  // the distance to the mask's border, in the mask's box and a ring of zeros around it (exact:
  // every path to a zero outside the box crosses that ring)
  let x0 = s, x1 = -1, y0 = s, y1 = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const x = i % s, y = (i - x) / s;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  if (x1 < 0) return out;
  x0 = Math.max(x0 - 1, 0); y0 = Math.max(y0 - 1, 0); x1 = Math.min(x1 + 1, s - 1); y1 = Math.min(y1 + 1, s - 1);
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const box = new Uint8Array(w * h), dist = new Float32Array(w * h);
  for (let y = 0; y < h; y++) box.set(mask.subarray((y0 + y) * s + x0, (y0 + y) * s + x0 + w), y * w);
  distanceTransform(box, w, h, dist);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[(y0 + y) * s + x0 + x] = Math.min(Math.max(f32(dist[y * w + x] / width), 0), 1);
  }
  return out;
}

/** receiver.atlas.MeshRenderer: views in with their mesh in pixels, frames out at a mesh. */
export class MeshRenderer {
  constructor(topology, config = {}) {
    this.topology = topology;
    this.config = renderConfig(config);
    this.atlas = new TextureAtlas(topology, this.config.atlas);
    const s = this.config.size, t = topology.numTriangles;
    this.uvPx = Float32Array.from(topology.uv, (v) => v * this.config.atlas.size - 0.5);
    this.isFill = Uint8Array.from(topology.regions, (r) => (r !== Region.SKIN ? 1 : 0));
    this.background = null; // {image: RGBA copy of the first view, anchors: its anchor points [K*3]}
    // per-frame work buffers
    this.ids = new Int32Array(s * s);
    this.corners = new Float64Array(6 * t);
    this.areas = new Float64Array(t);
    this.keep = new Uint8Array(t);
    this.inverses = new Float64Array(9 * t);
    this.table = new Float32Array(9 * t);
    this.face = new Uint8Array(3 * s * s);
    this.backdrop = new Uint8Array(3 * s * s);
    this.dist = new Float32Array(s * s);
    this.work = new Float32Array((s + 2) * (s + 2));
    this.notMask = new Uint8Array(s * s);
    this.anchorPoints = new Float64Array(3 * topology.anchors.length);
  }

  get numViews() {
    return this.atlas.numViews;
  }

  /** Forget every view. */
  reset() {
    this.atlas.reset();
    this.background = null;
  }

  /** A source view: `image` {data RGBA, width, height} (size x size) and its mesh `points`
   * [>= 468 * 3] in its pixels. The first one also gives the background. */
  addView(image, points) {
    checkImage(image);
    const s = this.config.size;
    if (image.width !== s || image.height !== s) throw new Error(`expected a ${s}x${s} view, got ${image.width}x${image.height}`);
    const index = this.atlas.addView(image, points);
    if (this.background === null) {
      this.background = { image: Uint8Array.from(image.data), anchors: Float64Array.from(this.#anchors(checkPoints(points))) };
    }
    return index;
  }

  /** The anchor points [K*3] of the mesh `p` (a reused buffer). */
  #anchors(p) {
    this.topology.anchors.forEach((a, i) => this.anchorPoints.set(p.subarray(3 * a, 3 * a + 3), 3 * i));
    return this.anchorPoints;
  }

  /** The atlas drawn at mesh `p` (checked points [468*3]): fills `face` (RGB [s*s*3], 0 where
   * not drawn) and `mask` (1 where drawn). */
  drawFace(p, face, mask) {
    const s = this.config.size, tris = this.topology.triangles, ids = this.ids;
    const corners = cornersOf(p, tris, this.corners);
    const areas = signedAreas(corners, this.areas);
    for (let t = 0; t < areas.length; t++) this.keep[t] = areas[t] > this.config.min_area ? 1 : 0;
    rasterize(ids, s, s, corners, painterOrder(p, tris, this.keep));
    const inv = this.table;
    inv.set(barycentricInverses(corners, this.inverses)); // float32, as Python's table
    const uv = this.uvPx, a = this.config.atlas.size, texture = this.atlas.texture;
    face.fill(0);
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (t < 0) continue;
      mask[i] = 1;
      // per pixel its barycentric weights in its triangle (float32, as Python), then the atlas
      // position. A pixel centre just outside a sliver (a closing eye's or mouth's fill) would
      // extrapolate far off the sliver's chart: the fills' weights, and any below -0.2, are
      // clamped to the triangle (the skin's continue smoothly into the neighbour's texture)
      const x = i % s, y = (i - x) / s, m = 9 * t;
      let b0 = f32(f32(f32(inv[m] * x) + f32(inv[m + 1] * y)) + inv[m + 2]);
      let b1 = f32(f32(f32(inv[m + 3] * x) + f32(inv[m + 4] * y)) + inv[m + 5]);
      let b2 = f32(f32(f32(inv[m + 6] * x) + f32(inv[m + 7] * y)) + inv[m + 8]);
      if (Math.min(b0, b1, b2) < (this.isFill[t] ? 0.0 : -0.2)) {
        b0 = Math.max(b0, 0); b1 = Math.max(b1, 0); b2 = Math.max(b2, 0);
        const sum = Math.max(f32(f32(b0 + b1) + b2), f32(1e-6));
        b0 = f32(b0 / sum); b1 = f32(b1 / sum); b2 = f32(b2 / sum);
      }
      const u = 6 * t;
      const mx = f32(f32(f32(b0 * uv[u]) + f32(b1 * uv[u + 2])) + f32(b2 * uv[u + 4]));
      const my = f32(f32(f32(b0 * uv[u + 1]) + f32(b1 * uv[u + 3])) + f32(b2 * uv[u + 5]));
      sampleBilinear(texture, a, a, 3, 3, mx, my, BORDER_CONSTANT, face, 3 * i);
    }
  }

  /** The first view moved with the head near the face drawn at `mask` (receiver.atlas
   * MeshRenderer.background): RGB [s*s*3] into `out`. An infinite reach moves all of it. */
  drawBackground(p, mask, out) {
    if (this.background === null) throw new Error('no source view yet');
    const s = this.config.size, reach = this.config.background_reach, src = this.background.image;
    const [i00, i01, i02, i10, i11, i12] = invertAffine(fitSimilarity(this.background.anchors, this.#anchors(p))).map(f32);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < MESH_POINTS; i++) { lo = Math.min(lo, p[3 * i]); hi = Math.max(hi, p[3 * i]); }
    const faceWidth = Math.max(hi - lo, 1.0);
    const dist = this.dist, still = reach === Infinity;
    if (!still) {
      for (let i = 0; i < mask.length; i++) this.notMask[i] = mask[i] ? 0 : 1;
      distanceTransform(this.notMask, s, s, dist, this.work);
    }
    for (let y = 0, i = 0; y < s; y++) {
      for (let x = 0; x < s; x++, i++) {
        let follow = 1;
        if (!still) {
          const d = f32(dist[i] / faceWidth);
          if (reach > 0) {
            const q = f32(d / reach);
            follow = f32(Math.exp(-f32(q * q)));
          } else {
            follow = d === 0 ? 1 : 0;
          }
        }
        const mx = f32(x + f32(follow * f32(f32(f32(f32(i00 * x) + f32(i01 * y)) + i02) - x)));
        const my = f32(y + f32(follow * f32(f32(f32(f32(i10 * x) + f32(i11 * y)) + i12) - y)));
        if (mx === x && my === y) { // staying put: the pixel itself
          out[3 * i] = src[4 * i]; out[3 * i + 1] = src[4 * i + 1]; out[3 * i + 2] = src[4 * i + 2];
        } else {
          sampleBilinear(src, s, s, 4, 3, mx, my, BORDER_REPLICATE, out, 3 * i);
        }
      }
    }
  }

  /** The frame at mesh `points` [>= 468 * 3] (pixel index coordinates of the output):
   * {image: Uint8ClampedArray RGBA [s*s*4] (alpha 255), mask: Uint8Array [s*s], alpha: Float32Array [s*s]}. */
  render(points) {
    const p = checkPoints(points);
    const s = this.config.size, n = s * s, face = this.face, background = this.backdrop;
    const mask = new Uint8Array(n);
    this.drawFace(p, face, mask);
    this.drawBackground(p, mask, background);
    const alpha = feather(mask, s, this.config.feather);
    const image = new Uint8ClampedArray(4 * n);
    for (let i = 0; i < n; i++) {
      const w = alpha[i], o = 4 * i, q = 3 * i;
      if (w === 0) {
        image[o] = background[q]; image[o + 1] = background[q + 1]; image[o + 2] = background[q + 2];
      } else if (w === 1) {
        image[o] = face[q]; image[o + 1] = face[q + 1]; image[o + 2] = face[q + 2];
      } else {
        for (let c = 0; c < 3; c++) {
          const bg = background[q + c];
          image[o + c] = rint(f32(bg + f32(w * (face[q + c] - bg))));
        }
      }
      image[o + 3] = 255;
    }
    return { image, mask, alpha };
  }
}

/** The page's renderer of a shape call: receiver.render.MeshFrameRenderer without the refiner. */
export class PageMeshRenderer {
  /** topology: a MeshTopology (loadTopology); shapeModel: peer/shape.js ShapeModel (the call's,
   * whole: records with fewer coefficients use its first k); config: RenderConfig fields. */
  constructor({ topology, shapeModel, config = {} } = {}) {
    if (!(topology instanceof MeshTopology)) throw new Error('PageMeshRenderer needs the mesh topology (loadTopology) before any view');
    if (!shapeModel || typeof shapeModel.reconstruct !== 'function') throw new Error('PageMeshRenderer needs the shape model (peer/shape.js ShapeModel)');
    this.topology = topology;
    this.shapeModel = shapeModel;
    this.models = new Map([[shapeModel.k, shapeModel]]);
    this.renderer = new MeshRenderer(topology, config);
    this.config = this.renderer.config;
  }

  get numViews() {
    return this.renderer.numViews;
  }

  /** Views the atlas keeps (later ones are refused). */
  get maxViews() {
    return this.config.atlas.max_views;
  }

  /** The record's mesh [478*3] in pixel index coordinates of the output (float32 values). */
  mesh(record) {
    if (!record || record.pose == null || record.shape == null) throw new Error("the mesh renderer needs a shape stream's record (pose and shape)");
    const k = record.shape.length;
    if (!(k <= this.shapeModel.k)) throw new Error(`the record has ${k} shape coefficients, the shape model ${this.shapeModel.k}`);
    if (!this.models.has(k)) this.models.set(k, this.shapeModel.truncated(k));
    return toPixels(this.models.get(k).reconstruct(record.pose, record.shape), this.config.size);
  }

  /** A source view `image` {data RGBA, width, height} with its decoded record ({pose, shape}:
   * a 0xF7 view start's record through decodeIntraRecord). Returns the view's index. */
  addViewRecord(image, record) {
    checkImage(image);
    return this.renderer.addView(image, this.mesh(record));
  }

  /** The frame of a decoded record ({pose, shape}, as StreamDecoder yields):
   * {image: Uint8ClampedArray RGBA [s*s*4], mask: Uint8Array [s*s], alpha: Float32Array [s*s]}. */
  render(record) {
    if (this.renderer.numViews === 0) throw new Error('no source view yet');
    return this.renderer.render(this.mesh(record));
  }

  /** Forget every source view. */
  reset() {
    this.renderer.reset();
  }

  /** MeshFrameRenderer.describe(): {renderer, config, shape_model (digest), refiner: null}. */
  async describe() {
    const { atlas, ...rest } = this.config;
    return { renderer: 'mesh', config: { ...rest, atlas: { ...atlas } }, shape_model: await this.shapeModel.digest(), refiner: null };
  }
}
