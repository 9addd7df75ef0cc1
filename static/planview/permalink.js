// permalink.js — owns the URL as state: #map=z/lat/lng&layers=a,b&base=id restores the view, the page
// keeps it (and the export link, the 复制链接 button, the map switcher) current as the view changes.
import { applyBase, currentBase } from "./basemaps.js";
import { parseHash } from "./firstview.js";
import { clampedBounds, visibleIds } from "./state.js";

let linksTimer = null;

export function applyVisibleLayers(ctx, ids) {
  ctx.order.forEach((id) => {
    const st = ctx.layers[id];
    const want = ids.indexOf(id) >= 0;
    if (want && !ctx.map.hasLayer(st.group)) ctx.map.addLayer(st.group);
    if (!want && ctx.map.hasLayer(st.group)) ctx.map.removeLayer(st.group);
  });
}

/** Set the first view: from the permalink if there is one, else the map's bounds. */
export function applyInitialView(ctx) {
  const { map, cfg } = ctx;
  const initial = parseHash(window.location.hash);
  if (initial.layers) applyVisibleLayers(ctx, initial.layers);
  if (initial.base) applyBase(ctx, initial.base);
  if (initial.view) {
    map.setView([initial.view.lat, initial.view.lng], initial.view.zoom, { animate: false });
  } else {
    const b = cfg.map.bounds;
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { animate: false });
  }
  return initial;
}

function permalinkHash(ctx) {
  const c = ctx.map.getCenter();
  return "#map=" + ctx.map.getZoom() + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5) +
    "&layers=" + visibleIds(ctx).join(",") + baseParam(ctx);
}

function baseParam(ctx) {
  const base = currentBase(ctx);
  return base === (ctx.cfg.default_base || "offline") ? "" : "&base=" + encodeURIComponent(base);
}

function updateLinks(ctx) {
  const hash = permalinkHash(ctx);
  if (window.location.hash !== hash) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search + hash);
  }
  const permalink = document.getElementById("pv-permalink");
  if (permalink) permalink.value = window.location.href;
  const exportLink = document.getElementById("pv-export");
  if (exportLink) {
    const bbox = clampedBounds(ctx.map).map((v) => v.toFixed(5)).join(",");
    exportLink.href = ctx.cfg.export_url + "?map=" + encodeURIComponent(ctx.cfg.map.id) +
      "&format=pdf&paper=A4&orientation=landscape&bbox=" + bbox +
      "&layers=" + visibleIds(ctx).map(encodeURIComponent).join(",");
  }
}

/** Update permalink and export link soon (history.replaceState is slow: keep it off the draw path). */
export function scheduleLinks(ctx) {
  if (linksTimer) clearTimeout(linksTimer);
  linksTimer = setTimeout(() => { linksTimer = null; updateLinks(ctx); }, 50);
}

export function wireLinks(ctx) {
  window.addEventListener("hashchange", () => {
    const h = parseHash(window.location.hash);
    if (h.layers) applyVisibleLayers(ctx, h.layers);
    applyBase(ctx, h.base || ctx.cfg.default_base);
    if (h.view) ctx.map.setView([h.view.lat, h.view.lng], h.view.zoom);
  });
  const copyBtn = document.getElementById("pv-copy-link");
  const input = document.getElementById("pv-permalink");
  if (input) input.addEventListener("click", () => input.select());
  if (copyBtn) {
    copyBtn.addEventListener("click", () => {
      const done = () => {
        copyBtn.textContent = "已复制";
        setTimeout(() => { copyBtn.textContent = "复制链接"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(window.location.href).then(done, () => {});
      } else if (input) {
        input.select();
        try { document.execCommand("copy"); done(); } catch (err) { /* the user can copy the selected text */ }
      }
    });
  }
  const switcher = document.getElementById("pv-map-switch");
  if (switcher) switcher.addEventListener("change", () => { if (switcher.value) window.location.href = switcher.value; });
}
