// measure.js — owns the map's measure tool: distance and area by clicking, on the WGS84 ellipsoid.
// Distances by Vincenty's inverse formula, areas on the authalic sphere (equal-area to the ellipsoid);
// never planar degrees. Replaces leaflet-measure, which compiled templates with Function() (CSP eval).

const A = 6378137.0; // WGS84 semi-major axis (m)
const F = 1 / 298.257223563;
const B = A * (1 - F);
const E2 = F * (2 - F);
const E = Math.sqrt(E2);
const MU_PER_SQM = 1 / (10000 / 15); // 1 亩 = 10000/15 m²
const RAD = Math.PI / 180;

/** Geodesic distance in metres between [lat, lon] points (Vincenty inverse; haversine on the mean radius if
 * it does not converge, which only happens for nearly antipodal points). */
export function geodesicDistance(p1, p2) {
  const L = (p2[1] - p1[1]) * RAD;
  const U1 = Math.atan((1 - F) * Math.tan(p1[0] * RAD));
  const U2 = Math.atan((1 - F) * Math.tan(p2[0] * RAD));
  const sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
  let lambda = L, iter = 0, sinSigma, cosSigma, sigma, cos2Alpha, cos2SigmaM;
  for (;;) {
    const sinL = Math.sin(lambda), cosL = Math.cos(lambda);
    sinSigma = Math.sqrt((cosU2 * sinL) ** 2 + (cosU1 * sinU2 - sinU1 * cosU2 * cosL) ** 2);
    if (sinSigma === 0) return 0;
    cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    sigma = Math.atan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
    cos2Alpha = 1 - sinAlpha * sinAlpha;
    cos2SigmaM = cos2Alpha !== 0 ? cosSigma - (2 * sinU1 * sinU2) / cos2Alpha : 0;
    const C = (F / 16) * cos2Alpha * (4 + F * (4 - 3 * cos2Alpha));
    const prev = lambda;
    lambda = L + (1 - C) * F * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM ** 2)));
    if (Math.abs(lambda - prev) < 1e-12) break;
    if (++iter > 200) return haversine(p1, p2);
  }
  const u2 = (cos2Alpha * (A * A - B * B)) / (B * B);
  const a = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
  const b = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
  const dSigma = b * sinSigma * (cos2SigmaM + (b / 4) * (cosSigma * (-1 + 2 * cos2SigmaM ** 2) -
    (b / 6) * cos2SigmaM * (-3 + 4 * sinSigma ** 2) * (-3 + 4 * cos2SigmaM ** 2)));
  return B * a * (sigma - dSigma);
}

function haversine(p1, p2) {
  const R = (2 * A + B) / 3;
  const dLat = (p2[0] - p1[0]) * RAD, dLon = (p2[1] - p1[1]) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(p1[0] * RAD) * Math.cos(p2[0] * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

function q(sinPhi) {
  return (1 - E2) * (sinPhi / (1 - E2 * sinPhi * sinPhi) - (1 / (2 * E)) * Math.log((1 - E * sinPhi) / (1 + E * sinPhi)));
}
const QP = q(1);
const R_AUTHALIC = A * Math.sqrt(QP / 2);

/** Authalic latitude (radians): on the sphere of radius R_AUTHALIC, areas equal the ellipsoid's. */
function authalic(latDeg) {
  return Math.asin(Math.max(-1, Math.min(1, q(Math.sin(latDeg * RAD)) / QP)));
}

/** Area in m² of a ring of [lat, lon] points (closed or not) on the ellipsoid, via the authalic sphere:
 * the spherical excess of each edge (exact for great-circle edges), summed. */
export function geodesicArea(points) {
  const n = points.length;
  if (n < 3) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = points[i], r = points[(i + 1) % n];
    const t1 = Math.tan(authalic(p[0]) / 2), t2 = Math.tan(authalic(r[0]) / 2);
    let dLon = (r[1] - p[1]) * RAD;
    if (dLon > Math.PI) dLon -= 2 * Math.PI;
    if (dLon < -Math.PI) dLon += 2 * Math.PI;
    total += 2 * Math.atan2(Math.tan(dLon / 2) * (t1 + t2), 1 + t1 * t2);
  }
  return Math.abs(total) * R_AUTHALIC * R_AUTHALIC;
}

function pathLength(points, closed) {
  let d = 0;
  for (let i = 1; i < points.length; i++) d += geodesicDistance(points[i - 1], points[i]);
  if (closed && points.length > 2) d += geodesicDistance(points[points.length - 1], points[0]);
  return d;
}

const NUM = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 2 });
const NUM0 = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 0 });

/** 米 below a kilometre, 公里 above. */
export function formatDistance(m) {
  return m < 1000 ? NUM.format(Math.round(m * 10) / 10) + " 米" : NUM.format(Math.round(m) / 1000) + " 公里";
}

/** 平方米, 公顷 and 亩 (the units planning documents use). */
export function formatArea(sqm) {
  return NUM0.format(sqm) + " 平方米 · " + NUM.format(sqm / 10000) + " 公顷 · " + NUM.format(sqm * MU_PER_SQM) + " 亩";
}

const PATH_STYLE = { color: "#d4380d", weight: 3, dashArray: "6 4", interactive: false };

function button(parent, text, title, onClick) {
  const b = L.DomUtil.create("button", "pv-measure-btn", parent);
  b.type = "button";
  b.textContent = text;
  b.title = title;
  L.DomEvent.on(b, "click", (e) => { L.DomEvent.stop(e); onClick(); });
  return b;
}

/** Add the measure control (top left, under the zoom buttons) to `ctx.map`. */
export function wireMeasure(ctx) {
  const map = ctx.map;
  const layer = L.layerGroup();
  const state = { mode: null, points: [] };
  let box, result, finishBtn, clearBtn, distBtn, areaBtn, toggle;
  let hadDoubleClickZoom = true;

  function draw() {
    layer.clearLayers();
    const pts = state.points;
    if (pts.length > 1) {
      layer.addLayer(state.mode === "area" && pts.length > 2 ? L.polygon(pts, { ...PATH_STYLE, fillOpacity: 0.15 })
        : L.polyline(pts, PATH_STYLE));
    }
    pts.forEach((p) => layer.addLayer(L.circleMarker(p, { radius: 5, color: "#d4380d", weight: 2, fillColor: "#fff",
      fillOpacity: 1, interactive: false })));
    let text = "";
    result.removeAttribute("data-meters");
    result.removeAttribute("data-square-meters");
    if (state.mode === "distance") {
      const d = pathLength(pts, false);
      result.setAttribute("data-meters", String(d));
      text = pts.length < 2 ? "在地图上点击起点和后续各点" : "距离 " + formatDistance(d);
    } else if (state.mode === "area") {
      if (pts.length < 3) text = "在地图上依次点击地块各角点（至少 3 点）";
      else {
        const a = geodesicArea(pts);
        result.setAttribute("data-square-meters", String(a));
        result.setAttribute("data-meters", String(pathLength(pts, true)));
        text = "面积 " + formatArea(a) + "\n周长 " + formatDistance(pathLength(pts, true));
      }
    }
    result.textContent = text;
    result.hidden = !text;
    finishBtn.disabled = !state.mode;
    clearBtn.disabled = pts.length === 0;
    distBtn.setAttribute("aria-pressed", String(state.mode === "distance"));
    areaBtn.setAttribute("aria-pressed", String(state.mode === "area"));
  }

  function onClick(e) {
    if (!state.mode) return;
    state.points.push([e.latlng.lat, e.latlng.lng]);
    draw();
  }

  function start(mode) {
    if (state.mode !== mode) state.points = [];
    state.mode = mode;
    if (!map.hasLayer(layer)) layer.addTo(map);
    hadDoubleClickZoom = hadDoubleClickZoom && map.doubleClickZoom.enabled();
    map.doubleClickZoom.disable();
    L.DomUtil.addClass(map.getContainer(), "pv-measuring");
    draw();
  }

  function finish() {  // keep the shape and the figures, stop adding points
    state.mode = null;
    if (hadDoubleClickZoom) map.doubleClickZoom.enable();
    L.DomUtil.removeClass(map.getContainer(), "pv-measuring");
    finishBtn.disabled = true;
    distBtn.setAttribute("aria-pressed", "false");
    areaBtn.setAttribute("aria-pressed", "false");
  }

  function clear() {
    const mode = state.mode;
    state.points = [];
    layer.clearLayers();
    if (mode) draw();
    else { result.textContent = ""; result.hidden = true; clearBtn.disabled = true; }
  }

  const Control = L.Control.extend({
    options: { position: "topleft" },
    onAdd() {
      const root = L.DomUtil.create("div", "leaflet-bar pv-measure");
      toggle = L.DomUtil.create("a", "pv-measure-toggle", root);
      toggle.href = "#";
      toggle.title = "测量距离和面积";
      toggle.setAttribute("role", "button");
      toggle.setAttribute("aria-label", "测量");
      toggle.textContent = "测";
      box = L.DomUtil.create("div", "pv-measure-box", root);
      box.hidden = true;
      const modes = L.DomUtil.create("div", "pv-measure-row", box);
      distBtn = button(modes, "测距离", "依次点击各点，量折线长度", () => start("distance"));
      areaBtn = button(modes, "测面积", "依次点击地块角点，量面积", () => start("area"));
      result = L.DomUtil.create("div", "pv-measure-result", box);
      result.setAttribute("aria-live", "polite");
      result.hidden = true;
      const actions = L.DomUtil.create("div", "pv-measure-row", box);
      finishBtn = button(actions, "完成", "停止添加点，保留结果", finish);
      clearBtn = button(actions, "清除", "清除已量的点", clear);
      finishBtn.disabled = true;
      clearBtn.disabled = true;
      L.DomEvent.on(toggle, "click", (e) => {
        L.DomEvent.stop(e);
        box.hidden = !box.hidden;
        toggle.setAttribute("aria-expanded", String(!box.hidden));
        if (box.hidden) { finish(); clear(); map.removeLayer(layer); }
      });
      L.DomEvent.disableClickPropagation(root);
      L.DomEvent.disableScrollPropagation(root);
      return root;
    },
  });
  new Control().addTo(map);
  map.on("click", onClick);
  window.planview.measure = { points: () => state.points.map((p) => p.slice()) };
}
