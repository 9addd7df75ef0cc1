"""Schematic placements that cite a GeoNames point lie within their stated uncertainty of it."""

from __future__ import annotations

import pytest
from shapely.affinity import translate

from layers.catalogue import Catalogue, Layer
from layers.check import anchor_problems
from layers.gazetteer import cited_ids, load_gazetteer
from server.settings import ROOT

GAZETTEER = load_gazetteer(ROOT / "data" / "gazetteer" / "geonames-chongqing.tsv")


def test_gazetteer_has_yunyang_townships() -> None:
    names = {n for place in GAZETTEER.values() for n in place.name_zh}
    assert {"双江街道", "黄石镇", "高阳镇", "普安乡", "清水土家族乡"} <= names
    seat = GAZETTEER["1794681"]
    assert (seat.lat, seat.lon) == pytest.approx((30.92624, 108.71044))


def test_schematics_cite_gazetteer_points(catalogue: Catalogue) -> None:
    cited = [gid for layer in catalogue.layers.values() if "placement_basis" in layer.features
             for basis in layer.features["placement_basis"] for gid in cited_ids(basis if isinstance(basis, str) else None)]
    assert len(cited) >= 10


def test_every_cited_point_is_within_the_stated_uncertainty(catalogue: Catalogue) -> None:
    problems = [p for layer in catalogue.layers.values() for p in anchor_problems(layer, GAZETTEER)]
    assert problems == []


def test_a_feature_moved_away_from_its_anchor_is_caught(catalogue: Catalogue) -> None:
    layer = catalogue.get("yy-projects")
    cited = layer.features[layer.features["placement_basis"].map(lambda b: bool(cited_ids(b)))]
    assert len(cited) >= 1
    moved = cited.copy()
    moved["geometry"] = moved.geometry.map(lambda g: translate(g, xoff=0.3))  # ~29 km east
    problems = anchor_problems(Layer(manifest=layer.manifest, features=moved, version="moved"), GAZETTEER)
    flagged = {p.split("'")[1] for p in problems}
    assert flagged == set(moved[layer.manifest.key])
