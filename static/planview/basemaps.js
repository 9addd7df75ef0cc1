// basemaps.js — owns the base layers: which one is shown (by id, for the permalink's &base=), attribution
// of the official boundaries, and the notice for a basemap whose tiles do not line up with WGS84 data (GCJ-02).
import { gcj02ToWgs84, wgs84ToGcj02 } from "./datum.js";
import { escapeHtml } from "./escape.js";
import { addNotice, removeNotice } from "./notices.js";
import { emit } from "./state.js";

function officialSources(layerCfgs) {
  const sources = layerCfgs.filter((lc) => lc.precision === "official" && lc.geometry_source)
    .map((lc) => String(lc.geometry_source))
    .sort((a, b) => a.length - b.length);
  const kept = [];
  sources.forEach((s) => { if (!kept.some((k) => s.indexOf(k) >= 0)) kept.push(s); });
  return kept;
}

/** The id of the basemap shown now (cfg.default_base when there is no switcher). */
export function currentBase(ctx) {
  const bases = ctx.bases || {};
  const ids = Object.keys(bases);
  for (let i = 0; i < ids.length; i++) if (ctx.map.hasLayer(bases[ids[i]])) return ids[i];
  return ctx.cfg.default_base || "offline";
}

/** Show basemap `id`; an id this page does not have is ignored (the default stays). */
export function applyBase(ctx, id) {
  const bases = ctx.bases || {};
  if (!id || !Object.prototype.hasOwnProperty.call(bases, id) || ctx.map.hasLayer(bases[id])) return false;
  Object.keys(bases).forEach((other) => { if (other !== id && ctx.map.hasLayer(bases[other])) ctx.map.removeLayer(bases[other]); });
  ctx.map.addLayer(bases[id]); // the layer control follows and fires "baselayerchange"
  return true;
}

export function wireBasemaps(ctx, bases) {
  const { map, cfg } = ctx;
  ctx.bases = bases || {};
  if (map.attributionControl) {
    map.attributionControl.setPrefix("Leaflet");
    // attribution text is rendered as HTML by Leaflet
    officialSources(cfg.layers).forEach((src) => map.attributionControl.addAttribution("边界：" + escapeHtml(src)));
  }
  ctx.datum = "wgs84";
  map.on("baselayerchange", (e) => {
    const datum = (cfg.basemap_datums && cfg.basemap_datums[e.name]) || "wgs84";
    const warn = cfg.basemap_warnings && cfg.basemap_warnings[e.name];
    if (datum === "gcj02") {
      addNotice("basemap", "当前底图为 GCJ-02（高德）：各图层已换算到 GCJ-02 显示以与底图对齐；量算与坐标请切回其他底图 / " +
        "layers are shifted to GCJ-02 to line up with this basemap");
    } else if (warn) addNotice("basemap", warn);
    else removeNotice("basemap");
    if (datum === ctx.datum) return;
    ctx.datum = datum;
    // GeoJSON -> map: shift onto the GCJ-02 tiles; map -> data (clicks, search): shift back.
    ctx.coordsToLatLng = datum === "gcj02" ? (c) => { const p = wgs84ToGcj02(c[0], c[1]); return L.latLng(p[1], p[0]); } : null;
    ctx.toData = datum === "gcj02" ? (ll) => { const p = gcj02ToWgs84(ll.lng, ll.lat); return L.latLng(p[1], p[0]); } : null;
    emit(ctx, "datum", datum);
  });
}
