// draw.js — owns "检查一个地点": drawing a point/line/polygon (Leaflet-Geoman) or typing coordinates, the
// server's check of that site (POST /api/overlay/check) shown in the panel, and 保存为工作区 (POST /api/overlay).
import { loadScript, loadStyle } from "./assets.js";
import { escapeHtml } from "./escape.js";
import { isPhone } from "./sheet.js";

const CHECK_URL = "/api/overlay/check";
const GEOMAN_JS = "/static/vendor/leaflet-geoman-free/leaflet-geoman.min.js";
const GEOMAN_CSS = "/static/vendor/leaflet-geoman-free/leaflet-geoman.css";
const SITE_STYLE = { color: "#d7191c", weight: 3, fillColor: "#d7191c", fillOpacity: 0.15 };

function csrfHeaders(contentType) {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const headers = { "Content-Type": contentType, Accept: "application/json" };
  if (meta) headers["X-CSRF-Token"] = meta.getAttribute("content");
  return headers;
}

function fmt(value, digits) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

function pct(share) {
  return share === null || share === undefined ? "—" : (share * 100).toFixed(1) + "%";
}

function errorText(body, status) {
  const detail = body && (body.detail || body.message || (body.error && body.error.message) || body.error);
  return typeof detail === "string" ? detail : "检查失败（HTTP " + status + "）";
}

/** The check report of one site as compact HTML; every data string is escaped. */
export function reportHtml(report) {
  const site = (report.sites || [])[0];
  if (!site) return '<p class="pv-hint">没有可检查的几何。</p>';
  const rows = [];
  const c = site.county;
  rows.push("<dt>区县</dt><dd>" + (c
    ? escapeHtml(c.name) + (c.group ? "（" + escapeHtml(c.group) + "）" : "") +
      (site.other_counties && site.other_counties.length
        ? "；另跨 " + site.other_counties.map((o) => escapeHtml(o.name) + " " + pct(o.share)).join("、") : "")
    : "不在重庆市范围内") + "</dd>");
  if (site.area_ha) rows.push("<dt>面积</dt><dd>" + fmt(site.area_ha, 2) + " 公顷 / " + fmt(site.area_mu, 1) + " 亩</dd>");
  else if (site.length_m) rows.push("<dt>长度</dt><dd>" + fmt(site.length_m / 1000, 2) + " 公里</dd>");
  const zones = site.zones || [];
  rows.push("<dt>所在分区</dt><dd>" + (zones.length ? "<ul class=\"pv-draw-zones\">" + zones.map((z) =>
    "<li><strong>" + escapeHtml(z.name) + "</strong>（" + escapeHtml(z.layer_title) + "）" +
    (z.overlap_ha !== null && z.overlap_ha !== undefined
      ? "：重叠 " + fmt(z.overlap_ha, 2) + " 公顷 / " + fmt(z.overlap_mu, 1) + " 亩，占 " + pct(z.share) : "") +
    (z.schematic ? ' <span class="pv-schematic">示意</span>' : "") + "</li>").join("") + "</ul>" : "无") + "</dd>");
  const n = site.nearest;
  if (n && !zones.length) {
    rows.push("<dt>最近分区</dt><dd>" + escapeHtml(n.name) + "（" + escapeHtml(n.layer_title) + "），约 " +
      fmt(n.distance_m / 1000, 2) + " 公里" + (n.schematic ? ' <span class="pv-schematic">示意</span>' : "") + "</dd>");
  }
  rows.push("<dt>走廊</dt><dd>" + (site.in_corridor ? "位于 " + site.corridors.map(escapeHtml).join("、") : "不在走廊内") + "</dd>");
  const comp = site.compliance;
  if (comp && comp.conflicts && comp.conflicts.length) {
    rows.push("<dt>合规</dt><dd>" + comp.conflicts.map(escapeHtml).join("；") + "</dd>");
  }
  const notes = (site.flags || []).concat(report.warnings || []);
  return '<dl class="pv-draw-report">' + rows.join("") + "</dl>" +
    (notes.length ? '<ul class="pv-draw-flags">' + notes.map((f) => "<li>" + escapeHtml(f) + "</li>").join("") + "</ul>" : "") +
    '<p class="pv-hint">面积按等积投影计算（1 亩 = 1/15 公顷）；虚线示意范围的结果仅供参考。未保存。</p>';
}

/** Parse the typed-coordinates textarea: one pair per line (space, comma or tab between). */
export function parsePairs(text) {
  return String(text).split(/[\n;；]+/).map((line) => line.trim()).filter(Boolean)
    .map((line) => line.split(/[\s,，]+/).filter(Boolean));
}

/** Geoman (300 kB) serves only signed-in users' drawing: it loads after the map is drawn, not before. */
function loadGeoman() {
  if (window.L && L.PM) return Promise.resolve();
  return Promise.all([loadStyle(GEOMAN_CSS), loadScript(GEOMAN_JS)]).catch(() => {
    throw new Error("绘图组件未能加载");
  });
}

function whenMapReady(fn) {
  if (window.planview && window.planview.ready) fn();
  else document.addEventListener("planview:ready", fn, { once: true });
}

export function wireDraw(ctx, sheet) {
  const section = document.getElementById("pv-draw");
  const out = document.getElementById("pv-draw-result");
  const planview = (window.planview = window.planview || {});
  if (!section || !out || section.getAttribute("data-signed-in") !== "1") return;
  const canPlan = section.getAttribute("data-can-plan") === "1";
  const { map } = ctx;
  const drawn = L.featureGroup().addTo(map);
  let seq = 0;
  const api = (planview.draw = { report: null, busy: null, drawn });

  function reveal() {
    if (!isPhone()) { section.scrollIntoView({ block: "nearest" }); return; }
    const panel = document.getElementById("pv-panel");
    if (panel.getAttribute("data-sheet") === "peek") sheet.set("half");
    const handle = document.getElementById("pv-sheet-handle");
    panel.scrollTop = section.offsetTop - (handle ? handle.offsetHeight : 0);
  }

  function showSite(geojson) {
    drawn.clearLayers();
    const layer = L.geoJSON(geojson, {
      style: SITE_STYLE, coordsToLatLng: ctx.coordsToLatLng || L.GeoJSON.coordsToLatLng,
      pointToLayer: (f, ll) => L.circleMarker(ll, { ...SITE_STYLE, radius: 7, fillOpacity: 0.6 })
    });
    layer.eachLayer((l) => drawn.addLayer(l));
    const b = drawn.getBounds();
    if (b.isValid()) map.fitBounds(b, { maxZoom: 14, padding: [30, 30] });
  }

  function render(report) {
    out.innerHTML = reportHtml(report);
    if (canPlan) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "pv-button";
      btn.id = "pv-draw-save";
      btn.textContent = "保存为工作区";
      btn.addEventListener("click", () => save(report, btn));
      out.appendChild(btn);
    } else {
      const p = document.createElement("p");
      p.className = "pv-hint";
      p.textContent = "保存为工作区需要规划人员账号。";
      out.appendChild(p);
    }
  }

  function post(body, contentType) {
    const mine = ++seq;
    out.innerHTML = '<p class="pv-hint">检查中…</p>';
    reveal();
    api.busy = fetch(CHECK_URL, { method: "POST", headers: csrfHeaders(contentType), body, credentials: "same-origin" })
      .then((r) => r.json().catch(() => null).then((data) => ({ r, data })))
      .then(({ r, data }) => {
        if (mine !== seq) return null; // a newer site replaced this one
        if (!r.ok) throw new Error(errorText(data, r.status));
        api.report = data;
        render(data);
        reveal();
        document.dispatchEvent(new CustomEvent("planview:checked"));
        return data;
      })
      .catch((err) => {
        if (mine !== seq) return null;
        api.report = null;
        out.innerHTML = '<p class="pv-draw-error" role="alert">' + escapeHtml(err.message) + "</p>";
        return null;
      });
    return api.busy;
  }

  /** Check a GeoJSON geometry/feature in map coordinates (shifted back to data coordinates first). */
  function checkLayer(layer) {
    let gj = layer.toGeoJSON(8);
    if (ctx.toData) {
      const shift = (c) => (typeof c[0] === "number" ? (({ lat, lng }) => [lng, lat])(ctx.toData(L.latLng(c[1], c[0]))) : c.map(shift));
      gj.geometry.coordinates = shift(gj.geometry.coordinates);
    }
    gj.properties = { name: "绘制的地点" };
    return post(JSON.stringify({ type: "FeatureCollection", features: [gj] }), "application/geo+json");
  }
  api.checkLayer = checkLayer;
  api.checkTyped = (system, geometry, coordinates) =>
    post(JSON.stringify({ system, geometry, coordinates }), "application/json").then((report) => {
      if (report && report.geojson) showSite(report.geojson);
      return report;
    });

  /** Poll a job (/api/jobs/{id}) until it is done; resolves with its final state. */
  function waitJob(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json().catch(() => null).then((data) => ({ r, data })))
      .then(({ r, data }) => {
        if (!r.ok || !data) throw new Error(errorText(data, r.status));
        if (data.state === "queued" || data.state === "running") {
          return new Promise((ok) => setTimeout(ok, 400)).then(() => waitJob(url));
        }
        if (data.state !== "done" || !data.workspace) throw new Error(errorText(data.error, r.status) || "保存失败");
        return data;
      });
  }

  /** 保存为工作区: the drawn site (lon/lat GeoJSON) as a workspace, through the upload's job (202 + polling). */
  function save(report, btn) {
    btn.disabled = true;
    btn.textContent = "保存中…";
    const url = "/api/overlay?async=1&name=" + encodeURIComponent("绘制的地点");
    return fetch(url, { method: "POST", headers: csrfHeaders("application/geo+json"),
      body: JSON.stringify(report.geojson), credentials: "same-origin" })
      .then((r) => r.json().catch(() => null).then((data) => ({ r, data })))
      .then(({ r, data }) => {
        if (!r.ok || !data || !data.url) throw new Error(errorText(data, r.status));
        return waitJob(data.url);
      })
      .then((job) => {
        const p = document.createElement("p");
        p.id = "pv-draw-saved";
        const a = document.createElement("a");
        a.href = "/overlay/" + encodeURIComponent(job.workspace);
        a.textContent = "已保存为工作区 " + job.workspace;
        p.appendChild(a);
        btn.replaceWith(p);
        api.saved = job.workspace;
      })
      .catch((err) => {
        btn.disabled = false;
        btn.textContent = "保存为工作区";
        const p = document.createElement("p");
        p.className = "pv-draw-error";
        p.textContent = err.message;
        btn.after(p);
      });
  }

  function wireGeoman() {
    // the map was made before Geoman loaded: give it what Geoman's init hook gives new maps
    if (!map.pm) { map.pm = new L.PM.Map(map); map.pm.setGlobalOptions({}); }
    map.pm.setLang("zh");
    map.pm.addControls({
      position: "topleft", drawMarker: true, drawPolyline: true, drawPolygon: true, drawRectangle: true,
      drawCircle: false, drawCircleMarker: false, drawText: false, cutPolygon: false, rotateMode: false,
      dragMode: false, editMode: true, removalMode: true
    });
    map.pm.setGlobalOptions({ pathOptions: SITE_STYLE, templineStyle: SITE_STYLE, hintlineStyle: { ...SITE_STYLE, dashArray: "5 5" } });
    // While a drawing tool is on, clicks go through the plan layers to the map (to Geoman), not to features.
    map.on("pm:globaldrawmodetoggled", (e) => {
      ctx.drawing = e.enabled;
      map.getContainer().classList.toggle("pv-drawing", e.enabled);
      if (e.enabled) map.closePopup();
    });
    map.on("pm:create", (e) => {
      // one site at a time: the new drawing replaces the previous one
      drawn.clearLayers();
      map.removeLayer(e.layer);
      drawn.addLayer(e.layer);
      e.layer.on("pm:edit", () => checkLayer(e.layer));
      checkLayer(e.layer);
    });
    map.on("pm:remove", (e) => {
      if (drawn.hasLayer(e.layer)) drawn.removeLayer(e.layer);
      if (!drawn.getLayers().length) { seq++; out.innerHTML = ""; api.report = null; }
    });
  }
  whenMapReady(() => loadGeoman().then(wireGeoman).catch((err) => {
    out.innerHTML = '<p class="pv-draw-error" role="alert">' + escapeHtml(err.message) + "（仍可输入坐标检查）</p>";
  }));

  const form = document.getElementById("pv-draw-form");
  if (form) {
    const submit = form.querySelector("button[type=submit]");
    if (submit) submit.disabled = false; // the page renders it disabled: a submit before this would reload the page
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const pairs = parsePairs(form.elements.coordinates.value);
      if (!pairs.length) {
        out.innerHTML = '<p class="pv-draw-error" role="alert">请输入至少一个坐标。</p>';
        return;
      }
      api.checkTyped(form.elements.system.value, form.elements.geometry.value, pairs);
    });
  }
}
