// The page's speech output (audio.js `PageAudioPlayer`), on the audio thread: decoded frames,
// each with the Unix time it is to play at, come from the player's worker (audio_player_worker.js)
// over a MessagePort and are written out at that time. Here and not on the main thread, which
// FaceMesh stalls: a frame scheduled from there can miss its time (an audible gap).
//
// `PlayoutClock` (the timing) is exported for tests/js/audio.test.mjs; the processor is registered
// only inside an AudioWorkletGlobalScope.

const RESYNC_S = 0.03; // a run of frames drifting this much later than the clocks say starts anew
const MAX_QUEUED = 50; // frames (2 s of 40-ms frames) the output holds at most

/**
 * Back-to-back scheduling: a frame to play at Unix time `playAtMs` starts at the context time that
 * maps to it, taken once per run of frames (so consecutive frames join without gaps or overlaps,
 * whatever the clocks' jitter). A frame whose start has passed on the context (`underruns`) keeps
 * its time, and loses its head, while some of it is still to play (`durS`: its length); one wholly
 * past restarts the run, and so does one the run would play over 30 ms after its time (the
 * context's clock drifting from the system's: `resyncs`).
 */
export class PlayoutClock {
  constructor() {
    this.base = null; // {unixMs, ctxS}: the run's first frame
    this.underruns = 0;
    this.resyncs = 0;
  }

  /** The context time (s) to start a frame due at `playAtMs`; `ctxNowS`, `unixNowMs`: the clocks now. */
  at(playAtMs, ctxNowS, unixNowMs, durS = 0) {
    if (this.base !== null) {
      const t = this.base.ctxS + (playAtMs - this.base.unixMs) / 1000;
      const mapped = ctxNowS + (playAtMs - unixNowMs) / 1000;
      if (t < ctxNowS) this.underruns += 1;
      if (t + durS > ctxNowS && t - mapped <= RESYNC_S) return t;
      if (t >= ctxNowS) this.resyncs += 1;
    }
    this.base = { unixMs: playAtMs, ctxS: ctxNowS + Math.max(0, playAtMs - unixNowMs) / 1000 };
    return this.base.ctxS;
  }
}

if (typeof registerProcessor === 'function') {
  /* global AudioWorkletProcessor, currentFrame, sampleRate, registerProcessor */
  class SpeechOutput extends AudioWorkletProcessor {
    constructor() {
      super();
      this.clock = new PlayoutClock();
      this.queue = []; // {start (context frame), samples (Float32Array at the context's rate)}, in order
      this.stats = { audio_output_frames: 0, audio_output_late: 0 };
      this.port.onmessage = (e) => {
        if (e.data.port) {
          this.frames = e.data.port; // from the player's worker
          this.frames.onmessage = (m) => this.#frame(m.data);
        }
      };
    }

    #frame({ playAtMs, samples }) {
      const t = this.clock.at(playAtMs, currentFrame / sampleRate, Date.now(), samples.length / sampleRate);
      const seg = { start: Math.round(t * sampleRate), samples };
      let i = this.queue.length;
      while (i > 0 && this.queue[i - 1].start > seg.start) i -= 1;
      this.queue.splice(i, 0, seg);
      while (this.queue.length > MAX_QUEUED) { // a suspended context (no user gesture yet) renders nothing
        this.queue.shift();
        this.stats.audio_output_late += 1;
      }
      this.stats.audio_output_frames += 1;
      this.#report(); // a message a frame: cheap, and the counters stay current
    }

    #report() {
      this.frames.postMessage({ stats: { ...this.stats, audio_underruns: this.clock.underruns, audio_resyncs: this.clock.resyncs } });
    }

    process(inputs, outputs) {
      const out = outputs[0][0];
      const end = currentFrame + out.length;
      while (this.queue.length && this.queue[0].start + this.queue[0].samples.length <= currentFrame) {
        this.queue.shift(); // wholly in the past
        this.stats.audio_output_late += 1;
      }
      for (const seg of this.queue) {
        if (seg.start >= end) break;
        const from = Math.max(seg.start, currentFrame);
        const to = Math.min(seg.start + seg.samples.length, end);
        for (let f = from; f < to; f++) out[f - currentFrame] += seg.samples[f - seg.start];
      }
      while (this.queue.length && this.queue[0].start + this.queue[0].samples.length <= end) this.queue.shift();
      for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
      return true;
    }
  }
  registerProcessor('frontal-speech', SpeechOutput);
}
