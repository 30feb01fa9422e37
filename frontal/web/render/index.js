// The geometry renderer in the page: receiver/render.py MeshFrameRenderer (the shipped renderer
// of a shape call, without the refiner) in plain ES modules, no DOM: Node.js 20+ or a browser.
// docs/browser.md, "Rendering in the page".
//
//   import { PageMeshRenderer, loadTopology } from './render/index.js';
//   const topology = await loadTopology(`${dir}${manifest.topology.file}`);    // dist/data/facemesh.json
//   const r = new PageMeshRenderer({ topology, shapeModel });   // peer/shape.js ShapeModel (the call's)
//   r.addViewRecord({ data, width: 256, height: 256 }, record); // RGBA view + its decoded record
//   const frame = r.render(record);     // {image: Uint8ClampedArray RGBA 256*256*4 (alpha 255),
//                                       //  mask: Uint8Array 256*256 (1: face), alpha: Float32Array}
//   r.numViews; r.maxViews; r.reset(); await r.describe();
//
// A record is what the JS codec yields: {pose: [6], shape: [k]} (Float32Array or any numbers),
// from StreamDecoder.decode(packet).record, or for a view, decodeIntraRecord(fields, meta.record,
// 'paper' | mode, tables) of a 0xF7 view start's `record` bytes (messages.parseViewStart).
// Errors are Errors with one-line messages: a view or frame before the topology or the shape
// model (constructor), a bad image or record, a render before any view ('no source view yet'),
// more views than maxViews. `config` takes RenderConfig's fields (receiver/atlas.py: size,
// feather, min_area, background_reach, atlas: {size, sharpness, depth_tolerance, pad, max_views}).
//
// Cost on a 2-core machine: the constructor ~0.2 s (the atlas's layout, once); a view 50-160 ms
// when it arrives (unwrap and fusion); a frame ~10 ms in Node 20 and headless Chromium
// (`node frontal/web/render/bench.mjs [--json]`).

export { PageMeshRenderer, MeshRenderer, RENDER_DEFAULTS, feather, renderConfig } from './renderer.js';
export { TextureAtlas, ATLAS_DEFAULTS, atlasConfig } from './atlas.js';
export { MeshTopology, Region, MESH_POINTS, MESH_DATA_VERSION, loadTopology } from './topology.js';
export { toPixels } from './mesh.js';
export { distanceTransform, rasterize, sampleBilinear } from './raster.js';
