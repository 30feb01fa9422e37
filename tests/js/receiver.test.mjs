// The page's receiving half (frontal/web/peer/receiver.js) in Node: a PageSender-like stream of
// the committed shape records (tests/expected/js/golden.json) goes in as the driving channel would
// carry it; a fake renderer, image decoder and clock stand in for the page's.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FieldSet, StreamDecoder, StreamEncoder, encodeIntraRecord, messages, wire } from '../../frontal/web/codec/index.js';
import { PageReceiver, SeqCounter } from '../../frontal/web/peer/receiver.js';
import { loadGolden, loadTables, record } from './helpers.mjs';

const FIELDS = new FieldSet({ n_sup: 0, n_shape: 48 });
const TABLES = loadTables('shape.json');
const DIGEST = 'ab'.repeat(32);
const EPOCH = 1_700_000_000_000;
const RECORDS = loadGolden().cases.find((c) => c.name === 'shape-predictive').records.map(record);

function hello(extra = {}) {
  return messages.encodeControl({ type: 'hello', fps: 15, mode: 'predictive', frames_per_message: 2, epoch_ms: EPOCH,
    fields: { ...FIELDS.toDict(), shape_model: DIGEST }, ...extra });
}

/** A fake clock: `now` (local ms) and `wall` (Unix ms) advance together; timers run on `advance`. */
class Clock {
  constructor() { this.t = 0; this.timers = []; this.id = 0; }
  get api() {
    return { now: () => this.t, wallNow: () => EPOCH + this.t, set: (fn, ms) => { this.timers.push({ id: ++this.id, at: this.t + ms, fn }); return this.id; },
      clear: (id) => { this.timers = this.timers.filter((x) => x.id !== id); } };
  }
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}

class FakeRenderer {
  constructor() { this.views = []; this.rendered = []; }
  addViewRecord(image, rec) { this.views.push({ image, rec }); }
  render(rec) {
    this.rendered.push(rec);
    return { image: new Uint8ClampedArray(256 * 256 * 4) };
  }
}

function setup(options = {}) {
  const clock = new Clock();
  const renderer = new FakeRenderer();
  const sent = [];
  const drawn = [];
  const audio = [];
  const rx = new PageReceiver({ tables: TABLES, shapeModel: { k: 48 }, shapeModelDigest: DIGEST, renderer, timers: clock.api,
    sendControl: (t) => sent.push(t), onFrame: (img, info) => drawn.push(info), onAudio: (a, t) => audio.push([a, t]),
    decodeImage: async (bytes) => (bytes[0] === 0xee ? { data: new Uint8ClampedArray(4), width: 1, height: 1 }
      : { data: new Uint8ClampedArray(256 * 256 * 4), width: 256, height: 256 }), ...options });
  return { clock, renderer, sent, drawn, audio, rx };
}

/** Driving messages of 2 frames each, one frame per 66.7 ms, and the packets' decoded records. */
function stream(n, { intraRequests = [] } = {}) {
  const enc = new StreamEncoder(FIELDS, TABLES, { mode: 'predictive', fps: 15 });
  const dec = new StreamDecoder(FIELDS, TABLES);
  const packets = [];
  const expected = [];
  for (let i = 0; i < n; i++) {
    if (intraRequests.includes(i)) enc.requestIntra();
    const { packet } = enc.encode(RECORDS[i % RECORDS.length], Math.round(i * 1000 / 15));
    packets.push(packet);
    expected.push(dec.decode(packet).record);
  }
  const bundles = [];
  for (let i = 0; i < n; i += 2) bundles.push(messages.packDriving(packets.slice(i, i + 2)));
  return { bundles, expected, packets };
}

function view(index = 0, image = new Uint8Array([1, 2, 3, 4])) {
  return messages.viewMessages(index, 'webp', image, 0.1, -0.05, null, encodeIntraRecord(FIELDS, RECORDS[0], 'predictive', TABLES));
}

const flush = () => new Promise((r) => setImmediate(r));

test('a stream with a view is decoded, drawn in order, one frame period apart', async () => {
  const { clock, renderer, drawn, rx } = setup();
  assert.ok(rx.onControlText(hello()));
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  assert.equal(renderer.views.length, 1);
  assert.equal(rx.stats.views_received, 1);
  const { bundles, expected } = stream(20);
  const times = [];
  for (const b of bundles) {
    clock.advance(133);
    rx.onDriving(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); // an ArrayBuffer, as the channel gives
    times.push(clock.t);
  }
  clock.advance(500);
  const s = rx.snapshot();
  assert.equal(s.packets_decoded, 20);
  assert.equal(s.frames_rendered, 20);
  assert.equal(s.packets_bad + s.packets_unusable + s.packets_lost + s.frames_dropped_late, 0);
  assert.deepEqual(drawn.map((d) => d.seq), [...Array(20).keys()]);
  for (let i = 0; i < 20; i++) assert.deepEqual(Array.from(renderer.rendered[i].shape), Array.from(expected[i].shape));
  // the first frame of a message at once; the second 67 ms (its timestamp's distance) later
  assert.equal(renderer.rendered.length, 20);
  assert.ok(Math.abs(s.fps_rendered - 15) < 0.5, s.fps_rendered);
  // latency: capture (epoch + timestamp) to drawn, on the fake wall clock
  assert.equal(drawn[0].latencyMs, times[0] - 0);
  assert.equal(drawn[1].latencyMs, times[0] + 67 - 67);
});

test('frames before the first view are decoded but not drawn', () => {
  const { clock, rx } = setup();
  rx.onControlText(hello());
  for (const b of stream(4).bundles) { rx.onDriving(b); clock.advance(200); }
  assert.equal(rx.stats.packets_decoded, 4);
  assert.equal(rx.stats.frames_rendered, 0);
  assert.equal(rx.stats.frames_before_view, 4);
});

test('a frame due while a newer one is due is skipped, not queued', async () => {
  const { clock, rx, drawn } = setup();
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  const { bundles } = stream(6);
  for (const b of bundles) rx.onDriving(b); // all at once, no time for the timers
  clock.advance(1000);
  assert.equal(rx.stats.frames_rendered + rx.stats.frames_dropped_late, 6);
  assert.equal(drawn.at(-1).seq, 5);
});

test('losses: unusable frames, an intra request after 3 in a row, resync at the intra frame', async () => {
  const { clock, rx, sent } = setup();
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  const { packets } = stream(30, { intraRequests: [20] });
  const send = (list) => { rx.onDriving(messages.packDriving(list)); clock.advance(133); };
  for (let i = 0; i < 6; i += 2) send(packets.slice(i, i + 2));
  // frames 6..9 lost; 10..14 are refused (their chain is broken) until the periodic intra frame 15
  for (let i = 10; i < 20; i += 2) send(packets.slice(i, i + 2));
  assert.equal(rx.stats.packets_unusable, 5);
  assert.equal(rx.stats.intra_requests_sent, 1); // after 3 in a row; the next 2 do not reach 3
  assert.deepEqual(JSON.parse(sent[0]), { type: 'intra-request' });
  for (let i = 20; i < 30; i += 2) send(packets.slice(i, i + 2));
  assert.equal(rx.stats.packets_decoded, 6 + 5 + 10);
  assert.equal(rx.stats.packets_lost, 4);
  // a frame older than one decoded: late
  rx.onDriving(messages.packDriving(packets.slice(24, 26)));
  assert.equal(rx.stats.packets_late, 2);
});

test('bad messages are dropped and counted; nothing throws', async () => {
  const { clock, rx } = setup();
  rx.onDriving(stream(2).bundles[0]); // before the hello
  assert.equal(rx.stats.packets_unusable, 1);
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  const { bundles } = stream(40);
  let rng = 7;
  const rand = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let bad = 0;
  for (const [k, b] of bundles.entries()) {
    const m = Uint8Array.from(b);
    if (k % 3 === 1) { m[4 + Math.floor(rand() * (m.length - 4))] ^= 1 << Math.floor(rand() * 8); } // a payload bit flip
    rx.onDriving(m);
    clock.advance(133);
  }
  for (let i = 0; i < 300; i++) {
    const junk = Uint8Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
    rx.onDriving(junk);
    bad += 1;
  }
  rx.onDriving('text on the driving channel');
  rx.onDriving(new Uint8Array(0));
  rx.onControlText('{"type":"nonsense"}');
  rx.onControlText('not json');
  rx.onControlBinary(new Uint8Array([0xf5, 0, 0, 1, 9]));
  rx.onControlBinary(new Uint8Array([0xf7, 0]));
  clock.advance(1000);
  const s = rx.snapshot();
  // about 3 in 4 junk messages do not start like a bundle (0x40..0x7F) or speech (0xA0, 0xA1)
  assert.ok(s.packets_bad + s.audio_bad >= 150 + 2, s); // + the text and the empty message
  assert.equal(s.control_bad, 4);
  assert.ok(s.frames_rendered > 0);
  assert.ok(s.driving_messages_received === bundles.length + bad + 3);
});

test('a hello for another shape model, a landmark stream or too many coefficients is refused', () => {
  const problems = [];
  const { rx } = setup({ onProblem: (t) => problems.push(t) });
  assert.equal(rx.onControlText(hello({ fields: { ...FIELDS.toDict(), shape_model: 'cd'.repeat(32) } })), null);
  assert.equal(rx.onControlText(hello({ fields: { n_sup: 33, n_unsup: 0, jacobians: 0, n_expr: 0 } })), null);
  assert.equal(rx.onControlText(hello({ fields: { ...FIELDS.toDict(), n_shape: 64, shape_model: DIGEST } })), null);
  assert.equal(rx.stats.control_bad, 3);
  assert.match(problems[0], /shape model cdcdcdcdcdcd/);
  assert.match(problems[1], /--renderer mesh/);
  assert.equal(rx.hello, null);
});

test('a view that is not 256x256, or lacks its record, is refused', async () => {
  const { rx, renderer } = setup();
  rx.onControlText(hello());
  for (const m of view(0, new Uint8Array([0xee, 1]))) rx.onControlBinary(m);
  for (const m of messages.viewMessages(1, 'webp', new Uint8Array([1]), 0, 0, null, null)) rx.onControlBinary(m);
  await flush();
  assert.equal(renderer.views.length, 0);
  assert.equal(rx.stats.control_bad, 2);
});

test('speech messages go to onAudio, the bundle behind them is decoded', async () => {
  const { clock, rx, audio } = setup();
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  const { bundles } = stream(4);
  rx.onDriving(messages.packAudio(5, 300, [new Uint8Array([1, 2, 3])], bundles[0]));
  rx.onDriving(messages.packAudio(6, 340, [new Uint8Array([4])]));
  rx.onDriving(Uint8Array.from([0xa0, 0, 0, 0, 0])); // truncated
  clock.advance(200);
  assert.equal(audio.length, 2);
  assert.equal(audio[0][0].seq, 5);
  assert.equal(audio[0][1], EPOCH + 0);
  assert.equal(rx.stats.audio_bad, 1);
  assert.equal(rx.stats.packets_decoded, 2);
});

test('lip sync: extraDelayMs holds a frame until its capture time plus the delay', async () => {
  const { clock, rx, drawn } = setup();
  rx.extraDelayMs = () => 300;
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  clock.advance(100); // frame 0 (captured at 0) arrives at 100
  rx.onDriving(stream(2).bundles[0]);
  clock.advance(150);
  assert.equal(drawn.length, 0);
  clock.advance(100);
  assert.equal(drawn.length, 1);
  assert.equal(drawn[0].latencyMs, 300);
});

test('SeqCounter counts gaps across the 16-bit wrap', () => {
  const c = new SeqCounter();
  for (const s of [65530, 65531, 65534, 65535, 0, 3]) c.add(s);
  assert.equal(c.received, 6);
  assert.equal(c.lost, 4);
  assert.equal(c.highest, 65539);
  assert.equal(wire.MAX_DEPENDENCY > 0, true);
});

test('with the geometry renderer (render/index.js): a view and a stream become drawn frames', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { REPO } = await import('./helpers.mjs');
  const { ShapeModel } = await import('../../frontal/web/peer/shape.js');
  const { PageMeshRenderer, loadTopology } = await import('../../frontal/web/render/index.js');
  const model = ShapeModel.fromSafetensors(readFileSync(join(REPO, 'codec', 'shape_data', 'facemesh_shape.safetensors')));
  const topology = loadTopology(JSON.parse(readFileSync(join(REPO, 'receiver', 'mesh_data', 'facemesh.json'), 'utf8')));
  const renderer = new PageMeshRenderer({ topology, shapeModel: model });
  const { clock, drawn, rx } = setup({ renderer, shapeModel: model });
  const frames = [];
  rx.onFrame = (rgba, info) => { frames.push(rgba); drawn.push(info); };
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  assert.equal(rx.stats.views_received, 1, rx.stats.last_problem);
  for (const b of stream(6).bundles) { rx.onDriving(b); clock.advance(133); }
  clock.advance(200);
  assert.equal(rx.stats.render_errors, 0, rx.stats.last_problem);
  assert.equal(frames.length, 6);
  assert.equal(frames[0].length, 256 * 256 * 4);
});

test('a renderer in a worker (promises): one frame at a time, the newest due one waits, older ones are skipped', async () => {
  const pending = [];
  const renderer = {
    views: 0,
    addViewRecord: async () => { renderer.views += 1; },
    render: (rec) => new Promise((resolve) => pending.push(() => resolve({ image: new Uint8ClampedArray(4), ms: 7, rec }))),
  };
  const { clock, rx, drawn } = setup({ renderer });
  rx.onControlText(hello());
  for (const m of view()) rx.onControlBinary(m);
  await flush();
  assert.equal(renderer.views, 1);
  const { bundles } = stream(6);
  rx.onDriving(bundles[0]); // frames 0 (due now) and 1 (due in 67 ms)
  clock.advance(0);
  assert.equal(pending.length, 1); // frame 0 with the renderer
  rx.onDriving(bundles[1]); // frames 2, 3
  rx.onDriving(bundles[2]); // frames 4, 5
  clock.advance(1000); // all due while frame 0 renders: only the newest waits
  assert.equal(pending.length, 1);
  pending.shift()();
  await flush();
  assert.equal(pending.length, 1); // the newest, 5
  pending.shift()();
  await flush();
  assert.deepEqual(drawn.map((d) => d.seq), [0, 5]);
  assert.equal(rx.stats.frames_dropped_late, 4);
  assert.equal(rx.snapshot().render_ms_mean, 7); // the worker's own figure
});
