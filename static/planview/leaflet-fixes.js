// leaflet-fixes.js — owns small patches to Leaflet itself, applied before the map is created.

// The layer control is always expanded on our pages and CSS caps its height
// (.leaflet-control-layers-expanded { max-height: 45vh }), so expanding need not
// measure the map (Leaflet's expand() forces a synchronous layout on page load).
if (window.L && L.Control && L.Control.Layers) {
  L.Control.Layers.include({
    expand: function () {
      L.DomUtil.addClass(this._container, "leaflet-control-layers-expanded");
      this._checkDisabledLayers();
      return this;
    }
  });
}
