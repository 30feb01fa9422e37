// Frame coders (codec/frame_coder.py): one quantized driving vector <-> one range-coded payload.
// Two modes, `paper` and `predictive`, both closed loop and integer-only in deciding which table
// codes a symbol; see the Python module's docstring for the formulas.

import { CodecError } from './errors.js';
import { Decoder, Encoder, TableSet, numpySum } from './entropy.js';
import { MODES } from './fields.js';
import { Quantizer } from './quant.js';

const K0 = 4; // weight (in elements) of the recent-frames activity against the current frame's
const A_CAP = 16 * 256; // cap on one element's normalised activity (q8)
const ONE = 256;

/** floor(a / b) of integers, exact (b > 0). */
function floorDiv(a, b) {
  let d = Math.floor(a / b);
  if (d * b > a) d -= 1;
  else if ((d + 1) * b <= a) d += 1;
  return d;
}

/** bisect_left / np.searchsorted(side='left'). */
function bisectLeft(arr, x) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What both ends remember between frames; reset by every intra frame. */
export class CoderState {
  constructor(prev = null, prev2 = null, activity = null) {
    this.prev = prev;
    this.prev2 = prev2;
    this.activity = activity;
  }

  copy() {
    return new CoderState(this.prev && this.prev.slice(), this.prev2 && this.prev2.slice(), this.activity && this.activity.slice());
  }
}

export class FrameCoder {
  constructor(fields, tables, mode = 'predictive') {
    if (!MODES.includes(mode)) throw new RangeError(`unknown mode '${mode}' (choose ${MODES.join(', ')})`);
    this.mode = mode;
    this.fields = fields;
    this.quantizer = new Quantizer(fields, mode);
    this.ft = tables.forFields(fields, mode);
    this.radius = tables.radius;
    this.escape = 2 * tables.radius + 1;
    this.groups = this.quantizer.groups;
    this.groupIndex = this.quantizer.groupIndex;
    this.maxima = this.quantizer.maxima;
    this.n = this.quantizer.size;
    this.ladder = tables.ladder_q8;
    this.buckets = tables._bucketSet ?? (tables._bucketSet = new TableSet(tables.bucket_freqs));
    if (!tables._paperSets) tables._paperSets = {};
    this.paperTables = {};
    for (const kind of ['inter', 'intra']) {
      this.paperTables[kind] = this.groups.map((g) => {
        const key = `${g.name}/${kind}`;
        if (!tables._paperSets[key]) tables._paperSets[key] = new TableSet(tables.paper[g.name][kind]);
        return tables._paperSets[key];
      });
    }
  }

  base(state, intra) {
    if (intra) return this.ft.layout;
    if (state.prev === null) throw new CodecError('inter frame without a decoded reference frame');
    if (this.mode === 'paper' || state.prev2 === null) return state.prev;
    const alpha = this.ft.alpha_q8;
    return state.prev.map((p, i) => {
      const step = Math.floor((alpha[i] * (p - state.prev2[i]) + 128) / 256);
      return Math.min(Math.max(p + step, 0), this.maxima[i]);
    });
  }

  activityOf(state, intra) {
    if (intra || state.activity === null) return new Array(this.groups.length).fill(ONE);
    return state.activity;
  }

  advance(state, q, aNorm, intra) {
    const act = this.activityOf(state, intra).slice();
    state.prev2 = intra ? null : state.prev;
    state.prev = q;
    if (intra || this.mode === 'paper') {
      state.activity = new Array(this.groups.length).fill(ONE);
      return;
    }
    this.groups.forEach((g, gi) => {
      const [s, e] = this.quantizer.slices[g.name];
      let sum = 0;
      for (let i = s; i < e; i++) sum += aNorm[i];
      const meanA = Math.floor(sum / g.size);
      act[gi] = Math.floor((3 * act[gi] + meanA) / 4);
    });
    state.activity = act;
  }

  /**
   * The symbols of one frame, walking its elements as both ends do. `next(i, model, base, m)`
   * returns the element's level q[i] (encoder: known; decoder: decoded with `model`).
   */
  walk(state, intra, next) {
    const base = this.base(state, intra);
    const q = new Array(this.n);
    const aNorm = new Array(this.n).fill(0);
    if (this.mode === 'paper') {
      const kind = intra ? 'intra' : 'inter';
      for (let i = 0; i < this.n; i++) {
        const ts = this.paperTables[kind][this.groupIndex[i]];
        q[i] = next(i, ts.models[0], ts.probs[0], base[i], 0);
      }
      return { q, aNorm };
    }
    const params = intra ? this.ft.intra : this.ft.inter;
    const coef = params.coef_q12;
    const mad = params.mad_q8;
    const act = this.activityOf(state, intra);
    const r = new Array(this.n).fill(0);
    const nBuckets = this.ladder.length;
    let sRun = 0;
    let nRun = 0;
    let giPrev = -1;
    for (let i = 0; i < this.n; i++) {
      const gi = this.groupIndex[i];
      if (gi !== giPrev) {
        sRun = 0;
        nRun = 0;
        giPrev = gi;
      }
      let m = 0;
      if (i) {
        let dot = 0;
        const row = coef[i];
        for (let j = 0; j < i; j++) dot += row[j] * r[j];
        m = Math.floor((dot + 2048) / 4096);
      }
      const aI = Math.floor((act[gi] * K0 + sRun) / (K0 + nRun));
      const scale = Math.floor((mad[i] * aI) / 256);
      const b = Math.min(bisectLeft(this.ladder, scale), nBuckets - 1);
      const qi = next(i, this.buckets.models[b], this.buckets.probs[b], base[i], m);
      const e = qi - base[i] - m;
      r[i] = qi - base[i];
      q[i] = qi;
      const a = Math.min(floorDiv(Math.abs(e) * 65536, mad[i]), A_CAP);
      aNorm[i] = a;
      sRun += a;
      nRun += 1;
    }
    return { q, aNorm };
  }

  /** Code `q` (integer levels); updates `state` as the decoder will. Returns the payload bytes. */
  encode(q, state, intra) {
    if (q.length !== this.n || q.some((v, i) => !Number.isInteger(v) || v < 0 || v > this.maxima[i])) {
      throw new RangeError('quantized vector has the wrong size or out-of-range values');
    }
    const R = this.radius;
    const enc = new Encoder();
    const info = new Array(this.n);
    const { aNorm } = this.walk(state, intra, (i, model, probs, base, m) => {
      const value = q[i] - base - m;
      const escaped = Math.abs(value) > R;
      const symbol = escaped ? this.escape : value + R;
      enc.categorical(symbol, model);
      info[i] = -Math.log2(probs[symbol]);
      if (escaped) {
        enc.uniform(q[i], this.maxima[i] + 1);
        info[i] += Math.log2(this.maxima[i] + 1);
      }
      return q[i];
    });
    const payload = enc.finish(numpySum(info));
    this.advance(state, q.slice(), aNorm, intra);
    return payload;
  }

  /** Decode one payload; updates `state`. CodecError on any inconsistency. */
  decode(payload, state, intra) {
    const dec = new Decoder(payload);
    const R = this.radius;
    const { q, aNorm } = this.walk(state, intra, (i, model, probs, base, m) => {
      const s = dec.symbol(model);
      return s === this.escape ? dec.uniform(this.maxima[i] + 1) : base + m + s - R;
    });
    for (let i = 0; i < this.n; i++) {
      if (q[i] < 0 || q[i] > this.maxima[i]) throw new CodecError('decoded values out of range (corrupt payload or wrong reference)');
    }
    this.advance(state, q, aNorm, intra);
    return q;
  }
}
