// style.js — owns how features look: Leaflet path options from the layer manifest's style and
// legend categories, the schematic (示意) look, and colour helpers for legend swatches.
import { safeColor } from "./escape.js";
import { isSchematic } from "./format.js";

export const SCHEMATIC_DASH = "6 4";

export function categoryColor(lc, props) {
  const lg = lc.legend;
  if (!lg || !lg.field) return null;
  const v = props[lg.field];
  for (let i = 0; i < lg.categories.length; i++) {
    if (lg.categories[i].value === v) return lg.categories[i].color;
  }
  return null;
}

export function styleFor(lc, props, geomType) {
  const s = lc.style;
  const schematic = isSchematic(props);
  const cat = categoryColor(lc, props);
  const fill = safeColor(cat || s.fill_color, safeColor(s.color));
  const line = geomType && geomType.indexOf("LineString") >= 0;
  return {
    pane: "pv-" + lc.id,
    color: line ? fill : safeColor(s.color),
    weight: line ? Math.max(s.weight, 3) : s.weight,
    opacity: schematic ? Math.min(s.opacity, 0.85) : s.opacity,
    fillColor: fill,
    fillOpacity: schematic ? s.fill_opacity * 0.5 : s.fill_opacity,
    dashArray: schematic ? SCHEMATIC_DASH : s.dash_array || null,
    className: "pv-feature pv-layer-" + lc.id + (schematic ? " pv-schematic" : "")
  };
}

/** Point marker options for a feature (a circle, more opaque than areas). */
export function pointStyle(lc, props) {
  const opts = styleFor(lc, props, "Point");
  opts.radius = lc.style.radius;
  opts.fillOpacity = Math.max(opts.fillOpacity, isSchematic(props) ? 0.45 : 0.8);
  return opts;
}

export function withAlpha(color, alpha) {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const hex = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
  const n = parseInt(hex, 16);
  return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
}
