// search.js — owns search by feature name in the side panel: results list, Enter picks the first,
// a result zooms to its feature and opens its details.
import { ensureLoaded } from "./data.js";
import { featureName, isBlank } from "./format.js";
import { firstVertex, geometryContains } from "./geometry.js";
import { showHit } from "./panel.js";

function searchIndex(ctx, query) {
  const q = query.trim().toLowerCase();
  const out = [];
  if (!q) return out;
  ctx.order.forEach((id) => {
    const st = ctx.layers[id];
    if (!st.data) return;
    st.data.features.forEach((f) => {
      const p = f.properties || {};
      const name = featureName(st.cfg, p);
      const alt = isBlank(p.name) ? "" : String(p.name);
      if (name.toLowerCase().indexOf(q) >= 0 || alt.toLowerCase().indexOf(q) >= 0) {
        out.push({ id, feature: f, name });
      }
    });
  });
  return out;
}

/** Zoom to a hit ({id, feature}) and open its popup (also used by plantext.js). */
export function goTo(ctx, hit) {
  const { map } = ctx;
  const st = ctx.layers[hit.id];
  if (!map.hasLayer(st.group)) map.addLayer(st.group);
  const bounds = L.geoJSON(hit.feature, { coordsToLatLng: ctx.coordsToLatLng || L.GeoJSON.coordsToLatLng }).getBounds();
  let centre = bounds.getCenter();
  const g = hit.feature.geometry;
  if (g && (g.type === "Polygon" || g.type === "MultiPolygon") && !geometryContains(g, centre.lng, centre.lat)) {
    const v = firstVertex(g);
    if (v) centre = L.latLng(v[1], v[0]);
  }
  if (g && g.type === "Point") map.setView(bounds.getCenter(), Math.max(map.getZoom(), 12));
  else map.fitBounds(bounds, { maxZoom: 13, padding: [30, 30] });
  showHit(ctx, [{ id: hit.id, feature: hit.feature }], 0, centre);
}

export function wireSearch(ctx) {
  const input = document.getElementById("pv-search");
  const list = document.getElementById("pv-search-results");
  if (!input || !list) return;
  let timer = null;
  function run() {
    const q = input.value;
    Promise.all(ctx.order.map((id) => ensureLoaded(ctx, id))).then(() => {
      if (input.value !== q) return;
      list.innerHTML = "";
      const hits = searchIndex(ctx, q);
      if (q.trim() && !hits.length) {
        const none = document.createElement("li");
        none.className = "pv-hint";
        none.textContent = "没有名称包含“" + q.trim() + "”的要素";
        list.appendChild(none);
      }
      hits.slice(0, 30).forEach((hit) => {
        const li = document.createElement("li");
        const btn = document.createElement("button");
        btn.type = "button";
        btn.className = "pv-result";
        btn.textContent = hit.name;
        const small = document.createElement("small");
        small.textContent = ctx.layers[hit.id].cfg.title;
        btn.appendChild(small);
        btn.addEventListener("click", () => goTo(ctx, hit));
        li.appendChild(btn);
        list.appendChild(li);
      });
    });
  }
  input.addEventListener("input", () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, 150);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = list.querySelector("button.pv-result");
      if (first) first.click();
    }
  });
}
