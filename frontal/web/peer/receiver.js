// The receiving half of the page peer (receiver/live.py ReceiverSide, for shape calls): the other
// peer's hello, source views and driving messages in; rendered 256x256 RGBA frames out, each at
// its time. No DOM here but the default image decoder (`decodeViewImage`: createImageBitmap and a
// canvas), so the logic runs in Node with a decoder and timers of its own (tests/js/receiver.test.mjs).
//
//   const rx = new PageReceiver({ tables, shapeModel, shapeModelDigest, renderer,
//     sendControl: (text) => control.send(text), onFrame: (rgba, info) => draw(rgba) });
//   rx.onControlText(text) / rx.onControlBinary(bytes) / rx.onDriving(data)   // from the channels
//
// As the desktop: a driving message is a compact bundle (or speech frames, 0xA0/0xA1, in front of
// one), rebuilt into codec packets with a `CompactContext` and decoded by a `StreamDecoder`; a
// broken reference chain (`MissingReference`) holds the last frame and, after `intraAfter` in a
// row, sends `intra-request` (at most every `intraIntervalMs`); a packet older than one decoded is
// late and dropped; anything that does not parse is dropped and counted. Nothing thrown by a
// message, a decoder, the image decoder or the renderer leaves these handlers.
//
// Schedule (receiver/live.py's): the frames of one message are due one after another from its
// arrival, spaced as their capture timestamps are (a 2-frame bundle: the first at once, the second
// one frame period later), plus `playoutDelayMs` (0). A frame due while a newer one is also due is
// skipped (`frames_dropped_late`), never queued. Lip sync: `extraDelayMs()` (the speech's playout
// delay, 0 without speech; the audio player sets it) holds each frame until its capture time plus
// that delay, less the mean render time, as the desktop does.
import { CodecError, FieldSet, MessageError, MissingReference, StreamDecoder, decodeIntraRecord, messages, wire } from '../codec/index.js';

export const RECEIVER_DEFAULTS = Object.freeze({
  intraAfter: 3, // unusable packets in a row before asking for an intra frame
  intraIntervalMs: 500, // at most one request per interval
  playoutDelayMs: 0, // added to every frame's due time
  maxSpacingMs: 1000, // a timestamp gap within one message larger than this is not waited for
  viewSize: 256,
});

const SAMPLES = 2048; // render times and latencies kept for the percentiles

/** Sequence numbers received and lost (codec.callstats.SeqCounter: gaps in the 16-bit numbers). */
export class SeqCounter {
  constructor() {
    this.highest = null; // unwrapped
    this.first = null;
    this.received = 0;
  }

  unwrap(seq) {
    if (this.highest === null) return seq;
    return this.highest + ((((seq - this.highest + 0x8000) & 0xffff) + 0x10000) % 0x10000) - 0x8000;
  }

  add(seq) {
    const u = this.unwrap(seq);
    if (this.highest === null) this.first = this.highest = u;
    this.first = Math.min(this.first, u);
    this.highest = Math.max(this.highest, u);
    this.received += 1;
    return u;
  }

  get lost() {
    return this.highest === null ? 0 : Math.max(0, this.highest - this.first + 1 - this.received);
  }
}

/** A bounded list of samples with mean (of all) and percentiles (of the last SAMPLES). */
export class Samples {
  constructor() {
    this.values = [];
    this.count = 0;
    this.total = 0;
  }

  add(v) {
    this.count += 1;
    this.total += v;
    this.values.push(v);
    if (this.values.length > SAMPLES) this.values.shift();
  }

  get mean() { return this.count ? this.total / this.count : null; }

  percentile(p) {
    if (!this.values.length) return null;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  }
}

/** An image of a view (webp, jpeg or avif bytes) as {data: RGBA, width, height}, in the page. */
export async function decodeViewImage(bytes, format, size = RECEIVER_DEFAULTS.viewSize) {
  const bitmap = await createImageBitmap(new Blob([bytes], { type: `image/${format}` }));
  try {
    if (bitmap.width !== size || bitmap.height !== size) throw new MessageError(`a view of ${bitmap.width}x${bitmap.height}, expected ${size}x${size}`);
    const canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(size, size) : Object.assign(document.createElement('canvas'), { width: size, height: size });
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    const { data, width, height } = ctx.getImageData(0, 0, size, size);
    return { data, width, height };
  } finally {
    bitmap.close();
  }
}

const browserTimers = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (id) => clearTimeout(id),
};

export class PageReceiver {
  /**
   * `tables`: the shape tables (shape.json); `shapeModel` (peer/shape.js ShapeModel) and
   * `shapeModelDigest` (the manifest's): a hello must name that model; `renderer`: an object with
   * `addViewRecord({data, width, height}, record)` and `render(record) -> {image}` (render/index.js
   * PageMeshRenderer); `sendControl(text)`: the control channel; `onFrame(rgba, info)`: a frame to
   * draw, info {seq, captureMs, latencyMs}; `onAudio(parsed, arrivalMs)`: speech frames
   * (messages.parseAudio's object); `onHello(hello)`, `onProblem(text)`: for the page's status.
   * `decodeImage(bytes, format) -> Promise<{data, width, height}>` and `timers` {now, wallNow,
   * set, clear} default to the browser's.
   */
  constructor({ tables, shapeModel, shapeModelDigest, renderer, sendControl = () => {}, onFrame = () => {},
    onAudio = null, onHello = () => {}, onProblem = () => {}, decodeImage = decodeViewImage, timers = browserTimers,
    ...options } = {}) {
    this.config = { ...RECEIVER_DEFAULTS, ...options };
    Object.assign(this, { tables, shapeModel, shapeModelDigest, renderer, sendControl, onFrame, onAudio, onHello, onProblem, decodeImage, timers });
    this.extraDelayMs = () => 0; // lip sync: the audio player sets this (the speech's playout delay, ms)
    this.hello = null;
    this.decoder = null;
    this.seqs = new SeqCounter();
    this.newest = null; // unwrapped seq of the newest decoded packet
    this.failures = 0;
    this.lastRequest = -Infinity;
    this.poses = []; // [{due, pose}] in due order
    this.lastDue = -Infinity;
    this.timer = null;
    this.rendering = false; // a frame with the renderer (in a worker)
    this.waiting = null; // the newest frame due meanwhile
    this.closed = false;
    this.views = new messages.ViewAssembler();
    this.viewWork = Promise.resolve(); // views are decoded and added in order
    this.viewsAdded = 0;
    this.lastDrivingMs = null; // local time of the last driving message (the call's silence check)
    this.renderMs = new Samples();
    this.latencyMs = new Samples();
    this.firstRenderMs = null;
    this.lastRenderMs = null;
    this.recentRenders = []; // local times of the last renders (the live FPS)
    this.stats = {
      driving_messages_received: 0, driving_bytes_received: 0, packets_received: 0, packets_lost: 0,
      packets_late: 0, packets_decoded: 0, packets_unusable: 0, packets_bad: 0, frames_rendered: 0,
      frames_dropped_late: 0, frames_before_view: 0, render_errors: 0, views_received: 0, control_bad: 0,
      intra_requests_sent: 0, audio_messages_received: 0, audio_bad: 0, last_problem: null,
    };
  }

  // -- control channel ---------------------------------------------------------------------------

  /** A text control message that is not ours to handle (hello only; the call handles the rest):
   * returns the parsed message, or null when it was refused (counted, `control_bad`). */
  onControlText(text) {
    let msg;
    try {
      msg = messages.parseControl(text);
      if (msg.type === 'hello') this.#hello(msg);
    } catch (error) {
      this.#bad('control_bad', `control message refused: ${error.message || error}`);
      return null;
    }
    return msg;
  }

  #hello(hello) {
    const fields = FieldSet.fromDict(hello.fields);
    if (!fields.n_shape) {
      throw new MessageError('the other caller sends landmarks (frontal call --renderer neural): this page draws shape calls only (--renderer mesh)');
    }
    if (hello.fields.shape_model !== this.shapeModelDigest) {
      throw new MessageError(`the other caller's shape model ${String(hello.fields.shape_model).slice(0, 12)}... is not ours (${String(this.shapeModelDigest).slice(0, 12)}...)`);
    }
    if (fields.n_shape > this.shapeModel.k) throw new MessageError(`the other caller codes ${fields.n_shape} shape coefficients, our shape model has ${this.shapeModel.k}`);
    this.decoder = new StreamDecoder(fields, this.tables);
    this.hello = hello;
    this.lastDrivingMs = this.timers.now(); // the silence check starts here (as the desktop's)
    this.onHello(hello);
  }

  /** A binary control message: a piece of a source view. */
  onControlBinary(data) {
    let view;
    try {
      view = this.views.add(data);
    } catch (error) {
      this.#bad('control_bad', `source view refused: ${error.message || error}`);
      return;
    }
    if (view !== null) this.#view(...view);
  }

  #view(meta, bytes) {
    let record;
    try {
      if (meta.record === null) throw new MessageError("a shape call's view lacks its shape record");
      if (!this.decoder || !this.hello) throw new MessageError('a view before the hello');
      record = decodeIntraRecord(this.decoder.fields, meta.record, this.hello.mode, this.decoder.tables);
    } catch (error) {
      this.#bad('control_bad', `source view ${meta.index} refused: ${error.message || error}`);
      return;
    }
    const add = async () => {
      try {
        const image = await this.decodeImage(bytes, meta.format);
        if (image.width !== this.config.viewSize || image.height !== this.config.viewSize) {
          throw new MessageError(`a view of ${image.width}x${image.height}, expected ${this.config.viewSize}x${this.config.viewSize}`);
        }
        if (this.closed) return;
        await this.renderer.addViewRecord(image, record); // a promise with a renderer in a worker
        this.viewsAdded += 1;
        this.stats.views_received += 1;
      } catch (error) {
        this.#bad('control_bad', `source view ${meta.index} refused: ${error.message || error}`);
      }
    };
    this.viewWork = this.viewWork.then(add);
  }

  // -- driving channel ---------------------------------------------------------------------------

  /** One driving-channel message (ArrayBuffer, bytes or, wrongly, text). */
  onDriving(data) {
    const arrival = this.timers.now();
    this.lastDrivingMs = arrival;
    this.stats.driving_messages_received += 1;
    try {
      if (typeof data === 'string') throw new MessageError('driving message is text');
      let message = data instanceof Uint8Array ? data : new Uint8Array(data);
      this.stats.driving_bytes_received += message.length;
      if (messages.isAudio(message)) {
        let audio;
        try {
          audio = messages.parseAudio(message);
        } catch (error) {
          this.#bad('audio_bad', `audio message dropped: ${error.message || error}`);
          return;
        }
        this.stats.audio_messages_received += 1;
        if (this.onAudio) {
          try {
            this.onAudio(audio, this.timers.wallNow());
          } catch (error) {
            this.stats.last_problem = `the audio player failed: ${error.message || error}`;
          }
        }
        if (audio.driving === null) return;
        message = audio.driving;
      }
      this.#bundle(message, arrival);
    } catch (error) {
      this.#bad('packets_bad', `driving message dropped: ${error.message || error}`);
    }
  }

  #bundle(message, arrival) {
    if (!messages.isCompact(message)) throw new MessageError(`not a compact bundle (type byte 0x${(message[0] ?? 0).toString(16)})`);
    const decoder = this.decoder, hello = this.hello;
    if (!decoder || !hello) {
      this.stats.packets_unusable += 1; // before the hello: we do not know the stream yet
      return;
    }
    const newest = this.seqs.highest === null ? null : this.seqs.highest & 0xffff;
    const frames = messages.parseDriving(message, new messages.CompactContext(hello.mode, newest, decoder.intraSeq));
    const poses = [];
    for (const packet of frames) {
      const pose = this.#frame(decoder, packet);
      if (pose) poses.push(pose);
    }
    if (!poses.length) return;
    let extra = 0;
    try {
      extra = Number(this.extraDelayMs()) || 0;
    } catch (error) {
      this.stats.last_problem = `the lip-sync delay failed: ${error.message || error}`;
    }
    const renderMean = this.renderMs.mean || 0;
    const ts0 = poses[0].ts;
    for (const pose of poses) {
      const spacing = Math.min(this.config.maxSpacingMs, (pose.ts - ts0 + 0x10000) % 0x10000);
      let due = arrival + spacing + this.config.playoutDelayMs;
      if (extra > 0) due = Math.max(due, arrival + (pose.captureMs + extra - this.timers.wallNow()) - renderMean);
      due = Math.max(due, this.lastDue); // in order
      this.lastDue = due;
      this.poses.push({ due, pose });
    }
    this.#arm();
  }

  #frame(decoder, packet) {
    const useq = this.seqs.add(packet.seq);
    this.stats.packets_received = this.seqs.received;
    this.stats.packets_lost = this.seqs.lost;
    if (this.newest !== null && useq <= this.newest) {
      this.stats.packets_late += 1;
      return null;
    }
    let frame;
    try {
      frame = decoder.decode(wire.pack(packet));
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.stats[error instanceof MissingReference ? 'packets_unusable' : 'packets_bad'] += 1;
      this.#failed();
      return null;
    }
    this.failures = 0;
    this.newest = useq;
    this.stats.packets_decoded += 1;
    return { record: frame.record, seq: frame.seq, ts: frame.timestamp_ms, captureMs: this.captureMs(frame.timestamp_ms) };
  }

  #failed() {
    this.failures += 1;
    const now = this.timers.now();
    if (this.failures >= this.config.intraAfter && now - this.lastRequest >= this.config.intraIntervalMs) {
      this.lastRequest = now;
      this.failures = 0;
      this.stats.intra_requests_sent += 1;
      try {
        this.sendControl(messages.encodeControl({ type: 'intra-request' }));
      } catch (error) {
        this.stats.last_problem = `intra-request not sent: ${error.message || error}`;
      }
    }
  }

  /** The sender's Unix time of capture, from a 16-bit timestamp and the hello's epoch. */
  captureMs(ts16) {
    const epoch = this.hello.epoch_ms;
    const wraps = Math.round((this.timers.wallNow() - epoch - ts16) / 65536);
    return epoch + ts16 + 65536 * wraps;
  }

  // -- drawing -----------------------------------------------------------------------------------

  #arm() {
    if (this.closed || this.timer !== null || !this.poses.length) return;
    const wait = Math.max(0, this.poses[0].due - this.timers.now());
    this.timer = this.timers.set(() => {
      this.timer = null;
      this.tick();
    }, wait);
  }

  /** Render the newest frame that is due (the older due ones are skipped); true if one was drawn. */
  tick(now = this.timers.now()) {
    let pose = null;
    while (this.poses.length && this.poses[0].due <= now) {
      if (pose !== null) this.stats.frames_dropped_late += 1;
      pose = this.poses.shift().pose;
    }
    let drawn = false;
    if (pose !== null && !this.closed) {
      if (!this.viewsAdded) {
        this.stats.frames_before_view += 1; // nothing to draw from yet
      } else if (this.rendering) { // a renderer in a worker still busy: this one waits, replacing an older one
        if (this.waiting) this.stats.frames_dropped_late += 1;
        this.waiting = pose;
      } else {
        drawn = this.#render(pose);
      }
    }
    this.#arm();
    return drawn;
  }

  /** Render `pose`: at once (true if drawn), or, where `render` returns a promise (a renderer in a
   * worker), when it resolves (true: started). */
  #render(pose) {
    const t = this.timers.now();
    let out;
    try {
      out = this.renderer.render(pose.record);
    } catch (error) {
      return this.#renderFailed(pose, error);
    }
    if (!out || typeof out.then !== 'function') return this.#drawn(pose, out, t);
    this.rendering = true;
    out.then((o) => this.#drawn(pose, o, t), (error) => this.#renderFailed(pose, error)).finally(() => {
      this.rendering = false;
      const next = this.waiting;
      this.waiting = null;
      if (next && !this.closed) this.#render(next);
    });
    return true;
  }

  #renderFailed(pose, error) {
    this.stats.render_errors += 1;
    this.stats.last_problem = `rendering frame ${pose.seq} failed: ${error.message || error}`;
    return false;
  }

  /** A rendered frame {image, ms (the renderer's own time, else measured from `t`)} to onFrame. */
  #drawn(pose, out, t) {
    if (!out || !out.image) return this.#renderFailed(pose, new Error('the renderer gave no image'));
    if (this.closed) return false;
    const latencyMs = this.timers.wallNow() - pose.captureMs;
    try {
      this.onFrame(out.image, { seq: pose.seq, captureMs: pose.captureMs, latencyMs });
    } catch (error) {
      this.stats.last_problem = `drawing frame ${pose.seq} failed: ${error.message || error}`;
    }
    const end = this.timers.now();
    this.renderMs.add(typeof out.ms === 'number' ? out.ms : end - t);
    this.latencyMs.add(latencyMs);
    this.stats.frames_rendered += 1;
    if (this.firstRenderMs === null) this.firstRenderMs = end;
    this.lastRenderMs = end;
    this.recentRenders.push(end);
    while (this.recentRenders.length && this.recentRenders[0] < end - 5000) this.recentRenders.shift();
    return true;
  }

  #bad(counter, text) {
    this.stats[counter] += 1;
    this.stats.last_problem = text;
    try {
      this.onProblem(text);
    } catch { /* the page's status only */ }
  }

  close() {
    this.closed = true;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.poses = [];
    this.waiting = null;
  }

  /** Counters and derived figures: render ms mean/p95, rendered FPS (the whole call and the last
   * 5 s), latency (sender's capture to drawn) mean/p50/p95. */
  snapshot() {
    const now = this.timers.now();
    const span = this.firstRenderMs === null ? 0 : (this.lastRenderMs - this.firstRenderMs) / 1000;
    const recent = this.recentRenders.filter((t) => t >= now - 5000).length;
    return {
      ...this.stats,
      render_ms_mean: this.renderMs.mean,
      render_ms_p95: this.renderMs.percentile(95),
      fps_rendered: span > 0 ? (this.stats.frames_rendered - 1) / span : null,
      fps_rendered_recent: recent / 5,
      latency_ms_mean: this.latencyMs.mean,
      latency_ms_p50: this.latencyMs.percentile(50),
      latency_ms_p95: this.latencyMs.percentile(95),
      remote_fps: this.hello ? this.hello.fps : null,
    };
  }
}
