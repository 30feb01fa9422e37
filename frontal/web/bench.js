// The page's own benchmark (`frontal bench-page`, frontal/pagebench.py): what a call costs the page
// per frame, measured in the page with performance.now(). The camera (a fake one playing a clip in
// headless Chromium) -> FaceMesh -> PageTracker -> PageSender, exactly as PageCall runs them; then
// the receiving half on the messages that came out: decode, views, the geometry renderer.
//
//   const { runBench } = await import('/web/bench.js');
//   const result = await runBench({ frames: 150, fps: 15 });   // JSON-ready
import { FieldSet } from './codec/index.js';
import { DATA_DIR, VIEW_FORMAT, encodeViewImage, loadCallData } from './peer/call.js';
import { INPUT_SIDE, PageFaceMesh } from './peer/facemesh.js';
import { PageReceiver, Samples, decodeViewImage } from './peer/receiver.js';
import { PageSender } from './peer/sender.js';
import { ShapeFitter } from './peer/shape.js';
import { PageTracker, cropImage } from './peer/tracker.js';
import { PageMeshRenderer, loadTopology } from './render/index.js';

const summary = (samples) => ({ mean: samples.mean, p50: samples.percentile(50), p95: samples.percentile(95), n: samples.count });

const nextVideoFrame = (video, fps) => new Promise((resolve) => {
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
  else setTimeout(resolve, 1000 / fps);
});

/** The receiving half as a call runs it: a `PageReceiver` with the geometry renderer on this
 * thread, its timers left to the caller (`driving` draws every frame in its turn); `viewMs`: a
 * view's decoding and adding to the atlas, from its last piece. */
export async function benchReceiver(data) {
  const topology = await loadTopology(`${DATA_DIR}${data.manifest.topology.file}`);
  const renderer = new PageMeshRenderer({ topology, shapeModel: data.model });
  const viewMs = new Samples();
  let viewStart = 0;
  const rx = new PageReceiver({
    tables: data.tables, shapeModel: data.model, shapeModelDigest: data.manifest.shape_model.digest,
    renderer: { addViewRecord: (image, record) => {
      renderer.addViewRecord(image, record);
      viewMs.add(performance.now() - viewStart);
    }, render: (record) => renderer.render(record) },
    decodeImage: (bytes, format) => { viewStart = performance.now(); return decodeViewImage(bytes, format); },
    timers: { now: () => performance.now(), wallNow: () => Date.now(), set: () => null, clear: () => {} },
  });
  return {
    receiver: rx, viewMs,
    async control(message) {
      if (typeof message === 'string') rx.onControlText(message);
      else rx.onControlBinary(message);
      await rx.viewWork;
    },
    /** A driving message, then every frame it carried drawn in its turn (not waited for). */
    driving(message) {
      rx.onDriving(message);
      while (rx.poses.length) rx.tick(rx.poses[0].due);
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
  const rx = receive ? await benchReceiver(data) : null;
  const hello = sender.hello(Date.now());
  if (rx) await rx.control(hello);
  const detectMs = new Samples(), trackMs = new Samples(), encodeMs = new Samples(), sendMs = new Samples();
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
    detectMs.add(b - a); trackMs.add(c - a); encodeMs.add(d - c); sendMs.add(d - a);
    found += tracked.faceFound ? 1 : 0;
    if (out.view) { // coded as the call codes it (not timed: the browser's WebP encoder, off the frame path in a call)
      sender.addEncodedView(out.view, await encodeViewImage(out.view.image), VIEW_FORMAT);
      views += 1;
    }
    for (const m of out.control) if (rx) await rx.control(m);
    if (out.driving) {
      drivingBytes += out.driving.length; drivingMessages += 1;
      if (rx) rx.driving(out.driving);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  faceMesh.close();
  for (const t of video.srcObject.getTracks()) t.stop();
  return {
    frames, fps, facemesh_side: facemeshSide, seconds, setup_ms: setupMs, faces_found: found, views,
    frames_per_s: frames / seconds,
    facemesh_ms: summary(detectMs), track_ms: summary(trackMs), encode_ms: summary(encodeMs),
    track_encode_ms: summary(sendMs), render_ms: rx ? summary(rx.receiver.renderMs) : null,
    view_add_ms: rx ? summary(rx.viewMs) : null,
    driving_messages: drivingMessages, driving_bytes: drivingBytes,
    user_agent: navigator.userAgent, hardware_concurrency: navigator.hardwareConcurrency,
  };
}
