// The page's speech (frontal/web/peer/audio.js), its logic without a browser: the queue of coded
// frames into 0xA1 / 0xA0 messages, the frame numbering, the jitter buffer and the playout clock.
// tests/test_browser_audio.py writes FRONTAL_JS_AUDIO_GOLDEN (receiver/audio.py's AudioReceiver on
// a jittery, lossy arrival trace); without it that comparison is skipped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { messages } from '../../frontal/web/codec/index.js';
import {
  AUDIO_SPEC, FrameClock, JitterBuffer, PlayoutClock, SpeechQueue, captureUnixMs, encoderConfig, helloWithAudio,
  isSingleFramePacket, percentile, speechProblem,
} from '../../frontal/web/peer/audio.js';
import { unhex } from './helpers.mjs';

const GOLDEN = process.env.FRONTAL_JS_AUDIO_GOLDEN;
const BUNDLE = Uint8Array.of(0x41, 0x00, 0x07, 0x00, 0x10, 0x9a, 0x33); // a compact bundle's first byte is 0b01xxxxxx
const packet = (n, fill = 0x10) => new Uint8Array(n).fill(fill); // TOC 0x10: SILK NB 40 ms, one frame

test('speech waiting goes in front of the next driving message (0xA1), as sender/live.py', () => {
  const q = new SpeechQueue({ fps: 15, framesPerMessage: 2 });
  assert.equal(q.wrap(BUNDLE), BUNDLE, 'nothing waiting: the bundle goes as it is');
  assert.equal(q.wrap(null), null);
  q.push(65535, 65530, packet(23));
  q.push(0, 65570, packet(11));
  q.push(1, 65610, packet(31));
  const m = q.wrap(BUNDLE);
  assert.equal(m[0], messages.AUDIO_DRIVING_TYPE);
  const a = messages.parseAudio(m);
  assert.deepEqual([a.seq, a.timestamp_ms, a.frames.map((f) => f.length), Array.from(a.driving)],
    [65535, 65530, [23, 11, 31], Array.from(BUNDLE)]);
  assert.equal(q.length, 0);
  assert.equal(q.wrap(BUNDLE), BUNDLE, 'sent once only');
  // 6 header bytes + a length byte a frame
  assert.deepEqual(q.stats, { audio_frames_sent: 3, audio_bytes_sent: 65, audio_framing_bytes: 9, audio_messages: 1, audio_alone_messages: 0 });
});

test('speech that waited longer than a message period and two frames goes alone (0xA0)', () => {
  const q = new SpeechQueue({ fps: 15, framesPerMessage: 2 });
  const wait = 1000 * 2 / 15 + 80;
  assert.ok(Math.abs(q.waitMs - wait) < 1e-9);
  const epoch = 1_700_000_000_000;
  for (let k = 0; k < 20; k++) q.push(k, 100 + 40 * k, packet(20 + k));
  assert.deepEqual(q.due(epoch + 100 + wait, epoch), [], 'not yet: exactly the wait');
  const out = q.due(epoch + 100 + 40 * 17 + wait + 1, epoch); // frames 0..17 waited too long
  assert.deepEqual(out.map((m) => m[0]), [messages.AUDIO_ONLY_TYPE, messages.AUDIO_ONLY_TYPE]);
  const [a, b] = out.map((m) => messages.parseAudio(m));
  // up to 16 frames a message; the second takes the rest with it (as sender/live.py's _audio_message)
  assert.deepEqual([a.seq, a.frames.length, a.driving, b.seq, b.timestamp_ms, b.frames.length], [0, 16, null, 16, 100 + 40 * 16, 4]);
  assert.equal(q.length, 0);
  assert.deepEqual(q.flush(), []);
  assert.equal(q.stats.audio_alone_messages, 2);
  assert.equal(q.stats.audio_frames_sent, 20);
});

test('timestamps wrap at 16 bits on the wire, like the sequence numbers', () => {
  const q = new SpeechQueue();
  q.push(70000, 65536 * 3 + 12, packet(5));
  const a = messages.parseAudio(q.flush()[0]);
  assert.deepEqual([a.seq, a.timestamp_ms], [70000 & 0xffff, 12]);
});

test('frames are numbered on the capture clock: the first sample anchors them', () => {
  const c = new FrameClock(40);
  const epoch = 1_000_000;
  c.anchor(414_900, epoch + 250.4);
  c.anchor(999_999, 0); // only the first anchors
  assert.deepEqual(c.frame(414_900, epoch), { seq: 0, ts: 250 });
  assert.deepEqual(c.frame(454_900, epoch), { seq: 1, ts: 290 });
  assert.equal(c.frame(454_900, epoch), null, 'a repeated timestamp');
  assert.deepEqual(c.frame(574_950, epoch), { seq: 4, ts: 410 }, 'a capture gap leaves a gap in the numbers');
});

test('the capture time of an AudioData: its timestamp on the page clock when plausible, else now', () => {
  const perf = { timeOrigin: 1_000_000 };
  assert.equal(captureUnixMs({ timestamp: 414_900, duration: 10_000 }, perf, 1_000_420), 1_000_414.9);
  assert.equal(captureUnixMs({ timestamp: 9e9, duration: 10_000 }, perf, 1_000_420), 1_000_410, 'another clock');
  assert.equal(captureUnixMs({ timestamp: 0, duration: 10_000 }, perf, 1_005_000), 1_004_990, 'too old to be this clock');
});

test('the hello with audio is the bytes Python writes', () => {
  const base = '{"type":"hello","version":2,"fps":15.0,"fields":{"n_sup":0,"n_unsup":0,"jacobians":0,"n_expr":0,"n_shape":48,'
    + `"shape_model":"${'a'.repeat(64)}"},"mode":"predictive","frames_per_message":2,"epoch_ms":1796435778182.0`;
  // codec.messages.encode_control(Hello(..., audio=AudioSpec(rate=16000, frame_ms=40, bitrate=6000)))
  const spec = { codec: 'opus', rate: 16000, frame_ms: 40, bitrate: 6000 };
  assert.equal(helloWithAudio(`${base}}`, spec), `${base},"audio":{"codec":"opus","rate":16000,"frame_ms":40,"bitrate":6000}}`);
  assert.equal(messages.parseControl(helloWithAudio(`${base}}`)).audio.rate, 16000);
});

test('only single-frame Opus packets go on the wire (codec/audio.py decodes nothing else)', () => {
  assert.ok(isSingleFramePacket(packet(23)));
  assert.ok(!isSingleFramePacket(Uint8Array.of(0x13, 1, 2)), 'TOC code 3: several frames');
  assert.ok(!isSingleFramePacket(new Uint8Array(0)));
  assert.ok(!isSingleFramePacket(packet(1276)));
});

test('the encoder is asked for what hello.audio says', () => {
  const c = encoderConfig(48000);
  assert.deepEqual([c.codec, c.sampleRate, c.numberOfChannels, c.bitrate, c.opus.frameDuration, c.opus.application, c.opus.usedtx],
    ['opus', 48000, 1, AUDIO_SPEC.bitrate, AUDIO_SPEC.frame_ms * 1000, 'voip', false]);
});

test('without WebCodecs or MediaStreamTrackProcessor the page says speech is not supported', () => {
  assert.match(speechProblem({}), /^speech not supported in this browser \(no AudioEncoder, AudioDecoder, EncodedAudioChunk, MediaStreamTrackProcessor, AudioContext, AudioWorkletNode, Worker\)$/);
  const all = Object.fromEntries(['AudioEncoder', 'AudioDecoder', 'EncodedAudioChunk', 'MediaStreamTrackProcessor', 'AudioContext', 'AudioWorkletNode', 'Worker'].map((k) => [k, () => {}]));
  assert.equal(speechProblem(all), null);
  assert.match(speechProblem({ ...all, MediaStreamTrackProcessor: undefined }), /no MediaStreamTrackProcessor\)$/);
});

test('percentile interpolates as numpy.percentile', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  assert.ok(Math.abs(percentile([10, 0, 5, 7, 30, 2], 98) - 28) < 1e-9); // numpy: 28.0
  assert.equal(percentile([7], 98), 7);
});

// --- the jitter buffer ------------------------------------------------------------------------------

const EPOCH = 1_800_000_000_000;

/** Frames k0..k1-1 arriving `lateness(k)` ms after their capture (40 ms each, frame k captured at 40k). */
function feed(jb, ks, lateness) {
  for (const k of ks) jb.onFrames(k & 0xffff, (40 * k) & 0xffff, [packet(20)], EPOCH + 40 * k + lateness(k));
}

test('steady arrivals: the delay is their 98th percentile + the margin, and every frame plays in order', () => {
  const jb = new JitterBuffer({ epochMs: EPOCH });
  const played = [];
  for (let k = 0; k < 100; k++) {
    feed(jb, [k], () => 50 + (k % 5) * 10); // 50..90 ms late
    for (const f of jb.tick(EPOCH + 40 * k + 95)) played.push(f);
  }
  assert.ok(Math.abs(jb.delayMs - 100) < 1e-9, `delay ${jb.delayMs}`); // 90 + 10
  // playout starts after 10 arrivals, with the oldest frame still in time: the ones before are late
  const first = (played[0].captureMs - EPOCH) / 40;
  assert.equal(first, 8);
  assert.ok(played.every((f, i) => f.kind === 'play' && f.captureMs === EPOCH + 40 * (first + i) && f.playAtMs === f.captureMs + 100));
  assert.equal(played.length, 100 - first - 1); // the last frame is due after the last tick
  assert.deepEqual(jb.stats, { audio_frames_received: 100, audio_frames_played: played.length, audio_concealed: 0, audio_late: first,
    audio_stretched: 0, audio_dropped: 0 });
});

test('a missing frame is concealed, never waited for; one arriving after its time is dropped as late', () => {
  const jb = new JitterBuffer({ epochMs: EPOCH });
  const kinds = [];
  let lateAtStart = null;
  for (let k = 0; k < 40; k++) {
    if (k !== 20) feed(jb, [k], () => 30);
    if (k === 25) feed(jb, [20], () => 200); // frame 20 arrives 200 ms after capture: its time has passed
    for (const f of jb.tick(EPOCH + 40 * k + 35)) kinds.push(f.kind);
    if (k === 19) {
      assert.ok(Math.abs(jb.delayMs - 40) < 1e-9); // 30 + 10 is less than a frame: a frame
      lateAtStart = jb.stats.audio_late; // the first arrivals, before the delay was measured
    }
  }
  assert.equal(kinds.filter((k) => k === 'conceal').length, 1);
  assert.equal(jb.stats.audio_concealed, 1);
  assert.equal(jb.stats.audio_late - lateAtStart, 1);
});

test('the delay grows one frame a step (an inserted frame) when the arrivals get later', () => {
  const jb = new JitterBuffer({ epochMs: EPOCH });
  const kinds = [];
  for (let k = 0; k < 150; k++) {
    feed(jb, [k], () => (k < 30 ? 40 : 120));
    for (const f of jb.tick(EPOCH + 40 * k + 45)) kinds.push(f.kind);
  }
  // 50 ms, then toward 130: two steps (90, 130), at most one a second
  assert.equal(jb.stats.audio_stretched, 2);
  assert.equal(jb.delayMs, 130);
  assert.ok(kinds.indexOf('stretch') > 0);
});

test('playout pauses when nothing arrives (a muted sender) and resumes with the next frame in time', () => {
  const jb = new JitterBuffer({ epochMs: EPOCH });
  let concealed = 0;
  const run = (k0, k1) => {
    for (let k = k0; k < k1; k++) {
      feed(jb, [k], () => 60);
      for (const f of jb.tick(EPOCH + 40 * k + 65)) concealed += f.kind === 'conceal' ? 1 : 0;
    }
  };
  run(0, 30);
  for (let t = 30 * 40; t < 80 * 40; t += 20) for (const f of jb.tick(EPOCH + t)) concealed += f.kind === 'conceal' ? 1 : 0;
  assert.equal(jb.playing, false, 'paused after 600 ms without arrivals');
  const during = concealed;
  assert.ok(during >= 13 && during <= 17, `concealed while waiting: ${during}`); // 600 ms of PLC, then silence
  run(80, 100);
  assert.equal(jb.playing, true);
  assert.equal(concealed, during, 'no frame of the muted time is concealed after resuming');
  assert.equal(jb.stats.audio_late, 8, 'only the first arrivals, before the delay was measured');
  assert.equal(jb.stats.audio_frames_played, 50 - 8 - 1 + during); // the last frame is due after the last tick
});

test('the playout clock joins frames back to back, and starts anew after an underrun or a drift', () => {
  const c = new PlayoutClock();
  assert.equal(c.at(1040, 5.0, 1000, 0.04), 5.04);
  assert.ok(Math.abs(c.at(1080, 5.01, 1010, 0.04) - 5.08) < 1e-12, 'the run continues: the clocks\' jitter is ignored');
  assert.ok(Math.abs(c.at(1120, 5.11, 1105, 0.04) - 5.12) < 1e-12, 'within 30 ms of the clocks: the run goes on');
  assert.ok(Math.abs(c.at(1160, 5.17, 1165, 0.04) - 5.16) < 1e-12, 'started 10 ms ago: it keeps its time (its head is lost)');
  assert.equal(c.underruns, 1);
  assert.ok(Math.abs(c.at(1200, 5.25, 1250, 0.04) - 5.25) < 1e-12, 'wholly past: a new run from now');
  assert.equal(c.underruns, 2);
  assert.equal(c.resyncs, 0);
  assert.ok(Math.abs(c.at(1240, 5.255, 1239, 0.04) - 5.256) < 1e-12, '34 ms later than the clocks say: a new run');
  assert.equal(c.resyncs, 1);
  assert.equal(c.underruns, 2);
});

test('the jitter buffer does what receiver/audio.py does on the same arrivals (Python\'s trace)', { skip: GOLDEN ? false : 'FRONTAL_JS_AUDIO_GOLDEN not set (tests/test_browser_audio.py sets it)' }, () => {
  const g = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  const jb = new JitterBuffer({ epochMs: g.epoch_ms, frameMs: g.frame_ms });
  const steps = [];
  for (const e of g.events) {
    if (e.arrival !== undefined) jb.onFrames(e.seq, e.ts, e.packets.map(unhex), e.arrival);
    else steps.push([e.tick, jb.tick(e.tick).length, jb.delayMs]);
  }
  assert.equal(steps.length, g.ticks.length);
  for (let i = 0; i < steps.length; i++) {
    assert.deepEqual(steps[i].slice(0, 2), g.ticks[i].slice(0, 2), `tick ${i}`);
    assert.ok(Math.abs(steps[i][2] - g.ticks[i][2]) < 1e-6, `tick ${i}: delay ${steps[i][2]} vs ${g.ticks[i][2]}`);
  }
  for (const [k, v] of Object.entries(g.stats)) assert.equal(jb.stats[k], v, k);
});
