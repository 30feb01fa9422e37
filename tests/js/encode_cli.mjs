// Encode records in Node for tests/test_js_codec.py: node tests/js/encode_cli.mjs IN.json OUT.json
// IN: {fields, mode, tables (path), fps, records [{field: base64 float32}], timestamps, intra_requests}
// OUT: {packets: [hex]}
import { readFileSync, writeFileSync } from 'node:fs';

import { FieldSet, StreamEncoder } from '../../frontal/web/codec/index.js';
import { hex, loadTables, record } from './helpers.mjs';

const [input, output] = process.argv.slice(2);
const job = JSON.parse(readFileSync(input, 'utf8'));
const enc = new StreamEncoder(FieldSet.fromDict(job.fields), loadTables(job.tables), { mode: job.mode, fps: job.fps });
const packets = job.records.map((r, k) => {
  if (job.intra_requests.includes(k)) enc.requestIntra();
  return hex(enc.encode(record(r), job.timestamps[k]).packet);
});
writeFileSync(output, JSON.stringify({ packets }));
