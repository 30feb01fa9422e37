// The page's own benchmark (`frontal bench-page`, frontal/pagebench.py): what a call costs the page
// per frame, measured in the page with performance.now(). The camera (a fake one playing a clip in
// headless Chromium) -> FaceMesh -> PageTracker -> PageSender, exactly as PageCall runs them; then
// the receiving half on the messages that came out: decode, views, the geometry renderer.
//
//   const { runBench } = await import('/web/bench.js');
//   const result = await runBench({ frames: 150, fps: 15 });   // JSON-ready
import { FieldSet, StreamDecoder, decodeIntraRecord, messages, wire } from './codec/index.js';
import { DATA_DIR, VIEW_FORMAT, VIEW_QUALITY, loadCallData } from './peer/call.js';
import { INPUT_SIDE, PageFaceMesh } from './peer/facemesh.js';
import { PageSender } from './peer/sender.js';
import { ShapeFitter } from './peer/shape.js';
import { decodeViewImage } from './peer/receiver.js';
import { PageTracker, cropImage } from './peer/tracker.js';
import { PageMeshRenderer, loadTopology } from './render/index.js';

const percentile = (values, q) => {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1));
  return s[i];
};

const summary = (values) => ({
  mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
  p50: percentile(values, 50), p95: percentile(values, 95), n: values.length,
});

const nextVideoFrame = (video, fps) => new Promise((resolve) => {
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
  else setTimeout(resolve, 1000 / fps);
});

function encodeView(view) {
  return new Promise((resolve) => view.image.toBlob(async (blob) => {
    resolve(blob && blob.type === `image/${VIEW_FORMAT}` ? new Uint8Array(await blob.arrayBuffer()) : null);
  }, `image/${VIEW_FORMAT}`, VIEW_QUALITY));
}

/** The receiving half as a call's receiver runs it (peer/receiver.js): views assembled, decoded
 * and added to the geometry renderer; driving messages decoded; each frame drawn, timed. */
export async function geometryReceiver(data, fields, mode) {
  const topology = await loadTopology(`${DATA_DIR}${data.manifest.topology.file}`);
  const renderer = new PageMeshRenderer({ topology, shapeModel: data.model });
  const decoder = new StreamDecoder(fields, data.tables);
  const views = new messages.ViewAssembler();
  const pending = [];
  const viewMs = [];
  let newest = null;
  return {
    viewMs,
    async control(message) {
      if (typeof message === 'string') return;
      const done = views.add(message);
      if (!done) return;
      const [meta, bytes] = done;
      const t = performance.now();
      const image = await decodeViewImage(bytes, meta.format);
      renderer.addViewRecord(image, decodeIntraRecord(fields, meta.record, mode, data.tables));
      viewMs.push(performance.now() - t);
    },
    driving(message) {
      for (const p of messages.parseDriving(message, new messages.CompactContext(mode, newest, decoder.intraSeq))) {
        newest = p.seq;
        pending.push(decoder.decode(wire.pack(p)).record);
      }
    },
    /** Draws the frames decoded since the last call; the ms of each (none before the first view). */
    render() {
      const out = [];
      while (pending.length) {
        const record = pending.shift();
        if (!renderer.numViews) continue;
        const t = performance.now();
        renderer.render(record);
        out.push(performance.now() - t);
      }
      return out;
    },
  };
}

/**
 * `frames` camera frames, one after another (each waits for a new camera frame), through the
 * sending half and, with `receive` (default), the receiving half on what it sent.
 */
export async function runBench({ frames = 150, fps = 15, nShape = 48, receive = true, facemeshSide = INPUT_SIDE } = {}) {
  const t0 = performance.now();
  const data = await loadCallData();
  const fields = new FieldSet({ n_sup: 0, n_shape: nShape });
  const sender = new PageSender({ fields, tables: data.tables, fitter: new ShapeFitter(data.model, nShape),
    shapeModelDigest: data.manifest.shape_model.digest, fps });
  const tracker = new PageTracker(data.tracker);
  const video = document.createElement('video');
  video.muted = true;
  document.body.appendChild(video);
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  await video.play();
  const faceMesh = await PageFaceMesh.create(undefined, { inputSide: facemeshSide });
  await faceMesh.detect(video); // the first frame loads WASM and the models: not a call's frame
  const setupMs = performance.now() - t0;
  const rx = receive ? await geometryReceiver(data, fields, sender.config.mode) : null;
  sender.hello(Date.now());
  const detectMs = [], trackMs = [], encodeMs = [], renderMs = [];
  let found = 0, drivingBytes = 0, drivingMessages = 0, views = 0;
  const started = performance.now();
  for (let i = 0; i < frames; i++) {
    await nextVideoFrame(video, fps);
    const a = performance.now();
    const face = await faceMesh.detect(video);
    const b = performance.now();
    const tracked = tracker.track(face, video.videoWidth, video.videoHeight);
    const c = performance.now();
    const out = sender.process(tracked, Date.now(), performance.now() / 1000, false,
      () => cropImage(video, tracked.box, document.createElement('canvas')));
    const d = performance.now();
    detectMs.push(b - a); trackMs.push(c - a); encodeMs.push(d - c);
    found += tracked.faceFound ? 1 : 0;
    if (out.view) { // coded as the call codes it (not timed: the browser's WebP encoder, off the frame path in a call)
      sender.addEncodedView(out.view, out.view.image ? await encodeView(out.view) : null, VIEW_FORMAT);
      views += 1;
    }
    for (const m of out.control) if (rx) await rx.control(m);
    if (out.driving) {
      drivingBytes += out.driving.length; drivingMessages += 1;
      if (rx) rx.driving(out.driving);
    }
    if (rx) renderMs.push(...rx.render());
  }
  const seconds = (performance.now() - started) / 1000;
  faceMesh.close();
  for (const t of video.srcObject.getTracks()) t.stop();
  const sendMs = trackMs.map((t, i) => t + encodeMs[i]);
  return {
    frames, fps, facemesh_side: facemeshSide, seconds, setup_ms: setupMs, faces_found: found, views,
    frames_per_s: frames / seconds,
    facemesh_ms: summary(detectMs), track_ms: summary(trackMs), encode_ms: summary(encodeMs),
    track_encode_ms: summary(sendMs), render_ms: rx ? summary(renderMs) : null,
    view_add_ms: rx ? summary(rx.viewMs) : null,
    driving_messages: drivingMessages, driving_bytes: drivingBytes,
    user_agent: navigator.userAgent, hardware_concurrency: navigator.hardwareConcurrency,
  };
}
