// The driving packet (codec/wire.py): 7 bytes of header, the payload, CRC-16/CCITT-FALSE.
//
//   0  1  magic/version 0xF1        2  2  sequence number (uint16 BE)
//   1  1  flags: bit 0 intra, bits 1-2 mode (0 paper, 1 predictive), bits 3-7 zero
//   4  1  dependency (0 for intra)  5  2  timestamp ms (uint16 BE)   7  n  payload   7+n  2  CRC

import { CodecError } from './errors.js';

export const MAGIC_NIBBLE = 0xf;
export const VERSION = 1;
export const HEADER_SIZE = 7;
export const CRC_SIZE = 2;
export const OVERHEAD_BITS = 8 * (HEADER_SIZE + CRC_SIZE);
export const MODE_IDS = { paper: 0, predictive: 1 };
export const MODE_NAMES = { 0: 'paper', 1: 'predictive' };
export const MAX_DEPENDENCY = 255;

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[byte] = crc & 0xffff;
  }
  return table;
})();

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF). */
export function crc16(data) {
  let crc = 0xffff;
  for (const b of data) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xff];
  return crc;
}

/** A driving packet's fields: {seq, timestamp_ms, intra, mode, dependency, payload (Uint8Array)}. */
export function dependsOn(p) {
  return (p.seq - p.dependency) & 0xffff;
}

export function pack(p) {
  if (!(p.mode in MODE_IDS)) throw new RangeError(`unknown mode ${p.mode}`);
  if (!Number.isInteger(p.dependency) || p.dependency < 0 || p.dependency > MAX_DEPENDENCY || (p.intra && p.dependency !== 0)) {
    throw new RangeError(`dependency ${p.dependency} invalid (intra=${p.intra})`);
  }
  const out = new Uint8Array(HEADER_SIZE + p.payload.length + CRC_SIZE);
  out[0] = (MAGIC_NIBBLE << 4) | VERSION;
  out[1] = (p.intra ? 1 : 0) | (MODE_IDS[p.mode] << 1);
  out[2] = (p.seq >> 8) & 0xff;
  out[3] = p.seq & 0xff;
  out[4] = p.dependency;
  out[5] = (p.timestamp_ms >> 8) & 0xff;
  out[6] = p.timestamp_ms & 0xff;
  out.set(p.payload, HEADER_SIZE);
  const crc = crc16(out.subarray(0, out.length - CRC_SIZE));
  out[out.length - 2] = crc >> 8;
  out[out.length - 1] = crc & 0xff;
  return out;
}

/** Parse and check one packet; CodecError with a specific reason. */
export function unpack(data) {
  if (!(data instanceof Uint8Array)) {
    if (data instanceof ArrayBuffer) data = new Uint8Array(data);
    else throw new CodecError('packet is not bytes');
  }
  if (data.length < HEADER_SIZE + CRC_SIZE) {
    throw new CodecError(`packet truncated: ${data.length} bytes, at least ${HEADER_SIZE + CRC_SIZE} needed`);
  }
  const mv = data[0];
  const flags = data[1];
  const seq = (data[2] << 8) | data[3];
  const dep = data[4];
  const ts = (data[5] << 8) | data[6];
  if (mv >> 4 !== MAGIC_NIBBLE) throw new CodecError('not a Frontal packet (bad magic)');
  if ((mv & 0xf) !== VERSION) throw new CodecError(`unsupported packet version ${mv & 0xf} (this decoder reads ${VERSION})`);
  const crc = (data[data.length - 2] << 8) | data[data.length - 1];
  if (crc16(data.subarray(0, data.length - CRC_SIZE)) !== crc) throw new CodecError('packet integrity check failed (CRC mismatch)');
  if (flags & 0xf8) throw new CodecError('packet has reserved flag bits set');
  const modeId = (flags >> 1) & 0x3;
  if (!(modeId in MODE_NAMES)) throw new CodecError(`unknown coding mode id ${modeId}`);
  const intra = Boolean(flags & 1);
  if (intra && dep !== 0) throw new CodecError('intra packet with a non-zero dependency');
  if (!intra && dep === 0) throw new CodecError('inter packet without a dependency');
  return { seq, timestamp_ms: ts, intra, mode: MODE_NAMES[modeId], dependency: dep, payload: data.slice(HEADER_SIZE, data.length - CRC_SIZE) };
}
