// vectorbase.js — owns the offline vector-tile basemaps (an operator's MBTiles/PMTiles of MVT tiles,
// served at /basemap/{name}/…): drawn with the vendored Leaflet.VectorGrid on canvas in the tile pane,
// under the plan layers, not interactive, in one quiet style for the common schemas (OpenMapTiles and
// Protomaps layer names). Labels and points of the tiles are left out: the map writes its own labels.
import { addNotice } from "./notices.js";

const WATER = { fill: true, fillColor: "#a9cce3", fillOpacity: 1, stroke: false, weight: 0 };
const GREEN = { fill: true, fillColor: "#dcebcf", fillOpacity: 0.8, stroke: false, weight: 0 };
const STYLES = {
  earth: { fill: true, fillColor: "#f5f3ee", fillOpacity: 1, stroke: false, weight: 0 },
  water: WATER,
  ocean: WATER,
  waterway: { color: "#7fb0d8", weight: 1.2, opacity: 1, fill: false },
  physical_line: { color: "#7fb0d8", weight: 1.2, opacity: 1, fill: false },
  landcover: GREEN,
  landuse: GREEN,
  park: GREEN,
  natural: GREEN,
  boundary: { color: "#9a7fb0", weight: 1, opacity: 0.9, dashArray: "4 3", fill: false },
  boundaries: { color: "#9a7fb0", weight: 1, opacity: 0.9, dashArray: "4 3", fill: false },
  transportation: { color: "#c8a46e", weight: 1.2, opacity: 0.9, fill: false },
  roads: { color: "#c8a46e", weight: 1.2, opacity: 0.9, fill: false },
  transit: { color: "#9e9e9e", weight: 0.8, opacity: 0.8, fill: false },
  aeroway: { color: "#b0b0b0", weight: 1, opacity: 0.8, fill: true, fillColor: "#e6e6e6", fillOpacity: 0.6 },
  building: { fill: true, fillColor: "#ddd3ca", fillOpacity: 0.9, color: "#c9bcb0", weight: 0.5, opacity: 1 },
  buildings: { fill: true, fillColor: "#ddd3ca", fillOpacity: 0.9, color: "#c9bcb0", weight: 0.5, opacity: 1 }
};
// Labels, points of interest, house numbers: not drawn (an empty style list skips the feature).
const HIDDEN = /(^|_)(name|label|labels|place|places|poi|pois|housenumber|mountain_peak|physical_point)$/;
// Any other layer: thin grey lines, a faint grey fill, small dots.
const NEUTRAL = { color: "#a0a0a0", weight: 0.8, opacity: 0.8, fill: true, fillColor: "#a0a0a0", fillOpacity: 0.08,
  radius: 1.5 };

/** The style for a tile layer name (a Proxy, so layers the table does not know get the neutral one). */
export function basemapStyles() {
  return new Proxy({}, {
    get: (target, name) => {
      const key = String(name);
      if (Object.prototype.hasOwnProperty.call(STYLES, key)) return STYLES[key];
      return HIDDEN.test(key) ? [] : NEUTRAL;
    }
  });
}

/** Put a VectorGrid layer into each vector basemap's (Folium-made, empty) group of the switcher. */
export function wireVectorBasemaps(ctx, bases) {
  const vectors = ctx.cfg.vector_basemaps || {};
  const planview = window.planview;
  planview.vectorBasemaps = planview.vectorBasemaps || {};
  Object.keys(vectors).forEach((id) => {
    const group = bases && bases[id];
    if (!group) return;
    if (!window.L || !L.vectorGrid) {
      addNotice("base-" + id, "矢量底图需要矢量瓦片组件，未能加载");
      return;
    }
    const vb = vectors[id];
    const layer = L.vectorGrid.protobuf(vb.url, {
      rendererFactory: L.canvas.tile, // a basemap: many paths, no clicks; canvas draws faster than SVG
      interactive: false,
      vectorTileLayerStyles: basemapStyles(),
      maxNativeZoom: vb.max_native_zoom || 14,
      maxZoom: 22,
      attribution: vb.attribution
    });
    group.addLayer(layer);
    planview.vectorBasemaps[id] = layer;
  });
}
