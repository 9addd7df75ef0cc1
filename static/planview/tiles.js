// tiles.js — owns the large layers drawn from vector tiles (/tiles/{layer}/{z}/{x}/{y}.mvt) with the
// vendored Leaflet.VectorGrid (npm leaflet.vectorgrid 1.3.0, loaded by map.html only on maps that
// have such layers). Tiles carry only what drawing needs (class, label); a click fetches the feature's
// attributes by id from /api/layers/{layer}/features/{id} and hands it to the panel ("featureclick"),
// so popups and the side panel work as for every other layer.
import { addNotice } from "./notices.js";
import { emit } from "./state.js";
import { styleFor } from "./style.js";

function tileStyle(lc, props) {
  const s = styleFor(lc, props || {}, "Polygon");
  // a generalised overview (grid cells merged per class) has no real boundaries: fill only, no outline
  const generalised = Boolean(props && props.pv_generalised);
  return { fill: true, fillColor: s.fillColor, fillOpacity: s.fillOpacity, color: s.color,
    weight: generalised ? 0 : Math.min(s.weight, 1), opacity: generalised ? 0 : s.opacity };
}

/** What a click on a feature without id says: a generalised overview or a dense tile merged per class. */
function mergedText(props) {
  const n = Number(props.pv_count);
  if (props.pv_generalised) {
    const z = Number(props.pv_zoom);
    return "概化显示：此处约 " + n + " 个图斑（按类别归并的概略图，非精确边界），放大至 "
      + (z > 0 ? z : 14) + " 级查看单个图斑";
  }
  return "此处 " + n + " 个要素按类别合并显示，请放大后点选单个要素";
}

function attach(ctx, st) {
  const lc = st.cfg;
  const styles = {};
  styles[lc.id] = (props) => tileStyle(lc, props);
  const layer = L.vectorGrid.protobuf(lc.tiles, {
    pane: st.pane,
    interactive: true,
    // SVG tiles: VectorGrid's canvas renderer does not report clicks on features
    rendererFactory: L.svg.tile,
    vectorTileLayerStyles: styles,
    maxNativeZoom: 18,
    // keep the tile's feature id with its properties: the click handler needs it
    getFeatureId: (f) => { if (f.properties) f.properties.__fid = f.id; return f.id; }
  });
  let selectedId = null;
  layer.on("click", (e) => {
    const props = e.layer && e.layer.properties ? e.layer.properties : {};
    const fid = props.__fid;
    if (fid === undefined || fid === null) {
      // a dense tile merges its features per class, and below the detail zoom a dense layer is drawn as its
      // generalised overview (pv_count features each): say so instead of doing nothing
      if (props.pv_count) {
        L.DomEvent.stop(e);
        L.popup().setLatLng(e.latlng)
          .setContent(mergedText(props))
          .openOn(ctx.map);
      }
      return;
    }
    L.DomEvent.stop(e);
    const latlng = e.latlng;
    fetch(lc.feature_url + encodeURIComponent(fid), { headers: { Accept: "application/geo+json" } })
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then((feature) => {
        if (selectedId !== null) layer.resetFeatureStyle(selectedId);
        selectedId = feature.id;
        layer.setFeatureStyle(feature.id, Object.assign(tileStyle(lc, feature.properties), { weight: 3, color: "#ffeb3b" }));
        emit(ctx, "featureclick", { id: lc.id, feature, latlng });
      })
      .catch((err) => addNotice(lc.id, "图层「" + lc.title + "」要素 " + fid + " 读取失败：" + err.message));
  });
  st.group.addLayer(layer);
  st.tiles = layer;
  return layer;
}

/** Draw every tiled layer of the page into its (Folium-made) group. */
export function wireTiles(ctx) {
  const planview = window.planview;
  planview.tiles = planview.tiles || {};
  ctx.order.forEach((id) => {
    const st = ctx.layers[id];
    if (!st.cfg.tiles) return;
    if (!window.L || !L.vectorGrid) {
      addNotice(id, "图层「" + st.cfg.title + "」需要矢量瓦片组件，未能加载");
      return;
    }
    planview.tiles[id] = attach(ctx, st);
  });
}
