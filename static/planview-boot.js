/*
 * planview-boot.js — inlined by the server at the top of every map page's <head>.
 *
 * It starts fetching the first view's layer data before any stylesheet or
 * script has loaded, so the server computes the geometry while the browser
 * is busy with Leaflet; planview.js (end of <body>) picks the responses up.
 * The map's size is derived from the window and the page layout constants
 * (the same numbers as planview.css; a test keeps them in step). A wrong
 * guess only costs one unused request. Also holds the helpers planview.js
 * shares with it (zoom buckets, layer URLs, permalink parsing).
 */
(function () {
  "use strict";
  var planview = (window.planview = window.planview || {});
  var MAX_DATA_ZOOM = 14; // the server serves full detail from here on
  var BBOX_FROM_ZOOM = 11; // below this a layer is fetched whole
  var prefetched = {}; // url -> fetch promise

  function mark(name) {
    if (window.performance && performance.mark) performance.mark(name);
  }

  /** Geometry detail to request for a (fractional) zoom: the whole zoom level below it. */
  function bucketFor(zoom) {
    return Math.max(0, Math.min(MAX_DATA_ZOOM, Math.floor(zoom + 1e-6)));
  }

  function layerUrl(base, bucket, bbox) {
    return base + "?zoom=" + bucket +
      (bbox ? "&bbox=" + bbox.map(function (v) { return v.toFixed(4); }).join(",") : "");
  }

  /** The permalink part of the URL: #map=zoom/lat/lng&layers=a,b (either part optional). */
  function parseHash(hash) {
    var out = { view: null, layers: null };
    var h = String(hash || "").replace(/^#/, "");
    if (!h) return out;
    var params = new URLSearchParams(h);
    var m = (params.get("map") || "").split("/").map(Number);
    if (m.length === 3 && m.every(isFinite) && Math.abs(m[1]) <= 90 && Math.abs(m[2]) <= 180) {
      out.view = { zoom: Math.max(0, Math.min(22, m[0])), lat: m[1], lng: m[2] };
    }
    if (params.has("layers")) {
      out.layers = (params.get("layers") || "").split(",").filter(function (id) { return id; });
    }
    return out;
  }

  /** Leaflet's getBoundsZoom(bounds) for Web Mercator, without a map (lon/lat bounds). */
  function fitZoom(bounds, width, height, snap, minZoom, maxZoom) {
    function mercY(lat) {
      var s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
      return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
    }
    var bx = ((bounds[2] - bounds[0]) / 360) * 256;
    var by = (mercY(bounds[1]) - mercY(bounds[3])) * 256;
    var z = Math.log(Math.min(width / bx, height / by)) / Math.LN2;
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
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          return { ok: res.ok, status: res.status, body: body };
        });
      });
  }

  /** The prefetched result for url if there is one (each is used once), else a new request. */
  function fetchOnce(url) {
    var req = prefetched[url];
    delete prefetched[url];
    return req || getJson(url);
  }

  /** The map pane's size from the window, mirroring the layout in planview.css. */
  function mapSize(layout) {
    var w = window.innerWidth, h = window.innerHeight;
    if (w <= layout.narrow_px) return [w, (h * layout.narrow_map_vh) / 100];
    return [w - layout.panel_px, h - layout.header_px];
  }

  planview.prefetch = function (pcfg) {
    mark("pv-prefetch");
    try {
      if (!window.fetch || !window.URLSearchParams) return;
      var hash = parseHash(window.location.hash);
      var size = mapSize(pcfg.layout);
      var zoom = hash.view ? hash.view.zoom
        : fitZoom(pcfg.bounds, size[0], size[1], pcfg.zoom_snap, pcfg.min_zoom, pcfg.max_zoom);
      var bucket = bucketFor(zoom);
      if (bucket >= BBOX_FROM_ZOOM) return; // bbox requests depend on the exact view
      pcfg.layers.forEach(function (lc) {
        var on = hash.layers ? hash.layers.indexOf(lc.id) >= 0 : lc.visible;
        if (!on) return;
        var url = layerUrl(lc.url, bucket, null);
        var req = getJson(url);
        req.catch(function () { /* reported when planview.start consumes it */ });
        prefetched[url] = req;
      });
    } catch (err) {
      /* prefetching is an optimisation only */
    }
  };

  planview.boot = {
    MAX_DATA_ZOOM: MAX_DATA_ZOOM, BBOX_FROM_ZOOM: BBOX_FROM_ZOOM, mark: mark, bucketFor: bucketFor,
    layerUrl: layerUrl, parseHash: parseHash, fitZoom: fitZoom, fetchOnce: fetchOnce
  };
})();
