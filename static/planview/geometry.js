// geometry.js — owns point-in-polygon tests (GeoJSON in lon/lat for "what else is here"; projected rings).

/** Even-odd test of (x, y) against every ring of one polygon, [x, y] pairs in any planar or lon/lat units:
 * inside the exterior and outside its holes. */
export function ringsContain(rings, x, y) {
  let inside = false;
  rings.forEach((ring) => {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
  });
  return inside;
}

function polygonContains(rings, x, y) {
  return rings.length > 0 && ringsContain(rings, x, y);
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
