// labels.js — owns permanent names on the map: one label per named feature from the layer
// manifest's `label:` block (field, zoom range, priority), placed by priority and dropped where it
// would overlap a label already placed; halo for legibility; hidden with their layer.
import { on, visibleIds } from "./state.js";

const PAD_X = 3; // px around the text that must stay clear
const LINE = 1.25; // line height, in font sizes
const widths = {}; // "size|char" -> px, for the few non-CJK characters of names
let canvas = null;

// Full-width characters (hanzi, kana, CJK punctuation, full-width forms) advance one em in every CJK font,
// so a name's width is known without asking the canvas, which cost some 30 ms of the first view for a
// hundred names (each measureText of Chinese text is a font-fallback walk when no CJK font is installed).
function isFullWidth(code) {
  return (code >= 0x2e80 && code <= 0x9fff) || (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) || (code >= 0xffe0 && code <= 0xffe6);
}

function textWidth(text, size, family) {
  let w = 0;
  for (const ch of text) {
    if (isFullWidth(ch.codePointAt(0))) {
      w += size;
      continue;
    }
    const key = size + "|" + ch;
    if (widths[key] === undefined) {
      canvas = canvas || document.createElement("canvas");
      const g = canvas.getContext("2d");
      g.font = size + "px " + family;
      widths[key] = g.measureText(ch).width;
    }
    w += widths[key];
  }
  return w;
}

function overlaps(a, b) {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

/** Label every layer whose config has a `label` block; re-placed after each move and toggle. */
export function wireLabels(ctx) {
  const { map, cfg } = ctx;
  const pane = map.createPane("pv-labels");
  pane.classList.add("pv-labels-pane");
  const items = [];
  cfg.layers.forEach((lc) => {
    if (!lc.label || !lc.label.points) return;
    const kinds = lc.geometry_kinds || [];
    const isPoint = kinds.length === 1 && kinds[0] === "Point";
    lc.label.points.forEach((p, rank) => {
      items.push({ id: lc.id, spec: lc.label, lonlat: [p[0], p[1]], latlng: L.latLng(p[1], p[0]), text: String(p[2]), rank,
        offset: isPoint ? (lc.style.radius || 4) + 3 : null, el: null });
    });
  });
  // higher priority first; within a layer, larger features first (the server sorted them)
  items.sort((a, b) => b.spec.priority - a.spec.priority || a.rank - b.rank);
  let family = null;
  let frame = 0;

  function element(it) {
    if (it.el) return it.el;
    const el = document.createElement("div");
    el.className = "pv-label pv-label-" + it.id;
    el.textContent = it.text; // text, never HTML: names are data
    el.style.fontSize = it.spec.size + "px";
    el.style.color = it.spec.color;
    const h = it.spec.halo;
    el.style.textShadow = [[-1, -1], [1, -1], [-1, 1], [1, 1], [0, 0]]
      .map((d) => d[0] + "px " + d[1] + "px 1.5px " + h).join(",");
    el.setAttribute("data-layer", it.id);
    pane.appendChild(el);
    it.el = el;
    return el;
  }

  function place() {
    frame = 0;
    family = family || window.getComputedStyle(map.getContainer()).fontFamily;
    const zoom = map.getZoom();
    const size = map.getSize();
    const shown = {};
    visibleIds(ctx).forEach((id) => { shown[id] = true; });
    const placed = [];
    items.forEach((it) => {
      let box = null;
      if (shown[it.id] && zoom >= it.spec.min_zoom && zoom <= it.spec.max_zoom) {
        const pt = map.latLngToContainerPoint(it.latlng);
        const w = textWidth(it.text, it.spec.size, family) + 2 * PAD_X;
        const h = it.spec.size * LINE;
        const left = it.offset === null ? pt.x - w / 2 : pt.x + it.offset - PAD_X;
        const candidate = [left, pt.y - h / 2, left + w, pt.y + h / 2];
        const inside = candidate[0] >= 0 && candidate[1] >= 0 && candidate[2] <= size.x && candidate[3] <= size.y;
        if (inside && !placed.some((b) => overlaps(b, candidate))) {
          placed.push(candidate);
          box = { dx: left + PAD_X - pt.x, dy: -h / 2 };
        }
      }
      if (box) {
        const el = element(it);
        L.DomUtil.setPosition(el, map.latLngToLayerPoint(it.latlng).add([box.dx, box.dy]));
        el.hidden = false;
      } else if (it.el) {
        it.el.hidden = true;
      }
    });
    ctx.labelsPlaced = placed.length;
  }

  function schedule() {
    if (!frame) frame = window.requestAnimationFrame(place);
  }

  // Labels do not scale with Leaflet's zoom animation: hide them while it runs.
  map.on("zoomstart", () => { pane.style.visibility = "hidden"; });
  map.on("zoomend", () => { pane.style.visibility = ""; });
  map.on("moveend resize", schedule);
  on(ctx, "overlayadd", schedule);
  on(ctx, "datum", () => {
    const to = ctx.coordsToLatLng || L.GeoJSON.coordsToLatLng;
    items.forEach((it) => { it.latlng = to(it.lonlat); });
    schedule();
  });
  on(ctx, "overlayremove", schedule);
  schedule();
  return { place };
}
