// panel.js — owns feature details: the popup (with "此处还有" for overlapping features), the
// selection highlight, the side panel's 选中要素 card and its indicator table.
import { escapeHtml } from "./escape.js";
import { featureHtml, featureName, isBlank } from "./format.js";
import { geometryContains } from "./geometry.js";
import { isPhone } from "./sheet.js";
import { emit, on, visibleIds } from "./state.js";

function findFeatureLayer(ctx, id, fid) {
  const st = ctx.layers[id];
  let found = null;
  if (!st.geo) return null;
  st.geo.eachLayer((l) => { if (!found && l.feature && l.feature.id === fid) found = l; });
  return found;
}

function highlight(ctx, id, fid) {
  ctx.order.forEach((oid) => {
    const st = ctx.layers[oid];
    if (st.geo) st.geo.eachLayer((l) => {
      const el = l.getElement && l.getElement();
      if (el) el.classList.remove("pv-selected");
    });
  });
  const l = findFeatureLayer(ctx, id, fid);
  const el = l && l.getElement && l.getElement();
  if (el) el.classList.add("pv-selected");
}

/** Every visible polygon feature under a point (map coordinates), top layer first. */
function hitsAt(ctx, mapLatLng) {
  const latlng = ctx.toData ? ctx.toData(mapLatLng) : mapLatLng;
  const hits = [];
  visibleIds(ctx).slice().reverse().forEach((id) => {
    const st = ctx.layers[id];
    if (!st.data) return;
    st.data.features.forEach((f) => {
      if (geometryContains(f.geometry, latlng.lng, latlng.lat)) hits.push({ id, feature: f });
    });
  });
  return hits;
}

function openIdentify(ctx, id, feature, latlng) {
  const others = hitsAt(ctx, latlng).filter((h) => !(h.id === id && h.feature.id === feature.id));
  showHit(ctx, [{ id, feature }].concat(others), 0, latlng);
}

/** "此处还有": the other features under the point, each a button that shows that one instead. */
function alsoList(ctx, hits, index, latlng) {
  const el = document.createElement("div");
  if (hits.length < 2) return el;
  let html = '<div class="pv-also"><span>此处还有：</span>';
  hits.forEach((h, i) => {
    if (i === index) return;
    const hlc = ctx.layers[h.id].cfg;
    html += '<button type="button" class="pv-also-item" data-hit="' + i + '">' +
      escapeHtml(featureName(hlc, h.feature.properties || {})) + "<small>" + escapeHtml(hlc.title) + "</small></button>";
  });
  el.innerHTML = html + "</div>";
  el.querySelectorAll("[data-hit]").forEach((btn) => {
    L.DomEvent.on(btn, "click", (ev) => {
      L.DomEvent.stop(ev);
      showHit(ctx, hits, Number(btn.getAttribute("data-hit")), latlng);
    });
  });
  return el;
}

/** Open the popup for hits[index] at latlng and show it in the side panel. */
export function showHit(ctx, hits, index, latlng) {
  const { map, popup, layerControl } = ctx;
  const hit = hits[index];
  if (isPhone()) {
    // a phone shows the details in the bottom sheet only: a popup would cover the map twice over
    map.closePopup(popup);
    select(ctx, hit.id, hit.feature);
    const body = document.getElementById("pv-feature-body");
    if (body && hits.length > 1) body.appendChild(alsoList(ctx, hits, index, latlng));
    return;
  }
  const lc = ctx.layers[hit.id].cfg;
  const el = document.createElement("div");
  el.innerHTML = featureHtml(lc, hit.feature.properties || {}, false);
  el.appendChild(alsoList(ctx, hits, index, latlng));
  // keep the popup clear of the (expanded) layer control at the top when auto-panning
  const ctl = layerControl && layerControl.getContainer ? layerControl.getContainer() : null;
  popup.options.autoPanPaddingTopLeft = L.point(50, (ctl ? ctl.offsetHeight : 0) + 24);
  popup.setLatLng(latlng).setContent(el);
  if (!map.hasLayer(popup)) popup.openOn(map);
  else popup.update();
  select(ctx, hit.id, hit.feature);
  emit(ctx, "popup", { id: hit.id, feature: hit.feature, element: el }); // plantext.js adds the plan clauses
}

export function select(ctx, id, feature) {
  ctx.selected = { id, fid: feature.id };
  highlight(ctx, id, feature.id);
  const body = document.getElementById("pv-feature-body");
  if (body) body.innerHTML = featureHtml(ctx.layers[id].cfg, feature.properties || {}, true);
  emit(ctx, "select", { id, feature, element: body });
}

/** Select feature `fid` of layer `id` if loaded; true when found. */
export function selectById(ctx, id, fid) {
  const st = ctx.layers[id];
  const f = st && st.data && st.data.features.filter((x) => x.id === fid)[0];
  if (f) select(ctx, id, f);
  return !!f;
}

export function wirePanel(ctx) {
  on(ctx, "featureclick", (e) => openIdentify(ctx, e.id, e.feature, e.latlng));
  on(ctx, "layerdata", (id) => { if (ctx.selected && ctx.selected.id === id) highlight(ctx, id, ctx.selected.fid); });
  on(ctx, "overlayremove", (id) => { if (ctx.selected && ctx.selected.id === id) ctx.map.closePopup(ctx.popup); });
}

// ------------------------------------------------------------------ indicators

function num(v) {
  return isBlank(v) ? '<span class="pv-null" title="规划未给出（或原文为 XX）">—</span>' : escapeHtml(v);
}

function indicatorsHtml(table) {
  const rows = (table.indicators || []).map((r) =>
    '<tr><th scope="row"' + (isBlank(r.quote) ? "" : ' title="' + escapeHtml("原文：" + r.quote) + '"') + ">" +
    escapeHtml(r.name) + "</th><td>" + num(r.value_2020) + "</td><td>" +
    (isBlank(r.target_text) ? num(r.target_2025) : escapeHtml(r.target_text)) + "</td><td>" +
    escapeHtml(r.unit) + "</td><td>" + (isBlank(r.kind) ? "—" : escapeHtml(r.kind)) + "</td></tr>").join("");
  let html = '<p class="pv-table-title">' + escapeHtml(table.title || "") + "</p>" +
    '<table class="pv-indicators"><thead><tr><th>指标</th><th>2020年</th><th>2025年</th><th>单位</th><th>属性</th></tr></thead>' +
    "<tbody>" + rows + "</tbody></table>";
  if (!isBlank(table.source)) html += '<p class="pv-cite">出处：' + escapeHtml(table.source) + "</p>";
  if (!isBlank(table.note)) html += '<p class="pv-hint">' + escapeHtml(table.note) + "</p>";
  return html;
}

/** Fill the side panel's indicator table (or say the plan has none yet). */
export function loadIndicators(cfg) {
  const body = document.getElementById("pv-indicators-body");
  const absent = '<p class="pv-hint">本规划的主要指标表暂未整理入库。</p>';
  if (!body) return Promise.resolve();
  if (!cfg.indicators_url) {
    body.innerHTML = absent;
    return Promise.resolve();
  }
  return fetch(cfg.indicators_url, { headers: { Accept: "application/json" } }).then((res) => {
    if (res.status === 404) {
      body.innerHTML = absent;
      return undefined;
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json().then((table) => { body.innerHTML = indicatorsHtml(table); });
  }).catch((err) => {
    body.innerHTML = '<p class="pv-hint">指标表加载失败：' + escapeHtml(err && err.message) + "</p>";
  });
}
