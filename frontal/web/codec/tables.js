// Probability tables and predictor coefficients (codec/tables.py): the same JSON files
// (codec/tables/default.json, codec/tables/shape.json), integers only, so the models both ends
// build from them are bit-identical.

import { CodecError } from './errors.js';
import { PAPER_BITS } from './fields.js';

export const TABLES_FORMAT = 'frontal-tables';
export const TABLES_VERSION = 1;

function intArray(a) {
  return Array.from(a, (v) => {
    if (!Number.isSafeInteger(v)) throw new TypeError('not an integer');
    return v;
  });
}

/** A loaded tables document (the parsed JSON of a tables file). */
export class Tables {
  constructor(doc, source = '<memory>') {
    if (doc === null || typeof doc !== 'object' || doc.format !== TABLES_FORMAT) throw new CodecError(`${source}: not a Frontal tables file`);
    if (doc.version !== TABLES_VERSION) throw new CodecError(`${source}: tables version ${doc.version} unsupported (expected ${TABLES_VERSION})`);
    this.doc = doc;
    this.source = source;
    try {
      this.radius = doc.radius;
      if (!Number.isInteger(this.radius) || this.radius < 1) throw new TypeError('radius');
      this.ladder_q8 = intArray(doc.ladder_q8);
      this.bucket_freqs = doc.bucket_freqs.map(intArray);
      this.paper = {};
      for (const [g, d] of Object.entries(doc.paper)) {
        this.paper[g] = {};
        for (const [k, v] of Object.entries(d)) this.paper[g][k] = Array.isArray(v[0]) ? v.map(intArray) : intArray(v);
      }
      this.defaults = {};
      for (const [g, d] of Object.entries(doc.defaults)) {
        this.defaults[g] = {};
        for (const [k, v] of Object.entries(d)) this.defaults[g][k] = v;
      }
      this.fieldsets = doc.fieldsets;
      if (typeof this.fieldsets !== 'object' || this.fieldsets === null) throw new TypeError('fieldsets');
    } catch (exc) {
      throw new CodecError(`${source}: malformed tables file (${exc.message})`);
    }
    const alphabet = 2 * this.radius + 2;
    if (this.bucket_freqs.length !== this.ladder_q8.length || this.bucket_freqs.some((r) => r.length !== alphabet)) {
      throw new CodecError(`${source}: bucket_freqs shape does not match the ladder and radius`);
    }
    this.cache = new Map();
  }

  /** The parameters for `fields` quantized as coding `mode` does (codec.tables.Tables.for_fields). */
  forFields(fields, mode = 'paper') {
    const key = `${fields.name}/${mode}`;
    if (!this.cache.has(key)) this.cache.set(key, this.build(fields, mode));
    return this.cache.get(key);
  }

  build(fields, mode) {
    const groups = fields.groups(mode);
    const missing = groups.filter((g) => !(g.name in this.defaults) || !(g.name in this.paper)).map((g) => g.name);
    if (missing.length) {
      throw new CodecError(`${this.source}: no tables for field group(s) ${missing.join(', ')} (a shape field set is coded with shape.json)`);
    }
    const n = groups.reduce((a, g) => a + g.size, 0);
    const sizes = groups.map((g) => g.size);
    const prefix = [];
    let best = null;
    let bestLen = 0;
    groups.forEach((g, i) => {
      prefix.push(groupKey(g, fields));
      const k = prefix.join('+');
      if (k in this.fieldsets) {
        best = this.fieldsets[k];
        bestLen = i + 1;
      }
    });
    const layout = [];
    for (const g of groups) for (let k = 0; k < g.size; k++) layout.push(Math.floor((g.levels + 1) / 2));
    const alpha = new Array(n).fill(0);
    const modes = {};
    for (const kind of ['inter', 'intra']) {
      const coef = Array.from({ length: n }, () => new Array(n).fill(0));
      const mad = [];
      for (const g of groups) for (let k = 0; k < g.size; k++) mad.push(this.defaults[g.name][`${kind}_mad_q8`]);
      modes[kind] = { coef_q12: coef, mad_q8: mad };
    }
    let fitted = [];
    if (best !== null) {
      const m = sizes.slice(0, bestLen).reduce((a, b) => a + b, 0);
      for (let i = 0; i < m; i++) {
        layout[i] = best.layout[i];
        alpha[i] = best.alpha_q8[i];
      }
      for (const kind of ['inter', 'intra']) {
        const flat = best[kind].coef_q12.flat(Infinity);
        if (flat.length !== m * m) throw new CodecError(`${this.source}: coef_q12 of ${kind} has ${flat.length} values, expected ${m * m}`);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < m; j++) modes[kind].coef_q12[i][j] = flat[i * m + j];
          modes[kind].mad_q8[i] = best[kind].mad_q8[i];
        }
      }
      fitted = groups.slice(0, bestLen).map((g) => g.name);
    }
    return { fields, layout, alpha_q8: alpha, inter: modes.inter, intra: modes.intra, fitted };
  }
}

/** e.g. 'sup33'; a depth other than the paper's is appended: 'unsup10q8' (codec.tables._group_key). */
export function groupKey(group, fields) {
  const key = {
    mean: 'mean', sup: `sup${fields.n_sup}`, unsup: `unsup${fields.n_unsup}`, jac: 'jac',
    expr: `expr${fields.n_expr}`, pose: 'pose', shape: `shape${fields.n_shape}`,
  }[group.name];
  return group.bits === PAPER_BITS[group.name][0] ? key : `${key}q${group.bits}`;
}

/** The shipped tables file that codes `fields`: 'shape.json' for a shape field set, else 'default.json'. */
export function tablesFileFor(fields) {
  return fields.n_shape ? 'shape.json' : 'default.json';
}

/** Fetch and load a tables file (in the page: from wherever the server serves codec/tables/). */
export async function fetchTables(url, fetchImpl = globalThis.fetch) {
  const resp = await fetchImpl(url);
  if (!resp.ok) throw new CodecError(`cannot read tables file ${url}: HTTP ${resp.status}`);
  let doc;
  try {
    doc = await resp.json();
  } catch (exc) {
    throw new CodecError(`${url}: not valid JSON (${exc.message})`);
  }
  return new Tables(doc, String(url));
}
