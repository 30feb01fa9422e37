// The page's speech encoder, off the main thread (audio.js `PageAudioSender`): the microphone's
// AudioData (a MediaStreamTrackProcessor's readable, transferred here) -> WebCodecs AudioEncoder
// (Opus) -> the packets back to the page with their encoder timestamps. Here, because FaceMesh
// stalls the main thread for tens to hundreds of milliseconds a frame: a processor read there
// falls behind and drops AudioData (its queue holds ~100 ms), which loses speech.
//
// In:  {readable, config}            start reading; `config`: encoderConfig() without sampleRate
//      {start: true}                 from now on, code what is captured (before: read and dropped)
//      {close: true}
// Out: {anchor: {us, captureUnixMs}} the first sample coded: its timestamp and Unix capture time
//      {chunk: {us, packet}}         one Opus packet (packet: an ArrayBuffer, transferred)
//      {stats}, {problem: text}
import { captureUnixMs } from './audio.js';

let encoder = null;
let started = false;
let closed = false;
let reader = null;
let expectUs = null;
const stats = { audio_input_gaps: 0, audio_input_rate: null, audio_encoder_errors: 0, audio_data_read: 0 };

function encode(data, config) {
  if (!encoder) {
    encoder = new AudioEncoder({
      output: (chunk) => {
        const packet = new ArrayBuffer(chunk.byteLength);
        chunk.copyTo(packet);
        postMessage({ chunk: { us: chunk.timestamp, packet } }, [packet]);
      },
      error: (e) => {
        stats.audio_encoder_errors += 1;
        encoder = null;
        postMessage({ problem: `the speech encoder failed: ${e.message || e}` });
      },
    });
    encoder.configure({ ...config, sampleRate: data.sampleRate });
    stats.audio_input_rate = data.sampleRate;
    postMessage({ anchor: { us: data.timestamp, captureUnixMs: captureUnixMs(data) } });
  }
  if (expectUs !== null && Math.abs(data.timestamp - expectUs) > (data.duration || 0) / 2) stats.audio_input_gaps += 1;
  expectUs = data.timestamp + (data.duration || 0);
  if (encoder.state === 'configured') encoder.encode(data);
}

async function read(readable, config) {
  reader = readable.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || closed) {
        if (value) value.close();
        break;
      }
      stats.audio_data_read += 1;
      try {
        if (started) encode(value, config);
      } finally {
        value.close();
      }
      if (stats.audio_data_read % 50 === 0) postMessage({ stats });
    }
  } catch (error) {
    if (!closed) postMessage({ problem: `the microphone stopped: ${error.message || error}` });
  }
  postMessage({ stats });
}

onmessage = (e) => {
  const m = e.data;
  if (m.readable) read(m.readable, m.config);
  if (m.start) started = true;
  if (m.close) {
    closed = true;
    if (reader) reader.cancel().catch(() => {});
    if (encoder && encoder.state !== 'closed') encoder.close();
    postMessage({ stats, closed: true });
  }
};
