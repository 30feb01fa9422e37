// Uniform scalar quantization of driving records to integer vectors, and back (codec/quant.py),
// with numpy's float64 arithmetic, rounding (np.rint: half to even) and float32 casts.
//
// A record is a plain object of flat number arrays: sup [2*n_sup] (x0, y0, x1, ...), unsup
// [2*n_unsup], jac [4*n_unsup], expr [n_expr], pose [6] (yaw, pitch, roll, log scale, tx, ty),
// shape [n_shape]; absent fields are omitted. Decoded records hold float32 values (Float32Array).
// (Hysteresis, a sender option of codec/quant.py, is not ported: the live sender does not use it.)

/** np.rint: round half to even. */
export function rint(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

function q(values, g) {
  const out = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = (values[i] - g.lo) / g.step;
    out[i] = Math.min(Math.max(rint(x), 0), g.levels);
  }
  return out;
}

function dq(levels, g) {
  return Float32Array.from(levels, (v) => g.lo + v * g.step); // .astype(float32)
}

export class Quantizer {
  constructor(fields, mode = 'paper') {
    this.fields = fields;
    this.mode = mode;
    this.groups = fields.groups(mode);
    this.slices = {};
    let start = 0;
    for (const g of this.groups) {
      this.slices[g.name] = [start, start + g.size];
      start += g.size;
    }
    this.size = start;
    this.maxima = [];
    this.groupIndex = [];
    this.groups.forEach((g, gi) => {
      for (let k = 0; k < g.size; k++) {
        this.maxima.push(g.levels);
        this.groupIndex.push(gi);
      }
    });
  }

  check(rec) {
    const f = this.fields;
    const expected = {
      sup: f.n_sup ? 2 * f.n_sup : 0,
      unsup: f.n_unsup ? 2 * f.n_unsup : 0,
      jac: f.jacobians ? 4 * f.n_unsup : 0,
      expr: f.n_expr,
      pose: f.n_shape ? 6 : 0,
      shape: f.n_shape,
    };
    for (const [name, size] of Object.entries(expected)) {
      if (!size) continue;
      const v = rec[name];
      if (v === undefined || v === null) throw new RangeError(`driving record lacks field '${name}' that the model declares`);
      if (v.length !== size) throw new RangeError(`driving field '${name}': expected ${size} values, found ${v.length}`);
      for (const x of v) if (!Number.isFinite(x)) throw new RangeError(`driving field '${name}' holds NaN or infinite values`);
    }
  }

  meanSource(rec) {
    if (this.fields.n_shape) return [rec.pose[4], rec.pose[5]];
    const pts = this.fields.n_sup ? rec.sup : rec.unsup;
    // np.mean(axis=0) of an [n, 2] float64 array: rows added in order, then divided by n.
    const n = pts.length / 2;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      sx += pts[2 * i];
      sy += pts[2 * i + 1];
    }
    return [sx / n, sy / n];
  }

  /** A record -> its integer vector (an Array of integers, laid out as `groups`). */
  quantize(rec) {
    this.check(rec);
    const out = new Array(this.size);
    const byName = Object.fromEntries(this.groups.map((g) => [g.name, g]));
    const meanQ = q(this.meanSource(rec), byName.mean);
    out[0] = meanQ[0];
    out[1] = meanQ[1];
    const mean = dq(meanQ, byName.mean);
    for (const g of this.groups.slice(1)) {
      let values;
      if (g.name === 'sup' || g.name === 'unsup') {
        const pts = rec[g.name];
        values = Array.from(pts, (v, i) => v - mean[i % 2]);
      } else if (g.name === 'pose') {
        values = Array.from(rec.pose).slice(0, 4);
      } else {
        values = Array.from(rec[g.name]);
      }
      const levels = q(values, g);
      const [s] = this.slices[g.name];
      for (let i = 0; i < levels.length; i++) out[s + i] = levels[i];
    }
    return out;
  }

  /** An integer vector -> the record the decoder shows (float32 arrays). */
  dequantize(qv) {
    const byName = Object.fromEntries(this.groups.map((g) => [g.name, g]));
    const [m0, m1] = this.slices.mean;
    const mean = dq(qv.slice(m0, m1), byName.mean);
    const rec = {};
    for (const g of this.groups.slice(1)) {
      const [s, e] = this.slices[g.name];
      const v = dq(qv.slice(s, e), g);
      if (g.name === 'sup' || g.name === 'unsup') {
        rec[g.name] = Float32Array.from(v, (x, i) => x + mean[i % 2]);
      } else if (g.name === 'pose') {
        rec.pose = Float32Array.from([...v, mean[0], mean[1]]);
      } else {
        rec[g.name] = v;
      }
    }
    return rec;
  }
}
