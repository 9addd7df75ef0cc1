// widgets.js — owns two small map controls: full screen (the Fullscreen API, or the map filling the window
// where a browser cannot put an element full screen, as on iPhones) and the pointer's coordinates (经纬度,
// in the data's CGCS2000/WGS84 also over a GCJ-02 basemap). Made with the map, from no extra file: the
// Leaflet.fullscreen and Leaflet.MousePosition plugins cost the first view four requests.

const ICON_CLASS = "leaflet-control-zoom-fullscreen fullscreen-icon";

/** The 全屏 button, in the zoom buttons' bar (where the plugin put it), toggling the map's container. */
function wireFullscreen(map) {
  const zoom = map.zoomControl && map.zoomControl.getContainer();
  if (!zoom) return;
  const el = map.getContainer();
  const link = L.DomUtil.create("a", ICON_CLASS, zoom);
  link.href = "#";
  link.setAttribute("role", "button");
  const native = () => document.fullscreenElement === el;
  const pseudo = () => el.classList.contains("leaflet-pseudo-fullscreen");
  function label() {
    const on = native() || pseudo();
    link.classList.toggle("leaflet-fullscreen-on", on);
    link.title = on ? "退出全屏" : "全屏";
    link.setAttribute("aria-label", link.title);
    link.setAttribute("aria-pressed", String(on));
  }
  /** After entering or leaving full screen: the map's size changed. */
  function show() {
    label();
    map.invalidateSize();
  }
  L.DomEvent.on(link, "click", (e) => {
    L.DomEvent.stop(e);
    if (native()) document.exitFullscreen();
    else if (pseudo()) { el.classList.remove("leaflet-pseudo-fullscreen"); show(); }
    else if (document.fullscreenEnabled && el.requestFullscreen) el.requestFullscreen().catch(() => {
      el.classList.add("leaflet-pseudo-fullscreen");
      show();
    });
    else { el.classList.add("leaflet-pseudo-fullscreen"); show(); }
  });
  document.addEventListener("fullscreenchange", show);
  label(); // not show(): measuring the map's size here would lay the page out before its layers are drawn
}

/** 经纬度 of the pointer, bottom right, nearest the corner. */
function wirePosition(ctx) {
  const { map } = ctx;
  const Position = L.Control.extend({
    options: { position: "bottomright" },
    onAdd() {
      const div = L.DomUtil.create("div", "leaflet-control-mouseposition");
      div.textContent = "经度, 纬度";
      return div;
    }
  });
  const control = new Position().addTo(map);
  const div = control.getContainer();
  map.on("mousemove", (e) => {
    const ll = ctx.toData ? ctx.toData(e.latlng) : e.latlng;
    div.textContent = "经纬度 " + L.Util.formatNum(ll.lng, 5) + ", " + L.Util.formatNum(ll.lat, 5);
  });
  map.on("mouseout", () => { div.textContent = "经度, 纬度"; });
}

export function wireWidgets(ctx) {
  wireFullscreen(ctx.map);
  wirePosition(ctx);
}
