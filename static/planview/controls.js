// controls.js — owns the layout of the map's own controls: the layer control and the legend are
// collapsible, collapsed by default on narrow screens, and folded after the first view is drawn
// whenever they would cover part of the plan there.

const NARROW_PX = 800;

function setLayersCollapsed(container, collapsed) {
  container.classList.toggle("pv-collapsed", collapsed);
  const state = container.querySelector(".pv-ctl-toggle span:last-child");
  if (state) state.textContent = collapsed ? "展开" : "收起";
  const btn = container.querySelector(".pv-ctl-toggle");
  if (btn) btn.setAttribute("aria-expanded", String(!collapsed));
}

/** Do drawn features of `ids` (the plan's own layers) lie under `el`? (samples a grid over its box) */
function coversFeatures(el, ids) {
  const classes = ids.map((id) => "pv-layer-" + id);
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height) return false;
  for (let i = 1; i < 6; i++) {
    for (let j = 1; j < 6; j++) {
      const x = r.left + (r.width * i) / 6, y = r.top + (r.height * j) / 6;
      const under = document.elementsFromPoint(x, y);
      if (under.some((e) => e.classList && classes.some((c) => e.classList.contains(c)))) return true;
    }
  }
  return false;
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
  return function foldIfCovering() {
    if (ctl && !ctl.classList.contains("pv-collapsed") && coversFeatures(ctl, planIds)) setLayersCollapsed(ctl, true);
    const lg = document.querySelector(".pv-legend");
    if (lg && !lg.classList.contains("pv-collapsed") && coversFeatures(lg, planIds)) legend.setCollapsed(true);
  };
}
