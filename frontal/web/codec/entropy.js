// Entropy coding (codec/entropy.py): symbols of integer frequency tables and uniform symbols,
// range coded, the stream's words written big-endian and its trailing bytes trimmed.
//
// Termination, as codec/entropy.py: `Encoder.finish` drops trailing bytes for as long as the stream,
// re-padded by the decoder (0xFF up to a whole word, then nothing), still decodes to the same
// symbols; the search starts from the information content (`infoBits`) exactly as Python's does.

import { CodecError } from './errors.js';
import { CategoricalModel, RangeDecoder, RangeEncoder, UniformModel } from './rangecoder.js';

/** Integer frequencies -> float64 probabilities f / sum(f) (exact IEEE division, as numpy). */
export function probabilities(freqs) {
  let total = 0;
  for (const f of freqs) {
    if (!Number.isInteger(f) || f <= 0) throw new CodecError('probability table has a zero or negative frequency');
    total += f;
  }
  return Float64Array.from(freqs, (f) => f / total);
}

/** A stack of integer frequency tables [n][A]: their probabilities and Categorical models. */
export class TableSet {
  constructor(freqs) {
    const rows = Array.isArray(freqs[0]) ? freqs : [freqs];
    this.probs = rows.map((row) => probabilities(row));
    this.models = this.probs.map((p) => new CategoricalModel(p));
    this.alphabet = rows[0].length;
  }
}

const uniformCache = new Map();
/** constriction's Uniform(size), cached. */
export function uniformModel(size) {
  let model = uniformCache.get(size);
  if (model === undefined) {
    model = new UniformModel(size);
    uniformCache.set(size, model);
  }
  return model;
}

/** numpy's pairwise float64 sum (`np.add.reduce` over a contiguous 1-D array). */
export function numpySum(values) {
  const pairwise = (start, n) => {
    if (n < 8) {
      let res = 0;
      for (let i = 0; i < n; i++) res += values[start + i];
      return res;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(values[start + j]);
      let i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (let j = 0; j < 8; j++) r[j] += values[start + i + j];
      }
      let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += values[start + i];
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return pairwise(start, n2) + pairwise(start + n2, n - n2);
  };
  return pairwise(0, values.length);
}

/** Collects symbols (each with its model) and produces the trimmed bytes. */
export class Encoder {
  constructor() {
    this.symbols = [];
    this.models = [];
  }

  /** One symbol with its categorical model (a CategoricalModel). */
  categorical(symbol, model) {
    this.symbols.push(symbol);
    this.models.push(model);
  }

  uniform(value, size) {
    if (!Number.isInteger(value) || value < 0 || value >= size) throw new RangeError(`uniform value ${value} outside [0, ${size})`);
    this.symbols.push(value);
    this.models.push(uniformModel(size));
  }

  /** The coded bytes, trimmed; `infoBits` (if known) is where the search for the trim starts. */
  finish(infoBits = null) {
    if (this.symbols.length === 0) return new Uint8Array(0);
    const enc = new RangeEncoder();
    for (let i = 0; i < this.symbols.length; i++) enc.encode(this.symbols[i], this.models[i]);
    const words = enc.getCompressed();
    const full = new Uint8Array(words.length * 4);
    const view = new DataView(full.buffer);
    words.forEach((w, i) => view.setUint32(4 * i, w, false));

    const decodes = (n) => {
      try {
        const dec = new RangeDecoder(toWords(full.subarray(0, n)));
        for (let i = 0; i < this.symbols.length; i++) {
          if (dec.decode(this.models[i]) !== this.symbols[i]) return false;
        }
        return true;
      } catch {
        return false;
      }
    };

    let n = full.length;
    if (infoBits !== null && infoBits !== undefined) {
      let guess = Math.min(n, Math.max(0, Math.trunc(Math.ceil(infoBits / 8))));
      while (guess < n && !decodes(guess)) guess += 1;
      n = guess;
    }
    while (n > 0 && decodes(n - 1)) n -= 1;
    return full.slice(0, n);
  }
}

/** Bytes -> big-endian u32 words, the last word padded with 0xFF (no bytes: one 0xFFFFFFFF word). */
export function toWords(bytes) {
  const count = Math.max(1, Math.ceil(bytes.length / 4));
  const words = new Uint32Array(count);
  for (let w = 0; w < count; w++) {
    let word = 0;
    for (let k = 0; k < 4; k++) {
      const i = 4 * w + k;
      word = word * 256 + (i < bytes.length ? bytes[i] : 0xff);
    }
    words[w] = word;
  }
  return words;
}

/** Decodes symbols one at a time (their models may depend on what was decoded before). */
export class Decoder {
  constructor(bytes) {
    this.dec = new RangeDecoder(toWords(bytes));
  }

  symbol(model) {
    return this.dec.decode(model);
  }

  uniform(size) {
    return this.dec.decode(uniformModel(size));
  }
}
