// boot.js — owns the first request: prefetches the first view's layer data from the top of the page head,
// before anything else runs, and the helpers shared with data loading (zoom buckets, layer URLs, permalink
// parsing, fetch-once), which the modules import from firstview.js. Its input is
// <script type="application/json" id="pv-prefetch">. The page's one classic script, inline at the top of
// <head> (its hash in the page's CSP): it runs as soon as the head is parsed, with no request of its own;
// as an async module it ran 60–170 ms later, once the page's other scripts had run (benchmarks/maps.py),
// and the first view's data requests waited. The map's size is derived from the window and the page layout constants
// (the same numbers as planview.css; a test keeps them in step). A wrong guess only costs one unused request.
(function () {
"use strict";

const MAX_DATA_ZOOM = 14; // the server serves full detail from here on
const BBOX_FROM_ZOOM = 11; // below this a layer is fetched whole

function mark(name) {
  if (window.performance && performance.mark) performance.mark(name);
}

/** Geometry detail to request for a (fractional) zoom: the whole zoom level below it. */
function bucketFor(zoom) {
  return Math.max(0, Math.min(MAX_DATA_ZOOM, Math.floor(zoom + 1e-6)));
}

function layerUrl(base, bucket, bbox) {
  return base + "?zoom=" + bucket + (bbox ? "&bbox=" + bbox.map((v) => v.toFixed(4)).join(",") : "");
}

/** The permalink part of the URL: #map=zoom/lat/lng&layers=a,b&base=name (each part optional). */
function parseHash(hash) {
  const out = { view: null, layers: null, base: null };
  const h = String(hash || "").replace(/^#/, "");
  if (!h) return out;
  const params = new URLSearchParams(h);
  const m = (params.get("map") || "").split("/").map(Number);
  if (m.length === 3 && m.every(isFinite) && Math.abs(m[1]) <= 90 && Math.abs(m[2]) <= 180) {
    out.view = { zoom: Math.max(0, Math.min(22, m[0])), lat: m[1], lng: m[2] };
  }
  if (params.has("layers")) out.layers = (params.get("layers") || "").split(",").filter((id) => id);
  if (params.has("base")) out.base = params.get("base");
  return out;
}

/** Leaflet's getBoundsZoom(bounds) for Web Mercator, without a map (lon/lat bounds). */
function fitZoom(bounds, width, height, snap, minZoom, maxZoom) {
  function mercY(lat) {
    const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
    return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }
  const bx = ((bounds[2] - bounds[0]) / 360) * 256;
  const by = (mercY(bounds[1]) - mercY(bounds[3])) * 256;
  let z = Math.log(Math.min(width / bx, height / by)) / Math.LN2;
  if (snap) {
    z = Math.round(z / (snap / 100)) * (snap / 100);
    z = Math.floor(z / snap) * snap;
  }
  return Math.max(minZoom, Math.min(maxZoom, z));
}

/**
 * GET url and parse its JSON as soon as it arrives (in the gaps while scripts load):
 * resolves to {ok, status, body}; rejects only when the network fails.
 */
function getJson(url) {
  return fetch(url, { headers: { Accept: "application/geo+json, application/json" }, credentials: "same-origin" })
    .then((res) => res.json().catch(() => null).then((body) => ({ ok: res.ok, status: res.status, body })));
}

const prefetched = {}; // url -> promise of {ok, status, body}

/** The prefetched result for url if there is one (each is used once), else a new request. */
function fetchOnce(url) {
  const req = prefetched[url];
  delete prefetched[url];
  return req || getJson(url);
}

/** The map pane's size from the window, mirroring the layout in planview.css. */
function mapSize(layout) {
  const w = window.innerWidth, h = window.innerHeight;
  if (layout.phone_px && w <= layout.phone_px) return [w, h - layout.header_px];
  if (w <= layout.narrow_px) return [w, (h * layout.narrow_map_vh) / 100];
  return [w - layout.panel_px, h - layout.header_px];
}

/** JSON data the server put in the page (a non-executable <script type="application/json">). */
function pageData(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

function prefetch(pcfg) {
  mark("pv-prefetch");
  try {
    if (!pcfg || !window.fetch || !window.URLSearchParams) return;
    const hash = parseHash(window.location.hash);
    const size = mapSize(pcfg.layout);
    const zoom = hash.view ? hash.view.zoom
      : fitZoom(pcfg.bounds, size[0], size[1], pcfg.zoom_snap, pcfg.min_zoom, pcfg.max_zoom);
    const bucket = bucketFor(zoom);
    if (bucket >= BBOX_FROM_ZOOM) return; // bbox requests depend on the exact view
    pcfg.layers.forEach((lc) => {
      const on = hash.layers ? hash.layers.indexOf(lc.id) >= 0 : lc.visible;
      if (!on) return;
      const url = layerUrl(lc.url, bucket, null);
      const req = getJson(url);
      req.catch(() => { /* reported when the data module consumes it */ });
      prefetched[url] = req;
    });
  } catch (err) {
    /* prefetching is an optimisation only */
  }
}

window.planviewBoot = Object.freeze({ MAX_DATA_ZOOM, BBOX_FROM_ZOOM, mark, bucketFor, layerUrl, parseHash, fitZoom,
  fetchOnce, pageData });
prefetch(pageData("pv-prefetch"));
})();
