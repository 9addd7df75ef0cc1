// sheet.js — owns the phone layout's bottom sheet: on screens ≤ 480 px the side panel (same
// content) rests as a peek bar under the full-screen map and opens half or full; a selected
// feature opens it to half so its details show.

const PHONE_PX = 480;
const NEXT = { peek: "half", half: "full", full: "peek" };

export function isPhone() {
  return window.innerWidth <= PHONE_PX;
}

export function wireSheet(ctx) {
  const panel = document.getElementById("pv-panel");
  const handle = document.getElementById("pv-sheet-handle");
  if (!panel || !handle) return { set: () => {} };
  function set(state) {
    panel.setAttribute("data-sheet", state);
    handle.setAttribute("aria-expanded", String(state !== "peek"));
    if (state === "peek") panel.scrollTop = 0;
  }
  handle.addEventListener("click", () => set(NEXT[panel.getAttribute("data-sheet")] || "half"));
  // A tap on the map (not on a feature) lowers the sheet so the map is usable again.
  ctx.map.on("click", () => { if (isPhone() && panel.getAttribute("data-sheet") !== "peek") set("peek"); });
  // Swipe down on the handle closes, up opens.
  let startY = null;
  handle.addEventListener("touchstart", (e) => { startY = e.touches[0].clientY; }, { passive: true });
  handle.addEventListener("touchend", (e) => {
    if (startY === null) return;
    const dy = e.changedTouches[0].clientY - startY;
    startY = null;
    const cur = panel.getAttribute("data-sheet");
    if (dy > 40) set(cur === "full" ? "half" : "peek");
    else if (dy < -40) set(cur === "peek" ? "half" : "full");
  });
  return {
    set,
    /** Show the selected feature's details: half-open, scrolled to them. */
    showFeature() {
      if (!isPhone()) return;
      if (panel.getAttribute("data-sheet") === "peek") set("half");
      const sec = document.getElementById("pv-feature");
      if (sec) panel.scrollTop = sec.offsetTop - handle.offsetHeight;
    }
  };
}
