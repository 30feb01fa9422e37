// The dense shape in the page: the shape model (codec/shape.py) read from its safetensors file, and
// the sender's fit (sender/shape.py): a tracked mesh -> head pose + shape coefficients. Float64
// arithmetic as numpy's; tests/js/shape.test.mjs checks it against Python on the same meshes.
//
//   const model = ShapeModel.fromSafetensors(await (await fetch(url)).arrayBuffer());
//   const fitter = new ShapeFitter(model, 48);
//   const record = fitter.record(landmarks);   // {pose: Float32Array(6), shape: Float32Array(48)}
//   const mesh = model.truncated(48).reconstruct(record.pose, record.shape);   // the receiver's [478*3]

export const NUM_POINTS = 478;
export const POSE_SIZE = 6;

/** A safetensors file's tensors ({dtype, shape, data: Float32Array | Int32Array}) and metadata. */
export function parseSafetensors(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8) throw new Error('not a safetensors file: truncated header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) throw new Error('not a safetensors file: header length past the end');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = t.data_offsets;
    const raw = bytes.slice(8 + n + start, 8 + n + end); // a copy: aligned for the typed array
    const Kind = { F32: Float32Array, I32: Int32Array }[t.dtype];
    if (!Kind) throw new Error(`unsupported dtype ${t.dtype} for ${name}`);
    tensors[name] = { dtype: t.dtype, shape: t.shape, data: new Kind(raw.buffer), bytes: raw };
  }
  return { tensors, metadata: header.__metadata__ || {} };
}

export class ShapeModel {
  /** mean [478*3], basis [K*478*3], std [K], weight [478], rigid [R]: flat typed arrays. */
  constructor({ mean, basis, std, weight, rigid }, k = null) {
    const full = std.length;
    this.k = k === null ? full : k;
    if (!(this.k >= 0 && this.k <= full)) throw new Error(`k must be in 0..${full}`);
    if (mean.length !== NUM_POINTS * 3 || basis.length !== full * NUM_POINTS * 3 || weight.length !== NUM_POINTS) {
      throw new Error('shape model arrays have the wrong sizes');
    }
    Object.assign(this, { mean, basis, std, weight, rigid });
  }

  static fromSafetensors(buffer) {
    const { tensors, metadata } = parseSafetensors(buffer);
    if (metadata.format !== 'frontal-shape' || metadata.version !== '1') throw new Error('not a Frontal shape model (version 1)');
    const get = (name) => {
      if (!tensors[name]) throw new Error(`shape model lacks ${name}`);
      return tensors[name].data;
    };
    const model = new ShapeModel({ mean: get('mean'), basis: get('basis'), std: get('std'), weight: get('weight'), rigid: get('rigid') });
    model.tensorBytes = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.bytes]));
    return model;
  }

  /** The same model with its first k coefficients. */
  truncated(k) {
    const m = new ShapeModel(this, k);
    m.tensorBytes = this.tensorBytes;
    return m;
  }

  /** ShapeModel.digest of Python (the whole file's arrays, whatever k): sha256 hex of mean, basis,
   * weight, rigid as little-endian bytes. Needs crypto.subtle (a secure context, or Node 20). */
  async digest() {
    const parts = ['mean', 'basis', 'weight', 'rigid'].map((n) => this.tensorBytes[n]);
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    const hash = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', all));
    return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  /** The pose-free shape [478*3] (Float64Array, model frame) of coefficients [k]: mean + Σ c_k
   * basis_k (codec.shape ShapeModel.shape). */
  shape(coeffs) {
    if (coeffs.length !== this.k) throw new Error(`expected ${this.k} shape coefficients, got ${coeffs.length}`);
    const size = NUM_POINTS * 3;
    const out = new Float64Array(size);
    for (let k = 0; k < this.k; k++) {
      const c = Number(coeffs[k]), base = k * size;
      for (let j = 0; j < size; j++) out[j] += c * this.basis[base + j];
    }
    for (let j = 0; j < size; j++) out[j] += this.mean[j];
    return out;
  }

  /** The mesh [478*3] (Float64Array, normalised crop coordinates, z relative) of pose [6] (yaw,
   * pitch, roll, log scale, tx, ty) and coefficients [k] (codec.shape ShapeModel.reconstruct). */
  reconstruct(pose, coeffs) {
    if (pose.length !== POSE_SIZE) throw new Error(`expected a pose of ${POSE_SIZE} values, got ${pose.length}`);
    const shape = this.shape(coeffs);
    const r = rotationMatrix(pose[0], pose[1], pose[2]);
    const scale = Math.exp(pose[3]);
    const out = new Float64Array(NUM_POINTS * 3);
    for (let i = 0; i < out.length; i += 3) {
      const x = scale * shape[i], y = scale * shape[i + 1], z = scale * shape[i + 2];
      for (let a = 0; a < 3; a++) out[i + a] = x * r[3 * a] + y * r[3 * a + 1] + z * r[3 * a + 2];
      out[i] += pose[4];
      out[i + 1] += pose[5];
    }
    return out;
  }

  /** Coefficients [k] (Float64Array) of a pose-free shape [478*3]: the weighted projection. */
  project(normalised) {
    const out = new Float64Array(this.k);
    const d = new Float64Array(NUM_POINTS * 3);
    for (let i = 0; i < NUM_POINTS; i++) {
      const w = this.weight[i];
      for (let c = 0; c < 3; c++) d[3 * i + c] = (normalised[3 * i + c] - this.mean[3 * i + c]) * w;
    }
    const size = NUM_POINTS * 3;
    for (let k = 0; k < this.k; k++) {
      let s = 0;
      const base = k * size;
      for (let j = 0; j < size; j++) s += this.basis[base + j] * d[j];
      out[k] = s;
    }
    return out;
  }
}

/** The head rotation [9] (row-major; template frame -> camera frame) Rz(roll) · Ry(-yaw) ·
 * Rx(-pitch), as codec.shape.rotation_matrix. */
export function rotationMatrix(yaw, pitch, roll) {
  const cy = Math.cos(-yaw), sy = Math.sin(-yaw), cp = Math.cos(-pitch), sp = Math.sin(-pitch);
  const cr = Math.cos(roll), sr = Math.sin(roll);
  const mul = (a, b) => Array.from({ length: 9 }, (_, n) => {
    const i = Math.floor(n / 3), j = n % 3;
    return a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
  });
  const rz = [cr, -sr, 0, sr, cr, 0, 0, 0, 1];
  const ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const rx = [1, 0, 0, 0, cp, -sp, 0, sp, cp];
  return mul(mul(rz, ry), rx);
}

// --- a similarity (Umeyama 1991), as sender/pose.py fit_similarity ----------------------------

/** Eigen-decomposition of a symmetric 3x3 (row-major array of 9) by Jacobi rotations:
 * {values [3], vectors: row-major 3x3 whose COLUMNS are the eigenvectors}. */
export function symmetricEigen3(a) {
  const m = Array.from(a);
  const v = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  for (let sweep = 0; sweep < 60; sweep++) {
    const off = m[1] * m[1] + m[2] * m[2] + m[5] * m[5];
    if (off < 1e-300) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      const apq = m[3 * p + q];
      if (Math.abs(apq) < 1e-300) continue;
      const app = m[3 * p + p], aqq = m[3 * q + q];
      const theta = (aqq - app) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < 3; k++) { // m <- m J (columns p, q)
        const mkp = m[3 * k + p], mkq = m[3 * k + q];
        m[3 * k + p] = c * mkp - s * mkq;
        m[3 * k + q] = s * mkp + c * mkq;
      }
      for (let k = 0; k < 3; k++) { // m <- J^T m (rows p, q)
        const mpk = m[3 * p + k], mqk = m[3 * q + k];
        m[3 * p + k] = c * mpk - s * mqk;
        m[3 * q + k] = s * mpk + c * mqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[3 * k + p], vkq = v[3 * k + q];
        v[3 * k + p] = c * vkp - s * vkq;
        v[3 * k + q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: [m[0], m[4], m[8]], vectors: v };
}

const det3 = (r) => r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);

/** Singular values (descending) and U, V (row-major, columns the singular vectors) of a 3x3. */
export function svd3(a) {
  const ata = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) ata[3 * i + j] += a[3 * k + i] * a[3 * k + j];
  const { values, vectors } = symmetricEigen3(ata);
  const order = [0, 1, 2].sort((x, y) => values[y] - values[x]);
  const sigma = order.map((i) => Math.sqrt(Math.max(values[i], 0)));
  const V = new Array(9), U = new Array(9);
  // σ_j = |A v_j| (more precise than sqrt of A^T A's eigenvalue for the small ones)
  order.forEach((src, dst) => { for (let k = 0; k < 3; k++) V[3 * k + dst] = vectors[3 * k + src]; });
  for (let j = 0; j < 3; j++) {
    const col = [0, 1, 2].map((i) => a[3 * i] * V[j] + a[3 * i + 1] * V[3 + j] + a[3 * i + 2] * V[6 + j]);
    let norm = Math.hypot(...col);
    sigma[j] = norm;
    if (j === 2 && norm <= 1e-12 * sigma[0]) { // rank 2: complete U with the cross product
      const u0 = [U[0], U[3], U[6]], u1 = [U[1], U[4], U[7]];
      col[0] = u0[1] * u1[2] - u0[2] * u1[1]; col[1] = u0[2] * u1[0] - u0[0] * u1[2]; col[2] = u0[0] * u1[1] - u0[1] * u1[0];
      norm = Math.hypot(...col);
    }
    for (let i = 0; i < 3; i++) U[3 * i + j] = col[i] / (norm || 1);
  }
  return { U, sigma, V };
}

/** The least-squares similarity taking source [N*3] onto target [N*3] (flat, Float64):
 * {scale, rotation: row-major 3x3, translation [3]} with target ≈ scale · R · source + t. */
export function fitSimilarity(source, target) {
  const n = source.length / 3;
  const ms = [0, 0, 0], mt = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) { ms[c] += source[3 * i + c]; mt[c] += target[3 * i + c]; }
  for (let c = 0; c < 3; c++) { ms[c] /= n; mt[c] /= n; }
  const cov = new Array(9).fill(0);
  let variance = 0;
  for (let i = 0; i < n; i++) {
    const s = [0, 1, 2].map((c) => source[3 * i + c] - ms[c]);
    const t = [0, 1, 2].map((c) => target[3 * i + c] - mt[c]);
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) cov[3 * a + b] += t[a] * s[b];
    variance += s[0] * s[0] + s[1] * s[1] + s[2] * s[2];
  }
  for (let k = 0; k < 9; k++) cov[k] /= n;
  variance /= n;
  const { U, sigma, V } = svd3(cov);
  const uvt = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) uvt[3 * i + j] += U[3 * i + k] * V[3 * j + k];
  const d = [1, 1, Math.sign(det3(uvt)) || 1];
  const rotation = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) rotation[3 * i + j] += U[3 * i + k] * d[k] * V[3 * j + k];
  const scale = variance > 0 ? (sigma[0] * d[0] + sigma[1] * d[1] + sigma[2] * d[2]) / variance : 1;
  const translation = [0, 1, 2].map((i) => mt[i] - scale * (rotation[3 * i] * ms[0] + rotation[3 * i + 1] * ms[1] + rotation[3 * i + 2] * ms[2]));
  return { scale, rotation, translation };
}

/** Maps template-frame points [N*3] into the observed frame. */
export function applySimilarity(sim, points) {
  const out = new Float64Array(points.length);
  const r = sim.rotation;
  for (let i = 0; i < points.length; i += 3) {
    for (let a = 0; a < 3; a++) {
      out[i + a] = sim.scale * (r[3 * a] * points[i] + r[3 * a + 1] * points[i + 1] + r[3 * a + 2] * points[i + 2]) + sim.translation[a];
    }
  }
  return out;
}

/** (yaw, pitch, roll) of a rotation, as codec.shape.angles_from_rotation. */
export function anglesFromRotation(r) {
  const yaw = Math.asin(Math.min(1, Math.max(-1, r[6])));
  const pitch = -Math.atan2(r[7], r[8]);
  const roll = Math.atan2(r[3], r[0]);
  return [yaw, pitch, roll];
}

/** Picks rows [indices] of a flat [N*3] array, as Float64. */
export function rows(points, indices) {
  const out = new Float64Array(indices.length * 3);
  indices.forEach((idx, i) => { out[3 * i] = points[3 * idx]; out[3 * i + 1] = points[3 * idx + 1]; out[3 * i + 2] = points[3 * idx + 2]; });
  return out;
}

export class ShapeFitter {
  /** The sender's fit (sender/shape.py ShapeFitter) with the model's first k coefficients. */
  constructor(model, k = null) {
    this.model = k === null ? model : model.truncated(k);
    this.rigidMean = rows(Float64Array.from(this.model.mean), Array.from(this.model.rigid));
  }

  /** landmarks [478*3] (normalised crop coordinates) -> {pose [6] Float64, coeffs [k] Float64}. */
  fit(landmarks) {
    if (landmarks.length !== NUM_POINTS * 3) throw new Error(`expected a mesh of ${NUM_POINTS} points`);
    for (const v of landmarks) if (!Number.isFinite(v)) throw new Error('mesh points must be finite');
    const sim = fitSimilarity(this.rigidMean, rows(landmarks, Array.from(this.model.rigid)));
    const [yaw, pitch, roll] = anglesFromRotation(sim.rotation);
    const pose = Float64Array.of(yaw, pitch, roll, Math.log(sim.scale), sim.translation[0], sim.translation[1]);
    const r = sim.rotation, t = sim.translation;
    const normalised = new Float64Array(NUM_POINTS * 3); // (p - t) @ R / s
    for (let i = 0; i < NUM_POINTS; i++) {
      const p = [0, 1, 2].map((c) => landmarks[3 * i + c] - t[c]);
      for (let j = 0; j < 3; j++) normalised[3 * i + j] = (p[0] * r[j] + p[1] * r[3 + j] + p[2] * r[6 + j]) / sim.scale;
    }
    return { pose, coeffs: this.model.project(normalised) };
  }

  /** The driving record of a shape field set: {pose: Float32Array(6), shape: Float32Array(k)}. */
  record(landmarks) {
    const { pose, coeffs } = this.fit(landmarks);
    return { pose: Float32Array.from(pose), shape: Float32Array.from(coeffs) };
  }
}
