// /monitor/{plan}: one small uPlot chart per indicator — actual values, planned path, 2025 target.
// Data come from the page itself (#monitor-data, the same JSON as GET /api/indicators/{plan}); nothing remote.
import uPlot from "/static/vendor/uplot/uPlot.esm.js";

const YEARS = [2020, 2021, 2022, 2023, 2024, 2025];
const COLOURS = { 达标: "#1a9850", 正常: "#4575b4", 滞后: "#f39c12", 预警: "#d73027" };

function seriesFor(ind) {
  const path = ind.progress.planned_path || {};
  const values = Object.fromEntries(ind.values.map((v) => [v.year, v.value]));
  const planned = YEARS.map((y) => (path[y] ?? null));
  const target = YEARS.map((y) => (y === 2025 && ind.target != null ? ind.target : null));
  const base = YEARS.map((y) => (y === 2020 && ind.base_value != null ? ind.base_value : null));
  const actual = YEARS.map((y) => (values[y] ?? null));
  return [YEARS, planned, target, base, actual];
}

function draw(el, ind) {
  const data = seriesFor(ind);
  const colour = COLOURS[ind.progress.status] || "#2c3e50";
  const width = Math.max(200, el.clientWidth || 280);
  const unit = ind.unit || "";
  const opts = {
    width, height: 170,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false, range: [2019.6, 2025.4] } },
    axes: [
      { values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")), splits: () => YEARS, size: 28 },
      { size: 52, label: unit, labelSize: 14 },
    ],
    series: [
      {},
      { label: "计划路径", stroke: "#7f8c8d", dash: [5, 4], width: 1.5, spanGaps: true, points: { show: false } },
      { label: "2025年目标", stroke: "#8e44ad", width: 0, points: { show: true, size: 9, fill: "#8e44ad" } },
      { label: "2020年值", stroke: "#555", width: 0, points: { show: true, size: 6, fill: "#555" } },
      { label: "年度值", stroke: colour, width: 2, spanGaps: true, points: { show: true, size: 7, fill: colour } },
    ],
  };
  el.textContent = "";
  const plot = new uPlot(opts, data, el);
  el.dataset.drawn = "1";
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", `${ind.name}：${ind.progress.explanation}`);
  return plot;
}

function main() {
  const node = document.getElementById("monitor-data");
  if (!node) return;
  const report = JSON.parse(node.textContent);
  const byId = new Map(report.indicators.map((ind) => [ind.id, ind]));
  const plots = [];
  for (const el of document.querySelectorAll(".mo-chart[data-indicator]")) {
    const ind = byId.get(el.dataset.indicator);
    if (ind) plots.push([el, draw(el, ind)]);
  }
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      for (const [el, plot] of plots) plot.setSize({ width: Math.max(200, el.clientWidth), height: 170 });
    }, 150);
  });
  document.body.dataset.chartsDrawn = String(plots.length);
}

main();
