/*
 * planview-tiles.js — large layers drawn from vector tiles (/tiles/{layer}/{z}/{x}/{y}.mvt).
 *
 * Loaded only on maps that have such layers, after planview.js and the vendored
 * Leaflet.VectorGrid (npm leaflet.vectorgrid 1.3.0). Tiles carry only what
 * drawing needs (class, label); a click fetches the feature's attributes by id
 * from /api/layers/{layer}/features/{id} and opens the same popup and side
 * panel as every other layer (planview.identify).
 */
(function () {
  "use strict";
  var planview = window.planview;

  function tileStyle(lc, props) {
    var s = planview.styleFor(lc, props || {}, "Polygon");
    return {
      fill: true, fillColor: s.fillColor, fillOpacity: s.fillOpacity,
      color: s.color, weight: Math.min(s.weight, 1), opacity: s.opacity
    };
  }

  planview.tiles = {
    attach: function (map, lc, group, pane) {
      var styles = {};
      styles[lc.id] = function (props) { return tileStyle(lc, props); };
      var layer = L.vectorGrid.protobuf(lc.tiles, {
        pane: pane,
        interactive: true,
        // SVG tiles: VectorGrid's canvas renderer does not report clicks on features
        rendererFactory: L.svg.tile,
        vectorTileLayerStyles: styles,
        maxNativeZoom: 18,
        // keep the tile's feature id with its properties: the click handler needs it
        getFeatureId: function (f) { if (f.properties) f.properties.__fid = f.id; return f.id; }
      });
      var selectedId = null;
      layer.on("click", function (e) {
        var props = (e.layer && e.layer.properties) || {};
        var fid = props.__fid;
        if (fid === undefined || fid === null) return;
        L.DomEvent.stop(e);
        var latlng = e.latlng;
        fetch(lc.feature_url + encodeURIComponent(fid), { headers: { Accept: "application/geo+json" } })
          .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
          .then(function (feature) {
            if (selectedId !== null) layer.resetFeatureStyle(selectedId);
            selectedId = feature.id;
            var st = tileStyle(lc, feature.properties);
            st.weight = 3; st.color = "#ffeb3b";
            layer.setFeatureStyle(feature.id, st);
            planview.identify(lc.id, feature, latlng);
          })
          .catch(function (err) { window.console && console.warn("feature " + fid + ": " + err); });
      });
      group.addLayer(layer);
      planview.tiles.layers = planview.tiles.layers || {};
      planview.tiles.layers[lc.id] = layer;
      return layer;
    }
  };
})();
