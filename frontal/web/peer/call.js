// The page as a peer of a shape call (docs/browser.md): camera -> FaceMesh -> PageTracker ->
// ShapeFitter -> StreamEncoder -> the driving channel, straight to the other peer (a desktop
// `frontal call --renderer mesh`, or another page), with source views (WebP from the canvas) on
// the control channel. What the other peer sends is decoded and drawn by `PageReceiver`
// (receiver.js) with the geometry renderer (render/index.js) on the `remote` canvas. The
// signaling and the channels are docs/signaling.md and docs/call.md's.
//
// Not done here: the send-phase alignment of sender/live.py.
import { FieldSet, fetchTables, messages } from '../codec/index.js';
import { SignalingChannel, signalingUrl } from '../signaling.js';
import { PageAudioPlayer, PageAudioSender, helloWithAudio, speechConfigProblem, speechProblem, startDueTimer } from './audio.js'; // speech (issue 17)
import { PageFaceMesh } from './facemesh.js';
import { PageReceiver } from './receiver.js';
import { PageSender } from './sender.js';
import { ShapeFitter, ShapeModel } from './shape.js';
import { PageTracker, cropImage } from './tracker.js';

export const DATA_DIR = '/web/dist/data/';
export const VIEW_FORMAT = 'webp';
export const VIEW_QUALITY = 0.5; // the desktop sender's WebP fallback quality (50): about 2.9 KB a view
export const SILENCE_TIMEOUT_MS = 5000; // as the desktop peer: the other is gone after 5 s without a driving message
export const KEEPALIVE_MS = 1000; // video muted: the last pose again, once a second (keeps the other's silence check quiet)
const IP_UDP_BYTES = 28; // IPv4 + UDP headers per packet: what the desktop's wire figure counts on top of the transport

/** A source view's crop (a canvas, or null) coded as the call sends it: VIEW_FORMAT bytes, or null
 * when there is no image or the browser cannot write that format (the sender then sends none). */
export function encodeViewImage(canvas) {
  if (!canvas) return Promise.resolve(null);
  return new Promise((resolve) => canvas.toBlob(async (blob) => {
    resolve(blob && blob.type === `image/${VIEW_FORMAT}` ? new Uint8Array(await blob.arrayBuffer()) : null);
  }, `image/${VIEW_FORMAT}`, VIEW_QUALITY));
}

/** A one-line reason the camera cannot be had, from getUserMedia's error. */
export function cameraError(error) {
  const name = error && error.name;
  if (!window.isSecureContext) return 'the camera needs a secure page: open it over https:// (frontal serve --tls-cert/--tls-key) or on localhost';
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'the camera was refused: allow it for this site in the browser, then join again';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'no camera was found';
  if (name === 'NotReadableError') return 'the camera is in use by another program';
  return `the camera could not be started (${(error && error.message) || error})`;
}

/** Everything the sender needs from the server: tables, shape model, tracker data. Rejects with a
 * message saying what to run when the server's files were not built. */
export async function loadCallData(dir = DATA_DIR) {
  const get = async (name) => {
    const reply = await fetch(`${dir}${name}`);
    if (!reply.ok) throw new Error(`the server has no ${dir}${name}: run \`make web\` where \`frontal serve\` runs`);
    return reply;
  };
  const manifest = await (await get('manifest.json')).json();
  if (!manifest.face_mesh) throw new Error('the server has no FaceMesh: install Node.js and run `make web` where `frontal serve` runs');
  const [tables, model, tracker] = await Promise.all([
    fetchTables(`${dir}tables/shape.json`),
    get(manifest.shape_model.file).then((r) => r.arrayBuffer()).then((b) => ShapeModel.fromSafetensors(b)),
    get(manifest.tracker).then((r) => r.json()),
  ]);
  return { manifest, tables, model, tracker };
}

/** The geometry renderer (render/index.js) in a worker (render_worker.js), one request at a
 * time; `render` and `addViewRecord` return promises (PageReceiver waits for them). */
export class WorkerRenderer {
  static async create(topologyUrl, shapeModelUrl, timeoutMs = 30000) {
    const worker = new Worker(new URL('./render_worker.js', import.meta.url), { type: 'module' });
    const r = new WorkerRenderer(worker);
    await r.#request({ type: 'init', topologyUrl, shapeModelUrl }, [], timeoutMs).catch((error) => {
      worker.terminate();
      throw error;
    });
    return r;
  }

  constructor(worker) {
    this.worker = worker;
    this.next = 0;
    this.calls = new Map();
    worker.onmessage = ({ data: m }) => {
      const call = this.calls.get(m.id ?? 'init');
      if (!call) return;
      this.calls.delete(m.id ?? 'init');
      if (m.type === 'error') call.reject(new Error(m.error));
      else call.resolve(m);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      for (const call of this.calls.values()) call.reject(new Error(`the render worker failed: ${event.message || 'error'}`));
      this.calls.clear();
    };
  }

  #request(message, transfer = [], timeoutMs = 0) {
    const id = message.type === 'init' ? 'init' : (this.next += 1);
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      if (timeoutMs) setTimeout(() => { if (this.calls.delete(id)) reject(new Error('the render worker did not start')); }, timeoutMs);
      this.worker.postMessage(message.type === 'init' ? message : { ...message, id }, transfer);
    });
  }

  addViewRecord(image, record) {
    const data = new Uint8ClampedArray(image.data); // a copy to transfer
    return this.#request({ type: 'view', data, width: image.width, height: image.height, record }, [data.buffer]);
  }

  async render(record) {
    const { image, ms } = await this.#request({ type: 'render', record });
    return { image, ms };
  }

  close() {
    this.worker.terminate();
  }
}

/** The geometry renderer (render/index.js) with the mesh topology the server serves: in a worker
 * where the browser has module workers, else on the main thread. */
export async function loadRenderer(data, dir = DATA_DIR) {
  const file = data.manifest.topology && data.manifest.topology.file;
  if (!file) throw new Error('the server has no mesh topology: run `make web` where `frontal serve` runs');
  const base = new URL(dir, window.location.href);
  try {
    return await WorkerRenderer.create(new URL(file, base).href, new URL(data.manifest.shape_model.file, base).href);
  } catch (error) {
    console.warn(`rendering on the main thread: ${error.message || error}`);
  }
  const render = await import('../render/index.js');
  const topology = await render.loadTopology(`${dir}${file}`);
  return new render.PageMeshRenderer({ topology, shapeModel: data.model });
}

/** Bytes and packets of the transport and the data channels (pc.getStats()), summed. */
export async function transportCounters(pc) {
  const out = { transport_bytes_sent: 0, transport_bytes_received: 0, transport_packets_sent: 0, transport_packets_received: 0,
    channel_bytes_sent: 0, channel_bytes_received: 0 };
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === 'transport') {
      out.transport_bytes_sent += s.bytesSent || 0;
      out.transport_bytes_received += s.bytesReceived || 0;
      out.transport_packets_sent += s.packetsSent || 0;
      out.transport_packets_received += s.packetsReceived || 0;
    } else if (s.type === 'data-channel') {
      out.channel_bytes_sent += s.bytesSent || 0;
      out.channel_bytes_received += s.bytesReceived || 0;
    }
  });
  return out;
}

/** kbps figures from two `transportCounters` readings `seconds` apart: payload (data-channel
 * messages), transport (what the ICE transport carries: DTLS, SCTP, STUN) and wire (the
 * transport plus IPv4 + UDP headers, as the desktop counts it), each way. */
export function rates(now, before, seconds) {
  const k = (a, b) => (seconds > 0 ? ((a - b) * 8) / seconds / 1000 : null);
  return {
    payload_kbps_sent: k(now.channel_bytes_sent, before.channel_bytes_sent),
    payload_kbps_received: k(now.channel_bytes_received, before.channel_bytes_received),
    transport_kbps_sent: k(now.transport_bytes_sent, before.transport_bytes_sent),
    transport_kbps_received: k(now.transport_bytes_received, before.transport_bytes_received),
    wire_kbps_sent: k(now.transport_bytes_sent + IP_UDP_BYTES * now.transport_packets_sent,
      before.transport_bytes_sent + IP_UDP_BYTES * before.transport_packets_sent),
    wire_kbps_received: k(now.transport_bytes_received + IP_UDP_BYTES * now.transport_packets_received,
      before.transport_bytes_received + IP_UDP_BYTES * before.transport_packets_received),
  };
}

function iceGatheringDone(pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', check);
    setTimeout(resolve, timeoutMs);
  });
}

export class PageCall extends EventTarget {
  /**
   * `video`: the <video> element that shows the camera; `canvas`: the <canvas> (256x256) that
   * shows the other caller; `room`, `token`: the invite; options: `fps` (15), `nShape` (48),
   * `signaling` (URL), `iceServers` ([]), `onStatus(text, state)`. Events: `connected`,
   * `remote-hello`, `first-frame` (the other caller is drawn), `ended` (detail: the reason).
   */
  constructor({ video, canvas = null, room, token, fps = 15, nShape = 48, signaling = signalingUrl(), iceServers = [], onStatus = () => {} }) {
    super();
    Object.assign(this, { video, canvas, room, token, fps, nShape, signalingUrlValue: signaling, iceServers, onStatus });
    this.stats = { state: 'new', frames_tracked: 0, faces_found: 0, track_ms_total: 0, encode_ms_total: 0,
      frame_errors: 0, last_error: null, control_received: 0, remote_hello: null, ended: null,
      video_muted: false, keepalive_frames: 0, renderer: null };
    this.timer = null;
    this.watch = null;
    this.busy = false;
    this.muted = false;
    this.lastKeepalive = 0;
    this.counters = null; // transport counters at the start of the call, then the latest
    this.wire = {};
  }

  #status(text, state) {
    this.stats.state = state === 'error' ? `error: ${text}` : text;
    this.onStatus(text, state);
  }

  async start() {
    this.#status('Loading the tracker and the codec…', 'waiting');
    const data = await loadCallData();
    this.fields = new FieldSet({ n_sup: 0, n_shape: this.nShape });
    this.sender = new PageSender({ fields: this.fields, tables: data.tables, fitter: new ShapeFitter(data.model, this.nShape),
      shapeModelDigest: data.manifest.shape_model.digest, fps: this.fps });
    this.tracker = new PageTracker(data.tracker);
    this.receiver = await this.#makeReceiver(data);
    this.#status('Starting the camera…', 'waiting');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error(cameraError(null));
    // speech (audio.js): the microphone is asked for with the camera; a browser without WebCodecs
    // Opus, or a refused or missing microphone, leaves a video-only call
    this.speechProblem = speechProblem() || await speechConfigProblem();
    const wantAudio = this.speechProblem ? false : { channelCount: 1, sampleRate: 16000, echoCancellation: true, noiseSuppression: true };
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: wantAudio });
    } catch (error) {
      if (!wantAudio) throw new Error(cameraError(error));
      try {
        this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
        this.speechProblem = `no microphone (${error.name || error}): the call is video-only`;
      } catch (second) {
        throw new Error(cameraError(second));
      }
    }
    this.#startSpeech();
    this.video.srcObject = this.stream;
    await this.video.play().catch(() => {});
    this.faceMesh = await PageFaceMesh.create();
    // FaceMesh's first frame takes seconds (WASM and WebGL warm-up): before joining, not in the call,
    // where the other peer hangs up after 5 s without a driving message
    this.#status('Warming up the face tracker…', 'waiting');
    const t = performance.now();
    while (this.video.readyState < 2 && performance.now() - t < 5000) await new Promise((r) => setTimeout(r, 50));
    await this.faceMesh.detect(this.video);
    this.#status(`Joining room ${this.room}…`, 'waiting');
    this.channel = new SignalingChannel(this.signalingUrlValue);
    const info = await this.channel.join(this.room, this.token).catch((e) => { throw new Error(`could not join: ${e.message || e.code}`); });
    this.channel.addEventListener('peer-left', () => this.#remoteGone('the other caller left'));
    // the signaling socket closing ends nothing: the call is peer to peer (as frontal/call/peer.py)
    this.#makeConnection();
    if (info.initiator) {
      this.#status('Waiting for the other caller to join…', 'waiting');
      await new Promise((resolve) => this.channel.addEventListener('peer-joined', resolve, { once: true }));
      await this.pc.setLocalDescription(await this.pc.createOffer());
      await iceGatheringDone(this.pc);
      this.channel.send({ type: 'offer', sdp: this.pc.localDescription.sdp });
      const answer = await new Promise((resolve) => this.channel.addEventListener('answer', (e) => resolve(e.detail), { once: true }));
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    } else {
      const offer = await new Promise((resolve) => this.channel.addEventListener('offer', (e) => resolve(e.detail), { once: true }));
      await this.pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      await iceGatheringDone(this.pc);
      this.channel.send({ type: 'answer', sdp: this.pc.localDescription.sdp });
    }
    this.#status('Connecting…', 'waiting');
  }

  async #makeReceiver(data) {
    const renderer = await loadRenderer(data);
    this.renderer = renderer;
    this.stats.renderer = renderer.constructor.name; // WorkerRenderer, or PageMeshRenderer on the main thread
    const ctx = this.canvas ? this.canvas.getContext('2d') : null;
    let first = true;
    return new PageReceiver({
      tables: data.tables, shapeModel: data.model, shapeModelDigest: data.manifest.shape_model.digest, renderer,
      sendControl: (text) => { if (this.control && this.control.readyState === 'open') this.control.send(text); },
      onFrame: (rgba) => {
        if (ctx) ctx.putImageData(new ImageData(rgba, 256, 256), 0, 0);
        if (first) { first = false; this.dispatchEvent(new Event('first-frame')); }
      },
      onHello: (hello) => {
        this.stats.remote_hello = hello;
        this.#playSpeech(hello);
        this.dispatchEvent(new CustomEvent('remote-hello', { detail: hello }));
      },
      onAudio: (parsed, arrivalMs) => { if (this.player) this.player.onAudio(parsed, arrivalMs); }, // speech (audio.js)
      onProblem: (text) => { this.stats.last_error = text; },
    });
  }

  #makeConnection() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.channel.addEventListener('candidate', (e) => {
      const c = e.detail;
      if (c.candidate) pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }).catch(() => {});
    });
    this.driving = pc.createDataChannel(messages.DRIVING_LABEL, { ordered: false, maxRetransmits: 0, negotiated: true, id: messages.DRIVING_CHANNEL_ID });
    this.#countSends(this.driving);
    this.control = pc.createDataChannel(messages.CONTROL_LABEL, { negotiated: true, id: messages.CONTROL_CHANNEL_ID });
    for (const ch of [this.driving, this.control]) ch.binaryType = 'arraybuffer';
    this.driving.onmessage = (e) => this.receiver.onDriving(e.data);
    this.control.onmessage = (e) => this.#onControl(e.data);
    this.control.onopen = () => this.#connected();
    this.control.onclose = () => { if (this.epochMs) this.#remoteGone('the connection closed', 'channel-closed'); };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') this.#remoteGone('the connection to the other caller failed', 'connection-failed');
    };
  }

  /** Notes each message sent on `channel` (the stale-frame check's, below): every sender of the
   * driving channel (frames, speech alone) goes through it. */
  #countSends(channel) {
    const send = channel.send.bind(channel);
    this.recentSends = [];
    channel.send = (message) => {
      this.recentSends.push([performance.now(), message.byteLength ?? message.length ?? 0]);
      send(message);
    };
  }

  /** Bytes of the driving channel still waiting that were sent more than a frame period ago. The
   * desktop drops a frame while anything is buffered; Chromium lowers `bufferedAmount` only a
   * task after the network thread took the bytes, so a message sent just before (speech, alone)
   * would look like a backlog and drop the frame, which then sends the next speech alone too. */
  #drivingBacklog() {
    const since = performance.now() - 1000 / this.fps;
    while (this.recentSends.length && this.recentSends[0][0] < since) this.recentSends.shift();
    const fresh = this.recentSends.reduce((n, [, bytes]) => n + bytes, 0);
    return Math.max(0, this.driving.bufferedAmount - fresh);
  }

  #onControl(data) {
    this.stats.control_received += 1;
    if (typeof data !== 'string') {
      this.receiver.onControlBinary(data); // a piece of a source view
      return;
    }
    const msg = this.receiver.onControlText(data); // a hello is the receiver's; null: refused and counted
    if (msg === null) { // counted by the receiver (control_bad)
      const hello = this.receiver.stats.last_problem || '';
      if (!this.receiver.hello && /hello|shape|renderer/.test(hello)) this.#status(`The other caller's stream cannot be drawn here: ${hello}.`, 'error');
      return;
    }
    if (msg.type === 'intra-request') this.sender.requestIntra();
    else if (msg.type === 'bye') this.#remoteGone(`the other caller hung up (${msg.reason || 'bye'})`, 'bye');
  }

  #connected() {
    this.epochMs = Date.now();
    const hello = this.sender.hello(this.epochMs);
    this.control.send(this.speech ? helloWithAudio(hello) : hello); // `audio` only when speech is really sent
    if (this.speech) { // speech (audio.js): frames stamped on the hello's clock; what waits too long goes alone (0xA0)
      this.speech.start(this.epochMs);
      this.stopSpeechTimer = startDueTimer(this.speech, (m) => { if (this.driving.readyState === 'open') this.driving.send(m); });
    }
    this.#status(`In a call in room ${this.room}.`, 'ready');
    this.dispatchEvent(new Event('connected'));
    this.timer = setInterval(() => this.#tick(), 1000 / this.fps);
    this.connectedAt = performance.now();
    transportCounters(this.pc).then((c) => { this.counters = { start: c, latest: c, t0: performance.now(), t: performance.now() }; }).catch(() => {});
    this.watch = setInterval(() => this.#watch(), 500);
  }

  /** Twice a second: the other's silence (as the desktop: 5 s without a driving message once it
   * has sent one) and the transport's counters. */
  #watch() {
    const rx = this.receiver;
    if (rx.stats.driving_messages_received > 0 && performance.now() - rx.lastDrivingMs > SILENCE_TIMEOUT_MS) {
      this.#remoteGone('nothing came from the other caller for 5 s', 'silence');
      return;
    }
    if (this.stats.ended || !this.counters) return;
    transportCounters(this.pc).then((c) => {
      const now = performance.now();
      this.counters.latest = c;
      this.counters.t = now;
      this.wire = rates(c, this.counters.start, (now - this.counters.t0) / 1000);
    }).catch(() => {});
  }

  /** Mute the video (true) or not: the camera is not tracked and no view is sent; the other
   * caller keeps the last pose (sent again once a second, so a desktop peer does not hang up). */
  setVideoMuted(muted) {
    this.muted = Boolean(muted);
    this.stats.video_muted = this.muted;
    if (this.stream) for (const t of this.stream.getVideoTracks()) t.enabled = !this.muted;
  }

  async #tick() {
    if (this.busy || this.stats.ended || this.video.readyState < 2) return; // a frame still tracking: this one is skipped
    if (this.muted) {
      this.#keepalive();
      return;
    }
    this.busy = true;
    try {
      const captureMs = Date.now();
      const t0 = performance.now();
      const face = await this.faceMesh.detect(this.video);
      const width = this.video.videoWidth, height = this.video.videoHeight;
      const tracked = this.tracker.track(face, width, height);
      const t1 = performance.now();
      const crop = () => cropImage(this.video, tracked.box, document.createElement('canvas'));
      const congested = this.#drivingBacklog() > this.sender.config.maxBufferedBytes;
      const out = this.sender.process(tracked, captureMs, performance.now() / 1000, congested, crop);
      this.stats.frames_tracked += 1;
      this.stats.faces_found += tracked.faceFound ? 1 : 0;
      this.stats.track_ms_total += t1 - t0;
      this.stats.encode_ms_total += performance.now() - t1;
      if (this.control.readyState !== 'open') return;
      for (const m of out.control) this.control.send(m);
      if (out.driving && this.driving.readyState === 'open') this.driving.send(this.#withSpeech(out.driving));
      if (out.view) this.#codeView(out.view);
    } catch (error) {
      this.stats.frame_errors += 1;
      this.stats.last_error = String((error && error.stack) || error).slice(0, 300);
    } finally {
      this.busy = false;
    }
  }

  #keepalive() {
    const now = performance.now();
    if (now - this.lastKeepalive < KEEPALIVE_MS || !this.driving || this.driving.readyState !== 'open') return;
    this.lastKeepalive = now;
    const message = this.sender.repeat(Date.now());
    if (message) {
      this.driving.send(this.#withSpeech(message));
      this.stats.keepalive_frames += 1;
    }
  }

  #codeView(view) {
    encodeViewImage(view.image).then((bytes) => this.sender.addEncodedView(view, bytes, VIEW_FORMAT));
  }

  // --- speech (audio.js) ------------------------------------------------------------------------

  /** The microphone's track to the speech sender (none: a video-only call, and the page says why). */
  #startSpeech() {
    const track = this.stream.getAudioTracks()[0];
    if (!track) {
      this.speechProblem = this.speechProblem || 'no microphone: the call is video-only';
    } else {
      try {
        this.speech = new PageAudioSender({ track, fps: this.fps, framesPerMessage: this.sender.config.framesPerMessage,
          onProblem: (text) => { this.stats.last_error = text; } });
      } catch (error) {
        this.speechProblem = `speech not supported in this browser (${error.message || error})`;
        track.stop();
      }
    }
    this.dispatchEvent(new CustomEvent('speech', { detail: this.speechProblem || null }));
  }

  /** The other's hello: a player for its speech, when it sends some and this browser can play it. */
  #playSpeech(hello) {
    if (!hello.audio || this.player || speechProblem()) return;
    try {
      this.player = new PageAudioPlayer({ hello, onProblem: (text) => { this.stats.last_error = text; } });
      this.receiver.extraDelayMs = () => this.player.delayMs; // lip sync: the face waits for its voice
    } catch (error) {
      this.stats.last_error = `the other caller's speech cannot be played: ${error.message || error}`;
    }
  }

  /** A driving message (compact bundle) with the speech waiting in front of it (0xA1). */
  #withSpeech(message) {
    return this.speech ? this.speech.wrap(message) : message;
  }

  /** Mute the microphone (true) or not: muted, no speech is sent at all. */
  setSpeechMuted(muted) {
    if (this.speech) this.speech.muted = muted;
    this.stats.speech_muted = Boolean(muted);
  }

  #stopSpeech(sendRest) {
    if (this.stopSpeechTimer) this.stopSpeechTimer();
    if (this.speech) {
      if (sendRest) for (const m of this.speech.flush()) this.driving.send(m);
      this.speech.close();
    }
    if (this.player) this.player.close();
  }

  #remoteGone(text, reason = 'peer-left') {
    if (this.stats.ended) return;
    this.#status(`Call ended: ${text}.`, 'idle');
    this.end(reason, false);
  }

  /** Hang up: a `bye` to the other peer (when `tell`), then close everything. */
  end(reason = 'hangup', tell = true) {
    if (this.stats.ended) return;
    this.stats.ended = reason;
    clearInterval(this.timer);
    clearInterval(this.watch);
    if (this.receiver) this.receiver.close();
    if (this.renderer && this.renderer.close) this.renderer.close();
    try {
      const last = this.sender && this.sender.flush();
      if (last && this.driving && this.driving.readyState === 'open') this.driving.send(this.#withSpeech(last));
      this.#stopSpeech(this.driving && this.driving.readyState === 'open');
      if (tell && this.control && this.control.readyState === 'open') this.control.send(messages.encodeControl({ type: 'bye', reason }));
    } catch { /* closing anyway */ }
    this.#stopSpeech(false); // speech (audio.js): closed even when sending failed (closing twice does nothing)
    setTimeout(() => {
      if (this.pc) this.pc.close();
      if (this.channel) this.channel.close();
      if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    }, tell ? 300 : 0);
    if (reason === 'hangup') this.#status('Call ended: you hung up.', 'idle');
    this.dispatchEvent(new CustomEvent('ended', { detail: reason }));
  }

  /** Statistics for the page and the tests: this call's, the sender's, the receiver's and the
   * transport's (kbps since the call connected, from pc.getStats()). */
  snapshot() {
    return {
      ...this.stats,
      seconds: this.connectedAt ? (performance.now() - this.connectedAt) / 1000 : 0,
      sender: this.sender ? { ...this.sender.stats, views_taken: this.sender.views.sent.length } : null,
      receiver: this.receiver ? this.receiver.snapshot() : null,
      speech: { problem: this.speechProblem || null, sending: this.speech ? this.speech.snapshot() : null, // audio.js
        playing: this.player ? this.player.snapshot() : null },
      wire: { ...this.wire, ...(this.counters ? this.counters.latest : {}) },
    };
  }
}
