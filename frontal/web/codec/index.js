// Frontal's codec in JavaScript: the same bitstream as codec/ (docs/browser.md, "The codec in
// JavaScript"). Plain ES modules, no dependencies; Node.js 20+ or a browser.

export { CodecError, MissingReference, MessageError } from './errors.js';
export { CategoricalModel, UniformModel, RangeEncoder, RangeDecoder, PRECISION } from './rangecoder.js';
export { Encoder, Decoder, TableSet, probabilities, toWords } from './entropy.js';
export { FieldSet, GroupSpec, LANDMARK_FIELDS, MODES } from './fields.js';
export { Quantizer, rint } from './quant.js';
export { Tables, fetchTables, tablesFileFor } from './tables.js';
export { CoderState, FrameCoder } from './frame_coder.js';
export * as wire from './wire.js';
export { StreamEncoder, StreamDecoder, encodeIntraRecord, decodeIntraRecord } from './stream.js';
export * as messages from './messages.js';
