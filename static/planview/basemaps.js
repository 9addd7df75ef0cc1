// basemaps.js — owns the base layers: attribution of the official boundaries, and the notice for a
// basemap whose tiles do not line up with WGS84 data (GCJ-02).
import { escapeHtml } from "./escape.js";
import { addNotice, removeNotice } from "./notices.js";

function officialSources(layerCfgs) {
  const sources = layerCfgs.filter((lc) => lc.precision === "official" && lc.geometry_source)
    .map((lc) => String(lc.geometry_source))
    .sort((a, b) => a.length - b.length);
  const kept = [];
  sources.forEach((s) => { if (!kept.some((k) => s.indexOf(k) >= 0)) kept.push(s); });
  return kept;
}

export function wireBasemaps(ctx) {
  const { map, cfg } = ctx;
  if (map.attributionControl) {
    map.attributionControl.setPrefix("Leaflet");
    // attribution text is rendered as HTML by Leaflet
    officialSources(cfg.layers).forEach((src) => map.attributionControl.addAttribution("边界：" + escapeHtml(src)));
  }
  map.on("baselayerchange", (e) => {
    const warn = cfg.basemap_warnings && cfg.basemap_warnings[e.name];
    if (warn) addNotice("basemap", warn); else removeNotice("basemap");
  });
}
