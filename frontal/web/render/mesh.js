// The mesh geometry the renderer needs (receiver/mesh.py): points in pixel index coordinates,
// triangle corners, facing, painter's order, barycentric inverses, openness of the eyes and the
// mouth, the similarity the background follows. Points are flat Float64Array [N*3] (x, y, z per
// point; x right, y down, z away from the camera, in pixels), corners Float64Array [T*6].

import { EYE_LIDS, INNER_LIPS, MESH_POINTS, Region } from './topology.js';

const f32 = Math.fround;

/** receiver.mesh.to_pixels: the tracker's normalised crop coordinates [N*3] -> pixel index
 * coordinates of a `size` x `size` crop, rounded to float32 as Python stores them. */
export function toPixels(landmarks, size) {
  const half = 0.5 * size;
  const out = new Float64Array(landmarks.length);
  for (let i = 0; i < landmarks.length; i += 3) {
    out[i] = f32((landmarks[i] + 1.0) * half - 0.5);
    out[i + 1] = f32((landmarks[i + 1] + 1.0) * half - 0.5);
    out[i + 2] = f32(landmarks[i + 2] * half);
  }
  return out;
}

/** receiver.atlas.check_points: the first 468 points of [N >= 468 points * 3], finite. */
export function checkPoints(points) {
  if (!(points && points.length >= MESH_POINTS * 3 && points.length % 3 === 0)) {
    throw new Error(`expected mesh points [>= ${MESH_POINTS}, 3], got ${points ? points.length : 'none'} values`);
  }
  const out = Float64Array.from(points.subarray ? points.subarray(0, MESH_POINTS * 3) : points.slice(0, MESH_POINTS * 3));
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) throw new Error('mesh points must be finite');
  return out;
}

/** The triangles' (x, y) corners [T*6] of `points`. */
export function cornersOf(points, triangles, out = new Float64Array((triangles.length / 3) * 6)) {
  for (let c = 0; c < triangles.length; c++) {
    out[2 * c] = points[3 * triangles[c]];
    out[2 * c + 1] = points[3 * triangles[c] + 1];
  }
  return out;
}

/** receiver.mesh.signed_areas of corners [T*6] (positive: facing the camera). */
export function signedAreas(corners, out = new Float64Array(corners.length / 6)) {
  for (let t = 0; t < out.length; t++) {
    const o = 6 * t;
    const e1x = corners[o + 2] - corners[o], e1y = corners[o + 3] - corners[o + 1];
    const e2x = corners[o + 4] - corners[o], e2y = corners[o + 5] - corners[o + 1];
    out[t] = 0.5 * (e1x * e2y - e1y * e2x);
  }
  return out;
}

/** receiver.mesh.facing: per triangle the cosine between its normal and the viewing direction,
 * in [0, 1] (0 for back-facing and degenerate triangles). */
export function facing(points, triangles, out = new Float64Array(triangles.length / 3)) {
  for (let t = 0; t < out.length; t++) {
    const a = 3 * triangles[3 * t], b = 3 * triangles[3 * t + 1], c = 3 * triangles[3 * t + 2];
    const ux = points[b] - points[a], uy = points[b + 1] - points[a + 1], uz = points[b + 2] - points[a + 2];
    const vx = points[c] - points[a], vy = points[c + 1] - points[a + 1], vz = points[c + 2] - points[a + 2];
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    const length = Math.sqrt(nx * nx + ny * ny + nz * nz);
    const cos = length > 1e-12 ? nz / length : 0;
    out[t] = Math.min(Math.max(cos, 0), 1);
  }
  return out;
}

/** receiver.mesh.painter_order: the kept triangles (keep: [T] truthy), farthest first by mean
 * depth, ties in index order. */
export function painterOrder(points, triangles, keep) {
  const n = keep.length;
  const depth = new Float64Array(n);
  const order = [];
  for (let t = 0; t < n; t++) {
    if (!keep[t]) continue;
    depth[t] = (points[3 * triangles[3 * t] + 2] + points[3 * triangles[3 * t + 1] + 2] + points[3 * triangles[3 * t + 2] + 2]) / 3;
    order.push(t);
  }
  order.sort((a, b) => depth[b] - depth[a]); // stable: ties keep index order, as numpy's stable argsort
  return Int32Array.from(order);
}

/** receiver.mesh.barycentric_inverses: per triangle the row-major 3x3 B with B (x, y, 1) = its
 * barycentric weights at (x, y); zeros for a degenerate triangle (|det| <= 1e-9). */
export function barycentricInverses(corners, out = new Float64Array((corners.length / 6) * 9)) {
  for (let t = 0; t < corners.length / 6; t++) {
    const o = 6 * t, m = 9 * t;
    const a = corners[o], b = corners[o + 2], c = corners[o + 4]; // x0 x1 x2
    const d = corners[o + 1], e = corners[o + 3], f = corners[o + 5]; // y0 y1 y2
    const det = a * (e - f) - b * (d - f) + c * (d - e);
    if (!(Math.abs(det) > 1e-9)) {
      out.fill(0, m, m + 9);
      continue;
    }
    out[m] = (e - f) / det; out[m + 1] = (c - b) / det; out[m + 2] = (b * f - c * e) / det;
    out[m + 3] = (f - d) / det; out[m + 4] = (a - c) / det; out[m + 5] = (c * d - a * f) / det;
    out[m + 6] = (d - e) / det; out[m + 7] = (b - a) / det; out[m + 8] = (a * e - b * d) / det;
  }
  return out;
}

/** numpy's pairwise summation (np.sum / np.mean of a contiguous float64 array). */
export function pairwiseSum(a, start = 0, n = a.length) {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[start + i];
    return s;
  }
  if (n <= 128) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => a[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    let s = (r[0] + r[1] + (r[2] + r[3])) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) s += a[start + i];
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** receiver.mesh.openness: lid gap / eye width, or inner lip gap / mouth width (0 for SKIN). */
export function openness(points, region) {
  if (region === Region.SKIN) return 0;
  const [a, b, pairs] = region === Region.MOUTH ? INNER_LIPS : EYE_LIDS[region === Region.RIGHT_EYE ? 'right' : 'left'];
  const ax = points[3 * b] - points[3 * a], ay = points[3 * b + 1] - points[3 * a + 1];
  const width = Math.hypot(ax, ay);
  if (width <= 1e-6) return 0;
  const gaps = pairs.map(([u, lo]) => Math.abs(ax * (points[3 * lo + 1] - points[3 * u + 1]) - ay * (points[3 * lo] - points[3 * u])) / width);
  return pairwiseSum(gaps) / gaps.length / width;
}

/** receiver.mesh.fit_similarity: the least-squares similarity taking the (x, y) of points
 * `src` [K*3] onto `dst` [K*3], as a row-major 2x3 affine matrix [6]. */
export function fitSimilarity(src, dst) {
  const k = src.length / 3;
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < k; i++) { msx += src[3 * i]; msy += src[3 * i + 1]; mdx += dst[3 * i]; mdy += dst[3 * i + 1]; }
  msx /= k; msy /= k; mdx /= k; mdy /= k;
  let variance = 0, a = 0, b = 0;
  for (let i = 0; i < k; i++) {
    const sx = src[3 * i] - msx, sy = src[3 * i + 1] - msy, dx = dst[3 * i] - mdx, dy = dst[3 * i + 1] - mdy;
    variance += sx * sx + sy * sy;
    a += sx * dx + sy * dy;
    b += sx * dy - sy * dx;
  }
  if (variance <= 1e-12) return [1, 0, mdx - msx, 0, 1, mdy - msy];
  a /= variance;
  b /= variance;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

/** cv2.invertAffineTransform of a row-major 2x3 matrix. */
export function invertAffine(m) {
  let d = m[0] * m[4] - m[1] * m[3];
  d = d !== 0 ? 1 / d : 0;
  const a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
  return [a11, a12, -a11 * m[2] - a12 * m[5], a21, a22, -a21 * m[2] - a22 * m[5]];
}
