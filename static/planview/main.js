// main.js — owns start-up: reads the page's config, wires every module to the Folium-made map,
// loads the first view, and exposes window.planview (ready flag, state) for tests and debugging.
// The map page's inline module (Folium's script, server/pages.py) imports start() and calls it. What the first
// view does not need (drawing, measuring, plan text and search, monitoring) is imported once it is drawn, and the
// vector-tile modules only on pages that have tiled layers or vector basemaps: fewer requests before it.
import "./leaflet-fixes.js";
import { bucketFor, mark, pageData } from "./firstview.js";
import { currentBase, wireBasemaps } from "./basemaps.js";
import { load, needsLoad, refresh, scheduleRefresh, wireRedraw } from "./data.js";
import { escapeHtml } from "./escape.js";
import { featureHtml } from "./format.js";
import { wireControls } from "./controls.js";
import { wireLabels } from "./labels.js";
import { buildLegend } from "./legend.js";
import { loadStyle } from "./assets.js";
import { addNotice } from "./notices.js";
import { loadIndicators, selectById, wirePanel } from "./panel.js";
import { applyInitialView, scheduleLinks, wireLinks } from "./permalink.js";
import { wireSheet } from "./sheet.js";
import { createState, emit, idOfGroup, on, visibleIds } from "./state.js";
import { wireWidgets } from "./widgets.js";
import { restyle } from "./style.js";

const planview = (window.planview = window.planview || {});
planview.ready = false;
planview.failed = [];
planview.escapeHtml = escapeHtml;
planview.featureHtml = featureHtml;

/** Run `fn` in the next frame's animation callbacks (boxes read there cost no extra layout). */
function inNextFrame(fn) {
  return new Promise((resolve) => requestAnimationFrame(() => resolve(fn())));
}

/** Resolves in the task after the next frame: once what was drawn before it has been painted. */
function afterNextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

/** Fill the Folium map `map` (empty FeatureGroups `groups`, layer control, basemaps by id) with the plan layers. */
export function start(map, groups, layerControl, bases) {
  mark("pv-start");
  const cfg = pageData("pv-config");
  const ctx = createState(map, cfg, groups, layerControl);
  planview.map = map;
  planview.config = cfg;

  L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
  wireWidgets(ctx);
  wireBasemaps(ctx, bases);
  // VectorGrid layers (tiled plan layers, vector basemaps) are part of the first view where they exist
  const grids = [];
  if (Object.keys(cfg.vector_basemaps || {}).length) {
    grids.push(import("./vectorbase.js").then((m) => m.wireVectorBasemaps(ctx, bases)));
  }
  if (cfg.layers.some((lc) => lc.tiles)) grids.push(import("./tiles.js").then((m) => m.wireTiles(ctx)));
  (cfg.unavailable || []).forEach((u) => addNotice(u.id, "图层 " + u.id + " 未能加载：" + u.reason));
  applyInitialView(ctx);

  map.on("overlayadd", (e) => {
    const id = idOfGroup(ctx, e.layer);
    if (!id) return;
    emit(ctx, "overlayadd", id);
    const st = ctx.layers[id];
    // a layer that failed before gets another try when the user turns it on again
    if ((st.failed && !st.data) || needsLoad(ctx, st, bucketFor(map.getZoom()))) load(ctx, id);
    scheduleLinks(ctx);
  });
  map.on("overlayremove", (e) => {
    const id = idOfGroup(ctx, e.layer);
    if (!id) return;
    emit(ctx, "overlayremove", id);
    scheduleLinks(ctx);
  });
  map.on("moveend", () => { scheduleLinks(ctx); scheduleRefresh(ctx); });
  map.on("baselayerchange", () => scheduleLinks(ctx));

  wirePanel(ctx);
  wireRedraw(ctx);
  const legend = buildLegend(ctx);
  const foldControls = wireControls(ctx, legend);
  const sheet = wireSheet(ctx);
  on(ctx, "select", () => sheet.showFeature());
  const labels = wireLabels(ctx);
  wireLinks(ctx);

  const started = performance.now();
  const initialLoads = visibleIds(ctx).map((id) => load(ctx, id));
  planview.whenReady = Promise.all(initialLoads.concat(grids)).then(() => {
    planview.ready = true;
    mark("pv-ready");
    planview.readyAt = performance.now();
    planview.loadMs = planview.readyAt - started;
    document.documentElement.setAttribute("data-planview-ready", "1");
    document.dispatchEvent(new CustomEvent("planview:ready"));
  });
  // The controls are measured in the next frame's animation callbacks, before it is painted: their boxes are
  // read when the browser lays the page out anyway, and they move or fold before anyone sees them covering.
  const laidOut = planview.whenReady.then(() => inNextFrame(foldControls));
  // The tools, once the map is drawn: measure; draw a site (signed-in users); plan clauses in popups and
  // the panel, search of places and plan text, ?feature=layer/id.
  const signedIn = (document.getElementById("pv-draw") || { dataset: {} }).dataset.signedIn === "1";
  // After the drawn map is painted (the frame after ready, then a task): with the modules bundled
  // (server/mapview/frontend.py) an import() is a call, not a request, and would otherwise run in the
  // same task as the drawing and hold up its paint. Literal import() calls, so the build can follow them.
  const painted = planview.whenReady.then(afterNextPaint);
  const later = (load) => painted.then(load);
  // The permalink and export links for the first view (the page came with the export link already right
  // for its default view; history.replaceState is slow, and nothing needs them before the map is seen).
  painted.then(() => scheduleLinks(ctx));
  // The fallback Chinese font (only fetched where no system CJK font is installed) once the map is drawn.
  // Where it is fetched, text grows from the fallback's empty boxes to real glyphs: the controls are
  // measured again once it is in (the layer control can widen over the plan).
  planview.fontLoaded = painted.then(() => loadStyle("/fonts/cjk.css")).catch(() => null) // the page works without it
    .then(afterNextPaint) // laid out with it: the font is asked for where it is needed
    .then(() => document.fonts.ready);
  const refolded = Promise.all([laidOut, planview.fontLoaded]).then(() => inNextFrame(foldControls));
  const planText = later(() => import("./plantext.js")).then((m) => {
    planview.focusedFromUrl = m.wirePlanText(ctx, planview.whenReady);
    return m;
  });
  planview.focus = (id, fid) => planText.then((m) => m.focusFeature(ctx, id, fid));
  // planview.settled: start-up is over (drawn, controls laid out, tools wired); what tests wait for.
  planview.whenSettled = Promise.all([
    refolded,
    planText,
    // measuring, then implementation status (监测评估: popups, the panel, a colouring); both add a control at the
    // top left, in this order every time
    later(() => import("./measure.js")).then((m) => m.wireMeasure(ctx)).then(() => import("../monitor-map.js")),
    signedIn ? later(() => import("./draw.js")).then((m) => m.wireDraw(ctx, sheet)) : null
  ]).catch((err) => addNotice("pv-tools", "测量、绘制与规划原文工具未能加载：" + (err && err.message ? err.message : err)))
    .then(() => { planview.settled = true; });
  // The side panel's table waits until the map is drawn: the map comes first.
  planview.indicatorsLoaded = painted.then(() => loadIndicators(cfg));

  /** State of one layer, for tests and debugging. */
  planview.layerState = (id) => {
    const st = ctx.layers[id];
    if (!st) return null;
    return {
      onMap: map.hasLayer(st.group), loaded: !!st.data, failed: st.failed, zoom: st.zoom, bbox: st.bbox,
      features: st.data ? st.data.features.length : 0
    };
  };
  planview.layerIds = () => ctx.order.slice();
  planview.visibleLayerIds = () => visibleIds(ctx);
  planview.refresh = () => refresh(ctx);
  planview.select = (id, fid) => selectById(ctx, id, fid);
  planview.permalink = () => window.location.href;
  planview.placeLabels = () => labels.place();
  planview.sheet = sheet;
  planview.datum = () => ctx.datum;
  planview.base = () => currentBase(ctx);
  planview.restyle = () => restyle(ctx);
  return ctx;
}
