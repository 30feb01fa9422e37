// constriction 0.5.0's queue range coder, bit for bit: `constriction.stream.queue.RangeEncoder` /
// `RangeDecoder` (Rust `DefaultRangeEncoder` / `DefaultRangeDecoder`: 32-bit words, a 64-bit
// state, models of 24-bit probability precision), and the two models codec/entropy.py codes with:
// `Categorical(probabilities, perfect=False)` and `Uniform(size)`.
//
// The state is 64 bits wide, so it is held in BigInts; the models' integer CDFs fit in Numbers.

import { CodecError } from './errors.js';

export const PRECISION = 24;
const TOTAL = 1 << PRECISION; // 2^24
const MASK64 = (1n << 64n) - 1n;
const WORD_MASK = 0xffffffffn;
const STATE_MAX = MASK64;
const ONE_WORD_RANGE = 1n << 32n; // State::one() << (State::BITS - Word::BITS)
const BIG_PRECISION = BigInt(PRECISION);

/**
 * A categorical model quantized as constriction's `ContiguousCategoricalEntropyModel::
 * from_floating_point_probabilities_fast` (and `LazyContiguousCategoricalEntropyModel`, which
 * gives the same CDF): `Categorical(p, perfect=False)`.
 *
 * With n = p.length, normalization = p[0] + p[1] + ... (f64, left to right) and
 * scale = (2^24 - n) / normalization, symbol i's left cumulative is
 * trunc((p[0] + ... + p[i-1]) * scale) + i (the sum again left to right), and the last symbol's
 * right cumulative is 2^24. Every symbol keeps a probability of at least 1 / 2^24 ("leaky").
 */
export class CategoricalModel {
  /** @param {ArrayLike<number>} probabilities float64 probabilities (need not be normalized) */
  constructor(probabilities) {
    const n = probabilities.length;
    if (n < 2 || n >= TOTAL - 1) throw new CodecError('categorical model: alphabet size out of range');
    let normalization = 0;
    for (let i = 0; i < n; i++) normalization += probabilities[i];
    if (!(normalization > 0) || !Number.isFinite(normalization) || normalization < 2.2250738585072014e-308) {
      throw new CodecError('categorical model: probabilities not normalizable');
    }
    const scale = (TOTAL - n) / normalization;
    const cdf = new Float64Array(n + 1); // integers < 2^25, exact
    let cumulative = 0;
    for (let i = 0; i < n; i++) {
      cdf[i] = Math.trunc(cumulative * scale) + i;
      cumulative += probabilities[i];
    }
    cdf[n] = TOTAL;
    for (let i = 0; i < n; i++) {
      if (!(cdf[i + 1] > cdf[i])) throw new CodecError('categorical model: probabilities not normalizable');
    }
    this.cdf = cdf;
    this.size = n;
  }

  /** [left cumulative, probability] of `symbol`, or null if it is outside the alphabet. */
  leftCumulativeAndProbability(symbol) {
    if (!Number.isInteger(symbol) || symbol < 0 || symbol >= this.size) return null;
    return [this.cdf[symbol], this.cdf[symbol + 1] - this.cdf[symbol]];
  }

  /** [symbol, left cumulative, probability] of the symbol whose interval holds `quantile`. */
  quantileFunction(quantile) {
    // The largest i with cdf[i] <= quantile (binary search over cdf[0..n-1], as constriction).
    const cdf = this.cdf;
    let lo = 0;
    let hi = this.size - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cdf[mid] <= quantile) lo = mid;
      else hi = mid - 1;
    }
    return [lo, cdf[lo], cdf[lo + 1] - cdf[lo]];
  }
}

/** constriction's `UniformModel<u32, 24>`: `Uniform(size)`, symbols 0..size-1. */
export class UniformModel {
  constructor(size) {
    if (!Number.isInteger(size) || size < 2 || size > TOTAL) throw new CodecError(`uniform model: size ${size} out of range`);
    this.size = size;
    this.perBin = Math.floor(TOTAL / size);
    this.last = size - 1;
  }

  leftCumulativeAndProbability(symbol) {
    if (!Number.isInteger(symbol) || symbol < 0 || symbol > this.last) return null;
    const left = symbol * this.perBin;
    return [left, symbol < this.last ? this.perBin : TOTAL - left];
  }

  quantileFunction(quantile) {
    const guess = Math.floor(quantile / this.perBin);
    if (guess < this.last) return [guess, guess * this.perBin, this.perBin];
    const left = this.last * this.perBin;
    return [this.last, left, TOTAL - left];
  }
}

/** The queue range encoder (`RangeEncoder<u32, u64>`). */
export class RangeEncoder {
  constructor() {
    this.bulk = []; // u32 words (Numbers)
    this.lower = 0n;
    this.range = STATE_MAX;
    this.inverted = 0; // EncoderSituation::Inverted(num_inverted, first_word) when > 0
    this.firstInverted = 0n;
  }

  /** Encode `symbol` with `model` (a CategoricalModel or UniformModel). */
  encode(symbol, model) {
    const lp = model.leftCumulativeAndProbability(symbol);
    if (lp === null) throw new CodecError(`cannot encode symbol ${symbol}: outside the model's alphabet`);
    const scale = this.range >> BIG_PRECISION;
    this.range = scale * BigInt(lp[1]);
    if (this.range === 0n) throw new CodecError('cannot encode an impossible symbol');
    const newLower = (this.lower + scale * BigInt(lp[0])) & MASK64;
    if (this.inverted > 0 && ((newLower + this.range) & MASK64) > newLower) {
      let first;
      let consecutive;
      if (newLower < this.lower) {
        first = (this.firstInverted + 1n) & WORD_MASK;
        consecutive = 0n;
      } else {
        first = this.firstInverted;
        consecutive = WORD_MASK;
      }
      this.bulk.push(Number(first));
      for (let k = 1; k < this.inverted; k++) this.bulk.push(Number(consecutive));
      this.inverted = 0;
    }
    this.lower = newLower;
    if (this.range < ONE_WORD_RANGE) {
      this.range <<= 32n;
      const lowerWord = this.lower >> 32n;
      this.lower = (this.lower << 32n) & MASK64;
      if (this.inverted > 0) {
        this.inverted += 1;
      } else if (((this.lower + this.range) & MASK64) > this.lower) {
        this.bulk.push(Number(lowerWord));
      } else {
        this.inverted = 1;
        this.firstInverted = lowerWord;
      }
    }
  }

  /** The compressed words, sealed as `get_compressed()` seals them (the encoder stays usable). */
  getCompressed() {
    const out = this.bulk.slice();
    if (this.range === STATE_MAX) return out;
    const point = (this.lower + (ONE_WORD_RANGE - 1n)) & MASK64;
    if (this.inverted > 0) {
      let first;
      let consecutive;
      if (point >= this.lower) {
        first = this.firstInverted;
        consecutive = WORD_MASK;
      } else {
        first = (this.firstInverted + 1n) & WORD_MASK;
        consecutive = 0n;
      }
      out.push(Number(first));
      for (let k = 1; k < this.inverted; k++) out.push(Number(consecutive));
    }
    const pointWord = point >> 32n;
    const upperWord = ((this.lower + this.range) & MASK64) >> 32n;
    out.push(Number(pointWord));
    if (upperWord === pointWord) out.push(0);
    return out;
  }
}

/** The queue range decoder (`RangeDecoder<u32, u64>`) over an array of u32 words. */
export class RangeDecoder {
  /** @param {ArrayLike<number>} words */
  constructor(words) {
    this.words = words;
    this.pos = 0;
    this.lower = 0n;
    this.range = STATE_MAX;
    let point = 0n;
    let read = 0;
    while (read < 2 && this.pos < words.length) {
      point = (point << 32n) | BigInt(words[this.pos++] >>> 0);
      read += 1;
    }
    if (read === 1) point <<= 32n;
    this.point = point;
  }

  /** Decode one symbol with `model`; CodecError if the data cannot have come from an encoder. */
  decode(model) {
    const scale = this.range >> BIG_PRECISION;
    const quantile = ((this.point - this.lower) & MASK64) / scale;
    if (quantile >= BigInt(TOTAL)) throw new CodecError('entropy decoding failed: invalid compressed data');
    const [symbol, left, probability] = model.quantileFunction(Number(quantile));
    this.lower = (this.lower + scale * BigInt(left)) & MASK64;
    this.range = scale * BigInt(probability);
    if (this.range < ONE_WORD_RANGE) {
      this.lower = (this.lower << 32n) & MASK64;
      this.range <<= 32n;
      this.point = (this.point << 32n) & MASK64;
      if (this.pos < this.words.length) this.point |= BigInt(this.words[this.pos++] >>> 0);
    }
    return symbol;
  }
}
