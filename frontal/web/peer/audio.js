// Speech in the page (docs/audio.md): the microphone to the other peer, the other peer's speech to
// the speakers, as the desktop's sender/live.py and receiver/audio.py do it.
//
//   const why = speechProblem();                       // null, or why this browser cannot
//   const tx = new PageAudioSender({ track, fps, framesPerMessage });
//   tx.start(epochMs);                                 // the hello's epoch: frames are stamped on its clock
//   driving.send(tx.wrap(compactBundle));              // 0xA1 with the speech waiting (the bundle alone if none)
//   for (const m of tx.due(Date.now())) driving.send(m);   // every 20 ms: speech that waited too long, 0xA0
//   tx.muted = true;                                   // nothing is sent
//
//   const rx = new PageAudioPlayer({ hello });         // the other peer's hello (with `audio`)
//   rx.onAudio(parsed, arrivalUnixMs);                 // messages.parseAudio's object
//   rx.delayMs                                         // the playout delay while playing (lip sync), else 0
//
// Sending. The microphone track (Chromium's MediaStreamTrackProcessor: AudioData, 10 ms of f32 at
// the track's rate, 48 kHz here whatever rate is asked for) goes to a WebCodecs AudioEncoder
// configured at the track's own rate: Opus packets do not carry the input rate (a 40-ms packet
// decodes to 40 ms at whatever rate the decoder runs), and at 6 kbit/s libopus codes narrowband SILK
// whatever it is fed, so the desktop's decoder (codec/audio.py, 48 kHz output decimated to the
// `hello`'s 16 kHz) takes these packets as its own. `hello.audio.rate` is therefore 16000: the rate
// the receiver plays at. Frame k is stamped at the first sample's capture time (Unix ms) plus
// k x 40 ms, less the epoch, as sender/live.py does; k comes from the encoder's timestamps, so a
// gap in the capture leaves a gap in the sequence numbers (the receiver conceals it). The reading
// and the encoder run in a worker (audio_worker.js): on the main thread, FaceMesh's stalls made
// the processor drop AudioData (its queue holds ~100 ms), and the speech came out short and late.
//
// Muted: the microphone track is disabled (silence in), the encoder keeps running (so the
// numbering stays on the capture clock) and its packets are dropped: nothing is sent, 0 bits,
// against ~2.4 kbit/s for coded silence (11-byte packets and their length bytes). The receiver
// conceals the first 600 ms (Opus PLC fading out), then pauses its playout and resumes with the
// first frame after unmuting.
//
// Playing. `JitterBuffer` is receiver/audio.py's AudioReceiver without the decoder: the playout
// delay is the 98th percentile of (arrival - capture) over the last 250 frames + a margin, reached
// one frame a step; a missing frame is concealed, a late one dropped. It runs in a worker
// (audio_player_worker.js) with the WebCodecs AudioDecoder; each frame is decided `LEAD_MS` before
// it plays (the margin grows by as much), decoded and handed with its Unix playout time to an
// AudioWorklet (audio_worklet.js) that writes it out at that time, back to back with the frame
// before. The main thread only posts the arrivals: its stalls delay them (the delay measures that)
// but cannot make a decoded frame miss its time. Concealment is Opus PLC: a packet of only the last
// good packet's TOC byte (RFC 6716 3.2.1; what codec/audio.py does), which Chromium's Opus decoder
// plays as a lost frame (40 ms, fading).
import { messages } from '../codec/index.js';
import { PlayoutClock } from './audio_worklet.js';

export { PlayoutClock }; // the output's timing (audio_worklet.js), for the tests

// codec/audio.py's AudioConfig(), but for the bitrate: Chromium's WebCodecs Opus encoder refuses a
// target under 6000 bit/s (the desktop's is 5500); VBR speech comes out under it (docs/audio.md)
export const MIN_WEBCODECS_OPUS_BITRATE = 6000;
export const AUDIO_SPEC = Object.freeze({ codec: 'opus', rate: 16000, frame_ms: 40, bitrate: MIN_WEBCODECS_OPUS_BITRATE });
export const OPUS_COMPLEXITY = 5; // what Chromium's isConfigSupported echoes by default; not tuned here
export const LEAD_MS = 20; // the player decides a frame this long before it plays (its worker decodes it by then)
const DUE_CHECK_MS = 20; // the sender looks for speech that waited too long this often (sender/live.py: half a frame)

/** Null when this browser has what speech needs (WebCodecs audio, MediaStreamTrackProcessor,
 * workers, AudioWorklet), else a one-line reason. `speechConfigProblem` then asks for Opus. */
export function speechProblem(scope = globalThis) {
  const missing = ['AudioEncoder', 'AudioDecoder', 'EncodedAudioChunk', 'MediaStreamTrackProcessor', 'AudioContext', 'AudioWorkletNode', 'Worker']
    .filter((name) => typeof scope[name] !== 'function');
  return missing.length ? `speech not supported in this browser (no ${missing.join(', ')})` : null;
}

/** Whether the encoder and decoder take this configuration (a reason when not). */
export async function speechConfigProblem(rate = 48000, scope = globalThis) {
  try {
    const enc = await scope.AudioEncoder.isConfigSupported(encoderConfig(rate));
    const dec = await scope.AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 });
    if (enc.supported && dec.supported) return null;
  } catch {
    // an old implementation that throws: not supported either
  }
  return 'speech not supported in this browser (no WebCodecs Opus)';
}

/** The encoder's settings: `rate` is the microphone track's (see the note at the top). */
export function encoderConfig(rate, spec = AUDIO_SPEC) {
  return { codec: 'opus', sampleRate: rate, numberOfChannels: 1, bitrate: spec.bitrate, bitrateMode: 'variable',
    opus: { frameDuration: spec.frame_ms * 1000, application: 'voip', usedtx: false, complexity: OPUS_COMPLEXITY } };
}

/** A hello (control text) with the speech settings added, byte for byte as Python writes it. */
export function helloWithAudio(helloText, spec = AUDIO_SPEC) {
  const hello = messages.parseControl(helloText);
  return messages.encodeControl({ ...hello, audio: { rate: spec.rate, frame_ms: spec.frame_ms, bitrate: spec.bitrate } });
}

/** Whether an Opus packet is one the receivers take: 1..1275 bytes, one frame (TOC code 0). */
export function isSingleFramePacket(packet) {
  return packet.length >= 1 && packet.length <= messages.MAX_AUDIO_PACKET && (packet[0] & 0x3) === 0;
}

// --- sending --------------------------------------------------------------------------------------

/**
 * The speech frames waiting for a driving message (sender/live.py's `_audio_pending`): `push` coded
 * frames, `wrap` a compact bundle into 0xA1 with them, `due` sends alone (0xA0) what waited longer
 * than a message period and two frames. No browser API here.
 */
export class SpeechQueue {
  constructor({ frameMs = AUDIO_SPEC.frame_ms, fps = 15, framesPerMessage = 2 } = {}) {
    this.frameMs = frameMs;
    this.waitMs = (1000 * framesPerMessage) / fps + 2 * frameMs;
    this.pending = []; // {seq (uint16), ts (ms since the epoch), packet}
    this.stats = { audio_frames_sent: 0, audio_bytes_sent: 0, audio_framing_bytes: 0, audio_messages: 0, audio_alone_messages: 0 };
  }

  push(seq, ts, packet) {
    this.pending.push({ seq: seq & 0xffff, ts, packet });
  }

  get length() { return this.pending.length; }

  /** One message of up to 16 waiting frames, in front of `driving` (0xA1) or alone (null: 0xA0). */
  #message(driving) {
    const take = this.pending.splice(0, messages.MAX_AUDIO_FRAMES);
    const packets = take.map((f) => f.packet);
    const message = messages.packAudio(take[0].seq, take[0].ts & 0xffff, packets, driving);
    const payload = packets.reduce((s, p) => s + p.length, 0);
    this.stats.audio_frames_sent += take.length;
    this.stats.audio_bytes_sent += payload;
    this.stats.audio_framing_bytes += message.length - payload - (driving ? driving.length : 0);
    this.stats.audio_messages += 1;
    this.stats.audio_alone_messages += driving ? 0 : 1;
    return message;
  }

  /** A driving message (a compact bundle) with the waiting speech in front of it; the bundle
   * itself when nothing waits (or it is null). */
  wrap(driving) {
    if (!driving || !this.pending.length) return driving;
    return this.#message(driving);
  }

  /** Speech that has waited too long for a driving message, alone (`epochMs`: the hello's). */
  due(nowUnixMs, epochMs) {
    const out = [];
    while (this.pending.length && nowUnixMs - (epochMs + this.pending[0].ts) > this.waitMs) out.push(this.#message(null));
    return out;
  }

  /** Everything waiting, alone (the call ends). */
  flush() {
    const out = [];
    while (this.pending.length) out.push(this.#message(null));
    return out;
  }
}

/**
 * Frame numbering on the capture clock: the first frame's capture (Unix ms) anchors it; frame k
 * is the encoder's chunk whose timestamp is k frames after the first one's.
 */
export class FrameClock {
  constructor(frameMs = AUDIO_SPEC.frame_ms) {
    this.frameUs = frameMs * 1000;
    this.frameMs = frameMs;
    this.anchorUs = null; // the first chunk's timestamp (the encoder's, µs)
    this.anchorUnixMs = null;
    this.last = -1;
  }

  /** `captureUnixMs`: the Unix time of the first sample fed to the encoder, with its timestamp `us`. */
  anchor(us, captureUnixMs) {
    if (this.anchorUs === null) [this.anchorUs, this.anchorUnixMs] = [us, captureUnixMs];
  }

  /** {seq (unwrapped), ts (ms since `epochMs`)} of a chunk, or null for one at or before the last. */
  frame(chunkUs, epochMs) {
    const k = Math.round((chunkUs - this.anchorUs) / this.frameUs);
    if (k <= this.last) return null;
    this.last = k;
    return { seq: k, ts: Math.round(this.anchorUnixMs + k * this.frameMs - epochMs) };
  }
}

/** The capture time (Unix ms) of an AudioData's first sample: its timestamp is on the page's
 * performance clock in Chromium; when it is not (another clock), it was captured just now. */
export function captureUnixMs(data, perf = globalThis.performance, now = Date.now()) {
  const t = perf.timeOrigin + data.timestamp / 1000;
  const durationMs = (data.duration || 0) / 1000;
  return t <= now + 5 && t >= now - 1000 ? t : now - durationMs;
}

export class PageAudioSender {
  /**
   * `track`: the microphone's MediaStreamTrack; `fps`, `framesPerMessage`: the driving stream's
   * (how long speech may wait for a driving message). Call `start(epochMs)` when the hello goes.
   * The capture and the encoder run in a worker (audio_worker.js) where the browser can transfer
   * the processor's stream there; else on the main thread (`stats.audio_thread`).
   */
  constructor({ track, fps = 15, framesPerMessage = 2, spec = AUDIO_SPEC, onProblem = () => {}, worker = true }) {
    Object.assign(this, { track, spec, onProblem });
    this.queue = new SpeechQueue({ frameMs: spec.frame_ms, fps, framesPerMessage });
    this.clock = new FrameClock(spec.frame_ms);
    this.epochMs = null;
    this.encoder = null;
    this.closed = false;
    this._muted = false;
    this.stats = { audio_thread: null, audio_frames_coded: 0, audio_frames_muted: 0, audio_packets_refused: 0, audio_encoder_errors: 0,
      audio_input_rate: null, audio_input_gaps: 0, audio_problem: null };
    const readable = new MediaStreamTrackProcessor({ track }).readable;
    this.worker = worker ? this.#startWorker(readable) : null;
    this.stats.audio_thread = this.worker ? 'worker' : 'main';
    if (!this.worker) {
      this.reader = readable.getReader();
      this.reading = this.#read();
    }
  }

  /** The worker, with the processor's stream handed to it (null where the stream cannot be transferred). */
  #startWorker(readable) {
    let worker = null;
    try {
      worker = new Worker(new URL('./audio_worker.js', import.meta.url), { type: 'module' });
      const { sampleRate, ...config } = encoderConfig(48000, this.spec); // the worker takes the track's rate
      worker.postMessage({ readable, config }, [readable]);
    } catch {
      if (worker) worker.terminate();
      return null;
    }
    worker.onmessage = (e) => this.#fromWorker(e.data);
    worker.onerror = (e) => this.#problem(`the speech worker failed: ${e.message || e}`);
    return worker;
  }

  #fromWorker(m) {
    if (m.anchor) this.clock.anchor(m.anchor.us, m.anchor.captureUnixMs);
    if (m.chunk) this.#packet(m.chunk.us, new Uint8Array(m.chunk.packet));
    if (m.stats) for (const k of ['audio_input_rate', 'audio_input_gaps', 'audio_encoder_errors']) this.stats[k] = m.stats[k];
    if (m.problem) this.#problem(m.problem);
    if (m.closed && this.worker) this.worker.terminate();
  }

  get muted() { return this._muted; }

  /** Muted: the microphone is switched off (silence in) and nothing is sent. */
  set muted(value) {
    this._muted = Boolean(value);
    this.track.enabled = !this._muted;
  }

  start(epochMs) {
    this.epochMs = epochMs;
    if (this.worker) this.worker.postMessage({ start: true });
  }

  // the main-thread fallback: what audio_worker.js does
  async #read() {
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done || this.closed) {
          if (value) value.close();
          return;
        }
        try {
          if (this.epochMs !== null) this.#encode(value); // before the hello there is no clock to stamp on
        } finally {
          value.close();
        }
      }
    } catch (error) {
      this.#problem(`the microphone stopped: ${error.message || error}`);
    }
  }

  #encode(data) {
    if (!this.encoder) {
      this.encoder = new AudioEncoder({ output: (chunk) => this.#coded(chunk), error: (e) => this.#encoderError(e) });
      this.encoder.configure(encoderConfig(data.sampleRate, this.spec));
      this.stats.audio_input_rate = data.sampleRate;
      this.clock.anchor(data.timestamp, captureUnixMs(data));
    }
    if (this.encoder.state === 'configured') this.encoder.encode(data);
  }

  #coded(chunk) {
    const packet = new Uint8Array(chunk.byteLength);
    chunk.copyTo(packet);
    this.#packet(chunk.timestamp, packet);
  }

  /** One coded frame (`us`: its encoder timestamp): numbered, stamped and queued, unless muted. */
  #packet(us, packet) {
    const frame = this.clock.frame(us, this.epochMs);
    if (!frame || this.closed || this.epochMs === null) return;
    this.stats.audio_frames_coded += 1;
    if (this._muted) {
      this.stats.audio_frames_muted += 1;
      return;
    }
    if (!isSingleFramePacket(packet)) { // the receivers take one Opus frame a packet (codec/audio.py)
      this.stats.audio_packets_refused += 1;
      return;
    }
    this.queue.push(frame.seq, frame.ts, packet);
  }

  #encoderError(error) {
    this.stats.audio_encoder_errors += 1;
    this.encoder = null; // a new one with the next AudioData; the numbering goes on from its timestamps
    this.#problem(`the speech encoder failed: ${error.message || error}`);
  }

  #problem(text) {
    this.stats.audio_problem = text;
    this.onProblem(text);
  }

  /** A compact bundle with the waiting speech in front (0xA1), or the bundle alone. */
  wrap(driving) { return this.queue.wrap(driving); }

  /** Speech that waited too long for a driving message, as 0xA0 messages. */
  due(nowUnixMs = Date.now()) {
    return this.epochMs === null ? [] : this.queue.due(nowUnixMs, this.epochMs);
  }

  /** The frames still waiting, as 0xA0 messages (the call ends). */
  flush() { return this.queue.flush(); }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.worker) this.worker.postMessage({ close: true }); // it answers, then is terminated
    if (this.reader) this.reader.cancel().catch(() => {});
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    this.track.stop();
  }

  snapshot() {
    return { ...this.stats, ...this.queue.stats, muted: this._muted, audio_waiting: this.queue.length };
  }
}

/** The speech sender's timer: every 20 ms, `send` each 0xA0 message of speech that waited too long. */
export function startDueTimer(sender, send) {
  const timer = setInterval(() => { for (const m of sender.due(Date.now())) send(m); }, DUE_CHECK_MS);
  return () => clearInterval(timer);
}

// --- playing --------------------------------------------------------------------------------------

/** numpy.percentile's default (linear interpolation) of `values`, `p` in 0..100. */
export function percentile(values, p) {
  const s = Float64Array.from(values).sort();
  const pos = (p / 100) * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * receiver/audio.py's AudioReceiver without the decoder: arrivals in (`onFrames`), what to play
 * out (`tick`), all times Unix ms. `tick(now)` returns the frames due by `now`, in order:
 * {kind: 'play' (a packet), 'conceal' (a missing frame), 'stretch' (a frame inserted to grow the
 * delay), packet, playAtMs, captureMs (the frame's capture on the sender, null for an inserted one)}.
 */
export class JitterBuffer {
  constructor({ frameMs = AUDIO_SPEC.frame_ms, epochMs, initialDelayMs = 200, marginMs = 10, pauseMs = 600,
    maxDelayMs = 600, window = 250, minArrivals = 10 }) {
    Object.assign(this, { frameMs, epochMs, marginMs, pauseMs, maxDelayMs, window, minArrivals });
    this.delayMs = initialDelayMs;
    this.buffer = new Map(); // unwrapped seq -> {packet, capture}
    this.newest = null;
    this.next = null; // the next frame to play (null: paused / not started)
    this.nextCapture = 0;
    this.lastArrival = -1e18;
    this.delays = []; // arrival - capture, ms (the last `window`)
    this.lastStep = -1e18;
    this.pendingStep = 0; // +1: insert a frame; -1: skip one
    this.stats = { audio_frames_received: 0, audio_frames_played: 0, audio_concealed: 0, audio_late: 0,
      audio_stretched: 0, audio_dropped: 0 };
  }

  get playing() { return this.next !== null; }

  onFrames(seq, timestampMs, packets, arrivalMs) {
    this.stats.audio_frames_received += packets.length;
    this.lastArrival = arrivalMs;
    packets.forEach((packet, k) => {
      const useq = this.#unwrap((seq + k) & 0xffff);
      const capture = this.#captureMs((timestampMs + k * this.frameMs) & 0xffff, arrivalMs);
      this.delays.push(arrivalMs - capture);
      if (this.delays.length > this.window) this.delays.shift();
      if (this.newest === null || useq > this.newest) this.newest = useq;
      if (this.next !== null && useq < this.next) {
        this.stats.audio_late += 1;
        return;
      }
      this.buffer.set(useq, { packet, capture });
    });
    this.#adapt(arrivalMs);
  }

  #unwrap(seq16) {
    if (this.newest === null) return seq16;
    const delta = ((seq16 - this.newest + 0x8000) & 0xffff) - 0x8000;
    return this.newest + delta;
  }

  #captureMs(ts16, nowMs) {
    const wraps = Math.round((nowMs - this.epochMs - ts16) / 65536);
    return this.epochMs + ts16 + 65536 * wraps;
  }

  #adapt(nowMs) {
    if (this.delays.length < this.minArrivals) return;
    const target = Math.min(this.maxDelayMs, percentile(this.delays, 98) + this.marginMs);
    if (this.next === null) { // not playing: take the target at once
      this.delayMs = Math.max(this.frameMs, target);
      return;
    }
    if (nowMs - this.lastStep < 1000 || this.pendingStep) return;
    if (target > this.delayMs) this.pendingStep = 1;
    else if (target < this.delayMs - 1.5 * this.frameMs) this.pendingStep = -1;
  }

  tick(nowMs) {
    const out = [];
    if (this.next === null && !this.#start(nowMs)) return out;
    const frame = this.frameMs;
    while (this.next !== null && this.nextCapture + this.delayMs <= nowMs) {
      if (this.pendingStep > 0) { // grow: one concealed frame, the schedule moves a frame later
        this.pendingStep = 0;
        this.lastStep = nowMs;
        this.delayMs += frame;
        out.push({ kind: 'stretch', packet: null, playAtMs: this.nextCapture + this.delayMs - frame, captureMs: null });
        this.stats.audio_stretched += 1;
        this.stats.audio_frames_played += 1;
        continue;
      }
      const seq = this.next;
      const held = this.buffer.get(seq);
      this.buffer.delete(seq);
      if (this.pendingStep < 0 && held) { // shrink: skip this frame
        this.pendingStep = 0;
        this.lastStep = nowMs;
        this.delayMs -= frame;
        this.stats.audio_dropped += 1;
        this.#advance();
        continue;
      }
      if (!held && nowMs - this.lastArrival > this.pauseMs && (this.newest === null || this.newest < seq)) {
        this.next = null; // nothing newer for a while: the sender stopped (or muted), or a long outage
        this.pendingStep = 0;
        break;
      }
      out.push({ kind: held ? 'play' : 'conceal', packet: held ? held.packet : null, playAtMs: this.nextCapture + this.delayMs,
        captureMs: this.nextCapture });
      this.stats.audio_frames_played += 1;
      if (!held) this.stats.audio_concealed += 1;
      this.#advance();
    }
    return out;
  }

  #advance() {
    this.next += 1;
    this.nextCapture += this.frameMs;
  }

  /** Start (or resume) with the oldest buffered frame still in time (older ones are late). */
  #start(nowMs) {
    if (this.delays.length < this.minArrivals) return false;
    for (const seq of [...this.buffer.keys()].sort((a, b) => a - b)) {
      const { capture } = this.buffer.get(seq);
      if (capture + this.delayMs >= nowMs - this.frameMs) {
        this.next = seq;
        this.nextCapture = capture;
        return true;
      }
      this.buffer.delete(seq);
      this.stats.audio_late += 1;
    }
    return false;
  }
}

export class PageAudioPlayer {
  /**
   * `hello`: the other peer's (parsed, with `audio`). `context`: an AudioContext at 48 kHz (made
   * here if null). The jitter buffer and the decoder run in a worker (audio_player_worker.js), the
   * output in an AudioWorklet (audio_worklet.js): the main thread only posts the arrivals.
   */
  constructor({ hello, context = null, leadMs = LEAD_MS, onProblem = () => {} }) {
    this.onProblem = onProblem;
    this.closed = false;
    this.state = { delayMs: 0, playing: false };
    this.stats = {};
    this.context = context || new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' }); // the decoder's rate
    const outputLatencyMs = 1000 * ((this.context.baseLatency || 0) + (this.context.outputLatency || 0));
    this.worker = new Worker(new URL('./audio_player_worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => this.#fromWorker(e.data);
    this.worker.onerror = (e) => this.onProblem(`the speech player failed: ${e.message || e}`);
    this.worker.postMessage({ init: { hello: { epoch_ms: hello.epoch_ms, audio: hello.audio }, leadMs, outputLatencyMs } });
    this.ready = this.#output().catch((error) => this.onProblem(`the speech output failed: ${error.message || error}`));
    if (this.context.state === 'suspended') this.context.resume().catch(() => {});
  }

  /** The worklet, joined to the worker by a MessageChannel of their own. */
  async #output() {
    await this.context.audioWorklet.addModule(new URL('./audio_worklet.js', import.meta.url));
    if (this.closed) return;
    this.node = new AudioWorkletNode(this.context, 'frontal-speech', { numberOfInputs: 0, outputChannelCount: [1] });
    this.node.connect(this.context.destination);
    const channel = new MessageChannel();
    this.node.port.postMessage({ port: channel.port1 }, [channel.port1]);
    this.worker.postMessage({ port: channel.port2 }, [channel.port2]);
  }

  #fromWorker(m) {
    if (m.state) this.state = m.state;
    if (m.stats) this.stats = m.stats;
    if (m.closed) this.worker.terminate();
  }

  /** The playout delay (ms) while speech plays (lip sync holds the face by it); 0 otherwise. */
  get delayMs() { return this.state.playing ? this.state.delayMs : 0; }

  onAudio(parsed, arrivalMs = Date.now()) {
    if (this.closed) return;
    if (this.context.state === 'suspended') this.context.resume().catch(() => {}); // autoplay: after a gesture
    this.worker.postMessage({ frames: { seq: parsed.seq, timestamp_ms: parsed.timestamp_ms, frames: parsed.frames, arrivalMs } });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.worker.postMessage({ close: true }); // it reports, then is terminated
    setTimeout(() => this.context.close().catch(() => {}), 100);
  }

  snapshot() {
    return { ...this.stats, audio_context: this.context.state, audio_context_rate: this.context.sampleRate };
  }
}
