// The FaceMesh triangle mesh (receiver/mesh.py MeshTopology), read from the JSON file
// receiver/mesh_data/facemesh.json that `python -m frontal.serve --build-assets` copies to
// frontal/web/dist/data/facemesh.json (the manifest's `topology.file`).
//
//   const topology = await loadTopology('/web/dist/data/facemesh.json');   // the page: fetch
//   const topology = loadTopology(JSON.parse(readFileSync(path, 'utf8')));  // Node: parsed JSON
//
// loadTopology returns a promise for a URL and the topology itself for parsed JSON.

export const MESH_DATA_VERSION = 1;
export const MESH_POINTS = 468; // the triangles use FaceMesh's first 468 points (478 with the iris)

/** What part of the face a triangle belongs to (receiver.mesh.Region). */
export const Region = Object.freeze({ SKIN: 0, RIGHT_EYE: 1, LEFT_EYE: 2, MOUTH: 3 });

/** (corner, corner, [[upper lid, lower lid], ...]) per eye and the inner lips, FaceMesh indices. */
export const EYE_LIDS = Object.freeze({
  right: [33, 133, [[160, 144], [159, 145], [158, 153]]],
  left: [362, 263, [[385, 380], [386, 374], [387, 373]]],
});
export const INNER_LIPS = [78, 308, [[81, 178], [13, 14], [311, 402]]];

export class MeshTopology {
  /** triangles Int32Array [T*3] (oriented), regions Int8Array [T], uv Float32Array [T*6] (per
   * corner u, v in [0, 1]), canonical Float32Array [468*3], anchors Int32Array [K]: see
   * receiver/mesh.py. Throws an Error naming what is wrong. */
  constructor({ triangles, regions, uv, canonical, anchors }) {
    const t = regions.length;
    if (triangles.length !== 3 * t || uv.length !== 6 * t) {
      throw new Error(`inconsistent mesh arrays: ${triangles.length / 3} triangles, ${t} regions, ${uv.length / 6} uv`);
    }
    if (canonical.length !== MESH_POINTS * 3) throw new Error(`canonical face must be [${MESH_POINTS}, 3]`);
    if (t === 0 || triangles.some((i) => !(i >= 0 && i < MESH_POINTS))) throw new Error(`triangle indices must lie in 0..${MESH_POINTS - 1}`);
    if (anchors.length === 0 || anchors.some((i) => !(i >= 0 && i < MESH_POINTS))) throw new Error(`anchor indices must lie in 0..${MESH_POINTS - 1}`);
    Object.assign(this, { triangles, regions, uv, canonical, anchors });
  }

  /** From the parsed JSON of facemesh.json (MeshTopology.to_dict). */
  static fromDict(data) {
    if (!data || typeof data !== 'object') throw new Error('mesh data is not a JSON object');
    if (data.version !== MESH_DATA_VERSION) throw new Error(`mesh data version ${JSON.stringify(data.version)}, this code reads ${MESH_DATA_VERSION}`);
    const flat = (name, Kind, width) => {
      const rows = data[name];
      if (!Array.isArray(rows)) throw new Error(`malformed mesh data: ${name} missing`);
      const values = rows.flat(Infinity);
      if (values.length !== rows.length * width || values.some((v) => typeof v !== 'number')) {
        throw new Error(`malformed mesh data: ${name}`);
      }
      return Kind.from(values);
    };
    return new MeshTopology({
      triangles: flat('triangles', Int32Array, 3),
      regions: flat('regions', Int8Array, 1),
      uv: flat('uv', Float32Array, 6),
      canonical: flat('canonical', Float32Array, 3),
      anchors: flat('anchors', Int32Array, 1),
    });
  }

  get numTriangles() {
    return this.regions.length;
  }

  /** Uint8Array [T]: 1 for the triangles of `region`. */
  regionMask(region) {
    return Uint8Array.from(this.regions, (r) => (r === region ? 1 : 0));
  }

  /** Uint8Array [T]: 1 for the skin triangles that touch `region` (its lids or lips). */
  ring(region) {
    const points = new Uint8Array(MESH_POINTS);
    const tris = this.triangles;
    for (let t = 0; t < this.numTriangles; t++) {
      if (this.regions[t] === region) for (let k = 0; k < 3; k++) points[tris[3 * t + k]] = 1;
    }
    return Uint8Array.from(this.regions, (r, t) => (r === Region.SKIN
      && (points[tris[3 * t]] || points[tris[3 * t + 1]] || points[tris[3 * t + 2]]) ? 1 : 0));
  }
}

/** The topology of facemesh.json: from a URL (fetch; returns a promise) or from its parsed JSON. */
export function loadTopology(source) {
  if (typeof source === 'string' || source instanceof URL) {
    return (async () => {
      const reply = await fetch(source);
      if (!reply.ok) throw new Error(`cannot fetch the mesh topology ${source}: HTTP ${reply.status}`);
      return MeshTopology.fromDict(await reply.json());
    })();
  }
  return MeshTopology.fromDict(source);
}
