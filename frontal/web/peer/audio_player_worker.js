// The page's speech player, off the main thread (audio.js `PageAudioPlayer`): the other peer's
// speech frames (posted by the page as they arrive, with their arrival time) -> `JitterBuffer`
// (receiver/audio.py's playout) -> WebCodecs AudioDecoder (Opus PLC for a missing frame: a packet
// of only the last good packet's TOC byte) -> the decoded samples, with the Unix time each frame
// plays at, to the output worklet (audio_worklet.js) over a MessagePort.
//
// In:  {init: {hello, leadMs, outputLatencyMs}}  {port}  the worklet's end, once it is loaded
//      {frames: {seq, timestamp_ms, frames, arrivalMs}}  {close: true}
// Out: {state: {delayMs, playing}} when it changes; {stats} twice a second
import { JitterBuffer, isSingleFramePacket, percentile } from './audio.js';

let jitter = null;
let leadMs = 80;
let outputLatencyMs = 0;
let decoder = null;
let port = null;
let toc = null; // the last good packet's TOC byte (code 0), for concealment
let stamp = 0;
let timer = null;
let last = { delayMs: null, playing: null };
const when = new Map(); // decoder timestamp -> Unix ms the frame plays at
const latencies = []; // mouth to ear (ms) of the last frames played
const stats = { audio_bad: 0, audio_decoder_errors: 0, audio_decoded: 0, audio_unsent: 0 };
let output = {}; // the worklet's counters

function decoderReady() {
  if (decoder && decoder.state === 'configured') return decoder;
  decoder = new AudioDecoder({
    output: (data) => {
      try {
        const playAtMs = when.get(data.timestamp);
        when.delete(data.timestamp);
        if (playAtMs === undefined) return;
        const samples = new Float32Array(data.numberOfFrames);
        data.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
        stats.audio_decoded += 1;
        if (port) port.postMessage({ playAtMs, samples }, [samples.buffer]);
        else stats.audio_unsent += 1; // the worklet is not loaded yet
      } finally {
        data.close();
      }
    },
    error: () => { stats.audio_decoder_errors += 1; }, // a closed decoder: a new one with the next frame
  });
  decoder.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 });
  return decoder;
}

function tick() {
  for (const f of jitter.tick(Date.now() + leadMs)) {
    let packet = f.packet;
    if (packet && !isSingleFramePacket(packet)) {
      stats.audio_bad += 1; // as codec/audio.py: concealed
      jitter.stats.audio_concealed += 1;
      packet = null;
    }
    if (packet) toc = packet[0] & 0xfc;
    else packet = toc === null ? null : Uint8Array.of(toc); // Opus PLC; silence before any speech
    if (f.captureMs !== null) {
      latencies.push(f.playAtMs - f.captureMs + outputLatencyMs);
      if (latencies.length > 2048) latencies.shift();
    }
    if (!packet) continue;
    try {
      stamp += jitter.frameMs * 1000;
      when.set(stamp, f.playAtMs);
      decoderReady().decode(new EncodedAudioChunk({ type: 'key', timestamp: stamp, data: packet }));
    } catch {
      stats.audio_decoder_errors += 1;
    }
  }
  const state = { delayMs: jitter.delayMs, playing: jitter.playing };
  if (state.delayMs !== last.delayMs || state.playing !== last.playing) postMessage({ state });
  last = state;
}

function report() {
  const p = (q) => (latencies.length ? Math.round(percentile(latencies, q)) : null);
  postMessage({ stats: { ...jitter.stats, ...stats, ...output, audio_delay_ms: jitter.delayMs, audio_playing: jitter.playing,
    audio_latency_ms_p50: p(50), audio_latency_ms_p95: p(95) } });
}

onmessage = (e) => {
  const m = e.data;
  if (m.init) {
    ({ leadMs, outputLatencyMs } = m.init);
    const spec = m.init.hello.audio;
    // the margin covers the lead too: a frame is decided `leadMs` before it plays
    jitter = new JitterBuffer({ frameMs: spec.frame_ms, epochMs: m.init.hello.epoch_ms, marginMs: 10 + leadMs });
    timer = setInterval(tick, spec.frame_ms / 2);
    setInterval(report, 500);
  }
  if (m.port) {
    port = m.port;
    port.onmessage = (msg) => { if (msg.data.stats) output = msg.data.stats; };
  }
  if (m.frames && jitter) jitter.onFrames(m.frames.seq, m.frames.timestamp_ms, m.frames.frames, m.frames.arrivalMs);
  if (m.close) {
    clearInterval(timer);
    report();
    if (decoder && decoder.state !== 'closed') decoder.close();
    postMessage({ closed: true });
  }
};
