"""Replacing a schematic with an authoritative boundary keeps attributes and history."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import yaml

from geo.crs import gk_zone_epsg
from geo.errors import InvalidInput, JoinError
from layers.catalogue import load_layer
from layers.replace import replace_geometry
from server.settings import ROOT


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    for layer_id in ("cq-counties", "yy-high-tech-zone"):
        shutil.copytree(ROOT / "data" / "layers" / layer_id, tmp_path / "layers" / layer_id)
    shutil.copytree(ROOT / "data" / "build", tmp_path / "build")
    return tmp_path


def _official_file(data_dir: Path, tmp_path: Path, key_field: str = "BH") -> Path:
    """A county-GIS style Shapefile in CGCS2000 GK zone 36 (no prefix), keyed by its own field."""
    layer = load_layer(data_dir / "layers" / "yy-high-tech-zone" / "manifest.yaml", data_dir, data_dir / "build")
    gdf = layer.features[[layer.manifest.key, "geometry"]].rename(columns={layer.manifest.key: key_field})
    gdf["geometry"] = gdf.geometry.buffer(0.001)
    out = tmp_path / "official.shp"
    gpd.GeoDataFrame(gdf, crs=4326).to_crs(gk_zone_epsg(108.7)).to_file(out, engine="pyogrio")
    return out


def test_replace_marks_official_and_keeps_attributes(data_dir: Path, tmp_path: Path) -> None:
    before = load_layer(data_dir / "layers" / "yy-high-tech-zone" / "manifest.yaml", data_dir, data_dir / "build")
    src = _official_file(data_dir, tmp_path)
    summary = replace_geometry(data_dir, data_dir / "build", "yy-high-tech-zone", src, key="BH")
    assert "official.shp" in summary
    after = load_layer(data_dir / "layers" / "yy-high-tech-zone" / "manifest.yaml", data_dir, data_dir / "build")
    assert set(after.features["precision"]) == {"official"}
    assert after.manifest.precision == "official" and "sha256" in after.manifest.geometry_source
    assert list(after.features["name"]) == list(before.features["name"])
    assert after.features.total_bounds[0] == pytest.approx(before.features.total_bounds[0] - 0.001, abs=1e-4)
    versions = list((data_dir / "layers" / "yy-high-tech-zone" / "versions").iterdir())
    assert len(versions) == 1
    old = yaml.safe_load((versions[0] / "manifest.yaml").read_text(encoding="utf-8"))
    assert old["precision"] == "schematic"
    assert (versions[0] / "geometry.geojson").exists()


def test_replace_refuses_unmatched_keys(data_dir: Path, tmp_path: Path) -> None:
    src = _official_file(data_dir, tmp_path)
    gdf = gpd.read_file(src)
    gdf["BH"] = "nope"
    gdf.to_file(src)
    with pytest.raises(JoinError):
        replace_geometry(data_dir, data_dir / "build", "yy-high-tech-zone", src, key="BH")
    assert not (data_dir / "layers" / "yy-high-tech-zone" / "versions").exists()


def test_replace_needs_the_key_field(data_dir: Path, tmp_path: Path) -> None:
    src = _official_file(data_dir, tmp_path)
    with pytest.raises(InvalidInput, match="BH"):
        replace_geometry(data_dir, data_dir / "build", "yy-high-tech-zone", src, key="MISSING")
