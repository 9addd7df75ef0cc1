// controls.js — owns the layout of the map's own controls: the layer control and the legend are
// collapsible, collapsed by default on narrow screens, and after the first view is drawn moved to the
// other side of the map, or folded, whenever they would cover part of the plan there.

import { ringsContain } from "./geometry.js";

const NARROW_PX = 800;

function setLayersCollapsed(container, collapsed) {
  container.classList.toggle("pv-collapsed", collapsed);
  const state = container.querySelector(".pv-ctl-toggle span:last-child");
  if (state) state.textContent = collapsed ? "展开" : "收起";
  const btn = container.querySelector(".pv-ctl-toggle");
  if (btn) btn.setAttribute("aria-expanded", String(!collapsed));
}

/** Each drawn vector layer (path or marker) under `layer`, however deeply grouped. */
function eachPath(layer, fn) {
  if (layer.eachLayer) layer.eachLayer((child) => eachPath(child, fn));
  else fn(layer);
}

/** Does one drawn feature meet the pixel box `box` (layer points)? Exact on Leaflet's projected rings, so
 * a small zone under a large control is found, not just one a sampling grid happens to hit. */
function meets(layer, box) {
  if (layer._pxBounds && !layer._pxBounds.intersects(box)) return false; // most features: one bounds test
  if (layer._parts && layer._parts.length) {
    for (const ring of layer._parts) {
      for (let i = 1; i < ring.length; i++) {
        if (L.LineUtil.clipSegment(ring[i - 1], ring[i], box, false, false)) return true;
      }
      if (layer.options.fill && ring.length > 1 && L.LineUtil.clipSegment(ring[ring.length - 1], ring[0], box, false, false)) return true;
    }
    const c = box.getCenter();
    return !!layer.options.fill && ringsContain(layer._parts.map((ring) => ring.map((p) => [p.x, p.y])), c.x, c.y);
  }
  if (layer._point && layer._radius !== undefined) {  // circle markers: the disc against the box
    const r = layer._radius + (layer.options.weight || 0);
    return box.intersects(L.bounds(layer._point.subtract([r, r]), layer._point.add([r, r])));
  }
  return false;
}

/** Do drawn features of the plan's own layers `ids` lie under `el`? */
function coversFeatures(ctx, el, ids) {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height) return false;
  const { map } = ctx;
  const origin = map.getContainer().getBoundingClientRect();
  const box = L.bounds(map.containerPointToLayerPoint([r.left - origin.left, r.top - origin.top]),
                       map.containerPointToLayerPoint([r.right - origin.left, r.bottom - origin.top]));
  return ids.some((id) => {
    const st = ctx.layers[id];
    if (!st || !map.hasLayer(st.group)) return false;
    let hit = false;
    eachPath(st.group, (layer) => { if (!hit && layer.options && layer.options.interactive !== false) hit = meets(layer, box); });
    return hit;
  });
}

/** Give the layer control a 图层 toggle; returns a function that folds controls covering the plan. */
export function wireControls(ctx, legend) {
  const ctl = ctx.layerControl && ctx.layerControl.getContainer ? ctx.layerControl.getContainer() : null;
  const narrow = window.innerWidth <= NARROW_PX;
  if (ctl) {
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "pv-ctl-toggle";
    const a = document.createElement("span");
    a.textContent = "图层";
    const b = document.createElement("span");
    btn.append(a, b);
    btn.addEventListener("click", (e) => {
      e.preventDefault();
      setLayersCollapsed(ctl, !ctl.classList.contains("pv-collapsed"));
    });
    ctl.insertBefore(btn, ctl.firstChild);
    setLayersCollapsed(ctl, narrow);
  }
  if (narrow) legend.setCollapsed(true);
  /** After the first view is drawn: fold whatever still hides part of the plan. */
  const planIds = ctx.cfg.layers.filter((lc) => lc.role === "plan").map((lc) => lc.id);
  /** Move `el` (a control's container) to the map's other corner `other` if that clears the plan, else put
   * it back and fold it. The element itself is moved (Leaflet's setPosition would rebuild the control). */
  function clearThePlan(el, other, fold) {
    if (!el || !coversFeatures(ctx, el, planIds)) return;
    const home = el.parentNode, next = el.nextSibling;
    const corner = ctx.map._controlCorners[other];
    if (other.indexOf("bottom") === 0) corner.insertBefore(el, corner.firstChild);
    else corner.appendChild(el);
    if (!coversFeatures(ctx, el, planIds)) return;
    home.insertBefore(el, next);
    fold();
  }
  return function foldIfCovering() {
    if (ctl && !ctl.classList.contains("pv-collapsed")) {
      clearThePlan(ctl, "topleft", () => setLayersCollapsed(ctl, true));
    }
    const lg = document.querySelector(".pv-legend");
    if (lg && !lg.classList.contains("pv-collapsed")) {
      clearThePlan(lg, "bottomleft", () => legend.setCollapsed(true));
    }
  };
}
