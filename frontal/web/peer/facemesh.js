// FaceMesh in the page: the npm package @mediapipe/face_mesh (pinned in package-lock.json), served
// from /web/dist/face_mesh/ (`make web`). Its script defines the global `FaceMesh`; its WASM and
// model files are fetched from the same folder (locateFile), never from a CDN.
export const FACE_MESH_DIR = '/web/dist/face_mesh/';
// FaceMesh sees the frame scaled down to this longer side: in headless Chromium here 15 ms a frame
// at 320x180 against 24 at 640x360, with the points 0.5 % of the eye distance apart on average
// (docs/browser.md). Views are still cut from the full frame.
export const INPUT_SIDE = 320;

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
  /** `inputSide`: the longer side FaceMesh sees (0: the frame as it is). */
  static async create(dir = FACE_MESH_DIR, { inputSide = INPUT_SIDE } = {}) {
    if (!globalThis.FaceMesh) await loadScript(`${dir}face_mesh.js`);
    const mesh = new globalThis.FaceMesh({ locateFile: (file) => `${dir}${file}` });
    mesh.setOptions({ maxNumFaces: 1, refineLandmarks: true, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5, useCpuInference: true });
    const out = new PageFaceMesh(mesh, inputSide);
    await mesh.initialize();
    return out;
  }

  constructor(mesh, inputSide = INPUT_SIDE) {
    this.mesh = mesh;
    this.inputSide = inputSide;
    this.last = null;
    mesh.onResults((results) => { this.last = results; });
  }

  /** The 478 points ({x, y, z} normalised to the frame) of the face in `image` (a video element,
   * canvas or image), or null when none was found. */
  async detect(image) {
    this.last = null;
    const width = image.videoWidth || image.width, height = image.videoHeight || image.height;
    const scale = this.inputSide > 0 ? Math.min(1, this.inputSide / Math.max(width, height)) : 1;
    if (scale < 1) {
      if (!this.canvas) {
        this.canvas = document.createElement('canvas');
        this.context = this.canvas.getContext('2d');
      }
      const w = Math.round(width * scale), h = Math.round(height * scale);
      if (this.canvas.width !== w || this.canvas.height !== h) Object.assign(this.canvas, { width: w, height: h });
      this.context.drawImage(image, 0, 0, w, h);
      image = this.canvas;
    }
    await this.mesh.send({ image });
    const faces = this.last && this.last.multiFaceLandmarks;
    return faces && faces.length ? faces[0] : null; // normalised to the frame: the same at any scale
  }

  close() {
    return this.mesh.close();
  }
}
