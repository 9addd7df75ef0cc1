// overlay.js — owns the overlay result page: sites drawn over the plan layers; table rows zoom to their site.
// Every user string reaches the page as a text node (never HTML): names come from uploaded files.
import { escapeHtml, textNode } from "./planview/escape.js";

(function () {
  var dataEl = document.getElementById("ov-data");
  if (!dataEl || typeof L === "undefined") { return; }
  var data = JSON.parse(dataEl.textContent);
  var MAX_DRAWN = 20000;

  var map = L.map("ov-map", {preferCanvas: true, zoomControl: true});
  window.planviewOverlayMap = map;
  if (data.bounds) {
    map.fitBounds([[data.bounds[1], data.bounds[0]], [data.bounds[3], data.bounds[2]]], {maxZoom: 15, padding: [20, 20]});
  } else {
    map.setView([30.0, 107.8], 7);
  }
  var overlays = {};
  var control = L.control.layers(null, null, {collapsed: true}).addTo(map);

  function planStyle(layer, feature) {
    var st = layer.style || {};
    var props = feature.properties || {};
    var color = st.fill_color || st.color || "#3366cc";
    if (layer.legend && layer.legend.field) {
      (layer.legend.categories || []).forEach(function (c) {
        if (c.value === props[layer.legend.field]) { color = c.color; }
      });
    }
    var schematic = props.precision === "schematic";
    return {color: st.color || color, weight: st.weight || 2, fillColor: color,
            fillOpacity: schematic ? Math.min(st.fill_opacity || 0.25, 0.15) : (st.fill_opacity || 0.25),
            dashArray: schematic ? "6 4" : (st.dash_array || null), opacity: schematic ? 0.8 : 1};
  }

  function addPlanLayer(layer, zIndexBase) {
    var zoom = layer.id === data.county_layer ? 9 : 12;
    return fetch("/api/layers/" + encodeURIComponent(layer.id) + "?zoom=" + zoom)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (!fc) { return; }
        var gj = L.geoJSON(fc, {
          style: function (f) { return planStyle(layer, f); },
          pointToLayer: function (f, latlng) {
            var s = planStyle(layer, f);
            return L.circleMarker(latlng, {radius: (layer.style && layer.style.radius) || 5, color: s.color,
              fillColor: s.fillColor, fillOpacity: 0.8, weight: 1, dashArray: s.dashArray});
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties || {};
            var name = p[layer.label_field || "name"] || p.name || "";
            var lines = [layer.title + "：" + name];
            if (p.precision === "schematic") { lines.push("示意范围，仅供参考"); }
            lyr.bindTooltip(textNode(lines), {sticky: true});
          }
        });
        gj.addTo(map);
        overlays[layer.id] = gj;
        control.addOverlay(gj, escapeHtml(layer.title));
      });
  }

  var siteLayers = {};
  function siteTooltip(p) {
    var lines = ["#" + p.site_no + " " + (p.name || "")];
    if (p.county) { lines.push(p.county.name + (p.county.group ? "（" + p.county.group + "）" : "")); }
    (p.zones || []).forEach(function (z) { lines.push("∈ " + z.name + (z.schematic ? "（示意）" : "")); });
    if (p.nearest) { lines.push("最近：" + p.nearest.name + " " + Math.round(p.nearest.distance_m) + " 米"); }
    return textNode(lines);
  }
  function addSites() {
    return fetch(data.geojson).then(function (r) { return r.json(); }).then(function (fc) {
      var feats = fc.features || [];
      if (feats.length > MAX_DRAWN) { fc = {type: "FeatureCollection", features: feats.slice(0, MAX_DRAWN)}; }
      var gj = L.geoJSON(fc, {
        style: function () { return {color: "#111", weight: 2, fillColor: "#e6007e", fillOpacity: 0.35}; },
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, {radius: 6, color: "#111", weight: 1.5, fillColor: "#e6007e", fillOpacity: 0.9});
        },
        onEachFeature: function (f, lyr) {
          siteLayers[f.properties.site_no] = lyr;
          lyr.bindTooltip(siteTooltip(f.properties), {sticky: true});
          lyr.on("click", function () { selectRow(f.properties.site_no, true); });
        }
      }).addTo(map);
      control.addOverlay(gj, "上传的场地");
      document.body.setAttribute("data-sites-drawn", String(Object.keys(siteLayers).length));
    });
  }

  var active = null;
  function highlight(no) {
    if (active && siteLayers[active] && siteLayers[active].setStyle) {
      siteLayers[active].setStyle({color: "#111", weight: 2});
    }
    active = no;
    var lyr = siteLayers[no];
    if (lyr && lyr.setStyle) { lyr.setStyle({color: "#ffd400", weight: 4}); }
    if (lyr && lyr.bringToFront) { lyr.bringToFront(); }
  }
  function zoomTo(row) {
    var b = (row.getAttribute("data-bbox") || "").split(",").map(Number);
    if (b.length !== 4 || b.some(isNaN)) { return; }
    if (b[0] === b[2] && b[1] === b[3]) {
      map.setView([b[1], b[0]], 15);
    } else {
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {maxZoom: 17, padding: [30, 30]});
    }
  }
  function selectRow(no, scroll) {
    var rows = document.querySelectorAll("#ov-table tbody tr");
    rows.forEach(function (tr) { tr.classList.toggle("ov-active", tr.getAttribute("data-site") === String(no)); });
    var row = document.querySelector('#ov-table tbody tr[data-site="' + Number(no) + '"]');
    if (row && scroll) { row.scrollIntoView({block: "nearest"}); }
    highlight(Number(no));
    return row;
  }
  document.querySelectorAll("#ov-table tbody tr").forEach(function (tr) {
    function go() { selectRow(tr.getAttribute("data-site"), false); zoomTo(tr); }
    tr.addEventListener("click", go);
    tr.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
  });

  fetch("/api/layers").then(function (r) { return r.json(); }).then(function (cat) {
    var wanted = (data.layers || []).slice();
    if (data.county_layer) { wanted.unshift(data.county_layer); }
    var layers = (cat.layers || []).filter(function (l) { return wanted.indexOf(l.id) >= 0; });
    return Promise.all(layers.map(addPlanLayer));
  }).catch(function () { /* plan layers are context; the sites still draw */ })
    .then(addSites)
    .then(function () { document.body.setAttribute("data-overlay-ready", "1"); });
})();
