// state.js — owns the page's shared state: one record per layer (config, Leaflet group, pane,
// loaded data) in draw order, and the questions every module asks of it (which layers are on).

/** The state shared by the modules of one map page. */
export function createState(map, cfg, groups, layerControl) {
  const ctx = {
    map, cfg, layerControl,
    layers: {}, // id -> layer state
    order: [], // ids, draw order (low first)
    popup: L.popup({ maxWidth: 380, maxHeight: 400, autoPanPadding: [24, 24], className: "pv-popup" }),
    selected: null, // {id, fid}
    listeners: {} // name -> [fn]: modules announce changes (layer data set, visibility) to others
  };
  cfg.layers.forEach((lc, i) => {
    const pane = map.createPane("pv-" + lc.id);
    pane.style.zIndex = String(410 + i);
    pane.className += " pv-pane";
    ctx.layers[lc.id] = {
      cfg: lc, group: groups[lc.id], pane: "pv-" + lc.id, geo: null, data: null,
      zoom: -1, bbox: null, cache: {}, cacheKeys: [], seq: 0, failed: false, loading: null
    };
    ctx.order.push(lc.id);
  });
  return ctx;
}

export function on(ctx, name, fn) {
  (ctx.listeners[name] = ctx.listeners[name] || []).push(fn);
}

export function emit(ctx, name, arg) {
  (ctx.listeners[name] || []).forEach((fn) => fn(arg));
}

export function visibleIds(ctx) {
  return ctx.order.filter((id) => ctx.map.hasLayer(ctx.layers[id].group));
}

export function idOfGroup(ctx, group) {
  for (let i = 0; i < ctx.order.length; i++) if (ctx.layers[ctx.order[i]].group === group) return ctx.order[i];
  return null;
}

/** The view as [west, south, east, north], clamped to the world. */
export function clampedBounds(map) {
  const bb = map.getBounds();
  return [Math.max(-180, bb.getWest()), Math.max(-90, bb.getSouth()),
    Math.min(180, bb.getEast()), Math.min(90, bb.getNorth())];
}
