// The page's tracker around FaceMesh, as sender/tracker.py: the head pose (a similarity fit of the
// frontal template's rigid points), the stable crop box (dead zone + easing) and the landmarks in
// normalised crop coordinates. FaceMesh itself runs elsewhere (facemesh.js); this takes its 478
// normalised points and the frame's size. Data: dist/data/tracker.json (python -m frontal.serve
// --build-assets, from sender/face_template.py and TrackerConfig).
import { applySimilarity, fitSimilarity, rows } from './shape.js';

export const NUM_LANDMARKS = 478;

/** Head angles of a rotation, as sender.pose.pose_from_rotation: {yaw, pitch, roll}. */
export function poseFromRotation(r) {
  const theta = -Math.asin(Math.min(1, Math.max(-1, r[6])));
  const phi = Math.atan2(r[7], r[8]);
  const psi = Math.atan2(r[3], r[0]);
  return { yaw: -theta, pitch: -phi, roll: psi };
}

export class Box {
  constructor(x0, y0, size) { Object.assign(this, { x0, y0, size }); }
  get centre() { return [this.x0 + 0.5 * this.size, this.y0 + 0.5 * this.size]; }
  static around(cx, cy, size) { return new Box(cx - 0.5 * size, cy - 0.5 * size, size); }
}

export class StableBox {
  constructor(config) { this.config = config; this.box = null; this.moving = false; }

  update(target) {
    if (this.box === null) { this.box = target; return target; }
    const c = this.config;
    let [offset, scale] = this.#distance(target);
    if (!this.moving && (offset > c.dead_zone || Math.abs(scale) > c.size_dead_zone)) this.moving = true;
    if (this.moving) {
      const [cx, cy] = this.box.centre, [tx, ty] = target.centre;
      const size = this.box.size * Math.exp(c.ease * scale);
      this.box = Box.around(cx + c.ease * (tx - cx), cy + c.ease * (ty - cy), size);
      [offset, scale] = this.#distance(target);
      this.moving = offset > c.settle || Math.abs(scale) > c.settle;
    }
    return this.box;
  }

  #distance(target) {
    const [cx, cy] = this.box.centre, [tx, ty] = target.centre;
    return [Math.hypot(tx - cx, ty - cy) / this.box.size, Math.log(target.size / this.box.size)];
  }
}

/** Source-pixel points [N*3] -> normalised crop coordinates (Float32Array), as to_crop_coords. */
export function toCropCoords(pointsPx, box) {
  const out = new Float32Array(pointsPx.length);
  for (let i = 0; i < pointsPx.length; i += 3) {
    out[i] = 2.0 * (pointsPx[i] - box.x0) / box.size - 1.0;
    out[i + 1] = 2.0 * (pointsPx[i + 1] - box.y0) / box.size - 1.0;
    out[i + 2] = 2.0 * pointsPx[i + 2] / box.size;
  }
  return out;
}

export class PageTracker {
  /** `data`: the parsed tracker.json. */
  constructor(data) {
    if (data.format !== 'frontal-tracker' || data.version !== 1) throw new Error('not a Frontal tracker file (version 1)');
    this.config = data.config;
    this.sup33 = data.sup33;
    const template = Float64Array.from(data.template.flat());
    this.rigid = data.rigid;
    this.rigidTemplate = rows(template, this.rigid);
    const top = data.template[data.top], chin = data.template[data.chin];
    const height = Math.hypot(top[0] - chin[0], top[1] - chin[1], top[2] - chin[2]);
    const centre = [0, 1, 2].map((c) => 0.5 * (top[c] + chin[c]));
    const offset = [0, -this.config.box_raise, this.config.box_depth];
    this.anchor = Float64Array.from([0, 1, 2].map((c) => centre[c] + offset[c] * height));
    this.reset();
  }

  reset() {
    this.stable = new StableBox(this.config);
    this.index = 0;
    this.landmarksPx = null;
    this.pose = { yaw: 0, pitch: 0, roll: 0 };
    this.facesFound = 0;
  }

  /**
   * One frame: `face` FaceMesh's 478 points ({x, y, z} normalised to the frame, or a flat array of
   * 478*3) or null when no face was found; `width`, `height` the frame's size in pixels. Returns
   * {index, faceFound, box, landmarks (Float32Array 478*3, crop coordinates), sup (Float32Array 66),
   * pose {yaw, pitch, roll}} as TrackedFrame (no image: cropImage() draws it).
   */
  track(face, width, height) {
    let box;
    const found = Boolean(face);
    if (found) {
      const px = new Float64Array(NUM_LANDMARKS * 3);
      const flat = typeof face[0] === 'number';
      if (face.length !== (flat ? 3 * NUM_LANDMARKS : NUM_LANDMARKS)) throw new Error(`expected ${NUM_LANDMARKS} face points`);
      for (let i = 0; i < NUM_LANDMARKS; i++) {
        const p = flat ? [face[3 * i], face[3 * i + 1], face[3 * i + 2]] : [face[i].x, face[i].y, face[i].z];
        px[3 * i] = p[0] * width; px[3 * i + 1] = p[1] * height; px[3 * i + 2] = p[2] * width;
      }
      const fit = fitSimilarity(this.rigidTemplate, rows(px, this.rigid));
      this.landmarksPx = px;
      this.pose = poseFromRotation(fit.rotation);
      this.facesFound += 1;
      const [cx, cy] = applySimilarity(fit, this.anchor);
      box = this.stable.update(Box.around(cx, cy, this.config.box_scale * fit.scale));
    } else if (this.stable.box !== null) {
      box = this.stable.box;
    } else {
      box = Box.around(width / 2, height / 2, Math.min(width, height));
    }
    const landmarks = this.landmarksPx ? toCropCoords(this.landmarksPx, box) : new Float32Array(NUM_LANDMARKS * 3);
    const sup = new Float32Array(2 * this.sup33.length);
    this.sup33.forEach((idx, i) => { sup[2 * i] = landmarks[3 * idx]; sup[2 * i + 1] = landmarks[3 * idx + 1]; });
    return { index: this.index++, faceFound: found, box, landmarks, sup, pose: { ...this.pose } };
  }
}

/** Draws the crop `box` of `source` (a video, canvas or image) into `canvas` (crop_size square).
 * Bilinear (the browser's smoothing); outside the frame stays black where Python replicates the
 * border. */
export function cropImage(source, box, canvas, size = 256) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(source, box.x0, box.y0, box.size, box.size, 0, 0, size, size);
  return canvas;
}
