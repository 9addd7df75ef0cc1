// plantext.js — owns the plan text on the map page:
// - each feature's popup and side panel list the clauses of either plan that mention it
//   ("规划原文 N 处", links to the reader at the clause), its body-text targets and the records
//   where the two plans speak of the same place or disagree — from /api/mentions/{layer}/{id}
//   on first click, so the layer data (the first view) stays small;
// - the search box asks /api/search: places (on this map: shown here; on another map: a link
//   to it) and plan clauses (links to the reader /plans/{plan}#anchor);
// - /maps/{id}?feature=layer/id opens the map on that feature.
// main.js imports it once the first view is drawn; it brings its stylesheet (planview-plans.css) then.
import { loadStyle } from "./assets.js";
import { ensureLoaded } from "./data.js";
import { escapeHtml } from "./escape.js";
import { featureName } from "./format.js";
import { goTo } from "./search.js";
import { on } from "./state.js";

const POPUP_CLAUSES = 3;
const PLAN_NAMES = { chongqing: "重庆市规划", yunyang: "云阳县规划" };
const COMPARATORS = { "≥": "≥", ">": ">", "=": "", "≤": "≤", "<": "<", "≈": "约" };
const cache = {};

function getJson(url) {
  return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then((res) => {
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json();
  });
}

function mentionsOf(layer, id) {
  const url = "/api/mentions/" + encodeURIComponent(layer) + "/" + encodeURIComponent(String(id));
  if (!cache[url]) {
    cache[url] = getJson(url);
    cache[url].catch(() => { delete cache[url]; });
  }
  return cache[url];
}

function clip(text, n) {
  const s = String(text || "");
  return s.length > n ? s.slice(0, n) + "…" : s;
}

/** The plan clauses, body targets and cross-plan records of one feature, as escaped HTML. */
export function clausesHtml(info, max) {
  let html = '<div class="pv-clauses" data-count="' + escapeHtml(info.count) + '">';
  html += '<p class="pv-clauses-head">规划原文 ' + escapeHtml(info.count) + " 处</p>";
  if (info.count) {
    const shown = max ? info.mentions.slice(0, max) : info.mentions;
    html += "<ol>" + shown.map((m) =>
      '<li><a class="pv-clause" href="' + escapeHtml(m.href) + '" data-anchor="' + escapeHtml(m.anchor) + '">' +
      '<span class="pv-clause-where">' + escapeHtml(PLAN_NAMES[m.plan] || m.plan) + " · " + escapeHtml(m.section) +
      "</span>“" + escapeHtml(clip(m.text, 90)) + "”</a></li>").join("") + "</ol>";
    if (shown.length < info.mentions.length) {
      html += '<p class="pv-clauses-more">另有 ' + escapeHtml(info.mentions.length - shown.length) +
        " 处，见侧栏“选中要素”。</p>";
    }
  } else {
    html += '<p class="pv-hint">两部规划正文未直接提及此要素。</p>';
  }
  if (info.targets && info.targets.length) {
    html += '<p class="pv-clauses-head">规划正文中的目标</p><ul class="pv-body-targets">' + info.targets.map((t) => {
      const cmp = COMPARATORS[t.comparator] !== undefined ? COMPARATORS[t.comparator] : t.comparator;
      return "<li>" + escapeHtml(t.indicator) + "：" + escapeHtml(cmp) + escapeHtml(t.value) + " " + escapeHtml(t.unit) +
        (t.year ? "（" + escapeHtml(t.year) + "年）" : "") + ' <a href="' + escapeHtml(t.href) + '" title="' +
        escapeHtml("原文：" + t.quote) + '">原文</a></li>';
    }).join("") + "</ul>";
  }
  if (info.cross_links && info.cross_links.length) {
    html += '<p class="pv-clauses-head">两部规划对照</p><ul class="pv-xlinks">' + info.cross_links.map((x) =>
      "<li" + (x.kind === "disagree" ? ' class="pv-xlink-disagree"' : "") + "><strong>" +
      (x.kind === "disagree" ? "说法不一：" : "同指一地：") + escapeHtml(x.title) + "</strong>" +
      x.statements.map((s) => '<br><a href="' + escapeHtml(s.href) + '">' + escapeHtml(PLAN_NAMES[s.plan] || s.plan) +
        "</a>：“" + escapeHtml(clip(s.quote, 60)) + "”").join("") +
      "<br><small>" + escapeHtml(x.note) + "</small></li>").join("") + "</ul>";
  }
  return html + "</div>";
}

/** Append the feature's clauses to `el` (a popup's content or the side panel) once they arrive. */
function attach(e, max, update) {
  const el = e.element;
  if (!el) return;
  const key = e.id + "/" + e.feature.id;
  el.setAttribute("data-pv-feature", key);
  mentionsOf(e.id, e.feature.id).then((info) => {
    if (el.getAttribute("data-pv-feature") !== key) return; // another feature is shown by now
    const old = el.querySelector(".pv-clauses");
    if (old) old.remove();
    const box = document.createElement("div");
    box.innerHTML = clausesHtml(info, max);
    el.appendChild(box.firstChild);
    if (update) update();
  }, () => { /* the feature card stands without its clauses */ });
}

/** Show feature `fid` of layer `id` (turning its layer on); resolves to whether it was found. */
export function focusFeature(ctx, id, fid) {
  const st = ctx.layers[id];
  if (!st) return Promise.resolve(false);
  if (!ctx.map.hasLayer(st.group)) ctx.map.addLayer(st.group);
  return ensureLoaded(ctx, id).then(() => {
    const f = st.data && st.data.features.filter((x) => String(x.id) === String(fid))[0];
    if (f) goTo(ctx, { id, feature: f, name: featureName(st.cfg, f.properties || {}) });
    return !!f;
  });
}

// ------------------------------------------------------------------ search

function resultItem(ctx, hit) {
  const li = document.createElement("li");
  const here = hit.type === "feature" && !!ctx.layers[hit.layer];
  let el;
  if (here) {
    el = document.createElement("button");
    el.type = "button";
    el.addEventListener("click", () => { focusFeature(ctx, hit.layer, hit.id); });
  } else {
    el = document.createElement("a");
    el.href = hit.href || "#";
  }
  el.className = "pv-result pv-result-" + hit.type;
  el.textContent = hit.type === "clause" ? "“" + clip(hit.text, 60) + "”" : hit.name;
  const small = document.createElement("small");
  if (hit.type === "feature") {
    small.textContent = hit.layer_title + (here ? "" : " · 在其他地图中打开") +
      (hit.mentions ? " · 规划原文 " + hit.mentions + " 处" : "");
  } else {
    small.textContent = (PLAN_NAMES[hit.plan] || hit.plan) + " · " + (hit.type === "clause" ? hit.section : "章节");
  }
  el.appendChild(small);
  li.appendChild(el);
  return li;
}

function hint(text) {
  const li = document.createElement("li");
  li.className = "pv-hint";
  li.textContent = text;
  return li;
}

/** The side panel's search box, answered by /api/search (places and plan clauses). */
export function wirePlanSearch(ctx) {
  const input = document.getElementById("pv-search");
  const list = document.getElementById("pv-search-results");
  if (!input || !list) return;
  let timer = null;
  let seq = 0;
  function run() {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) { list.innerHTML = ""; return; }
    getJson("/api/search?limit=40&q=" + encodeURIComponent(q)).then((data) => {
      if (mine !== seq) return;
      list.innerHTML = "";
      if (!data.results.length) list.appendChild(hint("没有找到含“" + q + "”的地点或规划原文"));
      data.results.forEach((hit) => list.appendChild(resultItem(ctx, hit)));
    }, (err) => {
      if (mine !== seq) return;
      list.innerHTML = "";
      list.appendChild(hint("搜索失败：" + (err && err.message ? err.message : err)));
    });
  }
  input.addEventListener("input", () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, 150);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    if (timer) { clearTimeout(timer); timer = null; run(); return; }
    const first = list.querySelector(".pv-result");
    if (first) first.click();
  });
}

/** Clauses in popups and the side panel; ?feature=layer/id once the first view is drawn. */
export function wirePlanText(ctx, whenReady) {
  loadStyle("/static/planview-plans.css").catch(() => { /* the clauses read unstyled */ });
  on(ctx, "popup", (e) => attach(e, POPUP_CLAUSES, () => {
    // re-layout for the added lines without panning (a pan would refetch the view's data)
    const autoPan = ctx.popup.options.autoPan;
    ctx.popup.options.autoPan = false;
    ctx.popup.update();
    ctx.popup.options.autoPan = autoPan;
  }));
  on(ctx, "select", (e) => attach(e, 0, null));
  wirePlanSearch(ctx);
  const ref = new URLSearchParams(window.location.search).get("feature");
  const cut = ref ? ref.indexOf("/") : -1;
  if (cut > 0) return whenReady.then(() => focusFeature(ctx, ref.slice(0, cut), ref.slice(cut + 1)));
  return null;
}
