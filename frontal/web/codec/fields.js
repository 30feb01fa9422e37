// Driving fields and their quantized groups (codec/fields.py).

const GROUP_BITS = {
  mean: [10, -1.0, 1.0],
  sup: [8, -1.0, 1.0],
  unsup: [12, -1.0, 1.0],
  jac: [16, -15.0, 15.0],
  expr: [10, -1.0, 1.0],
  pose: [11, -2.0, 2.0],
  shape: [9, -4.0, 4.0],
};
const PREDICTIVE_BITS = { ...GROUP_BITS, unsup: [8, -1.0, 1.0], expr: [7, -1.0, 1.0] };
export const MODE_BITS = { paper: GROUP_BITS, predictive: PREDICTIVE_BITS };
export const MODES = ['paper', 'predictive'];
export const GROUP_NAMES = ['mean', 'sup', 'unsup', 'jac', 'expr', 'pose', 'shape']; // wire order
export const PAPER_BITS = GROUP_BITS;

/** One quantized group: `size` integers of `bits` bits over [lo, hi] (codec.fields.GroupSpec). */
export class GroupSpec {
  constructor(name, size, bits, lo, hi) {
    Object.assign(this, { name, size, bits, lo, hi });
    this.levels = 2 ** bits - 1;
    this.step = (hi - lo) / this.levels;
    Object.freeze(this);
  }
}

/** The driving fields of a stream (codec.fields.FieldSet). */
export class FieldSet {
  constructor({ n_sup = 33, n_unsup = 0, jacobians = false, n_expr = 0, n_shape = 0 } = {}) {
    for (const v of [n_sup, n_unsup, n_expr, n_shape]) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError('field sizes must be non-negative integers');
    }
    if (n_shape && (n_sup || n_unsup)) throw new RangeError('a shape field set carries no keypoints (its landmarks are the mesh\'s)');
    if (!n_sup && !n_unsup && !n_shape) throw new RangeError('a field set needs supervised or unsupervised keypoints, or a shape');
    if (jacobians && !n_unsup) throw new RangeError('Jacobians need unsupervised keypoints');
    Object.assign(this, { n_sup, n_unsup, jacobians: Boolean(jacobians), n_expr, n_shape });
    Object.freeze(this);
  }

  /** From the JSON form (`hello` fields, a recorded file's header): {n_sup, n_unsup, jacobians, n_expr[, n_shape]}. */
  static fromDict(d) {
    return new FieldSet({ n_sup: d.n_sup, n_unsup: d.n_unsup, jacobians: Boolean(d.jacobians), n_expr: d.n_expr, n_shape: d.n_shape ?? 0 });
  }

  toDict() {
    const out = { n_sup: this.n_sup, n_unsup: this.n_unsup, jacobians: this.jacobians ? 1 : 0, n_expr: this.n_expr };
    if (this.n_shape) out.n_shape = this.n_shape;
    return out;
  }

  get name() {
    const parts = [];
    if (this.n_sup) parts.push(`sup${this.n_sup}`);
    if (this.n_unsup) parts.push(`unsup${this.n_unsup}`);
    if (this.jacobians) parts.push('jac');
    if (this.n_expr) parts.push(`expr${this.n_expr}`);
    if (this.n_shape) parts.push(`shape${this.n_shape}`);
    return parts.join('+');
  }

  /** The quantized groups in wire order, with the bit depths of coding `mode`. */
  groups(mode = 'paper') {
    const bits = MODE_BITS[mode];
    if (!bits) throw new RangeError(`unknown coding mode '${mode}' (choose paper, predictive)`);
    const sizes = {
      mean: 2,
      sup: 2 * this.n_sup,
      unsup: 2 * this.n_unsup,
      jac: this.jacobians ? 4 * this.n_unsup : 0,
      expr: this.n_expr,
      pose: this.n_shape ? 4 : 0,
      shape: this.n_shape,
    };
    const out = [];
    for (const name of GROUP_NAMES) {
      if (sizes[name] > 0) {
        const [depth, lo, hi] = bits[name];
        out.push(new GroupSpec(name, sizes[name], depth, lo, hi));
      }
    }
    return out;
  }

  get size() {
    return this.groups().reduce((a, g) => a + g.size, 0);
  }
}

/** The tracker's 33 landmarks only (codec.fields.LANDMARK_FIELDS). */
export const LANDMARK_FIELDS = new FieldSet({ n_sup: 33 });
