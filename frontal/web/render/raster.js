// The three image operations the geometry renderer borrows from OpenCV, ported so that the page
// draws what receiver/atlas.py draws (same pixels for the same input, up to float rounding):
//
//   rasterize(ids, w, h, corners, order)    cv2.fillConvexPoly per triangle (1/16 px, LINE_8)
//   distanceTransform(src, w, h, out)       cv2.distanceTransform(src, cv2.DIST_L2, 3)
//   sampleBilinear(...)                     cv2.remap(..., cv2.INTER_LINEAR) at one point (1/32 px)
//
// Images are flat typed arrays, row-major, `w` x `h`, `stride` bytes per pixel. No allocation
// per pixel; the callers own every buffer.

/** numpy's rint / np.round / cvRound: to the nearest integer, ties to even. */
export function rint(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const XY_SHIFT = 16;
const XY_ONE = 1 << XY_SHIFT;
const HALF = XY_ONE >> 1;
const SHIFT = 4; // rasterize's corners: 1/16 pixel (receiver.mesh.rasterize: shift=4)
const UP = 1 << (XY_SHIFT - SHIFT);
const fix = (v) => Math.floor(v / XY_ONE); // int64 >> XY_SHIFT

/** cv2.fillConvexPoly's outline (OpenCV's Line2 with its clipLine): points in 1/65536 pixel. */
function line2(img, w, h, x1, y1, x2, y2, color) {
  const right = w * XY_ONE - 1, bottom = h * XY_ONE - 1;
  let c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8;
  let c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8;
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    if (c1 & 12) {
      const a = c1 < 8 ? 0 : bottom;
      x1 += Math.trunc(((a - y1) * (x2 - x1)) / (y2 - y1));
      y1 = a;
      c1 = (x1 < 0) + (x1 > right) * 2;
    }
    if (c2 & 12) {
      const a = c2 < 8 ? 0 : bottom;
      x2 += Math.trunc(((a - y2) * (x2 - x1)) / (y2 - y1));
      y2 = a;
      c2 = (x2 < 0) + (x2 > right) * 2;
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        const a = c1 === 1 ? 0 : right;
        y1 += Math.trunc(((a - x1) * (y2 - y1)) / (x2 - x1));
        x1 = a;
        c1 = 0;
      }
      if (c2) {
        const a = c2 === 1 ? 0 : right;
        y2 += Math.trunc(((a - x2) * (y2 - y1)) / (x2 - x1));
        x2 = a;
        c2 = 0;
      }
    }
  }
  if ((c1 | c2) !== 0) return;
  let dx = x2 - x1, dy = y2 - y1;
  const ax = Math.abs(dx), ay = Math.abs(dy);
  let ecount, xStep, yStep;
  if (ax > ay) {
    if (dx < 0) { [x1, x2] = [x2, x1]; [y1, y2] = [y2, y1]; dy = -dy; }
    yStep = Math.trunc((dy * XY_ONE) / (ax | 1));
    ecount = fix(x2 - x1);
  } else {
    if (dy < 0) { [x1, x2] = [x2, x1]; [y1, y2] = [y2, y1]; dx = -dx; }
    xStep = Math.trunc((dx * XY_ONE) / (ay | 1));
    ecount = fix(y2 - y1);
  }
  x1 += HALF;
  y1 += HALF;
  const put = (x, y) => { if (x >= 0 && x < w && y >= 0 && y < h) img[y * w + x] = color; };
  put(fix(x2 + HALF), fix(y2 + HALF));
  if (ax > ay) {
    let x = fix(x1);
    for (; ecount >= 0; ecount--, x++, y1 += yStep) put(x, fix(y1));
  } else {
    let y = fix(y1);
    for (; ecount >= 0; ecount--, y++, x1 += xStep) put(fix(x1), y);
  }
}

const edgeIdx = new Int32Array(2), edgeDi = new Int32Array(2), edgeYe = new Int32Array(2);
const edgeX = new Float64Array(2), edgeDx = new Float64Array(2);

/** OpenCV's FillConvexPoly (LINE_8, shift 4) of the polygon (vx[i], vy[i]) in 1/16 pixel, into
 * `img` (Int32Array w*h) with value `color`: the outline, then the scanlines between its edges. */
export function fillConvexPoly(img, w, h, vx, vy, color) {
  const npts = vx.length, delta = 1 << (SHIFT - 1);
  let imin = 0, xmin = vx[0], xmax = vx[0], ymin = vy[0], ymax = vy[0];
  let p0x = vx[npts - 1] * UP, p0y = vy[npts - 1] * UP;
  for (let i = 0; i < npts; i++) {
    if (vy[i] < ymin) { ymin = vy[i]; imin = i; }
    ymax = Math.max(ymax, vy[i]);
    xmax = Math.max(xmax, vx[i]);
    xmin = Math.min(xmin, vx[i]);
    const px = vx[i] * UP, py = vy[i] * UP;
    line2(img, w, h, p0x, p0y, px, py, color);
    p0x = px; p0y = py;
  }
  xmin = (xmin + delta) >> SHIFT;
  xmax = (xmax + delta) >> SHIFT;
  ymin = (ymin + delta) >> SHIFT;
  ymax = (ymax + delta) >> SHIFT;
  if (npts < 3 || xmax < 0 || ymax < 0 || xmin >= w || ymin >= h) return;
  ymax = Math.min(ymax, h - 1);
  edgeIdx[0] = edgeIdx[1] = imin;
  edgeYe[0] = edgeYe[1] = ymin;
  edgeDi[0] = 1;
  edgeDi[1] = npts - 1;
  edgeX[0] = edgeX[1] = -XY_ONE;
  edgeDx[0] = edgeDx[1] = 0;
  let edges = npts, y = ymin;
  do {
    for (let i = 0; i < 2; i++) {
      if (y < edgeYe[i]) continue;
      let idx0 = edgeIdx[i];
      const di = edgeDi[i];
      let idx = idx0 + di;
      if (idx >= npts) idx -= npts;
      for (; edges-- > 0;) {
        const ty = (vy[idx] + delta) >> SHIFT;
        if (ty > y) {
          const xs = vx[idx0] * UP, xe = vx[idx] * UP;
          edgeYe[i] = ty;
          edgeDx[i] = Math.trunc(((xe - xs) * 2 + (ty - y)) / (2 * (ty - y)));
          edgeX[i] = xs;
          edgeIdx[i] = idx;
          break;
        }
        idx0 = idx;
        idx += di;
        if (idx >= npts) idx -= npts;
      }
    }
    if (edges < 0) break;
    if (y >= 0) {
      const left = edgeX[0] > edgeX[1] ? 1 : 0;
      let xx1 = fix(edgeX[left] + HALF);
      let xx2 = fix(edgeX[1 - left] + HALF);
      if (xx2 >= 0 && xx1 < w) {
        if (xx1 < 0) xx1 = 0;
        if (xx2 >= w) xx2 = w - 1;
        img.fill(color, y * w + xx1, y * w + xx2 + 1);
      }
    }
    edgeX[0] += edgeDx[0];
    edgeX[1] += edgeDx[1];
  } while (++y <= ymax);
}

const triX = new Int32Array(3), triY = new Int32Array(3);

/** receiver.mesh.rasterize: which triangle owns each pixel. `ids` (Int32Array w*h) is set to -1,
 * then the triangles `order` (indices into `corners`, Float64Array [T*6]: x0 y0 x1 y1 x2 y2 in
 * pixel index coordinates) are drawn in that order, a later one over an earlier one. */
export function rasterize(ids, w, h, corners, order) {
  ids.fill(-1);
  for (let n = 0; n < order.length; n++) {
    const t = order[n], o = 6 * t;
    for (let k = 0; k < 3; k++) {
      triX[k] = rint(corners[o + 2 * k] * 16);
      triY[k] = rint(corners[o + 2 * k + 1] * 16);
    }
    fillConvexPoly(ids, w, h, triX, triY, t);
  }
  return ids;
}

const DT_A = Math.fround(0.955); // OpenCV's DIST_L2 3x3 chamfer: axial and diagonal steps
const DT_B = Math.fround(1.3693);
const FLT_MAX = 3.4028234663852886e38;

/** cv2.distanceTransform(src, cv2.DIST_L2, 3): per pixel the chamfer distance (steps 0.955 and
 * 1.3693, float32 sums as OpenCV's IPP path) to the nearest zero pixel of `src` (w*h, any typed
 * array); FLT_MAX everywhere when `src` has no zero. `out`: Float32Array w*h; `work`: Float32Array
 * (w+2)*(h+2) (allocated when not given). */
export function distanceTransform(src, w, h, out, work = new Float32Array((w + 2) * (h + 2))) {
  const W = w + 2, f = Math.fround;
  work.fill(FLT_MAX);
  for (let i = 0; i < h; i++) {
    let row = (i + 1) * W + 1;
    for (let j = 0; j < w; j++, row++) {
      if (src[i * w + j] === 0) { work[row] = 0; continue; }
      let t0 = f(work[row - W - 1] + DT_B);
      let t = f(work[row - W] + DT_A); if (t < t0) t0 = t;
      t = f(work[row - W + 1] + DT_B); if (t < t0) t0 = t;
      t = f(work[row - 1] + DT_A); if (t < t0) t0 = t;
      work[row] = t0;
    }
  }
  for (let i = h - 1; i >= 0; i--) {
    let row = (i + 1) * W + w;
    for (let j = w - 1; j >= 0; j--, row--) {
      let t0 = work[row];
      if (t0 > DT_A) {
        let t = f(work[row + W + 1] + DT_B); if (t < t0) t0 = t;
        t = f(work[row + W] + DT_A); if (t < t0) t0 = t;
        t = f(work[row + W - 1] + DT_B); if (t < t0) t0 = t;
        t = f(work[row + 1] + DT_A); if (t < t0) t0 = t;
        work[row] = t0;
      }
      out[i * w + j] = t0;
    }
  }
  return out;
}

export const BORDER_CONSTANT = 0; // outside the image: 0
export const BORDER_REPLICATE = 1; // outside the image: the nearest edge pixel

/** cv2.remap(src, ..., cv2.INTER_LINEAR) at the float32 position (mx, my): OpenCV's fixed point
 * (the position rounded to 1/32 pixel, weights in 1/1024, the sum rounded). Writes `channels`
 * bytes at dst[at..]; src is `w` x `h` with `stride` bytes per pixel. */
export function sampleBilinear(src, w, h, stride, channels, mx, my, border, dst, at) {
  const X = rint(mx * 32), Y = rint(my * 32);
  const sx = Math.floor(X / 32), sy = Math.floor(Y / 32);
  if (!(sx >= 0 && sx < w - 1 && sy >= 0 && sy < h - 1)) {
    sampleBorder(src, w, h, stride, channels, X, Y, border, dst, at);
    return;
  }
  const fx = X - 32 * sx, fy = Y - 32 * sy;
  const w00 = (32 - fx) * (32 - fy), w01 = fx * (32 - fy), w10 = (32 - fx) * fy, w11 = fx * fy;
  const p = (sy * w + sx) * stride, q = p + w * stride;
  for (let c = 0; c < channels; c++) {
    // (sum · 32 + 2^14) >> 15 of OpenCV's 1/32768 weights
    dst[at + c] = (src[p + c] * w00 + src[p + stride + c] * w01 + src[q + c] * w10 + src[q + stride + c] * w11 + 512) >> 10;
  }
}

/** sampleBilinear where a tap falls outside the image: BORDER_CONSTANT's 0 or BORDER_REPLICATE's edge. */
function sampleBorder(src, w, h, stride, channels, X, Y, border, dst, at) {
  const sx = Math.floor(X / 32), sy = Math.floor(Y / 32);
  const fx = X - 32 * sx, fy = Y - 32 * sy;
  const w00 = (32 - fx) * (32 - fy), w01 = fx * (32 - fy), w10 = (32 - fx) * fy, w11 = fx * fy;
  if (border === BORDER_CONSTANT) {
    if (sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0) {
      for (let c = 0; c < channels; c++) dst[at + c] = 0;
      return;
    }
    const x0ok = sx >= 0, x1ok = sx + 1 < w, y0ok = sy >= 0, y1ok = sy + 1 < h;
    const p = (sy * w + sx) * stride, q = p + w * stride;
    for (let c = 0; c < channels; c++) {
      const v = (x0ok && y0ok ? src[p + c] * w00 : 0) + (x1ok && y0ok ? src[p + stride + c] * w01 : 0)
        + (x0ok && y1ok ? src[q + c] * w10 : 0) + (x1ok && y1ok ? src[q + stride + c] * w11 : 0);
      dst[at + c] = (v + 512) >> 10;
    }
    return;
  }
  const x0 = Math.min(Math.max(sx, 0), w - 1), x1 = Math.min(Math.max(sx + 1, 0), w - 1);
  const y0 = Math.min(Math.max(sy, 0), h - 1), y1 = Math.min(Math.max(sy + 1, 0), h - 1);
  const p0 = y0 * w * stride, p1 = y1 * w * stride;
  for (let c = 0; c < channels; c++) {
    const v = src[p0 + x0 * stride + c] * w00 + src[p0 + x1 * stride + c] * w01
      + src[p1 + x0 * stride + c] * w10 + src[p1 + x1 * stride + c] * w11;
    dst[at + c] = (v + 512) >> 10;
  }
}
