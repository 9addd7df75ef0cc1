"""The overlay analysis: membership, overlap areas, nearest zones, corridor, industries — measured, not guessed."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.crs import LONLAT
from geo.overlay import (
    M2_PER_MU,
    ZoneIndex,
    ZoneLayer,
    analyse,
    as_list,
    boundary_pieces,
    industry_match,
    project,
)
from layers.catalogue import Catalogue
from layers.workspaces.service import county_layer, is_base_layer, overlay_context

# Synthetic zones near Yunyang's Xiaojiang (lon/lat): an official square park, a schematic ellipse,
# a corridor band and a project point.
PARK = shapely.Polygon([(108.70, 30.94), (108.73, 30.94), (108.73, 30.97), (108.70, 30.97)])
ELLIPSE = shapely.Point(108.80, 30.90).buffer(0.01, quad_segs=64)
CORRIDOR = shapely.LineString([(108.40, 30.80), (108.70, 30.95)]).buffer(0.01)
PROJECT = shapely.Point(108.715, 30.955)


def _zones() -> list[ZoneLayer]:
    parks = gpd.GeoDataFrame(
        {"key": ["park", "ell"], "name": ["东区园", "示意园"], "precision": ["official", "schematic"],
         "kind": ["园区", "园区"], "industries": [["生物医药", "电子信息"], []],
         "positioning": ["打造生物医药高地", "装备制造基地"]},
        geometry=[PARK, ELLIPSE], crs=LONLAT)
    corridor = gpd.GeoDataFrame(
        {"key": ["c", "p"], "name": ["万开云科创走廊", "重点项目"], "precision": ["schematic", "schematic"],
         "kind": ["走廊", "项目"], "role": ["以长江和小江为纽带", None]},
        geometry=[CORRIDOR, PROJECT], crs=LONLAT)
    return [ZoneLayer("parks", "园区", parks), ZoneLayer("corridor", "走廊", corridor)]


@pytest.fixture(scope="module")
def index(catalogue: Catalogue) -> ZoneIndex:
    counties = county_layer(catalogue)
    assert counties is not None
    feats = counties.features.assign(key=counties.features[counties.manifest.key])
    return ZoneIndex.build(_zones(), feats)


def _sites(*geoms: shapely.Geometry, industry: str | None = None) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({"site_no": np.arange(1, n + 1), "name": [f"s{i}" for i in range(n)],
                             "industry": [industry] * n}, geometry=list(geoms), crs=LONLAT)


def _in_4545(geom: shapely.Geometry) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=LONLAT).to_crs(4545).iloc[0]


def test_straddling_polygon_overlap_in_hectares_and_mu(index: ZoneIndex) -> None:
    site = shapely.Polygon([(108.725, 30.95), (108.735, 30.95), (108.735, 30.96), (108.725, 30.96)])
    rep = analyse(_sites(site, industry="生物医药产业"), index).site_reports(_sites(site, industry="生物医药产业"))[0]
    area_4545 = _in_4545(site).area
    assert rep["area_m2"] == pytest.approx(area_4545, rel=1e-3)
    park = next(z for z in rep["zones"] if z["key"] == "park")
    expected = _in_4545(site.intersection(PARK)).area
    assert park["overlap_m2"] == pytest.approx(expected, rel=1e-3)
    assert park["overlap_mu"] == pytest.approx(park["overlap_m2"] / M2_PER_MU, rel=1e-4)
    assert park["overlap_ha"] == pytest.approx(park["overlap_m2"] / 1e4, rel=1e-4)
    assert park["share"] == pytest.approx(0.5, abs=0.01)
    assert park["industry_match"] is True and park["schematic"] is False
    assert rep["county"]["name"] == "云阳县" and rep["county"]["group"] == "渝东北三峡库区城镇群"
    assert rep["nearest"] is None


def test_contained_site_uses_the_containment_shortcut_and_full_share(index: ZoneIndex) -> None:
    site = shapely.Point(108.71, 30.945).buffer(0.002)
    rep = analyse(_sites(site), index).site_reports(_sites(site))[0]
    park = next(z for z in rep["zones"] if z["key"] == "park")
    assert park["share"] == 1.0 and park["overlap_m2"] == pytest.approx(rep["area_m2"])


def test_area_agrees_with_epsg4545_within_a_tenth_of_a_percent(index: ZoneIndex) -> None:
    rng = np.random.default_rng(7)
    sites = [shapely.Point(lon, lat).buffer(0.005 + 0.01 * rng.random(), quad_segs=8)
             for lon, lat in rng.uniform([106.6, 28.5], [109.4, 31.9], (25, 2))]
    result = analyse(_sites(*sites), index)
    truth = gpd.GeoSeries(sites, crs=LONLAT).to_crs(4545).area.to_numpy()
    assert np.max(np.abs(result.area_m2 / truth - 1)) < 1e-3


def test_outside_every_zone_gets_the_exact_nearest_zone(index: ZoneIndex) -> None:
    far_point = shapely.Point(108.60, 31.10)
    far_poly = shapely.Point(108.85, 30.80).buffer(0.003)
    sites = _sites(far_point, far_poly)
    result = analyse(sites, index)
    reps = result.site_reports(sites)
    polygons = index.zone_geoms[index.zones["polygonal"].to_numpy().astype(bool)]
    for i, geom in enumerate(project(np.asarray(sites.geometry.values))):
        brute = shapely.distance(polygons, geom)
        assert reps[i]["zones"] == [] and reps[i]["nearest"] is not None
        assert result.nearest_m[i] == pytest.approx(brute.min(), rel=1e-9)
    # against GK zone 36 (CM 108E) the distance agrees within 0.1 %
    nearest_ell = _in_4545(far_poly).distance(_in_4545(ELLIPSE))
    assert reps[1]["nearest"]["name"] == "示意园" and reps[1]["nearest"]["schematic"] is True
    assert reps[1]["nearest"]["distance_m"] == pytest.approx(nearest_ell, rel=1e-3)
    assert any("示意" in f for f in reps[1]["flags"])


def test_corridor_membership_and_point_zone_inside_site(index: ZoneIndex) -> None:
    on_corridor = shapely.Point(108.55, 30.875)
    around_project = shapely.Point(108.715, 30.955).buffer(0.001)
    sites = _sites(on_corridor, around_project)
    reps = analyse(sites, index).site_reports(sites)
    assert reps[0]["in_corridor"] is True and reps[0]["corridors"] == ["万开云科创走廊"]
    assert any("示意" in f for f in reps[0]["flags"])
    keys = {z["key"] for z in reps[1]["zones"]}
    assert {"park", "p"} <= keys
    project_hit = next(z for z in reps[1]["zones"] if z["key"] == "p")
    assert project_hit["overlap_m2"] is None


def test_industry_mismatch_is_flagged(index: ZoneIndex) -> None:
    site = shapely.Point(108.71, 30.945).buffer(0.002)
    sites = _sites(site, industry="汽车零部件")
    rep = analyse(sites, index).site_reports(sites)[0]
    park = next(z for z in rep["zones"] if z["key"] == "park")
    assert park["industry_match"] is False and park["industries"] == ["生物医药", "电子信息"]
    assert any("不符" in f and "东区园" in f for f in rep["flags"])


def test_site_outside_chongqing_has_no_county(index: ZoneIndex) -> None:
    sites = _sites(shapely.Point(116.4, 39.9))
    rep = analyse(sites, index).site_reports(sites)[0]
    assert rep["county"] is None and any("不在重庆市" in f for f in rep["flags"])


@pytest.mark.parametrize(("declared", "industries", "positioning", "expected"), [
    ("生物医药", ["生物医药", "电子信息"], None, True),
    ("新能源汽车零部件", ["汽车", "摩托车"], None, True),
    ("biomedicine", ["生物医药"], None, True),
    ("汽车", ["生物医药", "电子信息"], None, False),
    ("汽车", [], "智能网联汽车创新高地", True),
    ("汽车", [], "打造生态康养高地", None),
    (None, ["汽车"], None, None),
    ("", ["汽车"], None, None),
    ("装备", [], None, None),
])
def test_industry_match(declared: str | None, industries: list[str], positioning: str | None,
                        expected: bool | None) -> None:
    assert industry_match(declared, industries, positioning) is expected


def test_as_list_reads_lists_and_delimited_text() -> None:
    assert as_list(["a", " b ", None]) == ["a", "b"]
    assert as_list("汽车、电子信息，新材料") == ["汽车", "电子信息", "新材料"]
    assert as_list(float("nan")) == [] and as_list(None) == []


def test_boundary_pieces_give_exact_distances() -> None:
    rng = np.random.default_rng(1)
    poly = project(np.array([shapely.Point(108.7, 30.9).buffer(0.05, quad_segs=200)]))
    pieces, owner = boundary_pieces(poly, chunk=16)
    assert (owner == 0).all() and shapely.get_num_coordinates(pieces).max() <= 16
    pts = shapely.points(rng.uniform(*np.array(poly[0].bounds).reshape(2, 2) * [[0.999], [1.001]], (200, 2)))
    outside = ~shapely.contains(poly[0], pts)
    d_poly = shapely.distance(poly[0], pts[outside])
    d_pieces = np.array([shapely.distance(pieces, p).min() for p in pts[outside]])
    assert np.allclose(d_poly, d_pieces)


def test_catalogue_context_uses_manifests_not_ids(catalogue: Catalogue) -> None:
    context = overlay_context(catalogue)
    base = {lid for lid, layer in catalogue.layers.items() if is_base_layer(layer)}
    assert {"cq-counties", "cq-regions", "cq-municipality"} <= base
    assert not base & set(context.zone_layers)
    assert set(context.zone_layers) == set(catalogue.layers) - base
    assert context.county_layer == "cq-counties" and context.area is not None
    assert overlay_context(catalogue) is context  # built once per catalogue version


def test_real_catalogue_yunyang_point(catalogue: Catalogue) -> None:
    context = overlay_context(catalogue)
    sites = _sites(shapely.Point(108.70, 30.95))
    rep = analyse(sites, context.index).site_reports(sites)[0]
    assert rep["county"]["name"] == "云阳县"
    assert rep["zones"] or rep["nearest"]


def test_host_placements_are_not_zones_a_site_falls_in(catalogue: Catalogue) -> None:
    """渝北 hosts 两江新区 (drawn as the three host districts) and many sites placed only at a seat: a site in
    渝北 is in the district, not in those places, and none of them is its nearest zone (#9)."""
    context = overlay_context(catalogue)
    host_keys = set(catalogue.get("cq-sites").features.query("precision == 'host'")["key"])
    assert "cq-liangjiang-xinqu" in host_keys
    yubei = shapely.Point(106.63, 29.72).buffer(0.05)  # a large parcel in 渝北, around the airport
    sites = _sites(yubei)
    rep = analyse(sites, context.index).site_reports(sites)[0]
    assert rep["county"]["name"] == "渝北区"
    assert not [z for z in rep["zones"] if z["precision"] == "host" or z["key"] in host_keys], rep["zones"]
    assert rep["nearest"] is None or rep["nearest"]["key"] not in host_keys
    assert not (context.index.zones["precision"] == "host").any()
