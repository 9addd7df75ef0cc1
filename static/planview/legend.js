// legend.js — owns the legend control: one section per layer (hidden with its layer), category
// swatches, the schematic (示意) explanation, collapse/expand, folding while a popup is open.
import { safeColor } from "./escape.js";
import { SCHEMATIC_LABEL } from "./format.js";
import { on } from "./state.js";
import { withAlpha } from "./style.js";

function swatch(kind, fill, stroke, dashed) {
  const el = document.createElement("span");
  el.className = "pv-swatch pv-swatch-" + kind + (dashed ? " pv-swatch-dashed" : "");
  const f = safeColor(fill);
  // schematic: lighter fill, dashed outline in the category colour (as on the map)
  el.style.backgroundColor = kind === "line" ? "transparent" : dashed ? withAlpha(f, 0.35) : f;
  el.style.borderColor = safeColor(kind === "line" || dashed ? fill : stroke);
  return el;
}

function legendRow(container, kind, fill, stroke, dashed, label) {
  const row = document.createElement("div");
  row.className = "pv-legend-row";
  row.appendChild(swatch(kind, fill, stroke, dashed));
  const text = document.createElement("span");
  text.textContent = label;
  row.appendChild(text);
  container.appendChild(row);
}

function schematicNote() {
  const note = document.createElement("div");
  legendRow(note, "area", "#777777", "#777777", true, SCHEMATIC_LABEL + "：规划未给出边界，位置与范围为示意");
  return note;
}

function placedNote() {
  const note = document.createElement("div");
  legendRow(note, "point", "#777777", "#777777", true, "引据点位／仅知所在区域：虚线圈为位置不确定范围（host 为所在区域驻地）");
  return note;
}

/** Add the legend to the map; it follows layer visibility from then on. */
export function buildLegend(ctx) {
  const { map, layers, order } = ctx;
  let legendEl = null;
  let autoCollapsed = false;

  function setCollapsed(collapsed) {
    if (!legendEl) return;
    legendEl.classList.toggle("pv-collapsed", collapsed);
    const t = legendEl.querySelector(".pv-legend-toggle");
    if (t) t.textContent = collapsed ? "展开" : "收起";
  }

  const ctl = L.control({ position: "bottomright" });
  ctl.onAdd = function () {
    const div = L.DomUtil.create("div", "pv-legend leaflet-bar");
    div.setAttribute("aria-label", "图例");
    const head = document.createElement("div");
    head.className = "pv-legend-head";
    const headText = document.createElement("span");
    headText.textContent = "图例";
    head.appendChild(headText);
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "pv-legend-toggle";
    toggle.textContent = "收起";
    toggle.addEventListener("click", () => {
      autoCollapsed = false;
      setCollapsed(!div.classList.contains("pv-collapsed"));
    });
    head.appendChild(toggle);
    div.appendChild(head);
    // One explanation, on top, for every visible layer drawn (partly) as schematic.
    const schematicRow = schematicNote();
    schematicRow.classList.add("pv-legend-schematic");
    div.appendChild(schematicRow);
    // and one for points placed from a cited point (located) or only to their host unit (host)
    const placedRow = placedNote();
    placedRow.classList.add("pv-legend-placed");
    div.appendChild(placedRow);
    order.slice().reverse().forEach((id) => {
      const lc = layers[id].cfg;
      const kinds = lc.geometry_kinds || [];
      const kind = kinds.indexOf("Polygon") >= 0 ? "area" : kinds.indexOf("LineString") >= 0 ? "line" : "point";
      const sec = document.createElement("section");
      sec.className = "pv-legend-section";
      sec.setAttribute("data-layer", id);
      const h = document.createElement("h4");
      h.textContent = lc.legend && lc.legend.title ? lc.legend.title : lc.title;
      h.title = lc.title;
      sec.appendChild(h);
      const stroke = lc.style.color;
      const schematicOnly = lc.precision === "schematic";
      if (lc.legend && lc.legend.categories.length) {
        lc.legend.categories.forEach((c) => legendRow(sec, kind, c.color, stroke, schematicOnly, c.label));
      } else {
        legendRow(sec, kind, lc.style.fill_color, stroke, schematicOnly, lc.title);
      }
      sec.hidden = !map.hasLayer(layers[id].group);
      div.appendChild(sec);
    });
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    legendEl = div;
    return div;
  };
  ctl.addTo(map);

  function sync() {
    if (!legendEl) return;
    let any = false, schematic = false, placed = false;
    legendEl.querySelectorAll(".pv-legend-section").forEach((sec) => {
      const st = layers[sec.getAttribute("data-layer")];
      sec.hidden = !(st && map.hasLayer(st.group));
      any = any || !sec.hidden;
      schematic = schematic || (!sec.hidden && !!(st.cfg.precision_mix || {}).schematic);
      const mix = st.cfg.precision_mix || {};
      placed = placed || (!sec.hidden && !!(mix.located || mix.host));
    });
    legendEl.querySelector(".pv-legend-schematic").hidden = !schematic;
    legendEl.querySelector(".pv-legend-placed").hidden = !placed;
    legendEl.hidden = !any;
  }

  // Leaflet draws controls above popups: fold the legend while a feature popup is open.
  map.on("popupopen", (e) => {
    if (e.popup !== ctx.popup || !legendEl || legendEl.classList.contains("pv-collapsed")) return;
    autoCollapsed = true;
    setCollapsed(true);
  });
  map.on("popupclose", (e) => {
    if (e.popup !== ctx.popup || !autoCollapsed) return;
    autoCollapsed = false;
    setCollapsed(false);
  });
  on(ctx, "overlayadd", sync);
  on(ctx, "overlayremove", sync);
  sync();
  return { sync, setCollapsed };
}
