"""``POST /api/overlay/check``: a drawn or typed site is checked like an upload, at once, and not saved."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from pyproj import Transformer

GEO = {"content-type": "application/geo+json"}
SQUARE = [[[108.70, 30.95], [108.71, 30.95], [108.71, 30.96], [108.70, 30.96], [108.70, 30.95]]]


def _fc(geometry: dict[str, object]) -> bytes:
    return json.dumps({"type": "FeatureCollection",
                       "features": [{"type": "Feature", "properties": {}, "geometry": geometry}]}).encode()


def _workspaces(client: TestClient) -> int:
    return len(client.get("/api/overlay").json()["workspaces"])


def test_point_line_polygon_are_checked_and_not_saved(client: TestClient) -> None:
    before = _workspaces(client)
    polygon = client.post("/api/overlay/check", content=_fc({"type": "Polygon", "coordinates": SQUARE}), headers=GEO)
    assert polygon.status_code == 200, polygon.text
    rep = polygon.json()
    site = rep["sites"][0]
    assert rep["saved"] is False and site["county"]["name"] == "云阳县" and site["county"]["group"]
    assert site["area_ha"] > 100 and site["area_mu"] > site["area_ha"] * 14.9
    assert "nearest" in site and "in_corridor" in site and "zones" in site
    assert rep["geojson"]["features"][0]["geometry"]["type"] == "Polygon"
    for zone in site["zones"]:
        assert zone["overlap_ha"] is not None and 0 < zone["share"] <= 1
    point = client.post("/api/overlay/check", content=_fc({"type": "Point", "coordinates": [108.38, 30.81]}),
                        headers=GEO).json()
    assert point["sites"][0]["county"]["name"] and point["sites"][0]["area_ha"] in (0, None)
    line = client.post("/api/overlay/check", headers=GEO,
                       content=_fc({"type": "LineString", "coordinates": [[108.70, 30.95], [108.80, 30.95]]})).json()
    assert line["sites"][0]["length_m"] > 5_000 and line["sites"][0]["county"]["name"] == "云阳县"
    assert _workspaces(client) == before  # nothing saved


def test_typed_gauss_kruger_gives_the_same_county_as_lonlat(client: TestClient) -> None:
    lonlat = client.post("/api/overlay/check", json={"system": "lonlat", "geometry": "point",
                                                     "coordinates": [["108.70", "30.95"]]})
    assert lonlat.status_code == 200, lonlat.text
    # surveyors write X (northing) first, then Y (easting)
    e, n = Transformer.from_crs("EPSG:4490", "EPSG:4545", always_xy=True).transform(108.70, 30.95)
    gk = client.post("/api/overlay/check", json={"system": "gk108", "geometry": "point", "coordinates": [[n, e]]})
    assert gk.status_code == 200, gk.text
    ez, nz = Transformer.from_crs("EPSG:4490", "EPSG:4525", always_xy=True).transform(108.70, 30.95)  # zone 37
    zoned = client.post("/api/overlay/check", json={"system": "gk-zone", "geometry": "point", "coordinates": [[nz, ez]]})
    assert zoned.status_code == 200, zoned.text
    names = {r.json()["sites"][0]["county"]["name"] for r in (lonlat, gk, zoned)}
    assert names == {"云阳县"}
    x, y = gk.json()["geojson"]["features"][0]["geometry"]["coordinates"]
    assert abs(x - 108.70) < 1e-6 and abs(y - 30.95) < 1e-6  # converted on the server, back to lon/lat
    poly = client.post("/api/overlay/check", json={
        "system": "lonlat", "geometry": "polygon", "coordinates": [[108.70, 30.95], [108.71, 30.95], [108.71, 30.96]]})
    assert poly.status_code == 200 and poly.json()["sites"][0]["area_ha"] > 50


def test_bad_input_is_a_clear_4xx(client: TestClient) -> None:
    cases = [
        (b"", GEO),
        (b"{not json", {"content-type": "application/json"}),
        (b'{"type": "Nope"}', GEO),
        (json.dumps({"system": "utm", "coordinates": [[1, 2]]}).encode(), {"content-type": "application/json"}),
        (json.dumps({"system": "lonlat", "geometry": "polygon", "coordinates": [[1, 2]]}).encode(),
         {"content-type": "application/json"}),
        (json.dumps({"system": "lonlat", "coordinates": [["东", 2]]}).encode(), {"content-type": "application/json"}),
        (json.dumps({"system": "gk-zone", "coordinates": [[3425641, 566888]]}).encode(),
         {"content-type": "application/json"}),
        (b"a,b\n1,2\n", {"content-type": "text/csv"}),
    ]
    for body, headers in cases:
        r = client.post("/api/overlay/check", content=body, headers=headers)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert " / " in r.json()["message"], r.text  # Chinese / English
    huge = _fc({"type": "LineString", "coordinates": [[108.7 + i * 1e-6, 30.9] for i in range(60_000)]})
    assert len(huge) > 1024 * 1024
    assert client.post("/api/overlay/check", content=huge, headers=GEO).status_code == 413
    many = _fc({"type": "LineString", "coordinates": [[108.7 + i * 1e-6, 30.9] for i in range(25_000)]})
    assert 400 <= client.post("/api/overlay/check", content=many, headers=GEO).status_code < 500


def test_rights(anon_client: TestClient, client_as: Callable[..., TestClient]) -> None:
    body = _fc({"type": "Polygon", "coordinates": SQUARE})
    assert anon_client.post("/api/overlay/check", content=body, headers=GEO).status_code == 401
    viewer = client_as("vera", "viewer")
    assert viewer.post("/api/overlay/check", content=body, headers=GEO).status_code == 200
    assert viewer.post("/api/overlay", content=body, headers=GEO).status_code == 403
