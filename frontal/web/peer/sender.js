// The sending half of the page peer, as sender/live.py SenderSide for a shape call (the only kind
// the page sends: the 478-point mesh FaceMesh gives is fitted to the shape model). Tracked frames
// in; driving messages (compact bundles) and source-view messages out. No DOM here: the view's
// image is coded by the caller (canvas.toBlob) and handed back with addEncodedView().
//
//   const sender = new PageSender({ fields, tables, fitter, shapeModelDigest });
//   control.send(sender.hello(Date.now()));
//   const out = sender.process(tracked, captureUnixMs, performance.now() / 1000, driving.bufferedAmount > 0);
//   out.driving -> driving channel; out.control -> control channel; out.view -> code its image, then
//   sender.addEncodedView(out.view, bytes, 'webp')
//
// Left out of the desktop sender: speech, and the send-phase alignment (docs/browser.md).
import { StreamEncoder, encodeIntraRecord, messages } from '../codec/index.js';
import { ViewSelector } from './views.js';

export const SENDER_DEFAULTS = Object.freeze({
  fps: 15,
  mode: 'predictive',
  intraPeriodS: 1.0,
  framesPerMessage: 2,
  viewKbps: 1.0,
  viewBurstBytes: 8192,
  maxBufferedBytes: 0,
});

/** Token bucket over view bytes (sender/live.py ViewPacer). */
export class ViewPacer {
  constructor(kbps, burstBytes) {
    this.rate = (kbps * 1000) / 8;
    this.burst = burstBytes;
    this.tokens = burstBytes;
    this.queue = [];
    this.t = null;
  }

  get busy() { return this.queue.length > 0; }

  push(list) { this.queue.push(...list); }

  take(now) {
    if (this.t !== null) this.tokens = Math.min(this.burst, this.tokens + (now - this.t) * this.rate);
    this.t = now;
    const out = [];
    while (this.queue.length && this.tokens >= this.queue[0].length) {
      const m = this.queue.shift();
      this.tokens -= m.length;
      out.push(m);
    }
    return out;
  }
}

export class PageSender {
  constructor({ fields, tables, fitter, shapeModelDigest, policy = {}, ...options }) {
    if (!fields.n_shape) throw new Error('the page sends shape calls only (a FieldSet with n_shape)');
    this.config = { ...SENDER_DEFAULTS, ...options };
    this.fields = fields;
    this.tables = tables;
    this.fitter = fitter;
    this.shapeModelDigest = shapeModelDigest;
    this.encoder = new StreamEncoder(fields, tables, { mode: this.config.mode, fps: this.config.fps, intraPeriodS: this.config.intraPeriodS });
    this.views = new ViewSelector(policy);
    this.pacer = new ViewPacer(this.config.viewKbps, this.config.viewBurstBytes);
    this.bundle = [];
    this.epochMs = null;
    this.viewOut = false;
    this.stats = { frames_encoded: 0, frames_stale_dropped: 0, frames_no_face: 0, payload_bits: 0, intra_frames: 0,
      driving_messages: 0, driving_bytes: 0, views_sent: 0, view_bytes_sent: 0, intra_requests_received: 0 };
  }

  /** The hello (text for the control channel); `epochMs`: Unix ms at stream timestamp 0. */
  hello(epochMs) {
    this.epochMs = epochMs;
    return messages.encodeControl({
      type: 'hello', fps: this.config.fps, mode: this.config.mode, frames_per_message: this.config.framesPerMessage,
      epoch_ms: epochMs, fields: { ...this.fields.toDict(), shape_model: this.shapeModelDigest },
    });
  }

  requestIntra() {
    this.stats.intra_requests_received += 1;
    this.encoder.requestIntra();
  }

  /**
   * One tracked frame (PageTracker.track; `image`: anything addEncodedView's caller can code, e.g.
   * a canvas of the crop, kept only with a view candidate). Returns {driving: Uint8Array | null,
   * control: [Uint8Array], view: candidate to code | null, encoded: [frame]}. Frames before the
   * first face are not coded (nothing to fit); after it, a frame without a face repeats the last
   * mesh, as sender/tracker.py does.
   */
  process(tracked, captureUnixMs, nowS, congested = false, image = null) {
    if (this.epochMs === null) throw new Error('send hello() first');
    const out = { driving: null, control: [], view: null, encoded: [] };
    let record = null;
    if (tracked.faceFound || this.hadFace) {
      this.hadFace = true;
      record = this.fitter.record(tracked.landmarks);
      this.lastRecord = record;
    }
    const before = this.views.best;
    this.views.consider(tracked, { image: null, record });
    if (this.views.best !== before && this.views.best !== null) this.views.best.image = typeof image === 'function' ? image() : image;
    if (!this.pacer.busy && !this.viewOut && this.views.ready()) {
      out.view = this.views.take();
      this.viewOut = true;
    }
    out.control = this.pacer.take(nowS);
    this.stats.view_bytes_sent += out.control.reduce((s, m) => s + m.length, 0);
    if (record === null) {
      this.stats.frames_no_face += 1;
      return out;
    }
    if (congested && !this.bundle.length) {
      this.stats.frames_stale_dropped += 1;
      return out;
    }
    const enc = this.encoder.encode(record, Math.trunc(captureUnixMs - this.epochMs));
    this.stats.frames_encoded += 1;
    this.stats.payload_bits += enc.payloadBits;
    this.stats.intra_frames += enc.intra ? 1 : 0;
    this.bundle.push(enc);
    out.encoded.push(enc);
    if (this.bundle.length >= this.config.framesPerMessage) out.driving = this.flush();
    return out;
  }

  /** The last coded pose again, as a new frame, sent at once with whatever waits (one driving
   * message; null before the first face). The page's muted video: the other keeps the last pose
   * and still hears from us (a desktop peer hangs up after 5 s without a driving message). */
  repeat(captureUnixMs) {
    if (!this.lastRecord || this.epochMs === null) return null;
    const enc = this.encoder.encode(this.lastRecord, Math.trunc(captureUnixMs - this.epochMs));
    this.stats.frames_encoded += 1;
    this.stats.payload_bits += enc.payloadBits;
    this.stats.intra_frames += enc.intra ? 1 : 0;
    this.bundle.push(enc);
    return this.flush();
  }

  /** The frames waiting, as one compact bundle (null if none). */
  flush() {
    if (!this.bundle.length) return null;
    const message = messages.packDriving(this.bundle.map((e) => e.packet));
    this.bundle = [];
    this.stats.driving_messages += 1;
    this.stats.driving_bytes += message.length;
    return message;
  }

  /** A view handed out by process() comes back coded (`data` bytes in `format`, or null when
   * coding failed): its messages (a shape view start, 0xF7, with the view's own record) go out
   * paced with the next frames. */
  addEncodedView(view, data, format) {
    this.viewOut = false;
    if (!data || data.length > messages.MAX_VIEW_BYTES || !view.record) return false;
    const index = this.views.sent.length - 1;
    const record = encodeIntraRecord(this.fields, view.record, this.config.mode, this.tables);
    this.pacer.push(messages.viewMessages(index, format, data, view.yaw, view.pitch, null, record));
    this.stats.views_sent += 1;
    return true;
  }
}
