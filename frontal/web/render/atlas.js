// The source views fused into one texture atlas laid out on the canonical mesh: receiver/atlas.py
// TextureAtlas, ported. Module docstring of receiver/atlas.py for the method: each view's pixels
// unwrapped into the atlas, weighted per atlas pixel by facing^sharpness times whether the view
// saw that surface point (a depth test against the view's own painter's rasterisation); the eyes
// and the mouth taken whole from the view where each is most open.
//
//   const atlas = new TextureAtlas(topology, config.atlas);
//   atlas.addView({ data, width, height }, points);   // RGBA view, its mesh in its pixels
//   atlas.texture;                                    // Uint8Array [A*A*3] RGB, A = config.size
//
// Everything that depends on the topology alone (the atlas's own rasterisation, barycentrics,
// the padding plan) is computed once here; a view costs one unwrap and one fusion.

import { barycentricInverses, checkPoints, cornersOf, facing, openness, painterOrder, pairwiseSum, signedAreas } from './mesh.js';
import { BORDER_REPLICATE, rasterize, rint, sampleBilinear } from './raster.js';
import { MESH_POINTS, Region } from './topology.js';

export const FILL_REGIONS = [Region.RIGHT_EYE, Region.LEFT_EYE, Region.MOUTH];

/** AtlasConfig() of receiver/atlas.py. */
export const ATLAS_DEFAULTS = Object.freeze({ size: 512, sharpness: 4.0, depth_tolerance: 0.02, pad: 3, max_views: 8 });

/** AtlasConfig's checks: `config` completed with the defaults. */
export function atlasConfig(config = {}) {
  const unknown = Object.keys(config).filter((k) => !(k in ATLAS_DEFAULTS));
  if (unknown.length) throw new Error(`AtlasConfig has no field ${unknown.join(', ')}`);
  const c = { ...ATLAS_DEFAULTS, ...config };
  if (!(c.size >= 32 && Number.isInteger(c.size) && c.sharpness > 0 && c.depth_tolerance >= 0 && c.pad >= 0
    && Number.isInteger(c.pad) && c.max_views >= 1 && Number.isInteger(c.max_views))) {
    throw new Error('AtlasConfig: size >= 32, sharpness > 0, depth_tolerance >= 0, pad >= 0, max_views >= 1');
  }
  return c;
}

/** The image a view or a frame is: {data: RGBA bytes [w*h*4], width, height}. */
export function checkImage(image) {
  if (!image || !image.data || !(image.width > 0) || !(image.height > 0) || image.data.length !== image.width * image.height * 4) {
    throw new Error('expected an RGBA image {data: [width*height*4] bytes, width, height}');
  }
}

/** The atlas (receiver/atlas.py TextureAtlas): `texture` Uint8Array [A*A*3] RGB, black outside
 * the charts (plus `pad`); `covered` Uint8Array [A*A], the charts' pixels. */
export class TextureAtlas {
  /** topology: a MeshTopology; config: AtlasConfig's fields. */
  constructor(topology, config = {}) {
    this.topology = topology;
    this.config = atlasConfig(config);
    const a = this.config.size, t = topology.numTriangles;
    const uvPx = Float64Array.from(topology.uv, (v) => v * a - 0.5);
    const ids = rasterize(new Int32Array(a * a), a, a, uvPx, Int32Array.from({ length: t }, (_, i) => i));
    const inv = barycentricInverses(uvPx);
    let count = 0;
    for (let i = 0; i < ids.length; i++) if (ids[i] >= 0) count++;
    this.flat = new Int32Array(count); // atlas pixels covered by a chart, row-major
    this.tri = new Int32Array(count); // their triangle
    this.bary = new Float64Array(3 * count); // their barycentric weights, clipped to [0, 1], summing to 1
    this.pixelsPerTri = new Float64Array(t);
    this.covered = new Uint8Array(a * a);
    for (let i = 0, n = 0; i < ids.length; i++) {
      const tr = ids[i];
      if (tr < 0) continue;
      const x = i % a, y = (i - x) / a, m = 9 * tr;
      this.flat[n] = i;
      this.tri[n] = tr;
      this.covered[i] = 1;
      this.pixelsPerTri[tr] += 1;
      let sum = 0;
      for (let k = 0; k < 3; k++) {
        const b = Math.min(Math.max(inv[m + 3 * k] * x + inv[m + 3 * k + 1] * y + inv[m + 3 * k + 2], 0), 1);
        this.bary[3 * n + k] = b;
        sum += b;
      }
      for (let k = 0; k < 3; k++) this.bary[3 * n + k] /= sum;
      n++;
    }
    for (let tr = 0; tr < t; tr++) this.pixelsPerTri[tr] = Math.max(this.pixelsPerTri[tr], 1);
    this.pixelRegion = Int8Array.from(this.tri, (tr) => topology.regions[tr]);
    this.#buildVertexMean();
    this.rings = FILL_REGIONS.map((r) => {
      const ring = topology.ring(r);
      return Int32Array.from(Array.from(ring).flatMap((v, i) => (v ? [i] : [])));
    });
    this.padPlan = padPlan(this.covered, a, this.config.pad);
    this.views = [];
    this.texture = new Uint8Array(a * a * 3);
  }

  get numViews() {
    return this.views.length;
  }

  /** Forget every view (the layout, computed once, stays). */
  reset() {
    this.views = [];
    this.texture = new Uint8Array(this.texture.length);
  }

  /** Per point the skin triangles around it (receiver.atlas's `_vertex_mean`, as lists). */
  #buildVertexMean() {
    const { triangles, regions } = this.topology;
    const sets = Array.from({ length: MESH_POINTS }, () => new Set());
    for (let t = 0; t < regions.length; t++) {
      if (regions[t] === Region.SKIN) for (let k = 0; k < 3; k++) sets[triangles[3 * t + k]].add(t);
    }
    this.vertexStart = new Int32Array(MESH_POINTS + 1);
    const lists = sets.map((s) => [...s].sort((x, y) => x - y));
    lists.forEach((l, v) => { this.vertexStart[v + 1] = this.vertexStart[v] + l.length; });
    this.vertexTris = Int32Array.from(lists.flat());
    this.vertexShare = Float64Array.from(lists, (l) => 1 / Math.max(l.length, 1));
  }

  /** Adds a view: `image` {data RGBA, width, height} and its mesh `points` [>= 468 * 3] in its
   * pixel index coordinates. Refuses more than `max_views`. Returns the view's index. */
  addView(image, points) {
    checkImage(image);
    const p = checkPoints(points);
    if (this.views.length >= this.config.max_views) throw new Error(`the atlas holds at most ${this.config.max_views} views`);
    const n = this.flat.length, tris = this.topology.triangles;
    const src = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) {
      const o = 3 * this.tri[i];
      for (let c = 0; c < 3; c++) {
        src[3 * i + c] = this.bary[3 * i] * p[3 * tris[o] + c] + this.bary[3 * i + 1] * p[3 * tris[o + 1] + c]
          + this.bary[3 * i + 2] * p[3 * tris[o + 2] + c];
      }
    }
    const triFacing = facing(p, tris);
    const seen = this.#seen(src, p, image.width, image.height);
    const weight = this.#weights(p, triFacing, seen);
    const texture = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) {
      sampleBilinear(image.data, image.width, image.height, 4, 3, Math.fround(src[3 * i]), Math.fround(src[3 * i + 1]),
        BORDER_REPLICATE, texture, 3 * i);
    }
    this.views.push({ texture, weight, regionScore: this.#regionScores(p, triFacing, seen) });
    this.#fuse();
    return this.views.length - 1;
  }

  /** Uint8Array [P]: 1 where the view saw the atlas pixel's surface point (receiver.atlas `_seen`). */
  #seen(src, p, w, h) {
    const tris = this.topology.triangles;
    const corners = cornersOf(p, tris);
    const front = signedAreas(corners).map((v) => (v > 0 ? 1 : 0));
    const ids = rasterize(new Int32Array(w * h), w, h, corners, painterOrder(p, tris, front));
    const inv = barycentricInverses(corners);
    const tolerance = this.config.depth_tolerance * w;
    const out = new Uint8Array(this.flat.length);
    for (let i = 0; i < out.length; i++) {
      const x = src[3 * i], y = src[3 * i + 1], z = src[3 * i + 2];
      if (!(x >= -0.5 && x <= w - 0.5 && y >= -0.5 && y <= h - 0.5) || !front[this.tri[i]]) continue;
      const xi = Math.min(Math.max(rint(x), 0), w - 1), yi = Math.min(Math.max(rint(y), 0), h - 1);
      const owner = ids[yi * w + xi];
      if (owner < 0) continue;
      if (owner !== this.tri[i]) {
        const m = 9 * owner;
        let depth = 0;
        for (let k = 0; k < 3; k++) depth += (inv[m + 3 * k] * x + inv[m + 3 * k + 1] * y + inv[m + 3 * k + 2]) * p[3 * tris[3 * owner + k] + 2];
        if (!(z <= depth + tolerance)) continue;
      }
      out[i] = 1;
    }
    return out;
  }

  /** Float32Array [P]: facing^sharpness interpolated from the points, on the skin, where seen. */
  #weights(p, triFacing, seen) {
    const tris = this.topology.triangles;
    const vertex = new Float64Array(MESH_POINTS);
    for (let v = 0; v < MESH_POINTS; v++) {
      let s = 0;
      for (let j = this.vertexStart[v]; j < this.vertexStart[v + 1]; j++) s += this.vertexShare[v] * triFacing[this.vertexTris[j]];
      vertex[v] = s;
    }
    const out = new Float32Array(this.flat.length);
    const sharpness = this.config.sharpness;
    for (let i = 0; i < out.length; i++) {
      const t = this.tri[i];
      if (!seen[i] || this.pixelRegion[i] !== Region.SKIN || !(triFacing[t] > 0)) continue;
      const pixel = this.bary[3 * i] * vertex[tris[3 * t]] + this.bary[3 * i + 1] * vertex[tris[3 * t + 1]]
        + this.bary[3 * i + 2] * vertex[tris[3 * t + 2]];
      out[i] = Math.pow(pixel, sharpness);
    }
    return out;
  }

  /** Per fill region (FILL_REGIONS order): openness times how squarely and visibly its ring faces. */
  #regionScores(p, triFacing, seen) {
    const share = new Float64Array(this.topology.numTriangles);
    for (let i = 0; i < seen.length; i++) share[this.tri[i]] += seen[i];
    return FILL_REGIONS.map((region, r) => {
      const ring = this.rings[r];
      const terms = Float64Array.from(ring, (t) => triFacing[t] * (share[t] / this.pixelsPerTri[t]));
      return openness(p, region) * (pairwiseSum(terms) / terms.length);
    });
  }

  /** Recomputes the texture from all views (receiver.atlas `_fuse`). */
  #fuse() {
    const views = this.views, nv = views.length, n = this.flat.length, a = this.config.size;
    const best = FILL_REGIONS.map((_, r) => {
      let k = 0;
      for (let v = 1; v < nv; v++) if (views[v].regionScore[r] > views[k].regionScore[r]) k = v;
      return k;
    });
    const fillIndex = { [Region.RIGHT_EYE]: 0, [Region.LEFT_EYE]: 1, [Region.MOUTH]: 2 };
    const w = new Float64Array(nv);
    const texture = new Float32Array(a * a * 3);
    for (let i = 0; i < n; i++) {
      const region = this.pixelRegion[i];
      if (region === Region.SKIN) {
        for (let v = 0; v < nv; v++) w[v] = views[v].weight[i];
      } else {
        w.fill(0);
        w[best[fillIndex[region]]] = 1;
      }
      let total = 0;
      for (let v = 0; v < nv; v++) total += w[v];
      if (total <= 1e-6) {
        w[0] = 1; // never seen: the first view (the most frontal) as it is
        total = 0;
        for (let v = 0; v < nv; v++) total += w[v];
      }
      const o = 3 * this.flat[i];
      for (let c = 0; c < 3; c++) {
        let colour = 0;
        for (let v = 0; v < nv; v++) colour += (w[v] / total) * views[v].texture[3 * i + c];
        texture[o + c] = colour;
      }
    }
    this.texture = padTexture(texture, this.padPlan);
  }
}

/** Which atlas pixels each padding step fills and from which covered neighbours (3x3, OpenCV's
 * default reflect-101 border, as cv2.blur): [{pixels, start, neighbours, norm}] per step. */
export function padPlan(covered, a, steps) {
  const mask = Uint8Array.from(covered);
  const plan = [];
  const reflect = (i) => (i < 0 ? -i : i >= a ? 2 * a - 2 - i : i);
  for (let s = 0; s < steps; s++) {
    const pixels = [], start = [0], neighbours = [];
    for (let y = 0; y < a; y++) {
      for (let x = 0; x < a; x++) {
        if (mask[y * a + x]) continue;
        const before = neighbours.length;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const q = reflect(y + dy) * a + reflect(x + dx);
            if (mask[q]) neighbours.push(q);
          }
        }
        if (neighbours.length === before) continue;
        pixels.push(y * a + x);
        start.push(neighbours.length);
      }
    }
    for (const q of pixels) mask[q] = 1;
    const norm = Float32Array.from(pixels, (_, i) => Math.fround((start[i + 1] - start[i]) * (1 / 9)));
    plan.push({ pixels: Int32Array.from(pixels), start: Int32Array.from(start), neighbours: Int32Array.from(neighbours), norm });
  }
  return plan;
}

/** receiver.atlas.pad_texture: `texture` (Float32Array [A*A*3], 0 outside the charts) extended
 * by `plan` (padPlan): each new ring the mean of its covered 3x3 neighbours; Uint8Array, rounded. */
export function padTexture(texture, plan) {
  for (const { pixels, start, neighbours, norm } of plan) {
    for (let i = 0; i < pixels.length; i++) {
      const o = 3 * pixels[i];
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = start[i]; j < start[i + 1]; j++) s += texture[3 * neighbours[j] + c];
        texture[o + c] = Math.fround(Math.fround(s * (1 / 9)) / norm[i]);
      }
    }
  }
  const out = new Uint8Array(texture.length);
  for (let i = 0; i < texture.length; i++) out[i] = Math.min(Math.max(rint(texture[i]), 0), 255);
  return out;
}
