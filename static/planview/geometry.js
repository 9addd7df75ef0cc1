// geometry.js — owns point-in-polygon tests on GeoJSON in lon/lat (for "what else is here").

function ringContains(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function polygonContains(rings, x, y) {
  if (!rings.length || !ringContains(rings[0], x, y)) return false;
  for (let k = 1; k < rings.length; k++) if (ringContains(rings[k], x, y)) return false;
  return true;
}

/** Does a GeoJSON (multi)polygon contain lon/lat (x, y)? Lines and points never do. */
export function geometryContains(geom, x, y) {
  if (!geom) return false;
  if (geom.type === "Polygon") return polygonContains(geom.coordinates, x, y);
  if (geom.type === "MultiPolygon") return geom.coordinates.some((p) => polygonContains(p, x, y));
  if (geom.type === "GeometryCollection") return geom.geometries.some((g) => geometryContains(g, x, y));
  return false;
}

/** The first vertex of a (multi)polygon as [lon, lat], or null. */
export function firstVertex(g) {
  const c = g.type === "Polygon" ? g.coordinates[0][0] : g.coordinates[0][0][0];
  return c || null;
}
