"""The catalogue: required layers, provenance on every feature, strict joins, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import shapely
import yaml

from geo.crs import areas_m2
from geo.errors import DataError, JoinError
from layers.catalogue import Catalogue, load_layer
from layers.check import check_all
from layers.citations import plan_text
from server.cli import main as cli_main
from server.settings import ROOT

PLANS = ROOT / "data" / "plans"
REQUIRED = [
    "cq-counties", "cq-regions", "cq-innovation-zones", "cq-high-tech-zones",
    "yy-xiaojiang-science-city", "yy-high-tech-zone", "yy-wankaiyun-corridor", "yy-agri-park", "yy-projects",
]


def test_required_layers_load(catalogue: Catalogue) -> None:
    assert catalogue.failed == {}
    assert set(REQUIRED) <= set(catalogue.layers)


def test_repository_catalogue_passes_check() -> None:
    assert check_all(ROOT / "data", ROOT / "data" / "build", PLANS) == []


@pytest.mark.parametrize("layer_id", REQUIRED)
def test_every_feature_has_provenance(catalogue: Catalogue, layer_id: str) -> None:
    layer = catalogue.get(layer_id)
    for row in layer.properties():
        assert row["precision"] in ("official", "schematic")
        file_name = row["source"].split()[0]
        assert row["quote"] in plan_text(PLANS, file_name), row["quote"]
        if row["precision"] == "schematic":
            assert row["placement_basis"]
            assert row["uncertainty_m"] > 0


def test_regions_are_the_three_groups_of_one_area_two_clusters(catalogue: Catalogue) -> None:
    regions = catalogue.get("cq-regions").features
    assert len(regions) == 3
    assert any("渝东北" in r for r in regions["region"])


def test_schematics_lie_in_their_county(catalogue: Catalogue) -> None:
    yunyang = catalogue.get("cq-counties").features.set_index("adcode").geometry["500235"]
    for layer_id in ("yy-xiaojiang-science-city", "yy-high-tech-zone", "yy-agri-park"):
        for geom in catalogue.get(layer_id).features.geometry:
            assert yunyang.buffer(1e-6).contains(geom), layer_id


def test_xiaojiang_science_city_is_sized_as_the_plan_says(catalogue: Catalogue) -> None:
    feats = catalogue.get("yy-xiaojiang-science-city").features
    whole = feats[feats["name"].str.contains("小江科创城")]
    assert len(whole) >= 1
    km2 = areas_m2(whole.geometry)[0] / 1e6
    assert 9.0 < km2 < 11.0, km2


def test_jinfeng_is_100_km2(catalogue: Catalogue) -> None:
    feats = catalogue.get("cq-innovation-zones").features
    jinfeng = feats[feats["name"].str.contains("金凤")]
    assert len(jinfeng) == 1
    assert 95 < areas_m2(jinfeng.geometry)[0] / 1e6 < 105


def test_indicator_tables_have_all_rows(catalogue: Catalogue) -> None:
    assert len(catalogue.indicator_table("chongqing")["indicators"]) == 13
    assert len(catalogue.indicator_table("yunyang")["indicators"]) == 8


def test_unknown_figures_stay_unknown(catalogue: Catalogue) -> None:
    """The Yunyang draft prints some figures as "XX": they must be null, not numbers."""
    rows = catalogue.indicator_table("yunyang")["indicators"]
    text = plan_text(PLANS, "yunyang-sti-plan-2021-2025.txt")
    if "XX" in text:
        assert any(r.get("value_2020") is None or r.get("target_2025") is None for r in rows)


# ---------------------------------------------------------------- broken data


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of two real layers (one derived, one schematic) to break in tests."""
    for layer_id in ("cq-counties", "yy-high-tech-zone"):
        shutil.copytree(ROOT / "data" / "layers" / layer_id, tmp_path / "layers" / layer_id)
    (tmp_path / "indicators").mkdir()
    (tmp_path / "maps").mkdir()
    for table in ("yunyang", "chongqing"):
        shutil.copy(ROOT / "data" / "indicators" / f"{table}.yaml", tmp_path / "indicators")
    shutil.copytree(ROOT / "data" / "build", tmp_path / "build")
    shutil.copytree(ROOT / "data" / "gazetteer", tmp_path / "gazetteer")
    return tmp_path


def _edit_yaml(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(edit(data), allow_unicode=True), encoding="utf-8")


def test_copied_data_is_clean(data_dir: Path) -> None:
    assert check_all(data_dir, data_dir / "build", PLANS) == []


def test_broken_manifest_names_file_and_field(data_dir: Path) -> None:
    path = data_dir / "layers" / "yy-high-tech-zone" / "manifest.yaml"
    _edit_yaml(path, lambda m: {**m, "precision": "approximate"})
    with pytest.raises(DataError) as err:
        load_layer(path, data_dir, data_dir / "build")
    assert "manifest.yaml" in err.value.message and "precision" in err.value.message


def test_join_reports_unmatched_keys_on_both_sides(data_dir: Path) -> None:
    attrs = data_dir / "layers" / "cq-counties" / "attributes.yaml"
    _edit_yaml(attrs, lambda rows: [r for r in rows if r["adcode"] != "500235"]
               + [{**rows[0], "adcode": "509999", "key": "509999"}])
    with pytest.raises(JoinError) as err:
        load_layer(attrs.parent / "manifest.yaml", data_dir, data_dir / "build")
    assert "500235" in err.value.message and "509999" in err.value.message


def test_invalid_geometry_is_reported(data_dir: Path) -> None:
    layer_dir = data_dir / "layers" / "yy-high-tech-zone"
    feats = json.loads((data_dir / "build" / "yy-high-tech-zone.geojson").read_text(encoding="utf-8"))
    bowtie = shapely.Polygon([(108.70, 30.95), (108.72, 30.97), (108.72, 30.95), (108.70, 30.97)])
    feats["features"][0]["geometry"] = json.loads(shapely.to_geojson(bowtie))
    (layer_dir / "features.geojson").write_text(json.dumps(feats), encoding="utf-8")
    _edit_yaml(layer_dir / "manifest.yaml", lambda m: {**m, "geometry": {"file": "features.geojson"}})
    problems = check_all(data_dir, data_dir / "build", PLANS)
    assert any("invalid" in p and "yy-high-tech-zone" in p for p in problems)


def test_broken_layer_does_not_break_the_catalogue(data_dir: Path) -> None:
    (data_dir / "layers" / "yy-high-tech-zone" / "attributes.yaml").write_text("{not: [valid", encoding="utf-8")
    cat = Catalogue.load(data_dir, data_dir / "build")
    assert "cq-counties" in cat.layers
    assert "yy-high-tech-zone" in cat.failed and "attributes.yaml" in cat.failed["yy-high-tech-zone"]


def test_misquoted_plan_sentence_is_caught(data_dir: Path) -> None:
    attrs = data_dir / "layers" / "yy-high-tech-zone" / "attributes.yaml"
    _edit_yaml(attrs, lambda rows: [{**rows[0], "quote": "这句话规划里没有。"}] + rows[1:])
    problems = check_all(data_dir, data_dir / "build", PLANS)
    assert any("quote not found" in p for p in problems)


def test_cli_check_exits_nonzero_with_a_list(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PLANVIEW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PLANVIEW_BUILD_DIR", str(data_dir / "build"))
    assert cli_main(["layers", "check"]) == 0
    attrs = data_dir / "layers" / "cq-counties" / "attributes.yaml"
    _edit_yaml(attrs, lambda rows: rows[1:])
    assert cli_main(["layers", "check"]) == 1
    assert "PROBLEM" in capsys.readouterr().out


def test_corridor_covers_all_its_nodes(catalogue: Catalogue) -> None:
    """The plan lists the 万开云 corridor's nodes; the schematic band must pass through each of them."""
    layer = catalogue.get("yy-wankaiyun-corridor")
    feats = layer.features
    band = feats[feats["kind"] == "走廊"].geometry
    assert len(band) == 1
    nodes = feats[feats["kind"] != "走廊"]
    assert len(nodes) >= 6
    outside = [name for name, geom in zip(nodes["name"], nodes.geometry, strict=True) if not band.iloc[0].covers(geom)]
    assert outside == []


def test_layer_roles_decide_what_is_a_plan_zone(catalogue: Catalogue) -> None:
    """Only ``plan`` layers are zones for the overlay; base and reference layers are context."""
    from layers.workspaces.service import county_layer, is_base_layer

    roles = {layer_id: layer.manifest.role for layer_id, layer in catalogue.layers.items()}
    assert roles["cq-counties"] == roles["cq-regions"] == "base"
    assert roles["yy-townships"] == "reference"
    assert set(REQUIRED) - {"cq-counties", "cq-regions"} <= {k for k, v in roles.items() if v == "plan"}
    assert is_base_layer(catalogue.get("yy-townships")) and not is_base_layer(catalogue.get("yy-projects"))
    chosen = county_layer(catalogue)
    assert chosen is not None and chosen.id == "cq-counties"


def test_township_seats_are_cited_gazetteer_points_in_yunyang(catalogue: Catalogue) -> None:
    from layers.gazetteer import load_gazetteer

    gazetteer = load_gazetteer(ROOT / "data" / "gazetteer" / "geonames-chongqing.tsv")
    towns = catalogue.get("yy-townships").features
    yunyang = catalogue.get("cq-counties").features.set_index("adcode").geometry["500235"]
    assert len(towns) >= 30 and {"双江街道", "黄石镇", "高阳镇"} <= set(towns["name"])
    for gid, geom, source in zip(towns["geonameid"], towns.geometry, towns["source"], strict=True):
        assert yunyang.contains(geom)
        assert (geom.x, geom.y) == (gazetteer[gid].lon, gazetteer[gid].lat)
        assert "GeoNames" in source and "CC BY" in source


def test_reference_features_need_a_dataset_source(data_dir: Path) -> None:
    shutil.copytree(ROOT / "data" / "layers" / "yy-townships", data_dir / "layers" / "yy-townships")
    assert check_all(data_dir, data_dir / "build", PLANS) == []
    _edit_yaml(data_dir / "layers" / "yy-townships" / "attributes.yaml",
               lambda rows: [{**rows[0], "source": ""}] + rows[1:])
    assert any("dataset 'source'" in p for p in check_all(data_dir, data_dir / "build", PLANS))
