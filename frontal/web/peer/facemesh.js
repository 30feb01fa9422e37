// FaceMesh in the page: the npm package @mediapipe/face_mesh (pinned in package-lock.json), served
// from /web/dist/face_mesh/ (`make web`). Its script defines the global `FaceMesh`; its WASM and
// model files are fetched from the same folder (locateFile), never from a CDN.
export const FACE_MESH_DIR = '/web/dist/face_mesh/';

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = src;
    el.crossOrigin = 'anonymous';
    el.onload = resolve;
    el.onerror = () => reject(new Error(`cannot load ${src} (run \`make web\` where the server runs)`));
    document.head.appendChild(el);
  });
}

/** A tracker of one face (refined landmarks: 478 points), the settings of sender/tracker.py.
 * `useCpuInference`: the models run on the CPU (WASM SIMD, XNNPACK) rather than through WebGL: in
 * headless Chromium here (software GL) 11 ms a frame against 105 (docs/browser.md); a real GPU
 * gains little from WebGL for networks this small. */
export class PageFaceMesh {
  static async create(dir = FACE_MESH_DIR) {
    if (!globalThis.FaceMesh) await loadScript(`${dir}face_mesh.js`);
    const mesh = new globalThis.FaceMesh({ locateFile: (file) => `${dir}${file}` });
    mesh.setOptions({ maxNumFaces: 1, refineLandmarks: true, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5, useCpuInference: true });
    const out = new PageFaceMesh(mesh);
    await mesh.initialize();
    return out;
  }

  constructor(mesh) {
    this.mesh = mesh;
    this.last = null;
    mesh.onResults((results) => { this.last = results; });
  }

  /** The 478 points ({x, y, z} normalised to the frame) of the face in `image` (a video element,
   * canvas or image), or null when none was found. */
  async detect(image) {
    this.last = null;
    await this.mesh.send({ image });
    const faces = this.last && this.last.multiFaceLandmarks;
    return faces && faces.length ? faces[0] : null;
  }

  close() {
    return this.mesh.close();
  }
}
