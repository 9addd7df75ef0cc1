// data.js — owns loading layer data: /api/layers/{id}?zoom=N (simplified per zoom, gzip, ETag),
// bbox-limited from zoom 11, cached per layer, re-fetched (debounced) on zoom/pan; draws it as L.geoJSON.
import { BBOX_FROM_ZOOM, MAX_DATA_ZOOM, bucketFor, fetchOnce, layerUrl } from "./firstview.js";
import { escapeHtml } from "./escape.js";
import { featureName } from "./format.js";
import { addNotice, removeNotice } from "./notices.js";
import { clampedBounds, emit, on, visibleIds } from "./state.js";
import { pointStyle, styleFor, uncertaintyRing } from "./style.js";

const REFRESH_DELAY_MS = 250;
// Geometry comes simplified for its zoom bucket (half a pixel, layers/catalogue.py), so Leaflet's own
// simplification (smoothFactor 1: Douglas-Peucker at one pixel, on every redraw) is switched off: it
// cost about a tenth of the time to the first drawn view (benchmarks/maps.py) for no visible change.
// Zooming out more than a level below the data's detail fetches coarser geometry instead (needsLoad).
const SMOOTH_FACTOR = 0;
const CACHE_PER_LAYER = 8;
let refreshTimer = null;

function bboxFor(map, bucket) {
  if (bucket < BBOX_FROM_ZOOM) return null;
  // the view padded by one view size each side, snapped outward to a grid so URLs repeat
  const v = clampedBounds(map);
  const w = v[2] - v[0], h = v[3] - v[1];
  const grid = 360 / Math.pow(2, bucket - 1);
  const snap = (x, up) => (up ? Math.ceil(x / grid) : Math.floor(x / grid)) * grid;
  return [Math.max(-180, snap(v[0] - w, false)), Math.max(-90, snap(v[1] - h, false)),
    Math.min(180, snap(v[2] + w, true)), Math.min(90, snap(v[3] + h, true))];
}

function covers(outer, inner) {
  if (!outer) return true;
  return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
}

export function needsLoad(ctx, st, bucket) {
  if (st.cfg.tiles) return false; // drawn from vector tiles (tiles.js), never fetched whole
  if (st.failed && st.zoom < 0) return false;
  if (st.zoom < 0) return true;
  if (st.zoom < bucket && st.zoom < MAX_DATA_ZOOM) return true;
  if (st.zoom > bucket + 1) return true; // far finer than the view needs: drawn unsimplified (SMOOTH_FACTOR)
  return !covers(st.bbox, clampedBounds(ctx.map));
}

function fetchLayer(st, bucket, bbox) {
  const url = layerUrl(st.cfg.url, bucket, bbox);
  if (st.cache[url]) return st.cache[url];
  const p = fetchOnce(url).then((r) => {
    if (!r.ok || !r.body) throw new Error((r.body && r.body.message) || "HTTP " + r.status);
    return r.body;
  });
  st.cache[url] = p;
  st.cacheKeys.push(url);
  if (st.cacheKeys.length > CACHE_PER_LAYER) delete st.cache[st.cacheKeys.shift()];
  p.catch(() => { delete st.cache[url]; });
  return p;
}

/** Fetch and draw layer `id` for the current view; failures become a notice naming the layer. */
export function load(ctx, id) {
  const st = ctx.layers[id];
  if (st.cfg.tiles) return Promise.resolve(); // tiled layers load themselves (tiles.js)
  const bucket = bucketFor(ctx.map.getZoom());
  const bbox = bboxFor(ctx.map, bucket);
  const seq = ++st.seq;
  st.loading = fetchLayer(st, bucket, bbox).then((data) => {
    if (seq !== st.seq) return; // a newer request superseded this one
    setData(ctx, st, data, bucket, bbox);
    st.failed = false;
    removeNotice(id);
  }, (err) => {
    if (seq !== st.seq) return;
    st.failed = true;
    addNotice(id, "图层「" + st.cfg.title + "」加载失败：" + (err && err.message ? err.message : err));
  }).then(() => { if (seq === st.seq) st.loading = null; });
  return st.loading;
}

function setData(ctx, st, data, bucket, bbox) {
  const lc = st.cfg;
  const geo = L.geoJSON(data, {
    coordsToLatLng: ctx.coordsToLatLng || L.GeoJSON.coordsToLatLng,
    style: (f) => Object.assign(styleFor(lc, f.properties || {}, f.geometry && f.geometry.type),
      { smoothFactor: SMOOTH_FACTOR }),
    pointToLayer: (f, latlng) => {
      const props = f.properties || {};
      const marker = L.circleMarker(latlng, pointStyle(lc, props));
      const ring = uncertaintyRing(lc, props, latlng);
      if (!ring) return marker;
      // located/host: the marker and, as far as the evidence goes, where the site may be
      marker.feature = ring.feature = f; // the layer-wide tooltip and click find the feature from either
      const group = L.featureGroup([ring, marker]);
      group.setStyle = (st) => { marker.setStyle(st); return group; }; // restyling leaves the ring as it is
      return group;
    }
  });
  // One tooltip and one click handler for the whole layer (events bubble up from each feature), not one
  // of each per feature: a layer of a few hundred features is added to the map noticeably faster.
  geo.bindTooltip((layer) => escapeHtml(featureName(lc, (layer.feature && layer.feature.properties) || {})),
    { sticky: true, direction: "top", className: "pv-tooltip" });
  geo.on("click", (e) => {
    const f = e.layer && e.layer.feature;
    if (!f) return;
    L.DomEvent.stop(e);
    emit(ctx, "featureclick", { id: lc.id, feature: f, layer: e.layer, latlng: e.latlng });
  });
  if (st.geo) st.group.removeLayer(st.geo);
  st.geo = geo;
  st.data = data;
  st.zoom = bucket;
  st.bbox = bbox;
  st.group.addLayer(geo);
  emit(ctx, "layerdata", lc.id);
}

/** Load what the view needs now (finer geometry, or the area around a panned view). */
export function refresh(ctx) {
  const bucket = bucketFor(ctx.map.getZoom());
  const jobs = [];
  visibleIds(ctx).forEach((id) => {
    const st = ctx.layers[id];
    if (needsLoad(ctx, st, bucket)) jobs.push(load(ctx, id));
    else if (st.loading) jobs.push(st.loading);
  });
  return Promise.all(jobs);
}

export function scheduleRefresh(ctx) {
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(ctx); }, REFRESH_DELAY_MS);
}

export function ensureLoaded(ctx, id) {
  const st = ctx.layers[id];
  if (st.data) return Promise.resolve();
  return st.loading || load(ctx, id);
}

/** Redraw every loaded layer (e.g. after the datum of the basemap changed). */
export function wireRedraw(ctx) {
  on(ctx, "datum", () => {
    ctx.order.forEach((id) => {
      const st = ctx.layers[id];
      if (st.data) setData(ctx, st, st.data, st.zoom, st.bbox);
    });
  });
}
