/*
 * planview.js — fills a Folium-made Leaflet map with the plan layers.
 *
 * The page embeds no geometry. For each layer of the map this module fetches
 * /api/layers/{id}?zoom=N (geometry simplified for that zoom, gzip, ETag) and
 * adds it to the layer's (empty) Folium FeatureGroup as L.geoJSON, styled from
 * the manifest passed in `cfg`. Zooming in re-fetches finer geometry
 * (debounced, cached by zoom bucket; from zoom 11 on only around the view).
 *
 * Every string that came from data is escaped before it reaches HTML
 * (popups, tooltips, legend, side panel): Leaflet renders strings as HTML.
 *
 * Also here: legend per layer (hides with its layer), popups with the plan
 * sentence and citation, side panel (selected feature, indicator table),
 * search by name, permalink (#map=z/lat/lng&layers=a,b), export link, and a
 * visible notice for every layer that failed to load.
 */
(function () {
  "use strict";

  var planview = (window.planview = window.planview || {});
  planview.ready = false;
  planview.failed = [];
  if (!planview.boot) throw new Error("planview.js needs the boot script (planview-boot.js) in the page head");

  var REFRESH_DELAY_MS = 250;
  var CACHE_PER_LAYER = 8;
  var SCHEMATIC_DASH = "6 4";
  var SCHEMATIC_LABEL = "示意范围";
  var STANDARD_FIELDS = { quote: true, source: true };

  // ---------------------------------------------------------------- escaping

  var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;", "=": "&#61;" };

  /** Text -> HTML-safe text (also safe inside quoted attributes). */
  function escapeHtml(value) {
    if (value === null || value === undefined) return "";
    return String(value).replace(/[&<>"'`=]/g, function (c) { return ENTITIES[c]; });
  }
  planview.escapeHtml = escapeHtml;

  var SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\(\s*[0-9.,%\s]+\))$/;
  function safeColor(value, fallback) {
    return typeof value === "string" && SAFE_COLOR.test(value) ? value : fallback || "#3366cc";
  }

  // -------------------------------------------------------------- formatting

  function isBlank(v) {
    return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);
  }

  function formatTarget(t) {
    // {indicator, value, unit, year} as the layer format describes targets
    var parts = [];
    if (t.indicator) parts.push(String(t.indicator));
    var val = isBlank(t.value) ? "未给出" : String(t.value) + (t.unit ? " " + t.unit : "");
    parts.push(val);
    var text = parts.join("：");
    if (t.year) text += "（" + t.year + "年）";
    return text;
  }

  /** A cell value as escaped HTML: lists become lists, objects key: value. */
  function formatValueHtml(v) {
    if (isBlank(v)) return '<span class="pv-null">—</span>';
    if (typeof v === "boolean") return v ? "是" : "否";
    if (Array.isArray(v)) {
      var objects = v.every(function (x) { return x && typeof x === "object" && !Array.isArray(x); });
      if (objects) {
        return "<ul>" + v.map(function (x) {
          var text = x.indicator !== undefined ? formatTarget(x) : objectText(x);
          return "<li>" + escapeHtml(text) + "</li>";
        }).join("") + "</ul>";
      }
      return escapeHtml(v.map(function (x) { return isBlank(x) ? "—" : String(x); }).join("、"));
    }
    if (typeof v === "object") return escapeHtml(objectText(v));
    return escapeHtml(v);
  }

  function objectText(o) {
    return Object.keys(o).map(function (k) {
      var x = o[k];
      return k + "：" + (isBlank(x) ? "—" : typeof x === "object" ? JSON.stringify(x) : String(x));
    }).join("；");
  }

  function featureName(lc, props) {
    var name = props[lc.label_field];
    if (isBlank(name)) name = props.name;
    return isBlank(name) ? "（未命名）" : String(name);
  }

  function isSchematic(props) {
    return props && props.precision === "schematic";
  }

  /** The popup / side-panel body for one feature: attributes, quote, citation, provenance. */
  function featureHtml(lc, props, full) {
    var html = '<div class="pv-feature-card">';
    html += '<div class="pv-card-layer">' + escapeHtml(lc.title) + "</div>";
    html += '<h3 class="pv-card-title">' + escapeHtml(featureName(lc, props)) + "</h3>";
    if (isSchematic(props)) {
      html += '<span class="pv-badge pv-badge-schematic" title="规划未给出边界，位置与范围为示意">' +
        SCHEMATIC_LABEL + "</span>";
    }
    var rows = "";
    var fields = lc.popup_fields || {};
    Object.keys(fields).forEach(function (key) {
      if (STANDARD_FIELDS[key] || key === lc.label_field) return;
      if (!full && isBlank(props[key])) return;
      rows += "<tr><th>" + escapeHtml(fields[key]) + "</th><td>" + formatValueHtml(props[key]) + "</td></tr>";
    });
    if (rows) html += '<table class="pv-attrs">' + rows + "</table>";
    if (!isBlank(props.quote)) {
      html += '<blockquote class="pv-quote"><span class="pv-quote-label">' +
        escapeHtml(fields.quote || "规划原文") + "</span>“" + escapeHtml(props.quote) + "”</blockquote>";
    }
    if (!isBlank(props.source)) {
      html += '<p class="pv-cite">' + escapeHtml(fields.source || "出处") + "：" + escapeHtml(props.source) + "</p>";
    }
    if (isSchematic(props)) {
      var basis = isBlank(props.placement_basis) ? "" : escapeHtml(props.placement_basis);
      var unc = isBlank(props.uncertainty_m) ? "" : "（位置不确定度约 ±" + escapeHtml(props.uncertainty_m) + " 米）";
      html += '<p class="pv-placement">示意依据：' + basis + unc + "</p>";
    } else if (full && !isBlank(props.geometry_source || lc.geometry_source)) {
      html += '<p class="pv-placement">边界来源：' + escapeHtml(props.geometry_source || lc.geometry_source) + "</p>";
    }
    // extra sections from other modules (e.g. monitor-map.js: implementation status); they escape their own text
    if (typeof planview.featureExtra === "function") html += planview.featureExtra(lc, props, full) || "";
    return html + "</div>";
  }
  planview.featureHtml = featureHtml;

  // ---------------------------------------------------------------- geometry

  function ringContains(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function polygonContains(rings, x, y) {
    if (!rings.length || !ringContains(rings[0], x, y)) return false;
    for (var k = 1; k < rings.length; k++) if (ringContains(rings[k], x, y)) return false;
    return true;
  }

  /** Does a GeoJSON (multi)polygon contain lon/lat (x, y)? Lines and points never do. */
  function geometryContains(geom, x, y) {
    if (!geom) return false;
    if (geom.type === "Polygon") return polygonContains(geom.coordinates, x, y);
    if (geom.type === "MultiPolygon") {
      return geom.coordinates.some(function (p) { return polygonContains(p, x, y); });
    }
    if (geom.type === "GeometryCollection") {
      return geom.geometries.some(function (g) { return geometryContains(g, x, y); });
    }
    return false;
  }

  // The layer control is always expanded on our pages and CSS caps its height
  // (.leaflet-control-layers-expanded { max-height: 45vh }), so expanding need not
  // measure the map (Leaflet's expand() forces a synchronous layout on page load).
  if (window.L && L.Control && L.Control.Layers) {
    L.Control.Layers.include({
      expand: function () {
        L.DomUtil.addClass(this._container, "leaflet-control-layers-expanded");
        this._checkDisabledLayers();
        return this;
      }
    });
  }

  // Shared with the boot script inlined in the page head (static/planview-boot.js).
  var boot = planview.boot;
  var mark = boot.mark, bucketFor = boot.bucketFor, layerUrl = boot.layerUrl, parseHash = boot.parseHash,
    fetchOnce = boot.fetchOnce, BBOX_FROM_ZOOM = boot.BBOX_FROM_ZOOM, MAX_DATA_ZOOM = boot.MAX_DATA_ZOOM;

  // ------------------------------------------------------------------ start

  planview.start = function (map, cfg, groups, layerControl) {
    mark("pv-start");
    var layers = {}; // id -> state
    var order = []; // ids, draw order (low first)
    var noticeEl = document.getElementById("pv-notice");
    var noticeList = noticeEl ? noticeEl.querySelector("ul") : null;
    var popup = L.popup({ maxWidth: 380, maxHeight: 400, autoPanPadding: [24, 24], className: "pv-popup" });
    var selected = null; // {id, fid}
    var refreshTimer = null;
    var legendEl = null;

    planview.map = map;
    planview.config = cfg;

    L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
    if (map.attributionControl) {
      map.attributionControl.setPrefix("Leaflet");
      officialSources(cfg.layers).forEach(function (src) {
        map.attributionControl.addAttribution("边界：" + escapeHtml(src));
      });
    }

    cfg.layers.forEach(function (lc, i) {
      var pane = map.createPane("pv-" + lc.id);
      pane.style.zIndex = String(410 + i);
      pane.className += " pv-pane";
      layers[lc.id] = {
        cfg: lc, group: groups[lc.id], pane: "pv-" + lc.id, geo: null, data: null,
        zoom: -1, bbox: null, cache: {}, cacheKeys: [], seq: 0, failed: false, loading: null
      };
      order.push(lc.id);
    });

    (cfg.unavailable || []).forEach(function (u) {
      addNotice(u.id, "图层 " + u.id + " 未能加载：" + u.reason);
    });

    // ---------------------------------------------------------- permalink
    var initial = parseHash(window.location.hash);
    if (initial.layers) applyVisibleLayers(initial.layers);
    if (initial.view) {
      map.setView([initial.view.lat, initial.view.lng], initial.view.zoom, { animate: false });
    } else {
      var b = cfg.map.bounds;
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { animate: false });
    }

    function applyVisibleLayers(ids) {
      order.forEach(function (id) {
        var st = layers[id];
        var want = ids.indexOf(id) >= 0;
        if (want && !map.hasLayer(st.group)) map.addLayer(st.group);
        if (!want && map.hasLayer(st.group)) map.removeLayer(st.group);
      });
    }

    function visibleIds() {
      return order.filter(function (id) { return map.hasLayer(layers[id].group); });
    }

    function clampedBounds() {
      var bb = map.getBounds();
      var w = Math.max(-180, bb.getWest()), s = Math.max(-90, bb.getSouth());
      var e = Math.min(180, bb.getEast()), n = Math.min(90, bb.getNorth());
      return [w, s, e, n];
    }

    function permalinkHash() {
      var c = map.getCenter();
      return "#map=" + map.getZoom() + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5) +
        "&layers=" + visibleIds().join(",");
    }

    var linksTimer = null;

    /** Update permalink and export link soon (history.replaceState is slow: keep it off the draw path). */
    function scheduleLinks() {
      if (linksTimer) clearTimeout(linksTimer);
      linksTimer = setTimeout(function () { linksTimer = null; updateLinks(); }, 50);
    }

    function updateLinks() {
      var hash = permalinkHash();
      if (window.location.hash !== hash) {
        window.history.replaceState(null, "", window.location.pathname + window.location.search + hash);
      }
      var permalink = document.getElementById("pv-permalink");
      if (permalink) permalink.value = window.location.href;
      var exportLink = document.getElementById("pv-export");
      if (exportLink) {
        var bbox = clampedBounds().map(function (v) { return v.toFixed(5); }).join(",");
        exportLink.href = cfg.export_url + "?map=" + encodeURIComponent(cfg.map.id) +
          "&format=pdf&paper=A4&orientation=landscape&bbox=" + bbox +
          "&layers=" + visibleIds().map(encodeURIComponent).join(",");
      }
    }
    planview.permalink = function () { return window.location.href; };

    window.addEventListener("hashchange", function () {
      var h = parseHash(window.location.hash);
      if (h.layers) applyVisibleLayers(h.layers);
      if (h.view) map.setView([h.view.lat, h.view.lng], h.view.zoom);
    });

    // ------------------------------------------------------------- notices
    function addNotice(key, text) {
      if (!noticeEl || !noticeList) return;
      if (planview.failed.indexOf(key) < 0) planview.failed.push(key);
      var existing = noticeList.querySelector('[data-key="' + cssEscape(key) + '"]');
      if (existing) { existing.textContent = text; return; }
      var li = document.createElement("li");
      li.setAttribute("data-key", key);
      li.textContent = text;
      noticeList.appendChild(li);
      noticeEl.hidden = false;
    }

    function removeNotice(key) {
      if (!noticeList) return;
      var li = noticeList.querySelector('[data-key="' + cssEscape(key) + '"]');
      if (li) li.parentNode.removeChild(li);
      if (!noticeList.children.length) noticeEl.hidden = true;
    }

    function cssEscape(s) {
      return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&");
    }

    // ------------------------------------------------------------- styling
    function categoryColor(lc, props) {
      var lg = lc.legend;
      if (!lg || !lg.field) return null;
      var v = props[lg.field];
      for (var i = 0; i < lg.categories.length; i++) {
        if (lg.categories[i].value === v) return lg.categories[i].color;
      }
      return null;
    }

    function styleFor(lc, props, geomType) {
      var s = lc.style;
      var schematic = isSchematic(props);
      var cat = categoryColor(lc, props);
      var fill = safeColor(cat || s.fill_color, safeColor(s.color));
      var line = geomType && geomType.indexOf("LineString") >= 0;
      var style = {
        pane: "pv-" + lc.id,
        color: line ? fill : safeColor(s.color),
        weight: line ? Math.max(s.weight, 3) : s.weight,
        opacity: schematic ? Math.min(s.opacity, 0.85) : s.opacity,
        fillColor: fill,
        fillOpacity: schematic ? s.fill_opacity * 0.5 : s.fill_opacity,
        dashArray: schematic ? SCHEMATIC_DASH : s.dash_array || null,
        className: "pv-feature pv-layer-" + lc.id + (schematic ? " pv-schematic" : "")
      };
      // another module may recolour features (monitor-map.js: the "实施状态" colouring)
      return typeof planview.styleHook === "function" ? planview.styleHook(lc, props, style) || style : style;
    }

    /** Re-apply styleFor to every loaded feature (after a styleHook changed its mind). */
    planview.restyle = function () {
      order.forEach(function (id) {
        var st = layers[id];
        if (!st.geo) return;
        st.geo.setStyle(function (f) {
          var o = styleFor(st.cfg, f.properties || {}, f.geometry && f.geometry.type);
          if (f.geometry && f.geometry.type === "Point") o.fillOpacity = Math.max(o.fillOpacity, isSchematic(f.properties) ? 0.45 : 0.8);
          return o;
        });
      });
    };

    // -------------------------------------------------------------- loading
    function bboxFor(bucket) {
      if (bucket < BBOX_FROM_ZOOM) return null;
      // the view padded by one view size each side, snapped outward to a grid so URLs repeat
      var v = clampedBounds();
      var w = v[2] - v[0], h = v[3] - v[1];
      var grid = 360 / Math.pow(2, bucket - 1);
      var snap = function (x, up) { return (up ? Math.ceil(x / grid) : Math.floor(x / grid)) * grid; };
      return [Math.max(-180, snap(v[0] - w, false)), Math.max(-90, snap(v[1] - h, false)),
        Math.min(180, snap(v[2] + w, true)), Math.min(90, snap(v[3] + h, true))];
    }

    function covers(outer, inner) {
      if (!outer) return true;
      return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
    }

    function needsLoad(st, bucket) {
      if (st.failed && st.zoom < 0) return false;
      if (st.zoom < 0) return true;
      if (st.zoom < bucket && (st.zoom < MAX_DATA_ZOOM)) return true;
      return !covers(st.bbox, clampedBounds());
    }

    function fetchLayer(st, bucket, bbox) {
      var url = layerUrl(st.cfg.url, bucket, bbox);
      if (st.cache[url]) return st.cache[url];
      var p = fetchOnce(url).then(function (r) {
        if (!r.ok || !r.body) throw new Error((r.body && r.body.message) || "HTTP " + r.status);
        return r.body;
      });
      st.cache[url] = p;
      st.cacheKeys.push(url);
      if (st.cacheKeys.length > CACHE_PER_LAYER) delete st.cache[st.cacheKeys.shift()];
      p.catch(function () { delete st.cache[url]; });
      return p;
    }

    function load(id) {
      var st = layers[id];
      var bucket = bucketFor(map.getZoom());
      var bbox = bboxFor(bucket);
      var seq = ++st.seq;
      st.loading = fetchLayer(st, bucket, bbox).then(function (data) {
        if (seq !== st.seq) return; // a newer request superseded this one
        setData(st, data, bucket, bbox);
        st.failed = false;
        removeNotice(id);
      }, function (err) {
        if (seq !== st.seq) return;
        st.failed = true;
        addNotice(id, "图层「" + st.cfg.title + "」加载失败：" + (err && err.message ? err.message : err));
      }).then(function () { if (seq === st.seq) st.loading = null; });
      return st.loading;
    }

    function setData(st, data, bucket, bbox) {
      var lc = st.cfg;
      var geo = L.geoJSON(data, {
        style: function (f) { return styleFor(lc, f.properties || {}, f.geometry && f.geometry.type); },
        pointToLayer: function (f, latlng) {
          var opts = styleFor(lc, f.properties || {}, "Point");
          opts.radius = lc.style.radius;
          opts.fillOpacity = Math.max(opts.fillOpacity, isSchematic(f.properties) ? 0.45 : 0.8);
          return L.circleMarker(latlng, opts);
        },
        onEachFeature: function (f, layer) {
          var props = f.properties || {};
          layer.bindTooltip(escapeHtml(featureName(lc, props)), { sticky: true, direction: "top", className: "pv-tooltip" });
          layer.on("click", function (e) {
            L.DomEvent.stop(e);
            openIdentify(lc.id, f, layer, e.latlng);
          });
        }
      });
      if (st.geo) st.group.removeLayer(st.geo);
      st.geo = geo;
      st.data = data;
      st.zoom = bucket;
      st.bbox = bbox;
      st.group.addLayer(geo);
      if (selected && selected.id === lc.id) highlight(lc.id, selected.fid);
    }

    function refresh() {
      var bucket = bucketFor(map.getZoom());
      var jobs = [];
      visibleIds().forEach(function (id) {
        var st = layers[id];
        if (needsLoad(st, bucket)) jobs.push(load(id));
        else if (st.loading) jobs.push(st.loading);
      });
      return Promise.all(jobs);
    }

    function scheduleRefresh() {
      if (refreshTimer) clearTimeout(refreshTimer);
      refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, REFRESH_DELAY_MS);
    }

    function ensureLoaded(id) {
      var st = layers[id];
      if (st.data) return Promise.resolve();
      return st.loading || load(id);
    }

    // ----------------------------------------------------- popup & identify
    function findFeatureLayer(id, fid) {
      var st = layers[id], found = null;
      if (!st.geo) return null;
      st.geo.eachLayer(function (l) { if (!found && l.feature && l.feature.id === fid) found = l; });
      return found;
    }

    function highlight(id, fid) {
      order.forEach(function (oid) {
        var st = layers[oid];
        if (st.geo) st.geo.eachLayer(function (l) {
          var el = l.getElement && l.getElement();
          if (el) el.classList.remove("pv-selected");
        });
      });
      var l = findFeatureLayer(id, fid);
      var el = l && l.getElement && l.getElement();
      if (el) el.classList.add("pv-selected");
    }

    /** Every visible polygon feature under a point, top layer first. */
    function hitsAt(latlng) {
      var hits = [];
      visibleIds().slice().reverse().forEach(function (id) {
        var st = layers[id];
        if (!st.data) return;
        st.data.features.forEach(function (f) {
          if (geometryContains(f.geometry, latlng.lng, latlng.lat)) hits.push({ id: id, feature: f });
        });
      });
      return hits;
    }

    function openIdentify(id, feature, layer, latlng) {
      var others = hitsAt(latlng).filter(function (h) { return !(h.id === id && h.feature.id === feature.id); });
      var hits = [{ id: id, feature: feature }].concat(others);
      showHit(hits, 0, latlng);
    }

    function showHit(hits, index, latlng) {
      var hit = hits[index];
      var lc = layers[hit.id].cfg;
      var props = hit.feature.properties || {};
      var html = featureHtml(lc, props, false);
      if (hits.length > 1) {
        html += '<div class="pv-also"><span>此处还有：</span>';
        hits.forEach(function (h, i) {
          if (i === index) return;
          var hlc = layers[h.id].cfg;
          html += '<button type="button" class="pv-also-item" data-hit="' + i + '">' +
            escapeHtml(featureName(hlc, h.feature.properties || {})) + '<small>' + escapeHtml(hlc.title) + "</small></button>";
        });
        html += "</div>";
      }
      var el = document.createElement("div");
      el.innerHTML = html;
      Array.prototype.forEach.call(el.querySelectorAll("[data-hit]"), function (btn) {
        L.DomEvent.on(btn, "click", function (ev) {
          L.DomEvent.stop(ev);
          showHit(hits, Number(btn.getAttribute("data-hit")), latlng);
        });
      });
      // keep the popup clear of the (expanded) layer control at the top when auto-panning
      var ctl = layerControl && layerControl.getContainer ? layerControl.getContainer() : null;
      popup.options.autoPanPaddingTopLeft = L.point(50, (ctl ? ctl.offsetHeight : 0) + 24);
      popup.setLatLng(latlng).setContent(el);
      if (!map.hasLayer(popup)) popup.openOn(map);
      else popup.update();
      select(hit.id, hit.feature);
    }

    function select(id, feature) {
      selected = { id: id, fid: feature.id };
      highlight(id, feature.id);
      var body = document.getElementById("pv-feature-body");
      if (body) body.innerHTML = featureHtml(layers[id].cfg, feature.properties || {}, true);
    }
    planview.select = function (id, fid) {
      var st = layers[id];
      var f = st && st.data && st.data.features.filter(function (x) { return x.id === fid; })[0];
      if (f) select(id, f);
      return !!f;
    };

    // ----------------------------------------------------------------- legend
    function withAlpha(color, alpha) {
      var m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
      if (!m) return color;
      var hex = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
      var n = parseInt(hex, 16);
      return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
    }

    function swatch(kind, fill, stroke, dashed) {
      var el = document.createElement("span");
      el.className = "pv-swatch pv-swatch-" + kind + (dashed ? " pv-swatch-dashed" : "");
      var f = safeColor(fill);
      // schematic: lighter fill, dashed outline in the category colour (as on the map)
      el.style.backgroundColor = kind === "line" ? "transparent" : dashed ? withAlpha(f, 0.35) : f;
      el.style.borderColor = safeColor(kind === "line" || dashed ? fill : stroke);
      return el;
    }

    function legendRow(container, kind, fill, stroke, dashed, label) {
      var row = document.createElement("div");
      row.className = "pv-legend-row";
      row.appendChild(swatch(kind, fill, stroke, dashed));
      var text = document.createElement("span");
      text.textContent = label;
      row.appendChild(text);
      container.appendChild(row);
    }

    function buildLegend() {
      var ctl = L.control({ position: "bottomright" });
      ctl.onAdd = function () {
        var div = L.DomUtil.create("div", "pv-legend leaflet-bar");
        div.setAttribute("aria-label", "图例");
        var head = document.createElement("div");
        head.className = "pv-legend-head";
        var headText = document.createElement("span");
        headText.textContent = "图例";
        head.appendChild(headText);
        var toggle = document.createElement("button");
        toggle.type = "button";
        toggle.className = "pv-legend-toggle";
        toggle.textContent = "收起";
        toggle.addEventListener("click", function () {
          legendAutoCollapsed = false;
          setLegendCollapsed(!div.classList.contains("pv-collapsed"));
        });
        head.appendChild(toggle);
        div.appendChild(head);
        // One explanation, on top, for every visible layer drawn (partly) as schematic.
        var schematicRow = schematicNote();
        schematicRow.classList.add("pv-legend-schematic");
        div.appendChild(schematicRow);
        order.slice().reverse().forEach(function (id) {
          var lc = layers[id].cfg;
          var kinds = lc.geometry_kinds || [];
          var kind = kinds.indexOf("Polygon") >= 0 ? "area" : kinds.indexOf("LineString") >= 0 ? "line" : "point";
          var sec = document.createElement("section");
          sec.className = "pv-legend-section";
          sec.setAttribute("data-layer", id);
          var h = document.createElement("h4");
          h.textContent = lc.legend && lc.legend.title ? lc.legend.title : lc.title;
          h.title = lc.title;
          sec.appendChild(h);
          var stroke = lc.style.color;
          var schematicOnly = lc.precision === "schematic";
          if (lc.legend && lc.legend.categories.length) {
            lc.legend.categories.forEach(function (c) {
              legendRow(sec, kind, c.color, stroke, schematicOnly, c.label);
            });
          } else {
            legendRow(sec, kind, lc.style.fill_color, stroke, schematicOnly, lc.title);
          }
          sec.hidden = !map.hasLayer(layers[id].group);
          div.appendChild(sec);
        });
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        legendEl = div;
        return div;
      };
      ctl.addTo(map);
    }

    var legendAutoCollapsed = false;

    function setLegendCollapsed(collapsed) {
      if (!legendEl) return;
      legendEl.classList.toggle("pv-collapsed", collapsed);
      var t = legendEl.querySelector(".pv-legend-toggle");
      if (t) t.textContent = collapsed ? "展开" : "收起";
    }

    // Leaflet draws controls above popups: fold the legend while a feature popup is open.
    map.on("popupopen", function (e) {
      if (e.popup !== popup || !legendEl || legendEl.classList.contains("pv-collapsed")) return;
      legendAutoCollapsed = true;
      setLegendCollapsed(true);
    });
    map.on("popupclose", function (e) {
      if (e.popup !== popup || !legendAutoCollapsed) return;
      legendAutoCollapsed = false;
      setLegendCollapsed(false);
    });

    function schematicNote() {
      var note = document.createElement("div");
      legendRow(note, "area", "#777777", "#777777", true, SCHEMATIC_LABEL + "：规划未给出边界，位置与范围为示意");
      return note;
    }

    function syncLegend() {
      if (!legendEl) return;
      var any = false, schematic = false;
      Array.prototype.forEach.call(legendEl.querySelectorAll(".pv-legend-section"), function (sec) {
        var st = layers[sec.getAttribute("data-layer")];
        sec.hidden = !(st && map.hasLayer(st.group));
        any = any || !sec.hidden;
        schematic = schematic || (!sec.hidden && !!(st.cfg.precision_mix || {}).schematic);
      });
      legendEl.querySelector(".pv-legend-schematic").hidden = !schematic;
      legendEl.hidden = !any;
    }

    // ----------------------------------------------------------------- search
    function searchIndex(query) {
      var q = query.trim().toLowerCase();
      var out = [];
      if (!q) return out;
      order.forEach(function (id) {
        var st = layers[id];
        if (!st.data) return;
        st.data.features.forEach(function (f) {
          var p = f.properties || {};
          var name = featureName(st.cfg, p);
          var alt = isBlank(p.name) ? "" : String(p.name);
          if (name.toLowerCase().indexOf(q) >= 0 || alt.toLowerCase().indexOf(q) >= 0) {
            out.push({ id: id, feature: f, name: name });
          }
        });
      });
      return out;
    }

    function goTo(hit) {
      var st = layers[hit.id];
      if (!map.hasLayer(st.group)) map.addLayer(st.group);
      var bounds = L.geoJSON(hit.feature).getBounds();
      var centre = bounds.getCenter();
      var g = hit.feature.geometry;
      if (g && (g.type === "Polygon" || g.type === "MultiPolygon") && !geometryContains(g, centre.lng, centre.lat)) {
        centre = firstVertex(g) || centre;
      }
      if (g && g.type === "Point") map.setView(bounds.getCenter(), Math.max(map.getZoom(), 12));
      else map.fitBounds(bounds, { maxZoom: 13, padding: [30, 30] });
      showHit([{ id: hit.id, feature: hit.feature }], 0, centre);
    }

    function firstVertex(g) {
      var c = g.type === "Polygon" ? g.coordinates[0][0] : g.coordinates[0][0][0];
      return c ? L.latLng(c[1], c[0]) : null;
    }

    function wireSearch() {
      var input = document.getElementById("pv-search");
      var list = document.getElementById("pv-search-results");
      if (!input || !list) return;
      var timer = null;
      function run() {
        var q = input.value;
        var loads = order.map(ensureLoaded);
        Promise.all(loads).then(function () {
          if (input.value !== q) return;
          list.innerHTML = "";
          var hits = searchIndex(q);
          if (q.trim() && !hits.length) {
            var none = document.createElement("li");
            none.className = "pv-hint";
            none.textContent = "没有名称包含“" + q.trim() + "”的要素";
            list.appendChild(none);
          }
          hits.slice(0, 30).forEach(function (hit) {
            var li = document.createElement("li");
            var btn = document.createElement("button");
            btn.type = "button";
            btn.className = "pv-result";
            btn.textContent = hit.name;
            var small = document.createElement("small");
            small.textContent = layers[hit.id].cfg.title;
            btn.appendChild(small);
            btn.addEventListener("click", function () { goTo(hit); });
            li.appendChild(btn);
            list.appendChild(li);
          });
        });
      }
      input.addEventListener("input", function () {
        if (timer) clearTimeout(timer);
        timer = setTimeout(run, 150);
      });
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") {
          e.preventDefault();
          var first = list.querySelector("button.pv-result");
          if (first) first.click();
        }
      });
    }

    // ------------------------------------------------------------- indicators
    function loadIndicators() {
      var body = document.getElementById("pv-indicators-body");
      var absent = '<p class="pv-hint">本规划的主要指标表暂未整理入库。</p>';
      if (!body) return Promise.resolve();
      if (!cfg.indicators_url) {
        body.innerHTML = absent;
        return Promise.resolve();
      }
      return fetch(cfg.indicators_url, { headers: { Accept: "application/json" } }).then(function (res) {
        if (res.status === 404) {
          body.innerHTML = absent;
          return;
        }
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json().then(function (table) { body.innerHTML = indicatorsHtml(table); });
      }).catch(function (err) {
        body.innerHTML = '<p class="pv-hint">指标表加载失败：' + escapeHtml(err && err.message) + "</p>";
      });
    }

    function num(v) {
      return isBlank(v) ? '<span class="pv-null" title="规划未给出（或原文为 XX）">—</span>' : escapeHtml(v);
    }

    function indicatorsHtml(table) {
      var rows = (table.indicators || []).map(function (r) {
        return '<tr><th scope="row"' + (isBlank(r.quote) ? "" : ' title="' + escapeHtml("原文：" + r.quote) + '"') + ">" +
          escapeHtml(r.name) + "</th><td>" + num(r.value_2020) + "</td><td>" + (isBlank(r.target_text) ? num(r.target_2025) : escapeHtml(r.target_text)) + "</td><td>" +
          escapeHtml(r.unit) + "</td><td>" + (isBlank(r.kind) ? "—" : escapeHtml(r.kind)) + "</td></tr>";
      }).join("");
      var html = '<p class="pv-table-title">' + escapeHtml(table.title || "") + "</p>" +
        '<table class="pv-indicators"><thead><tr><th>指标</th><th>2020年</th><th>2025年</th><th>单位</th><th>属性</th></tr></thead>' +
        "<tbody>" + rows + "</tbody></table>";
      if (!isBlank(table.source)) html += '<p class="pv-cite">出处：' + escapeHtml(table.source) + "</p>";
      if (!isBlank(table.note)) html += '<p class="pv-hint">' + escapeHtml(table.note) + "</p>";
      return html;
    }

    // ----------------------------------------------------------------- wiring
    function idOfGroup(group) {
      for (var i = 0; i < order.length; i++) if (layers[order[i]].group === group) return order[i];
      return null;
    }

    map.on("overlayadd", function (e) {
      var id = idOfGroup(e.layer);
      if (!id) return;
      syncLegend();
      var st = layers[id];
      // a layer that failed before gets another try when the user turns it on again
      if ((st.failed && !st.data) || needsLoad(st, bucketFor(map.getZoom()))) load(id);
      scheduleLinks();
    });
    map.on("overlayremove", function (e) {
      var id = idOfGroup(e.layer);
      if (!id) return;
      syncLegend();
      if (selected && selected.id === id) map.closePopup(popup);
      scheduleLinks();
    });
    map.on("moveend", function () { scheduleLinks(); scheduleRefresh(); });
    map.on("baselayerchange", function (e) {
      var warn = cfg.basemap_warnings && cfg.basemap_warnings[e.name];
      if (warn) addNotice("basemap", warn); else removeNotice("basemap");
    });

    var copyBtn = document.getElementById("pv-copy-link");
    if (copyBtn) {
      copyBtn.addEventListener("click", function () {
        var input = document.getElementById("pv-permalink");
        var done = function () { copyBtn.textContent = "已复制"; setTimeout(function () { copyBtn.textContent = "复制链接"; }, 1500); };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(window.location.href).then(done, function () {});
        } else if (input) {
          input.select();
          try { document.execCommand("copy"); done(); } catch (err) { /* the user can copy the selected text */ }
        }
      });
    }

    buildLegend();
    syncLegend();
    wireSearch();
    scheduleLinks();

    var started = performance.now();
    var initialLoads = visibleIds().map(function (id) { return load(id); });
    planview.whenReady = Promise.all(initialLoads).then(function () {
      planview.ready = true;
      mark("pv-ready");
      planview.readyAt = performance.now();
      planview.loadMs = planview.readyAt - started;
      document.documentElement.setAttribute("data-planview-ready", "1");
      document.dispatchEvent(new CustomEvent("planview:ready"));
    });
    // The side panel's table waits until the map is drawn: the map comes first.
    planview.indicatorsLoaded = planview.whenReady.then(loadIndicators);

    /** State of one layer, for tests and debugging. */
    planview.layerState = function (id) {
      var st = layers[id];
      if (!st) return null;
      return {
        onMap: map.hasLayer(st.group), loaded: !!st.data, failed: st.failed, zoom: st.zoom, bbox: st.bbox,
        features: st.data ? st.data.features.length : 0
      };
    };
    planview.layerIds = function () { return order.slice(); };
    planview.visibleLayerIds = visibleIds;
    planview.refresh = refresh;
  };

  function officialSources(layerCfgs) {
    var sources = layerCfgs.filter(function (lc) { return lc.precision === "official" && lc.geometry_source; })
      .map(function (lc) { return String(lc.geometry_source); })
      .sort(function (a, b) { return a.length - b.length; });
    var kept = [];
    sources.forEach(function (s) {
      if (!kept.some(function (k) { return s.indexOf(k) >= 0; })) kept.push(s);
    });
    return kept;
  }
})();
