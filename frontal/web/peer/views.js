// Choosing source views in the page: sender/views.py ViewSelector, ported (the same policy and
// defaults as the desktop sender: docs/call.md "Sending").

export const DEFAULT_POLICY = Object.freeze({
  maxViews: 5,
  minViewDistance: 0.25, // radians in (yaw, pitch) between views
  firstViewFrames: 8,
  frontalYaw: 0.12,
  minEyeOpenness: 0.18,
});

// FaceMesh indices: eye corners and lids (33/133 corners, 159/145 lids; 362/263, 386/374).
const EYES = [[33, 133, 159, 145], [362, 263, 386, 374]];

/** Mean eye aspect ratio (lid gap / eye width) of landmarks [478*3] (as eye_openness). */
export function eyeOpenness(landmarks) {
  let total = 0;
  for (const [a, b, up, lo] of EYES) {
    const width = Math.hypot(landmarks[3 * a] - landmarks[3 * b], landmarks[3 * a + 1] - landmarks[3 * b + 1]);
    const gap = Math.hypot(landmarks[3 * up] - landmarks[3 * lo], landmarks[3 * up + 1] - landmarks[3 * lo + 1]);
    total += gap / Math.max(width, 1e-6);
  }
  return total / EYES.length;
}

export class ViewSelector {
  constructor(policy = DEFAULT_POLICY) {
    this.policy = { ...DEFAULT_POLICY, ...policy };
    this.sent = [];
    this.best = null;
    this.seen = 0;
  }

  /** A tracked frame (PageTracker.track's result); `extra` rides along with a candidate (e.g. its
   * image and shape record). */
  consider(tracked, extra = {}) {
    if (!tracked.faceFound || this.sent.length >= this.policy.maxViews) return;
    const openness = eyeOpenness(tracked.landmarks);
    if (openness < this.policy.minEyeOpenness && this.sent.length) return;
    const cand = { ...extra, index: tracked.index, sup: tracked.sup, yaw: tracked.pose.yaw, pitch: tracked.pose.pitch, openness };
    this.seen += 1;
    if (!this.sent.length) {
      if (this.best === null || this.#firstScore(cand) < this.#firstScore(this.best)) this.best = cand;
    } else if (this.distance(cand) >= this.policy.minViewDistance) {
      if (this.best === null || this.distance(cand) > this.distance(this.best)) this.best = cand;
    }
  }

  #firstScore(c) {
    return (c.openness < this.policy.minEyeOpenness ? 1 : 0) + Math.hypot(c.yaw, c.pitch);
  }

  distance(c) {
    let d = Infinity;
    for (const [y, p] of this.sent) d = Math.min(d, Math.hypot(c.yaw - y, c.pitch - p));
    return d;
  }

  /** A view should be sent now (the first one: frontal enough, or its window is over). */
  ready() {
    if (this.best === null) return false;
    if (this.sent.length) return true;
    const b = this.best;
    const frontal = Math.abs(b.yaw) <= this.policy.frontalYaw && b.openness >= this.policy.minEyeOpenness;
    return frontal || this.seen >= this.policy.firstViewFrames;
  }

  take() {
    if (this.best === null) throw new Error('no view is ready: call ready() first');
    const best = this.best;
    this.best = null;
    this.sent.push([best.yaw, best.pitch]);
    return best;
  }
}
