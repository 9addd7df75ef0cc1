// monitor-map.js — implementation status (监测评估) on the plan maps.
//
// Reads the plan's indicators with their computed status (GET /api/indicators/{plan}, the same
// request the side panel makes) and
//   * adds a 状态 column to the side panel's indicator table and a link to /monitor/{plan};
//   * lists the status of every target a feature carries in its popup and side-panel card;
//   * offers a "实施状态" colouring: features with targets coloured by their worst status.
// It plugs into the map modules through addFeatureExtra (format.js), addStyleHook and
// planview.restyle (style.js); every string from data is escaped (escape.js) before it reaches HTML.
// main.js imports it once the map is drawn.
import { escapeHtml as esc } from "./planview/escape.js";
import { addFeatureExtra } from "./planview/format.js";
import { addStyleHook } from "./planview/style.js";

const planview = window.planview || {};
const COLOURS = { 达标: "#1a9850", 正常: "#4575b4", 滞后: "#f39c12", 预警: "#d73027" };
const SEVERITY = { 预警: 4, 滞后: 3, 正常: 2, 达标: 1 };
const NONE_COLOUR = "#9e9e9e";

const byFeature = new Map(); // "layer|key" -> [indicator entries]
let colouring = false;


function badge(status) {
  const colour = COLOURS[status] || NONE_COLOUR;
  return `<span class="pv-status-badge" style="background:${colour}">${esc(status || "—")}</span>`;
}

function keyOf(props) {
  return props.layer + "|" + (props.key ?? "");
}

function entriesFor(props) {
  if (!props || !props.layer) return [];
  const direct = byFeature.get(keyOf(props));
  if (direct) return direct;
  // a layer whose key field is not called "key" (e.g. counties by adcode): match any attribute equal to the key
  for (const [k, list] of byFeature) {
    const [layer, key] = k.split("|");
    if (layer === props.layer && Object.keys(props).some((p) => props[p] !== null && String(props[p]) === key)) return list;
  }
  return [];
}

function worst(entries) {
  let best = null;
  for (const e of entries) {
    const s = e.progress.status;
    if (s && (!best || SEVERITY[s] > SEVERITY[best])) best = s;
  }
  return best;
}

addFeatureExtra(function (lc, props, full) {
  const entries = entriesFor(props);
  if (!entries.length) return "";
  const shown = full ? entries : entries.slice(0, 6);
  let html = `<div class="pv-monitor"><div class="pv-monitor-head">实施状态 ${badge(worst(entries))}</div><ul>`;
  for (const e of shown) {
    html += `<li>${badge(e.progress.status)} ${esc(e.name)}：${esc(e.progress.explanation)}</li>`;
  }
  if (shown.length < entries.length) html += `<li>…另有 ${entries.length - shown.length} 项</li>`;
  html += `</ul><a href="/monitor/${esc(planview.config.map.plan)}">监测评估详情</a></div>`;
  return html;
});

addStyleHook(function (lc, props, style) {
  if (!colouring) return style;
  const entries = entriesFor(props);
  if (!entries.length) return Object.assign({}, style, { fillOpacity: Math.min(style.fillOpacity, 0.08), opacity: 0.4 });
  const colour = COLOURS[worst(entries)] || NONE_COLOUR;
  return Object.assign({}, style, { fillColor: colour, color: colour, fillOpacity: 0.55, opacity: 1 });
});

function addStatusColumn(report) {
  const table = document.querySelector("#pv-indicators-body table.pv-indicators");
  if (!table || table.dataset.monitor) return;
  table.dataset.monitor = "1";
  const head = table.querySelector("thead tr");
  if (head) head.insertAdjacentHTML("beforeend", "<th>状态</th>");
  const rows = table.querySelectorAll("tbody tr");
  (report.rows || []).forEach((row, i) => {
    if (!rows[i]) return;
    rows[i].dataset.indicator = row.id || "";
    rows[i].insertAdjacentHTML("beforeend", `<td title="${esc(row.status_explanation)}">${badge(row.status)}</td>`);
  });
  table.insertAdjacentHTML("afterend",
    `<p class="pv-hint">状态依据录入的年度值计算（${esc(report.date ? "数据日期 " + report.date.slice(0, 10) : "尚无年度值")}）。` +
    `<a href="/monitor/${esc(planview.config.map.plan)}">监测评估 →</a></p>`);
}

function addControl() {
  if (!window.L || !planview.map) return;
  const ctl = L.control({ position: "topleft" });
  ctl.onAdd = function () {
    const div = L.DomUtil.create("div", "pv-monitor-control leaflet-bar");
    const btn = document.createElement("button");
    btn.type = "button";
    btn.id = "pv-status-colouring";
    btn.textContent = "实施状态";
    btn.title = "按指标实施状态为要素着色";
    btn.setAttribute("aria-pressed", "false");
    const legend = document.createElement("div");
    legend.className = "pv-monitor-legend";
    legend.hidden = true;
    legend.innerHTML = Object.keys(COLOURS).map((s) => badge(s)).join(" ") + " " + badge(null) + "<small>无目标或无年度值的要素淡显</small>";
    btn.addEventListener("click", () => {
      colouring = !colouring;
      btn.setAttribute("aria-pressed", String(colouring));
      legend.hidden = !colouring;
      if (planview.restyle) planview.restyle();
    });
    div.appendChild(btn);
    div.appendChild(legend);
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  ctl.addTo(planview.map);
}

async function main() {
  const cfg = planview.config;
  if (!cfg || !cfg.indicators_url) return;
  addControl();
  let table;
  try {
    const res = await fetch(cfg.indicators_url, { headers: { Accept: "application/json" } });
    if (!res.ok) return;
    table = await res.json();
  } catch (err) {
    return;
  }
  const monitoring = table.monitoring;
  if (!monitoring) return;
  for (const e of monitoring.indicators) {
    if (!e.feature) continue;
    const k = e.feature.layer + "|" + e.feature.key;
    if (!byFeature.has(k)) byFeature.set(k, []);
    byFeature.get(k).push(e);
  }
  if (planview.indicatorsLoaded) await planview.indicatorsLoaded;
  addStatusColumn({ rows: table.indicators || [], date: monitoring.data_date });
  planview.monitorReady = true;
  document.documentElement.setAttribute("data-monitor-ready", "1");
}

main();
