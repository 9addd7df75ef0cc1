/*
 * planview-plantext.js — the plan text on the map page.
 *
 * - Every feature's popup and side panel list the clauses of either plan that
 *   mention it ("规划原文 N 处"), each a link to the reader at that clause,
 *   plus its body-text targets and the records where the two plans speak of
 *   the same place or disagree. They come from /api/mentions/{layer}/{id} on
 *   first click (the layer data stays small).
 * - The search box asks /api/search: places (on this map: shown here; on
 *   another map: a link to it) and plan clauses (links to the reader).
 * - /maps/{id}?feature=layer/id opens the map on that feature.
 *
 * Needs planview.js (loaded before it; hooks: the planview:popup and
 * planview:select events, planview.focus). Every string from data is escaped.
 */
(function () {
  "use strict";
  var planview = (window.planview = window.planview || {});
  planview.searchApi = true; // planview.js leaves the search box to this module

  var POPUP_CLAUSES = 3;
  var PLAN_NAMES = { chongqing: "重庆市规划", yunyang: "云阳县规划" };
  var COMPARATORS = { "≥": "≥", ">": ">", "=": "", "≤": "≤", "<": "<", "≈": "约" };
  var cache = {};

  function esc(v) {
    return planview.escapeHtml ? planview.escapeHtml(v) : String(v == null ? "" : v).replace(/[&<>"'`=]/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    });
  }

  function mentionsOf(layer, id) {
    var url = "/api/mentions/" + encodeURIComponent(layer) + "/" + encodeURIComponent(String(id));
    if (!cache[url]) {
      cache[url] = getJson(url);
      cache[url].catch(function () { delete cache[url]; });
    }
    return cache[url];
  }

  function clip(text, n) {
    text = String(text || "");
    return text.length > n ? text.slice(0, n) + "…" : text;
  }

  /** The plan clauses, body targets and cross-plan records of one feature, as escaped HTML. */
  function clausesHtml(info, max) {
    var html = '<div class="pv-clauses" data-count="' + esc(info.count) + '">';
    html += '<p class="pv-clauses-head">规划原文 ' + esc(info.count) + " 处</p>";
    if (info.count) {
      var shown = max ? info.mentions.slice(0, max) : info.mentions;
      html += "<ol>" + shown.map(function (m) {
        return '<li><a class="pv-clause" href="' + esc(m.href) + '" data-anchor="' + esc(m.anchor) + '">' +
          '<span class="pv-clause-where">' + esc(PLAN_NAMES[m.plan] || m.plan) + " · " + esc(m.section) + "</span>" +
          "“" + esc(clip(m.text, 90)) + "”</a></li>";
      }).join("") + "</ol>";
      if (shown.length < info.mentions.length) {
        html += '<p class="pv-clauses-more">另有 ' + esc(info.mentions.length - shown.length) + " 处，见侧栏“选中要素”。</p>";
      }
    } else {
      html += '<p class="pv-hint">两部规划正文未直接提及此要素。</p>';
    }
    if (info.targets && info.targets.length) {
      html += '<p class="pv-clauses-head">规划正文中的目标</p><ul class="pv-body-targets">' + info.targets.map(function (t) {
        var cmp = COMPARATORS[t.comparator] !== undefined ? COMPARATORS[t.comparator] : t.comparator;
        return "<li>" + esc(t.indicator) + "：" + esc(cmp) + esc(t.value) + " " + esc(t.unit) +
          (t.year ? "（" + esc(t.year) + "年）" : "") + ' <a href="' + esc(t.href) + '" title="' + esc("原文：" + t.quote) +
          '">原文</a></li>';
      }).join("") + "</ul>";
    }
    if (info.cross_links && info.cross_links.length) {
      html += '<p class="pv-clauses-head">两部规划对照</p><ul class="pv-xlinks">' + info.cross_links.map(function (x) {
        var cls = x.kind === "disagree" ? ' class="pv-xlink-disagree"' : "";
        return "<li" + cls + "><strong>" + (x.kind === "disagree" ? "说法不一：" : "同指一地：") + esc(x.title) + "</strong>" +
          x.statements.map(function (s) {
            return '<br><a href="' + esc(s.href) + '">' + esc(PLAN_NAMES[s.plan] || s.plan) + "</a>：“" + esc(clip(s.quote, 60)) + "”";
          }).join("") + "<br><small>" + esc(x.note) + "</small></li>";
      }).join("") + "</ul>";
    }
    return html + "</div>";
  }
  planview.clausesHtml = clausesHtml;

  function attach(detail, max) {
    if (!detail || !detail.element) return;
    var el = detail.element;
    var key = detail.layer + "/" + detail.id;
    el.setAttribute("data-pv-feature", key);
    mentionsOf(detail.layer, detail.id).then(function (info) {
      if (el.getAttribute("data-pv-feature") !== key) return; // another feature is shown by now
      var old = el.querySelector(".pv-clauses");
      if (old) old.parentNode.removeChild(old);
      var box = document.createElement("div");
      box.innerHTML = clausesHtml(info, max);
      el.appendChild(box.firstChild);
      if (detail.update) detail.update();
    }, function () { /* the feature card stands without its clauses */ });
  }

  document.addEventListener("planview:popup", function (e) { attach(e.detail, POPUP_CLAUSES); });
  document.addEventListener("planview:select", function (e) { attach(e.detail, 0); });

  // ------------------------------------------------------------------ search
  function layerOnThisMap(layer) {
    var cfg = planview.config;
    return !!(cfg && cfg.layers.some(function (lc) { return lc.id === layer; }));
  }

  function resultItem(hit) {
    var li = document.createElement("li");
    var el;
    if (hit.type === "feature" && layerOnThisMap(hit.layer)) {
      el = document.createElement("button");
      el.type = "button";
      el.addEventListener("click", function () { planview.focus(hit.layer, hit.id); });
    } else {
      el = document.createElement("a");
      el.href = hit.href || "#";
    }
    el.className = "pv-result pv-result-" + hit.type;
    el.textContent = hit.type === "clause" ? "“" + clip(hit.text, 60) + "”" : hit.name;
    var small = document.createElement("small");
    if (hit.type === "feature") {
      small.textContent = hit.layer_title + (layerOnThisMap(hit.layer) ? "" : " · 在其他地图中打开") +
        (hit.mentions ? " · 规划原文 " + hit.mentions + " 处" : "");
    } else {
      small.textContent = (PLAN_NAMES[hit.plan] || hit.plan) + " · " + (hit.type === "clause" ? hit.section : "章节");
    }
    el.appendChild(small);
    li.appendChild(el);
    return li;
  }

  function wireSearch() {
    var input = document.getElementById("pv-search");
    var list = document.getElementById("pv-search-results");
    if (!input || !list) return;
    var timer = null, seq = 0;
    function run() {
      var q = input.value.trim();
      var mine = ++seq;
      if (!q) { list.innerHTML = ""; return; }
      getJson("/api/search?limit=40&q=" + encodeURIComponent(q)).then(function (data) {
        if (mine !== seq) return;
        list.innerHTML = "";
        if (!data.results.length) {
          var none = document.createElement("li");
          none.className = "pv-hint";
          none.textContent = "没有找到含“" + q + "”的地点或规划原文";
          list.appendChild(none);
        }
        data.results.forEach(function (hit) { list.appendChild(resultItem(hit)); });
      }, function (err) {
        if (mine !== seq) return;
        list.innerHTML = "";
        var li = document.createElement("li");
        li.className = "pv-hint";
        li.textContent = "搜索失败：" + (err && err.message ? err.message : err);
        list.appendChild(li);
      });
    }
    input.addEventListener("input", function () {
      if (timer) clearTimeout(timer);
      timer = setTimeout(run, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") return;
      e.preventDefault();
      if (timer) { clearTimeout(timer); timer = null; run(); return; }
      var first = list.querySelector(".pv-result");
      if (first) first.click();
    });
  }

  // --------------------------------------------------- ?feature=layer/id
  function focusFromUrl() {
    var params = new URLSearchParams(window.location.search);
    var ref = params.get("feature");
    if (!ref || ref.indexOf("/") < 1 || !planview.focus) return;
    var cut = ref.indexOf("/");
    var layer = ref.slice(0, cut), id = ref.slice(cut + 1);
    planview.focusedFromUrl = planview.focus(layer, id);
  }

  function onReady() {
    wireSearch();
    if (planview.whenReady) planview.whenReady.then(focusFromUrl);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onReady);
  else setTimeout(onReady, 0);
})();
