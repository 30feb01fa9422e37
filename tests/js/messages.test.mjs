// The call's messages (codec/messages.py) in JavaScript: the same bytes as Python's, both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MessageError, messages, wire } from '../../frontal/web/codec/index.js';
import { hex, loadGolden, unhex } from './helpers.mjs';

const m = loadGolden().messages;

test('compact bundles: Python\'s bytes from the same packets', () => {
  for (const b of m.bundles) assert.equal(hex(messages.packDriving(b.packets.map(unhex))), b.message);
});

test('compact bundles: parsed back to the sender\'s packets, as a receiver parses them', () => {
  m.parsed.forEach((p, k) => {
    const ctx = new messages.CompactContext(m.mode, p.newest_seq, p.intra_seq);
    const frames = messages.parseDriving(unhex(m.bundles[k].message), ctx);
    assert.deepEqual(frames.map((f) => hex(wire.pack(f))), p.packets, `bundle ${k}`);
    assert.deepEqual(p.packets, m.bundles[k].packets, `bundle ${k} rebuilt byte for byte`);
  });
  const lonely = messages.parseDriving(unhex(m.lonely.message), new messages.CompactContext(m.mode));
  assert.deepEqual(lonely.map((f) => hex(wire.pack(f))), m.lonely.packets);
});

test('sequence numbers extended as Python extends them', () => {
  for (const e of m.extend) assert.equal(new messages.CompactContext(m.mode, e.newest_seq).extend(e.seq8), e.seq, JSON.stringify(e));
});

test('malformed driving messages refused with MessageError where Python refuses them', () => {
  for (const b of m.bad) {
    const ctx = new messages.CompactContext(m.mode, 10, 5);
    if (b.error) assert.throws(() => messages.parseDriving(unhex(b.message), ctx), MessageError, b.message);
    else assert.deepEqual(messages.parseDriving(unhex(b.message), ctx).map((f) => hex(wire.pack(f))), b.packets, b.message);
  }
  assert.throws(() => messages.parseDriving('text', new messages.CompactContext(m.mode)), MessageError);
  assert.throws(() => messages.packDriving([]), MessageError);
  assert.throws(() => messages.packDriving([unhex('f1')]), MessageError);
});

test('source views: the same messages, parsed and reassembled', () => {
  for (const v of m.views) {
    const a = v.args;
    const msgs = messages.viewMessages(a.index, a.format, unhex(a.data), a.yaw, a.pitch, a.sup, a.record === null ? null : unhex(a.record));
    assert.deepEqual(msgs.map(hex), v.messages);
    const [meta] = messages.parseViewStart(unhex(v.messages[0]));
    assert.deepEqual({ ...meta, record: meta.record === null ? null : hex(meta.record) }, v.meta);
    const asm = new messages.ViewAssembler();
    let done = null;
    v.messages.forEach((msg, k) => {
      done = asm.add(unhex(msg));
      if (k < v.messages.length - 1) assert.equal(done, null);
    });
    assert.equal(hex(done[1]), a.data);
  }
  for (const b of m.bad_views) {
    if (b.error) assert.throws(() => messages.parseViewStart(unhex(b.message)), MessageError, b.message);
    else messages.parseViewStart(unhex(b.message));
  }
  const two = m.views[0].messages.map(unhex);
  const asm = new messages.ViewAssembler();
  assert.throws(() => asm.add(two[1]), MessageError); // a chunk without its start
  asm.add(two[0]);
  assert.throws(() => asm.add(two[1].slice(0, 100)), MessageError); // a short chunk
});

test('control messages: Python\'s text, and Python\'s verdict on what arrives', () => {
  for (const c of m.control) {
    assert.equal(messages.encodeControl(c.message), c.text);
    assert.equal(messages.encodeControl(messages.parseControl(c.text)), c.text);
  }
  for (const p of m.parsed_control) {
    if (p.error) assert.throws(() => messages.parseControl(p.text), MessageError, p.text);
    else assert.equal(messages.encodeControl(messages.parseControl(p.text)), p.encoded, p.text);
  }
});

test('speech frames on the driving channel (0xA0 / 0xA1): Python\'s bytes and verdicts', (t) => {
  if (!m.audio) {
    t.skip('these golden messages carry no audio cases');
    return;
  }
  for (const p of m.audio.packs) {
    const msg = messages.packAudio(p.seq, p.timestamp_ms, p.frames.map(unhex), p.driving === null ? null : unhex(p.driving));
    assert.equal(hex(msg), p.message);
    assert.ok(messages.isAudio(msg));
    const a = messages.parseAudio(unhex(p.message));
    assert.deepEqual([a.seq, a.timestamp_ms, a.frames.map(hex), a.driving === null ? null : hex(a.driving)],
      [p.seq, p.timestamp_ms, p.frames, p.driving]);
  }
  for (const v of m.audio.verdicts) {
    if (v.error) assert.throws(() => messages.parseAudio(unhex(v.message)), MessageError, v.message);
    else {
      const a = messages.parseAudio(unhex(v.message));
      assert.deepEqual([a.frames.map(hex), a.driving === null ? null : hex(a.driving)], [v.frames, v.driving]);
    }
  }
  for (const p of m.audio.control) {
    if (p.error) assert.throws(() => messages.parseControl(p.text), MessageError, p.text);
    else assert.equal(messages.encodeControl(messages.parseControl(p.text)), p.encoded, p.text);
  }
});
