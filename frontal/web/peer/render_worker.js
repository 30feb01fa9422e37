// The geometry renderer (render/index.js) in a module worker, off the page's main thread, where
// FaceMesh and the encoder run: on two cores the other caller is drawn while this caller's face is
// tracked. call.js's WorkerRenderer talks to it; one request at a time, answered in order:
//
//   {type: 'init', topologyUrl, shapeModelUrl}            -> {type: 'ready'} | {type: 'error', error}
//   {type: 'view', id, data (RGBA), width, height, record} -> {type: 'view', id} | {type: 'error', id, error}
//   {type: 'render', id, record}                           -> {type: 'frame', id, image (RGBA, transferred), ms}
import { PageMeshRenderer, loadTopology } from '../render/index.js';
import { ShapeModel } from './shape.js';

let renderer = null;

async function init({ topologyUrl, shapeModelUrl }) {
  const reply = await fetch(shapeModelUrl);
  if (!reply.ok) throw new Error(`cannot fetch the shape model ${shapeModelUrl}: HTTP ${reply.status}`);
  const [topology, shapeModel] = await Promise.all([loadTopology(topologyUrl), reply.arrayBuffer().then((b) => ShapeModel.fromSafetensors(b))]);
  renderer = new PageMeshRenderer({ topology, shapeModel });
}

self.onmessage = async ({ data: m }) => {
  try {
    if (m.type === 'init') {
      await init(m);
      self.postMessage({ type: 'ready' });
    } else if (m.type === 'view') {
      renderer.addViewRecord({ data: m.data, width: m.width, height: m.height }, m.record);
      self.postMessage({ type: 'view', id: m.id });
    } else if (m.type === 'render') {
      const t = performance.now();
      const { image } = renderer.render(m.record);
      const ms = performance.now() - t;
      const copy = new Uint8ClampedArray(image); // the renderer keeps its buffer; this one goes over
      self.postMessage({ type: 'frame', id: m.id, image: copy, ms }, [copy.buffer]);
    }
  } catch (error) {
    self.postMessage({ type: 'error', id: m.id, error: String((error && error.message) || error) });
  }
};
