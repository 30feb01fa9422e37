// The page's own benchmark (`frontal bench-page`, frontal/pagebench.py): what a call costs the page
// per frame, measured in the page with performance.now(). The camera (a fake one playing a clip in
// headless Chromium) -> FaceMesh -> PageTracker -> PageSender, exactly as PageCall runs them; then
// the receiving half on the messages that came out: decode, views, the geometry renderer.
//
//   const { runBench } = await import('/web/bench.js');
//   const result = await runBench({ frames: 150, fps: 15 });   // JSON-ready
import { FieldSet } from './codec/index.js';
import { VIEW_FORMAT, VIEW_QUALITY, loadCallData } from './peer/call.js';
import { PageFaceMesh } from './peer/facemesh.js';
import { PageSender } from './peer/sender.js';
import { ShapeFitter } from './peer/shape.js';
import { PageTracker, cropImage } from './peer/tracker.js';

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

/**
 * `frames` camera frames, one after another (each waits for a new camera frame). `receiver`: an
 * optional factory `(data) => ({ control(message), driving(message), render() -> ms })` for the
 * receiving half (the same classes a call uses); without it only the sending half is measured.
 */
export async function runBench({ frames = 150, fps = 15, nShape = 48, receiver = null } = {}) {
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
  const faceMesh = await PageFaceMesh.create();
  await faceMesh.detect(video); // the first frame loads WASM and the models: not a call's frame
  const setupMs = performance.now() - t0;
  const rx = receiver ? await receiver(data) : null;
  const hello = sender.hello(Date.now());
  if (rx) rx.control(hello);
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
    for (const m of out.control) if (rx) rx.control(m);
    if (out.driving) {
      drivingBytes += out.driving.length; drivingMessages += 1;
      if (rx) rx.driving(out.driving);
    }
    if (rx) {
      const ms = await rx.render();
      if (ms !== null) renderMs.push(ms);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  faceMesh.close();
  for (const t of video.srcObject.getTracks()) t.stop();
  const sendMs = trackMs.map((t, i) => t + encodeMs[i]);
  return {
    frames, fps, seconds, setup_ms: setupMs, faces_found: found, views,
    frames_per_s: frames / seconds,
    facemesh_ms: summary(detectMs), track_ms: summary(trackMs), encode_ms: summary(encodeMs),
    track_encode_ms: summary(sendMs), render_ms: rx ? summary(renderMs) : null,
    driving_messages: drivingMessages, driving_bytes: drivingBytes,
    user_agent: navigator.userAgent, hardware_concurrency: navigator.hardwareConcurrency,
  };
}
