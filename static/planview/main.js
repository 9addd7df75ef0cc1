// main.js — owns start-up: reads the page's config, wires every module to the Folium-made map,
// loads the first view, and exposes window.planview (ready flag, state) for tests and debugging.
// The map's own script (/maps/{id}/map.js, a module) imports start() and calls it.
import "./leaflet-fixes.js";
import { bucketFor, mark, pageData } from "./boot.js";
import { currentBase, wireBasemaps } from "./basemaps.js";
import { wireDraw } from "./draw.js";
import { load, needsLoad, refresh, scheduleRefresh, wireRedraw } from "./data.js";
import { escapeHtml } from "./escape.js";
import { featureHtml } from "./format.js";
import { wireControls } from "./controls.js";
import { wireLabels } from "./labels.js";
import { buildLegend } from "./legend.js";
import { wireMeasure } from "./measure.js";
import { addNotice } from "./notices.js";
import { loadIndicators, selectById, wirePanel } from "./panel.js";
import { applyInitialView, scheduleLinks, wireLinks } from "./permalink.js";
import { focusFeature, wirePlanText } from "./plantext.js";
import { wireSheet } from "./sheet.js";
import { createState, emit, idOfGroup, on, visibleIds } from "./state.js";
import { restyle } from "./style.js";
import { wireTiles } from "./tiles.js";
import { wireVectorBasemaps } from "./vectorbase.js";

const planview = (window.planview = window.planview || {});
planview.ready = false;
planview.failed = [];
planview.escapeHtml = escapeHtml;
planview.featureHtml = featureHtml;

/** Fill the Folium map `map` (empty FeatureGroups `groups`, layer control, basemaps by id) with the plan layers. */
export function start(map, groups, layerControl, bases) {
  mark("pv-start");
  const cfg = pageData("pv-config");
  const ctx = createState(map, cfg, groups, layerControl);
  planview.map = map;
  planview.config = cfg;

  L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
  wireBasemaps(ctx, bases);
  wireVectorBasemaps(ctx, bases);
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
  wireTiles(ctx);
  const legend = buildLegend(ctx);
  const foldControls = wireControls(ctx, legend);
  const sheet = wireSheet(ctx);
  on(ctx, "select", () => sheet.showFeature());
  wireDraw(ctx, sheet);
  wireMeasure(ctx);
  const labels = wireLabels(ctx);
  wireLinks(ctx);
  scheduleLinks(ctx);

  const started = performance.now();
  const initialLoads = visibleIds(ctx).map((id) => load(ctx, id));
  planview.whenReady = Promise.all(initialLoads).then(() => {
    planview.ready = true;
    mark("pv-ready");
    planview.readyAt = performance.now();
    planview.loadMs = planview.readyAt - started;
    foldControls();
    document.documentElement.setAttribute("data-planview-ready", "1");
    document.dispatchEvent(new CustomEvent("planview:ready"));
  });
  // Plan clauses for features, search of places and plan text, ?feature=layer/id.
  planview.focusedFromUrl = wirePlanText(ctx, planview.whenReady);
  planview.focus = (id, fid) => focusFeature(ctx, id, fid);
  // The side panel's table waits until the map is drawn: the map comes first.
  planview.indicatorsLoaded = planview.whenReady.then(() => loadIndicators(cfg));

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
