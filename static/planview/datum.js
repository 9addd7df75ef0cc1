// datum.js — owns the GCJ-02 offset on the client: when a GCJ-02 basemap (Amap) is active the
// WGS84 layers are drawn shifted onto it (the same published formula as geo/datum.py).

const A = 6378245.0; // Krasovsky 1940 semi-major axis used by the GCJ-02 formula
const EE = 0.006693421622965943;

function outsideChina(lon, lat) {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function tLat(x, y) {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return r;
}

function tLon(x, y) {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return r;
}

/** WGS84 lon/lat -> GCJ-02 lon/lat ([lon, lat]). */
export function wgs84ToGcj02(lon, lat) {
  if (outsideChina(lon, lat)) return [lon, lat];
  const rad = (lat / 180.0) * Math.PI;
  const magic = 1 - EE * Math.sin(rad) * Math.sin(rad);
  const sq = Math.sqrt(magic);
  const dlat = (tLat(lon - 105.0, lat - 35.0) * 180.0) / (((A * (1 - EE)) / (magic * sq)) * Math.PI);
  const dlon = (tLon(lon - 105.0, lat - 35.0) * 180.0) / ((A / sq) * Math.cos(rad) * Math.PI);
  return [lon + dlon, lat + dlat];
}

/** GCJ-02 lon/lat -> WGS84 (fixed-point iteration; the offset field is smooth). */
export function gcj02ToWgs84(lon, lat) {
  let x = lon, y = lat;
  for (let i = 0; i < 6; i++) {
    const g = wgs84ToGcj02(x, y);
    x += lon - g[0];
    y += lat - g[1];
  }
  return [x, y];
}
