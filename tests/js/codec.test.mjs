// The JavaScript codec against streams written by codec/ (Python): same records, same bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  CodecError, CoderState, FrameCoder, MissingReference, Quantizer, StreamDecoder, StreamEncoder,
  decodeIntraRecord, encodeIntraRecord, wire,
} from '../../frontal/web/codec/index.js';
import { f32, fieldsOf, hex, loadGolden, loadTables, record, unhex } from './helpers.mjs';

const golden = loadGolden();

function outcomesOf(dec, packets) {
  return packets.map((p) => {
    try {
      const f = dec.decode(p);
      return { seq: f.seq, q: f.q };
    } catch (exc) {
      if (exc instanceof MissingReference) return { error: 'MissingReference' };
      if (exc instanceof CodecError) return { error: 'CodecError' };
      throw exc; // anything else is a bug: a bad packet must raise CodecError only
    }
  });
}

function assertOutcomes(actual, expected, label) {
  assert.equal(actual.length, expected.length, label);
  expected.forEach((e, k) => {
    if (e.error) assert.deepEqual(actual[k], { error: e.error }, `${label}: packet ${k}`);
    else {
      assert.equal(actual[k].seq, e.seq, `${label}: packet ${k} (${actual[k].error ?? ''})`);
      if (e.q) assert.deepEqual(actual[k].q, e.q, `${label}: packet ${k} levels`);
    }
  });
}

for (const c of golden.cases) {
  describe(c.name, () => {
    const fields = fieldsOf(c);
    const tables = loadTables(c.tables);
    const packets = c.packets.map(unhex);

    test('quantizes the records to the same levels', () => {
      const quant = new Quantizer(fields, c.mode);
      c.records.forEach((r, k) => assert.deepEqual(quant.quantize(record(r)), c.q[k], `frame ${k}`));
    });

    test('decodes Python\'s packets to the same levels and records', () => {
      const dec = new StreamDecoder(fields, tables);
      packets.forEach((p, k) => {
        const f = dec.decode(p);
        assert.deepEqual(f.q, c.q[k], `frame ${k}`);
        assert.equal(f.intra, c.intra[k]);
        assert.equal(f.timestamp_ms, c.timestamps[k] & 0xffff);
        for (const [name, b64] of Object.entries(c.decoded[k])) {
          assert.deepEqual(Array.from(f.record[name]), Array.from(f32(b64)), `frame ${k} ${name}`);
        }
      });
    });

    test('encodes the same records to the same bytes', () => {
      const enc = new StreamEncoder(fields, tables, { mode: c.mode, fps: c.fps });
      c.records.forEach((r, k) => {
        if (c.intra_requests.includes(k)) enc.requestIntra();
        const out = enc.encode(record(r), c.timestamps[k]);
        assert.equal(out.intra, c.intra[k], `frame ${k} intra`);
        assert.equal(hex(out.packet), c.packets[k], `frame ${k}`);
      });
    });

    test('encodes the same levels to the same payloads (frame coder alone)', () => {
      const coder = new FrameCoder(fields, tables, c.mode);
      const state = new CoderState();
      c.q.forEach((q, k) => {
        const payload = coder.encode(q, state, c.intra[k]);
        assert.equal(hex(payload), hex(wire.unpack(packets[k]).payload), `frame ${k}`);
      });
    });

    test('after a loss refuses inter frames until the next intra frame, as Python', () => {
      const lossy = packets.filter((_, k) => !c.lossy.drop.includes(k));
      assertOutcomes(outcomesOf(new StreamDecoder(fields, tables), lossy), c.lossy.outcomes, 'lossy');
    });

    test('refuses corrupt and truncated packets with CodecError, as Python', () => {
      for (const bad of c.corrupt) {
        const stream = packets.slice();
        stream[bad.index] = unhex(bad.packet);
        assertOutcomes(outcomesOf(new StreamDecoder(fields, tables), stream), bad.outcomes, bad.name);
      }
    });

    test('codes a record alone as a fresh intra payload (shape view records)', () => {
      const payload = encodeIntraRecord(fields, record(c.records[1]), c.mode, tables);
      assert.equal(hex(payload), c.intra_record.payload);
      const rec = decodeIntraRecord(fields, payload, c.mode, tables);
      const again = new Quantizer(fields, c.mode).quantize(Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, Array.from(v)])));
      assert.ok(again.every((v) => Number.isInteger(v)));
    });
  });
}

test('every kind of bad input raises CodecError (never a TypeError or a RangeError)', () => {
  const c = golden.cases[0];
  const fields = fieldsOf(c);
  const tables = loadTables(c.tables);
  const dec = new StreamDecoder(fields, tables);
  for (const data of [new Uint8Array(0), new Uint8Array(8), unhex('f1'), 'text', null, undefined, 42]) {
    assert.throws(() => dec.decode(data), CodecError);
  }
  // Random garbage with a valid header and CRC: CodecError or a decoded frame, nothing else.
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
  for (let k = 0; k < 200; k++) {
    const payload = Uint8Array.from({ length: rand() % 40 }, rand);
    const pkt = wire.pack({ seq: 0, timestamp_ms: 0, intra: true, mode: c.mode, dependency: 0, payload });
    try {
      new StreamDecoder(fields, tables).decode(pkt);
    } catch (exc) {
      assert.ok(exc instanceof CodecError, String(exc));
    }
  }
});
