// The page as a peer of a shape call (docs/browser.md): camera -> FaceMesh -> PageTracker ->
// ShapeFitter -> StreamEncoder -> the driving channel, straight to the other peer (a desktop
// `frontal call --renderer mesh`, or another page), with source views (WebP from the canvas) on
// the control channel. The signaling and the channels are docs/signaling.md and docs/call.md's.
//
// What this page does NOT do yet: render the other peer (its messages are counted, not drawn),
// speech, the send-phase alignment of sender/live.py.
import { FieldSet, fetchTables, messages } from '../codec/index.js';
import { SignalingChannel, signalingUrl } from '../signaling.js';
import { PageFaceMesh } from './facemesh.js';
import { PageSender } from './sender.js';
import { ShapeFitter, ShapeModel } from './shape.js';
import { PageTracker, cropImage } from './tracker.js';

export const DATA_DIR = '/web/dist/data/';
export const VIEW_FORMAT = 'webp';
export const VIEW_QUALITY = 0.5; // the desktop sender's WebP fallback quality (50): about 2.9 KB a view

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
   * `video`: the <video> element that shows the camera; `room`, `token`: the invite; options:
   * `fps` (15), `nShape` (48), `signaling` (URL), `iceServers` ([]), `onStatus(text, state)`.
   */
  constructor({ video, room, token, fps = 15, nShape = 48, signaling = signalingUrl(), iceServers = [], onStatus = () => {} }) {
    super();
    Object.assign(this, { video, room, token, fps, nShape, signalingUrlValue: signaling, iceServers, onStatus });
    this.stats = { state: 'new', frames_tracked: 0, faces_found: 0, track_ms_total: 0, encode_ms_total: 0,
      frame_errors: 0, last_error: null, driving_messages_received: 0, control_received: 0, control_bad: 0, remote_hello: null, ended: null };
    this.timer = null;
    this.busy = false;
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
    this.#status('Starting the camera…', 'waiting');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error(cameraError(null));
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (error) {
      throw new Error(cameraError(error));
    }
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

  #makeConnection() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.channel.addEventListener('candidate', (e) => {
      const c = e.detail;
      if (c.candidate) pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }).catch(() => {});
    });
    this.driving = pc.createDataChannel(messages.DRIVING_LABEL, { ordered: false, maxRetransmits: 0, negotiated: true, id: messages.DRIVING_CHANNEL_ID });
    this.control = pc.createDataChannel(messages.CONTROL_LABEL, { negotiated: true, id: messages.CONTROL_CHANNEL_ID });
    for (const ch of [this.driving, this.control]) ch.binaryType = 'arraybuffer';
    this.driving.onmessage = () => { this.stats.driving_messages_received += 1; };
    this.control.onmessage = (e) => this.#onControl(e.data);
    this.control.onopen = () => this.#connected();
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') this.end('connection-failed', false);
    };
  }

  #onControl(data) {
    this.stats.control_received += 1;
    if (typeof data !== 'string') return; // the other's source views: not drawn yet
    let msg;
    try {
      msg = messages.parseControl(data);
    } catch {
      this.stats.control_bad += 1;
      return;
    }
    if (msg.type === 'hello') this.stats.remote_hello = msg;
    else if (msg.type === 'intra-request') this.sender.requestIntra();
    else if (msg.type === 'bye') this.#remoteGone(`the other caller hung up (${msg.reason || 'bye'})`, 'bye');
  }

  #connected() {
    this.epochMs = Date.now();
    this.control.send(this.sender.hello(this.epochMs));
    this.#status(`In a call in room ${this.room}.`, 'ready');
    this.dispatchEvent(new Event('connected'));
    this.timer = setInterval(() => this.#tick(), 1000 / this.fps);
  }

  async #tick() {
    if (this.busy || this.stats.ended || this.video.readyState < 2) return; // a frame still tracking: this one is skipped
    this.busy = true;
    try {
      const captureMs = Date.now();
      const t0 = performance.now();
      const face = await this.faceMesh.detect(this.video);
      const width = this.video.videoWidth, height = this.video.videoHeight;
      const tracked = this.tracker.track(face, width, height);
      const t1 = performance.now();
      const crop = () => cropImage(this.video, tracked.box, document.createElement('canvas'));
      const congested = this.driving.bufferedAmount > this.sender.config.maxBufferedBytes;
      const out = this.sender.process(tracked, captureMs, performance.now() / 1000, congested, crop);
      this.stats.frames_tracked += 1;
      this.stats.faces_found += tracked.faceFound ? 1 : 0;
      this.stats.track_ms_total += t1 - t0;
      this.stats.encode_ms_total += performance.now() - t1;
      if (this.control.readyState !== 'open') return;
      for (const m of out.control) this.control.send(m);
      if (out.driving && this.driving.readyState === 'open') this.driving.send(out.driving);
      if (out.view) this.#codeView(out.view);
    } catch (error) {
      this.stats.frame_errors += 1;
      this.stats.last_error = String((error && error.stack) || error).slice(0, 300);
    } finally {
      this.busy = false;
    }
  }

  #codeView(view) {
    if (!view.image) { this.sender.addEncodedView(view, null, VIEW_FORMAT); return; }
    view.image.toBlob(async (blob) => {
      const ok = blob && blob.type === `image/${VIEW_FORMAT}`;
      this.sender.addEncodedView(view, ok ? new Uint8Array(await blob.arrayBuffer()) : null, VIEW_FORMAT);
    }, `image/${VIEW_FORMAT}`, VIEW_QUALITY);
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
    try {
      const last = this.sender && this.sender.flush();
      if (last && this.driving && this.driving.readyState === 'open') this.driving.send(last);
      if (tell && this.control && this.control.readyState === 'open') this.control.send(messages.encodeControl({ type: 'bye', reason }));
    } catch { /* closing anyway */ }
    setTimeout(() => {
      if (this.pc) this.pc.close();
      if (this.channel) this.channel.close();
      if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    }, tell ? 300 : 0);
    if (reason === 'hangup') this.#status('Call ended: you hung up.', 'idle');
    this.dispatchEvent(new CustomEvent('ended', { detail: reason }));
  }

  /** Statistics for the page and the tests: the sender's counters and this call's. */
  snapshot() {
    return { ...this.stats, sender: this.sender ? { ...this.sender.stats, views_taken: this.sender.views.sent.length } : null };
  }
}
