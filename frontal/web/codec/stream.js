// Streams of driving records (codec/stream.py): the sender's StreamEncoder and the receiver's
// StreamDecoder. The encoder makes an intra frame first, then one per `intraPeriodS` and on
// request; the decoder checks the chain of references and raises MissingReference (a CodecError)
// after a loss until the next intra frame.

import { CodecError, MissingReference } from './errors.js';
import { CoderState, FrameCoder } from './frame_coder.js';
import { rint } from './quant.js';
import * as wire from './wire.js';

/** `record` coded alone: the intra payload a fresh stream would send (codec.stream.encode_intra_record). */
export function encodeIntraRecord(fields, record, mode, tables) {
  const coder = new FrameCoder(fields, tables, mode);
  return coder.encode(coder.quantizer.quantize(record), new CoderState(), true);
}

/** The record of an encodeIntraRecord payload (CodecError if it does not decode). */
export function decodeIntraRecord(fields, payload, mode, tables) {
  const coder = new FrameCoder(fields, tables, mode);
  return coder.quantizer.dequantize(coder.decode(payload, new CoderState(), true));
}

export class StreamEncoder {
  constructor(fields, tables, { mode = 'predictive', fps = 15.0, intraPeriodS = 1.0 } = {}) {
    if (!(fps > 0)) throw new RangeError('fps must be positive');
    this.fields = fields;
    this.tables = tables;
    this.coder = new FrameCoder(fields, tables, mode);
    this.quantizer = this.coder.quantizer;
    this.mode = mode;
    this.fps = fps;
    this.intraPeriod = Math.max(1, Math.min(wire.MAX_DEPENDENCY, rint(fps * intraPeriodS)));
    this.state = new CoderState();
    this.seq = 0;
    this.lastIntraSeq = null;
    this.intraRequested = true;
    this.t0 = null;
  }

  /** The next frame will be an intra frame (e.g. the receiver asked for one). */
  requestIntra() {
    this.intraRequested = true;
  }

  /** Quantize and code one record; {packet, seq, intra, q, payloadBits, headerBits}. */
  encode(record, timestampMs = null) {
    return this.encodeQuantized(this.quantizer.quantize(record), timestampMs);
  }

  /** Code one already quantized vector (the same path as `encode` after quantization). */
  encodeQuantized(q, timestampMs = null) {
    if (timestampMs === null) {
      const now = performance.now();
      if (this.t0 === null) this.t0 = now;
      timestampMs = Math.trunc(now - this.t0);
    }
    const since = this.lastIntraSeq === null ? null : (this.seq - this.lastIntraSeq) & 0xffff;
    const intra = this.intraRequested || since === null || since >= this.intraPeriod;
    const payload = this.coder.encode(q, this.state, intra);
    let dep = 0;
    if (intra) {
      this.lastIntraSeq = this.seq;
      this.intraRequested = false;
    } else {
      dep = (this.seq - this.lastIntraSeq) & 0xffff;
    }
    const packet = wire.pack({ seq: this.seq, timestamp_ms: timestampMs & 0xffff, intra, mode: this.mode, dependency: dep, payload });
    const out = { packet, seq: this.seq, intra, q: q.slice(), payloadBits: 8 * payload.length, headerBits: wire.OVERHEAD_BITS };
    this.seq = (this.seq + 1) & 0xffff;
    return out;
  }
}

export class StreamDecoder {
  constructor(fields, tables) {
    this.fields = fields;
    this.tables = tables;
    this.coders = {};
    for (const m of Object.keys(wire.MODE_IDS)) this.coders[m] = new FrameCoder(fields, tables, m);
    this.state = new CoderState();
    this.lastSeq = null;
    this.intraSeq = null;
    this.mode = null;
  }

  get synced() {
    return this.lastSeq !== null;
  }

  /** One packet -> {record, seq, timestamp_ms, intra, q}; CodecError / MissingReference if unusable. */
  decode(data) {
    const pkt = wire.unpack(data);
    if (!pkt.intra) {
      if (this.lastSeq === null || this.intraSeq === null) throw new MissingReference(`packet ${pkt.seq}: no intra frame decoded yet`);
      if (pkt.seq !== ((this.lastSeq + 1) & 0xffff) || wire.dependsOn(pkt) !== this.intraSeq || pkt.mode !== this.mode) {
        this.lastSeq = null;
        throw new MissingReference(`packet ${pkt.seq}: reference frames missing (needs intra ${wire.dependsOn(pkt)})`);
      }
    }
    const trial = this.state.copy();
    let q;
    try {
      q = this.coders[pkt.mode].decode(pkt.payload, trial, pkt.intra);
    } catch (exc) {
      if (exc instanceof CodecError && !pkt.intra) this.lastSeq = null;
      throw exc;
    }
    this.state = trial;
    this.lastSeq = pkt.seq;
    this.mode = pkt.mode;
    if (pkt.intra) this.intraSeq = pkt.seq;
    return { record: this.coders[pkt.mode].quantizer.dequantize(q), seq: pkt.seq, timestamp_ms: pkt.timestamp_ms, intra: pkt.intra, q };
  }
}
