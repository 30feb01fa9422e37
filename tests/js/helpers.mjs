// Shared by the JavaScript codec's tests: the golden data Python wrote, and the shipped tables.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FieldSet, Tables } from '../../frontal/web/codec/index.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** FRONTAL_JS_GOLDEN (written by tests/test_js_codec.py), else the committed tests/expected/js/golden.json. */
export function loadGolden() {
  const path = process.env.FRONTAL_JS_GOLDEN || join(REPO, 'tests', 'expected', 'js', 'golden.json');
  return JSON.parse(readFileSync(path, 'utf8'));
}

const tablesCache = new Map();
/** A tables file of codec/tables/ by name (or an absolute path). */
export function loadTables(name) {
  if (!tablesCache.has(name)) {
    const path = name.startsWith('/') ? name : join(REPO, 'codec', 'tables', name);
    tablesCache.set(name, new Tables(JSON.parse(readFileSync(path, 'utf8')), path));
  }
  return tablesCache.get(name);
}

export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

/** float32 values from base64 little-endian bytes, as a Float32Array. */
export function f32(b64) {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** A golden record {field: base64} -> a record of flat number arrays. */
export function record(json) {
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, Array.from(f32(v))]));
}

export const fieldsOf = (c) => FieldSet.fromDict(c.fields);
