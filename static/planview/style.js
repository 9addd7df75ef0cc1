// style.js — owns how features look: Leaflet path options from the layer manifest's style and
// legend categories, the schematic (示意) look, and colour helpers for legend swatches.
import { safeColor } from "./escape.js";
import { isSchematic, placedKind } from "./format.js";

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

const styleHooks = [];

/** Let another module restyle features: fn(lc, props, style) -> a style (or nothing to keep it). */
export function addStyleHook(fn) {
  styleHooks.push(fn);
}

export function styleFor(lc, props, geomType) {
  const s = lc.style;
  const schematic = isSchematic(props);
  const placed = placedKind(props);
  const cat = categoryColor(lc, props);
  const fill = safeColor(cat || s.fill_color, safeColor(s.color));
  const line = geomType && geomType.indexOf("LineString") >= 0;
  let style = {
    pane: "pv-" + lc.id,
    color: line ? fill : safeColor(s.color),
    weight: line ? Math.max(s.weight, 3) : s.weight,
    opacity: schematic ? Math.min(s.opacity, 0.85) : s.opacity,
    fillColor: fill,
    // a highlighted host unit is context, not the site's extent: keep it faint and dashed
    fillOpacity: schematic ? s.fill_opacity * 0.5 : (placed ? Math.min(s.fill_opacity, 0.08) : s.fill_opacity),
    dashArray: schematic || placed ? SCHEMATIC_DASH : s.dash_array || null,
    className: "pv-feature pv-layer-" + lc.id + (schematic ? " pv-schematic" : "") + (placed ? " pv-" + placed : "")
  };
  styleHooks.forEach((fn) => { style = fn(lc, props, style) || style; });
  return style;
}

/** Re-apply the styles of every loaded feature (after a style hook changed its mind). */
export function restyle(ctx) {
  ctx.order.forEach((id) => {
    const st = ctx.layers[id];
    if (!st.geo) return;
    st.geo.setStyle((f) => {
      const props = f.properties || {};
      return f.geometry && f.geometry.type === "Point" ? pointStyle(st.cfg, props)
        : styleFor(st.cfg, props, f.geometry && f.geometry.type);
    });
  });
}

/** Point marker options for a feature (a circle, more opaque than areas). */
export function pointStyle(lc, props) {
  const opts = styleFor(lc, props, "Point");
  opts.radius = lc.style.radius;
  opts.fillOpacity = Math.max(opts.fillOpacity, isSchematic(props) ? 0.45 : 0.8);
  if (placedKind(props)) opts.dashArray = null; // the marker is solid; its uncertainty ring is dashed
  return opts;
}

/** The dashed uncertainty ring (metres) round a located/host point, or null. */
export function uncertaintyRing(lc, props, latlng) {
  const radius = Number(props.uncertainty_m);
  if (!placedKind(props) || !(radius > 0)) return null;
  const opts = pointStyle(lc, props);
  return L.circle(latlng, { pane: opts.pane, radius, color: opts.fillColor, weight: 1, opacity: 0.7,
    dashArray: SCHEMATIC_DASH, fill: false, interactive: false, className: "pv-uncertainty-ring" });
}

export function withAlpha(color, alpha) {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const hex = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
  const n = parseInt(hex, 16);
  return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
}
