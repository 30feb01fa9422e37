// The call's data-channel messages (codec/messages.py, protocol version 2; docs/bitstream.md):
// compact bundles (and speech frames, 0xA0/0xA1) on the driving channel, JSON control messages and binary source views on the
// control channel. A message that does not parse raises MessageError naming the reason.

import { CodecError, MessageError } from './errors.js';
import { rint } from './quant.js';
import * as wire from './wire.js';

export const PROTOCOL_VERSION = 2;
export const DRIVING_LABEL = 'frontal-driving';
export const CONTROL_LABEL = 'frontal-control';
export const DRIVING_CHANNEL_ID = 0;
export const CONTROL_CHANNEL_ID = 1;
export const MAX_CONTROL_TEXT = 4096;
export const MAX_VIEWS = 5;
export const MAX_VIEW_BYTES = 65536;
export const MAX_BUNDLE = 4;
export const AUDIO_ONLY_TYPE = 0xa0; // a driving-channel message of speech frames alone
export const AUDIO_DRIVING_TYPE = 0xa1; // speech frames, then a compact bundle, in one message
export const MAX_AUDIO_FRAMES = 16;
export const MAX_AUDIO_PACKET = 1275; // RFC 6716: the largest Opus frame
export const COMPACT_TYPE = 0x40;
export const VIEW_CHUNK_MAGIC = 0xf5;
export const VIEW_START_MAGIC = 0xf6;
export const SHAPE_VIEW_START_MAGIC = 0xf7;
export const MAX_VIEW_RECORD = 255;
export const VIEW_FORMATS = ['webp', 'jpeg', 'avif'];
export const VIEW_UNIT = 1e-4;
const VIEW_START_SIZE = 11; // magic, index, format, size - 1, yaw, pitch, landmarks
const CHUNK_HEAD_SIZE = 4;
export const VIEW_MESSAGE_BYTES = 1144;
export const MAX_VIEW_LANDMARKS = Math.floor((VIEW_MESSAGE_BYTES - VIEW_START_SIZE - 1) / 4); // 283
export const MAX_VARINT = 0xffff;

function bytesOf(message) {
  if (message instanceof Uint8Array) return message;
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  throw new MessageError('binary message expected');
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// --- driving channel ----------------------------------------------------------------------------

/** What a receiver knows that a compact bundle leaves out (codec.messages.CompactContext). */
export class CompactContext {
  constructor(mode, newestSeq = null, intraSeq = null) {
    this.mode = mode;
    this.newestSeq = newestSeq; // the newest 16-bit sequence number received (null: none yet)
    this.intraSeq = intraSeq; // the intra frame the receiver's decoder holds (null: none)
  }

  /** The 16-bit sequence number nearest the newest one received with these low 8 bits. */
  extend(seq8) {
    if (this.newestSeq === null) return seq8;
    const delta = ((seq8 - this.newestSeq + 0x80) & 0xff) - 0x80;
    return (this.newestSeq + delta) & 0xffff;
  }
}

function varint(n) {
  if (!Number.isInteger(n) || n < 0 || n > MAX_VARINT) throw new RangeError(`varint out of range: ${n}`);
  const out = [];
  for (;;) {
    const low = n & 0x7f;
    n >>= 7;
    out.push(low | (n ? 0x80 : 0));
    if (!n) return out;
  }
}

function readVarint(message, pos, what = 'compact bundle') {
  let value = 0;
  for (let k = 0; k < 3; k++) {
    if (pos + k >= message.length) throw new MessageError(`${what}: truncated`);
    const byte = message[pos + k];
    value |= (byte & 0x7f) << (7 * k);
    if (!(byte & 0x80)) {
      if (k && byte === 0) throw new MessageError(`${what}: varint not minimal`);
      if (value > MAX_VARINT) throw new MessageError(`${what}: varint over 65535`);
      return [value, pos + k + 1];
    }
  }
  throw new MessageError(`${what}: varint over 3 bytes`);
}

/** One driving message: a compact bundle of 1..4 consecutive codec packets of one coding mode. */
export function packDriving(packets) {
  if (!(packets.length >= 1 && packets.length <= MAX_BUNDLE)) {
    throw new MessageError(`a compact bundle carries 1..${MAX_BUNDLE} frames, not ${packets.length}`);
  }
  let frames;
  try {
    frames = packets.map((p) => wire.unpack(bytesOf(p)));
  } catch (exc) {
    if (exc instanceof CodecError) throw new MessageError(`not a codec packet: ${exc.message}`);
    throw exc;
  }
  const first = frames[0];
  let head = COMPACT_TYPE | (frames.length - 1);
  const deltas = [];
  const lengths = [];
  frames.forEach((f, k) => {
    if (f.mode !== first.mode) throw new MessageError('compact bundle: frames of different coding modes');
    if (k && f.seq !== ((frames[k - 1].seq + 1) & 0xffff)) throw new MessageError('compact bundle: frames are not consecutive');
    if (k && !f.intra && f.dependency !== frames[k - 1].dependency + 1) {
      throw new MessageError('compact bundle: a frame does not depend on the previous frame\'s intra frame');
    }
    head |= (f.intra ? 1 : 0) << (2 + k);
    if (k) deltas.push(...varint((f.timestamp_ms - frames[k - 1].timestamp_ms) & 0xffff));
    if (k < frames.length - 1) lengths.push(...varint(f.payload.length));
  });
  const header = Uint8Array.from([head, first.seq & 0xff, first.timestamp_ms >> 8, first.timestamp_ms & 0xff, ...deltas, ...lengths]);
  return concat([header, ...frames.map((f) => f.payload)]);
}

/** Whether a driving message has a compact bundle's type (first byte 0x40..0x7F). */
export function isCompact(message) {
  return message.length > 0 && message[0] >> 6 === COMPACT_TYPE >> 6;
}

/**
 * The frames of one driving message as packet objects rebuilt from `context` (wire.pack them for
 * the decoder); MessageError if it is not a well-formed compact bundle.
 */
export function parseDriving(message, context) {
  if (typeof message === 'string') throw new MessageError('driving message is text, not a compact bundle');
  message = bytesOf(message);
  if (!message.length) throw new MessageError('empty driving message');
  if (!isCompact(message)) throw new MessageError(`not a compact bundle (type byte 0x${message[0].toString(16).padStart(2, '0')})`);
  if (!(context.mode in wire.MODE_IDS)) throw new MessageError(`compact bundle: unknown coding mode ${context.mode}`);
  if (message.length < 4) throw new MessageError('compact bundle: truncated header');
  const head = message[0];
  const seq8 = message[1];
  let ts = (message[2] << 8) | message[3];
  const count = (head & 0x3) + 1;
  if ((head & 0x3f) >> (2 + count)) throw new MessageError('compact bundle: intra flag set for a frame beyond the count');
  const intra = [];
  for (let k = 0; k < count; k++) intra.push(Boolean((head >> (2 + k)) & 1));
  let pos = 4;
  const deltas = [];
  const lengths = [];
  for (let k = 0; k < count - 1; k++) {
    let d;
    [d, pos] = readVarint(message, pos);
    deltas.push(d);
  }
  for (let k = 0; k < count - 1; k++) {
    let n;
    [n, pos] = readVarint(message, pos);
    lengths.push(n);
  }
  const total = lengths.reduce((a, b) => a + b, 0);
  if (pos + total > message.length) throw new MessageError('compact bundle: payloads truncated');
  lengths.push(message.length - pos - total);
  let seq = context.extend(seq8);
  let intraSeq = context.intraSeq;
  const frames = [];
  for (let k = 0; k < count; k++) {
    if (k) {
      seq = (seq + 1) & 0xffff;
      ts = (ts + deltas[k - 1]) & 0xffff;
    }
    let dep;
    if (intra[k]) {
      intraSeq = seq;
      dep = 0;
    } else {
      dep = intraSeq !== null ? (seq - intraSeq) & 0xffff : 0;
      if (!(dep >= 1 && dep <= wire.MAX_DEPENDENCY)) dep = 1; // no usable intra frame: the decoder refuses it
    }
    frames.push({ seq, timestamp_ms: ts, intra: intra[k], mode: context.mode, dependency: dep, payload: message.slice(pos, pos + lengths[k]) });
    pos += lengths[k];
  }
  return frames;
}

// --- audio (driving channel) --------------------------------------------------------------------

export function isAudio(message) {
  return message.length > 0 && (message[0] === AUDIO_ONLY_TYPE || message[0] === AUDIO_DRIVING_TYPE);
}

/** 1..16 speech frames (Opus packets), alone (0xA0) or in front of a compact bundle (0xA1). */
export function packAudio(seq, timestampMs, frames, driving = null) {
  if (!(frames.length >= 1 && frames.length <= MAX_AUDIO_FRAMES)) {
    throw new MessageError(`an audio message carries 1..${MAX_AUDIO_FRAMES} frames, not ${frames.length}`);
  }
  frames = frames.map(bytesOf);
  if (frames.some((f) => !(f.length >= 1 && f.length <= MAX_AUDIO_PACKET))) throw new MessageError(`an audio frame is 1..${MAX_AUDIO_PACKET} bytes`);
  if (driving !== null && !isCompact(bytesOf(driving))) throw new MessageError('audio goes in front of a compact bundle only');
  const head = [driving === null ? AUDIO_ONLY_TYPE : AUDIO_DRIVING_TYPE, frames.length - 1, (seq >> 8) & 0xff, seq & 0xff,
    (timestampMs >> 8) & 0xff, timestampMs & 0xff];
  for (const f of frames) head.push(...varint(f.length));
  return concat([Uint8Array.from(head), ...frames, driving === null ? new Uint8Array(0) : bytesOf(driving)]);
}

/** An 0xA0 or 0xA1 message -> {seq, timestamp_ms, frames, driving (a compact bundle or null)}. */
export function parseAudio(message) {
  message = bytesOf(message);
  if (message.length < 6) throw new MessageError('audio message: truncated header');
  const kind = message[0];
  const count1 = message[1];
  const seq = (message[2] << 8) | message[3];
  const ts = (message[4] << 8) | message[5];
  if (kind !== AUDIO_ONLY_TYPE && kind !== AUDIO_DRIVING_TYPE) throw new MessageError(`not an audio message (type byte 0x${kind.toString(16)})`);
  if (count1 >> 4) throw new MessageError('audio message: reserved bits set in the frame count');
  let pos = 6;
  const lengths = [];
  for (let k = 0; k <= count1; k++) {
    let n;
    [n, pos] = readVarint(message, pos, 'audio message');
    if (!(n >= 1 && n <= MAX_AUDIO_PACKET)) throw new MessageError(`audio message: a frame of ${n} bytes`);
    lengths.push(n);
  }
  if (pos + lengths.reduce((a, b) => a + b, 0) > message.length) throw new MessageError('audio message: frames truncated');
  const frames = lengths.map((n) => {
    const f = message.slice(pos, pos + n);
    pos += n;
    return f;
  });
  const rest = message.slice(pos);
  if (kind === AUDIO_ONLY_TYPE) {
    if (rest.length) throw new MessageError('audio message: trailing bytes');
    return { seq, timestamp_ms: ts, frames, driving: null };
  }
  if (!isCompact(rest)) throw new MessageError('audio message: no compact bundle after the frames');
  return { seq, timestamp_ms: ts, frames, driving: rest };
}

// --- control messages (text) ---------------------------------------------------------------------

/** A float as Python (pydantic) writes it: 15 -> "15.0", 0.1 -> "0.1". */
export function pyFloat(x) {
  if (!Number.isFinite(x)) throw new RangeError('control messages carry finite numbers only');
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  return String(x);
}

function fieldsJson(f) {
  let s = `{"n_sup":${f.n_sup},"n_unsup":${f.n_unsup},"jacobians":${f.jacobians ? 1 : 0},"n_expr":${f.n_expr}`;
  if (f.n_shape) s += `,"n_shape":${f.n_shape},"shape_model":${JSON.stringify(f.shape_model)}`;
  return `${s}}`;
}

/**
 * A control message as Python's `encode_control` writes it (the same bytes). `msg`: {type:
 * 'hello', fps, fields: {n_sup, n_unsup, jacobians, n_expr[, n_shape, shape_model]}, mode,
 * frames_per_message, epoch_ms} | {type: 'intra-request'} | {type: 'bye', reason}.
 */
export function encodeControl(msg) {
  const m = validateControl(msg);
  if (m.type === 'hello') {
    return `{"type":"hello","version":2,"fps":${pyFloat(m.fps)},"fields":${fieldsJson(m.fields)},"mode":${JSON.stringify(m.mode)},`
      + `"frames_per_message":${m.frames_per_message},"epoch_ms":${pyFloat(m.epoch_ms)}${audioJson(m.audio)}}`;
  }
  if (m.type === 'intra-request') return '{"type":"intra-request"}';
  return `{"type":"bye","reason":${m.reason === null ? 'null' : pyString(m.reason)}}`;
}

function audioJson(a) {
  if (!a) return '';
  return `,"audio":{"codec":"opus","rate":${a.rate},"frame_ms":${a.frame_ms},"bitrate":${a.bitrate}}`;
}

function literal(v, options, where) {
  if (typeof v !== 'number' || !options.includes(v)) throw bad(where, `Input should be ${options.join(' or ')}`);
  return v;
}

function validateAudio(a) {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) throw bad('hello.audio', 'Input should be an object');
  onlyKeys(a, ['codec', 'rate', 'frame_ms', 'bitrate'], 'hello.audio');
  if (a.codec !== undefined && a.codec !== 'opus') throw bad('hello.audio.codec', "Input should be 'opus'");
  for (const k of ['rate', 'frame_ms', 'bitrate']) if (!(k in a)) throw bad(`hello.audio.${k}`, 'Field required');
  return {
    codec: 'opus',
    rate: literal(a.rate, [8000, 16000], 'hello.audio.rate'),
    frame_ms: literal(a.frame_ms, [20, 40, 60], 'hello.audio.frame_ms'),
    bitrate: range(laxInt(a.bitrate, 'hello.audio.bitrate'), 2500, 64000, 'hello.audio.bitrate'),
  };
}

/** A JSON string as Python's serializer writes it (non-ASCII kept, as pydantic does). */
function pyString(s) {
  return JSON.stringify(s);
}

const bad = (where, msg) => new MessageError(`bad control message: ${where}: ${msg}`);

function laxNumber(v, where) {
  // pydantic's lax float: numbers, booleans and numeric strings.
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v.trim()))) return Number(v.trim());
  throw bad(where, 'Input should be a valid number');
}

function laxInt(v, where) {
  const x = laxNumber(v, where);
  if (!Number.isInteger(x)) throw bad(where, 'Input should be a valid integer');
  return x;
}

function range(x, lo, hi, where, { gtLo = false } = {}) {
  if (gtLo ? !(x > lo) : !(x >= lo)) throw bad(where, `Input should be greater than${gtLo ? '' : ' or equal to'} ${lo}`);
  if (hi !== null && !(x <= hi)) throw bad(where, `Input should be less than or equal to ${hi}`);
  return x;
}

function onlyKeys(obj, allowed, where) {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw bad(where ? `${where}.${k}` : k, 'Extra inputs are not permitted');
}

/** A control message object checked as codec/messages.py's pydantic models check it (lax mode). */
export function validateControl(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new MessageError('bad control message: not an object');
  const type = data.type;
  if (type === 'intra-request') {
    onlyKeys(data, ['type'], 'intra-request');
    return { type };
  }
  if (type === 'bye') {
    onlyKeys(data, ['type', 'reason'], 'bye');
    const reason = data.reason ?? null;
    if (reason !== null) {
      if (typeof reason !== 'string') throw bad('bye.reason', 'Input should be a valid string');
      if ([...reason].length > 256) throw bad('bye.reason', 'String should have at most 256 characters');
    }
    return { type, reason };
  }
  if (type !== 'hello') throw new MessageError(`bad control message: unknown type ${JSON.stringify(type)}`);
  onlyKeys(data, ['type', 'version', 'fps', 'fields', 'mode', 'frames_per_message', 'epoch_ms', 'audio'], 'hello');
  if (data.version !== undefined && (data.version !== 2 || typeof data.version !== 'number')) throw bad('hello.version', 'Input should be 2');
  for (const k of ['fps', 'fields', 'mode', 'epoch_ms']) if (!(k in data)) throw bad(`hello.${k}`, 'Field required');
  const fps = range(laxNumber(data.fps, 'hello.fps'), 0, 60, 'hello.fps', { gtLo: true });
  const f = data.fields;
  if (f === null || typeof f !== 'object' || Array.isArray(f)) throw bad('hello.fields', 'Input should be an object');
  onlyKeys(f, ['n_sup', 'n_unsup', 'jacobians', 'n_expr', 'n_shape', 'shape_model'], 'hello.fields');
  const fields = {};
  for (const [k, hi] of [['n_sup', 478], ['n_unsup', 64], ['jacobians', 1], ['n_expr', 256]]) {
    if (!(k in f)) throw bad(`hello.fields.${k}`, 'Field required');
    fields[k] = range(laxInt(f[k], `hello.fields.${k}`), 0, hi, `hello.fields.${k}`);
  }
  const nShape = f.n_shape ?? null;
  const shapeModel = f.shape_model ?? null;
  if (nShape !== null) fields.n_shape = range(laxInt(nShape, 'hello.fields.n_shape'), 1, 64, 'hello.fields.n_shape');
  if (shapeModel !== null) {
    if (typeof shapeModel !== 'string' || !/^[0-9a-f]{64}$/.test(shapeModel)) throw bad('hello.fields.shape_model', 'String should match pattern');
    fields.shape_model = shapeModel;
  }
  if ((nShape === null) !== (shapeModel === null)) throw bad('hello.fields', 'Value error, n_shape and shape_model come together');
  if (data.mode !== 'paper' && data.mode !== 'predictive') throw bad('hello.mode', "Input should be 'paper' or 'predictive'");
  const fpm = data.frames_per_message === undefined ? 1 : range(laxInt(data.frames_per_message, 'hello.frames_per_message'), 1, MAX_BUNDLE, 'hello.frames_per_message');
  const epoch = range(laxNumber(data.epoch_ms, 'hello.epoch_ms'), 0, null, 'hello.epoch_ms');
  const audio = data.audio === undefined || data.audio === null ? null : validateAudio(data.audio);
  const out = { type: 'hello', version: 2, fps, fields, mode: data.mode, frames_per_message: fpm, epoch_ms: epoch };
  if (audio) out.audio = audio; // the sender sends speech (left out of a hello without it)
  return out;
}

/** One control text message -> a checked message object; MessageError if it is not one. */
export function parseControl(text) {
  if (typeof text !== 'string') throw new MessageError('control message is not text');
  if ([...text].length > MAX_CONTROL_TEXT) throw new MessageError(`control message of ${[...text].length} characters (limit ${MAX_CONTROL_TEXT})`);
  let data;
  try {
    data = JSON.parse(text);
  } catch (exc) {
    throw new MessageError(`control message is not JSON: ${exc.message}`);
  }
  return validateControl(data);
}

// --- source views --------------------------------------------------------------------------------

function q16(value) {
  return Math.min(Math.max(rint(value / VIEW_UNIT), -32767), 32767);
}

function viewPlan(size, header) {
  const first = Math.min(size, VIEW_MESSAGE_BYTES - header);
  const rest = VIEW_MESSAGE_BYTES - CHUNK_HEAD_SIZE;
  const plan = [first];
  for (let off = first; off < size; off += rest) plan.push(Math.min(rest, size - off));
  return plan;
}

/**
 * One view as binary control messages: a view start (0xF6, or 0xF7 with `record`, a shape view's
 * intra payload), then chunks 1.. . `sup`: flat [x0, y0, x1, ...] crop coordinates, or null.
 */
export function viewMessages(index, fmt, data, yaw, pitch, sup = null, record = null) {
  if (!VIEW_FORMATS.includes(fmt)) throw new RangeError(`unknown view format ${fmt}`);
  data = bytesOf(data);
  if (!(data.length >= 1 && data.length <= MAX_VIEW_BYTES)) throw new RangeError(`a view is 1..${MAX_VIEW_BYTES} bytes, not ${data.length}`);
  const points = sup === null ? [] : Array.from(sup);
  const n = points.length / 2;
  if (n > MAX_VIEW_LANDMARKS) throw new RangeError(`a view carries at most ${MAX_VIEW_LANDMARKS} landmarks`);
  if (record !== null && !(record.length >= 1 && record.length <= MAX_VIEW_RECORD)) {
    throw new RangeError(`a view's shape record is 1..${MAX_VIEW_RECORD} bytes, not ${record.length}`);
  }
  const head = new Uint8Array(VIEW_START_SIZE + 4 * n + (record === null ? 0 : 1 + record.length));
  const dv = new DataView(head.buffer);
  dv.setUint8(0, record === null ? VIEW_START_MAGIC : SHAPE_VIEW_START_MAGIC);
  dv.setUint8(1, index);
  dv.setUint8(2, VIEW_FORMATS.indexOf(fmt));
  dv.setUint16(3, data.length - 1);
  dv.setInt16(5, q16(yaw));
  dv.setInt16(7, q16(pitch));
  dv.setUint16(9, n);
  points.forEach((v, i) => dv.setInt16(VIEW_START_SIZE + 2 * i, q16(v)));
  if (record !== null) {
    head[VIEW_START_SIZE + 4 * n] = record.length;
    head.set(record, VIEW_START_SIZE + 4 * n + 1);
    if (head.length >= VIEW_MESSAGE_BYTES) throw new RangeError('a shape view start\'s landmarks and record leave no room for the image');
  }
  const out = [];
  let off = 0;
  viewPlan(data.length, head.length).forEach((size, k) => {
    const prefix = k === 0 ? head : Uint8Array.from([VIEW_CHUNK_MAGIC, index, k >> 8, k & 0xff]);
    out.push(concat([prefix, data.subarray(off, off + size)]));
    off += size;
  });
  return out;
}

/** A view start (0xF6 or 0xF7) -> [meta, first image bytes]; MessageError if malformed. */
export function parseViewStart(message) {
  message = bytesOf(message);
  if (message.length < VIEW_START_SIZE) throw new MessageError('view start: truncated');
  const dv = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const magic = message[0];
  const index = message[1];
  const fmt = message[2];
  const size = dv.getUint16(3) + 1;
  const yaw = dv.getInt16(5);
  const pitch = dv.getInt16(7);
  const n = dv.getUint16(9);
  if (magic !== VIEW_START_MAGIC && magic !== SHAPE_VIEW_START_MAGIC) throw new MessageError(`view start: bad magic 0x${magic.toString(16)}`);
  if (fmt >= VIEW_FORMATS.length) throw new MessageError(`view start: unknown format ${fmt}`);
  let end = VIEW_START_SIZE + 4 * n;
  if (n > MAX_VIEW_LANDMARKS || message.length < end) throw new MessageError('view start: landmarks truncated or too many');
  const sup = [];
  for (let i = 0; i < n; i++) sup.push([dv.getInt16(VIEW_START_SIZE + 4 * i) / 10000, dv.getInt16(VIEW_START_SIZE + 4 * i + 2) / 10000]);
  let record = null;
  if (magic === SHAPE_VIEW_START_MAGIC) {
    if (message.length <= end) throw new MessageError('view start: shape record truncated');
    const length = message[end];
    if (length === 0 || message.length < end + 1 + length) throw new MessageError('view start: shape record empty or truncated');
    record = message.slice(end + 1, end + 1 + length);
    end += 1 + length;
  }
  if (end >= VIEW_MESSAGE_BYTES) throw new MessageError('view start: header leaves no room for the image');
  if (index >= MAX_VIEWS) throw new MessageError(`view start: index: Input should be less than ${MAX_VIEWS}`);
  const meta = {
    index, format: VIEW_FORMATS[fmt], size, chunks: viewPlan(size, end).length,
    yaw: yaw / 10000, pitch: pitch / 10000, sup: n ? sup : null, record,
  };
  return [meta, message.slice(end)];
}

/** Reassembles views from their binary control messages (codec.messages.ViewAssembler). */
export class ViewAssembler {
  constructor() {
    this.meta = null;
    this.plan = [];
    this.parts = [];
  }

  /** Add one binary message; [meta, image bytes] once the view is complete, else null. */
  add(message) {
    message = bytesOf(message);
    if (message[0] === VIEW_START_MAGIC || message[0] === SHAPE_VIEW_START_MAGIC) {
      this.meta = null;
      const [meta, body] = parseViewStart(message);
      this.meta = meta;
      this.parts = [];
      this.plan = viewPlan(meta.size, message.length - body.length);
      return this.addBody(meta.index, 0, body);
    }
    if (message.length <= CHUNK_HEAD_SIZE) throw new MessageError('view chunk: truncated');
    if (message[0] !== VIEW_CHUNK_MAGIC) throw new MessageError(`view chunk: bad magic 0x${message[0].toString(16)}`);
    return this.addBody(message[1], (message[2] << 8) | message[3], message.slice(CHUNK_HEAD_SIZE));
  }

  addBody(index, number, body) {
    const meta = this.meta;
    if (meta === null || index !== meta.index || number !== this.parts.length) {
      this.meta = null;
      throw new MessageError(`view chunk ${index}/${number}: unexpected (no view under way, or out of order)`);
    }
    if (body.length !== this.plan[number]) {
      this.meta = null;
      throw new MessageError(`view chunk ${index}/${number}: ${body.length} bytes, expected ${this.plan[number]}`);
    }
    this.parts.push(body);
    if (number < this.plan.length - 1) return null;
    this.meta = null;
    return [meta, concat(this.parts)];
  }
}
