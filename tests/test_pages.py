"""Fast page tests (no browser): catalogue, map pages, 404, offline assets, escaping."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import folium
import pytest
import yaml
from fastapi.testclient import TestClient
from support import map_module

from layers.maps import load_maps
from server.app import create_app
from server.mapview.assets import external_urls
from server.mapview.builder import script_json
from server.mapview.frontend import front_end
from server.middleware import script_hash
from server.settings import ROOT, Settings

MAP_IDS = list(load_maps(ROOT / "data"))
HOSTILE_NAME = '<script>alert("name")</script><img src=x onerror=alert(1)>'
HOSTILE_TITLE = '</script><script>alert("title")</script>'
HOSTILE_LABEL = '<img src=x onerror=alert("label")>'


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Like conftest.make_settings: real data unless overridden, private workspace store."""
    return Settings(workspace_gpkg=tmp / "workspaces.gpkg", database_url=None, **overrides)  # type: ignore[arg-type]


def make_hostile_data_dir(tmp: Path) -> Path:
    """A data dir with a copy of cq-counties whose first county, title and labels are hostile,
    a broken layer, and a map listing them plus a layer that does not exist."""
    data = tmp / "data"
    layers = data / "layers"
    src = ROOT / "data" / "layers" / "cq-counties"
    shutil.copytree(src, layers / "cq-counties")
    records = yaml.safe_load((src / "attributes.yaml").read_text(encoding="utf-8"))
    records[0]["name"] = HOSTILE_NAME
    records[0]["quote"] = "“" + HOSTILE_NAME + "”"
    (layers / "cq-counties" / "attributes.yaml").write_text(yaml.safe_dump(records, allow_unicode=True), "utf-8")
    manifest = yaml.safe_load((src / "manifest.yaml").read_text(encoding="utf-8"))
    manifest["title"] = HOSTILE_TITLE
    manifest["popup_fields"]["region"] = HOSTILE_LABEL
    manifest["legend"]["categories"][0]["label"] = HOSTILE_LABEL
    (layers / "cq-counties" / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    (layers / "broken-layer").mkdir()
    (layers / "broken-layer" / "manifest.yaml").write_text("id: broken-layer\ntitle: [unclosed\n", "utf-8")
    (data / "maps").mkdir()
    (data / "maps" / "hostile.yaml").write_text(yaml.safe_dump({
        "id": "hostile", "title": HOSTILE_TITLE + "地图", "plan": "chongqing", "description": HOSTILE_LABEL,
        "bounds": [105.28, 28.16, 110.19, 32.20],
        "layers": [{"id": "cq-counties"}, {"id": "broken-layer"}, {"id": "absent-layer"}],
    }, allow_unicode=True), "utf-8")
    return data


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("hostile")
    settings = make_settings(tmp, data_dir=make_hostile_data_dir(tmp), build_dir=ROOT / "data" / "build")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def boot_config(html: str) -> dict:
    """The JSON config the page hands to static/planview/main.js (a non-executable JSON element)."""
    m = re.search(r'<script type="application/json" id="pv-config">', html)
    assert m, "page carries no config for planview"
    config, _ = json.JSONDecoder().raw_decode(html, m.end())
    return config


def test_catalogue_lists_every_map_with_thumbnail(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert 'lang="zh-CN"' in r.text
    maps = load_maps(ROOT / "data")
    assert {"chongqing", "yunyang", "wankaiyun", "xiaojiang"} <= set(maps)
    for m in maps.values():
        assert f'href="/maps/{m.id}"' in r.text
        assert m.title in r.text and m.description in r.text
        thumb = client.get(f"/maps/{m.id}/thumbnail.svg")
        assert thumb.status_code == 200 and thumb.headers["content-type"].startswith("image/svg+xml")
        assert "<path" in thumb.text or "<circle" in thumb.text
        assert client.get(f"/maps/{m.id}/thumbnail.svg", headers={"if-none-match": thumb.headers["etag"]}
                          ).status_code == 304
    assert not external_urls(r.text) and not re.search(r"https?://", r.text)


@pytest.mark.parametrize("map_id", MAP_IDS)
def test_map_page_is_offline_and_complete(client: TestClient, map_id: str) -> None:
    r = client.get(f"/maps/{map_id}")
    assert r.status_code == 200
    html = r.text
    # No external URL at all: not as an asset, not even in a comment.
    assert not external_urls(html), external_urls(html)
    assert not re.search(r"https?://", html), re.findall(r".{40}https?://.{40}", html)
    # Every asset the page loads is ours and is actually served.
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith("leaflet.js") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    # Two inline scripts, boot.js and Folium's module, and the CSP lets exactly these run (by hash);
    # everything else inline is a JSON data element. No inline event handler.
    inline = re.findall(r"<script( [^>]*)?>(.*?)</script>", html, re.DOTALL)
    code = [(attrs, text) for attrs, text in inline if 'type="application/json"' not in attrs and "src=" not in attrs]
    assert [attrs for attrs, _ in code] == ["", ' type="module"']
    csp = r.headers["content-security-policy"]
    allowed = re.search(r"script-src ([^;]+)", csp)[1].split()  # type: ignore[index]
    assert allowed == ["'self'", *(script_hash(text) for _, text in code)]  # no 'unsafe-inline' for scripts
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    settings = client.app.state.settings  # type: ignore[attr-defined]
    front = front_end(settings.static_dir, settings.js_build_dir)
    assert code[0][1] == front.boot and "planviewBoot" in front.boot
    module = map_module(html)
    assert module.startswith(f'import {{ start }} from "{front.main}";')
    assert f'<link rel="modulepreload" href="{front.main}">' in html
    bundle = client.get(front.main)
    assert bundle.status_code == 200
    if front.built:  # named by its content, so cached for good; a new build is a new name
        assert "immutable" in bundle.headers["cache-control"] and re.search(r"main-\w+\.js$", front.main)
    if os.environ.get("PLANVIEW_REQUIRE_SERVICES") == "1":  # CI builds it (make test): the pages must use it
        assert front.built, "the first-view build is missing or stale: make js"
    config = boot_config(html)
    assert config["map"]["id"] == map_id
    assert '"type":"Feature"' not in html and '"coordinates":' not in html, "geometry must not be embedded"
    for layer in config["layers"]:
        assert layer["url"] == f"/api/layers/{layer['id']}"
    plan = config["map"]["plan"]
    if (ROOT / "data" / "indicators" / f"{plan}.yaml").exists():
        assert config["indicators_url"] == f"/api/indicators/{plan}"
    visible = [layer["id"] for layer in config["layers"] if layer["visible"]]
    export = re.search(r'id="pv-export"[^>]*href="([^"]+)"', html)
    assert export and "导出" in html
    href = export.group(1).replace("&amp;", "&")
    assert href.startswith(f"/api/export?map={map_id}&format=pdf&paper=A4&orientation=landscape&bbox=")
    assert href.endswith("&layers=" + ",".join(visible))


def test_folium_class_assets_are_not_modified(client: TestClient) -> None:
    client.get("/maps/chongqing")
    assert folium.Map.default_js[0][1].startswith("https://")  # per-instance redirect, no global leak


def test_unknown_map_is_a_chinese_404_with_link_home(client: TestClient) -> None:
    r = client.get("/maps/no-such-map", headers={"accept": "text/html"})
    assert r.status_code == 404
    assert "找不到" in r.text and 'href="/"' in r.text
    assert client.get("/maps/no-such-map/thumbnail.svg").status_code == 404


def test_script_json_cannot_close_the_script_element() -> None:
    text = script_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_hostile_text_is_escaped_in_the_html(hostile_client: TestClient) -> None:
    r = hostile_client.get("/maps/hostile")
    assert r.status_code == 200
    html = r.text
    for raw in ("<script>alert", "<img src=x", HOSTILE_TITLE):
        assert raw not in html
    config = boot_config(html)  # the escaped JSON still carries the exact text to planview.js
    counties = config["layers"][0]
    assert counties["title"] == HOSTILE_TITLE
    assert counties["popup_fields"]["region"] == HOSTILE_LABEL
    assert counties["legend"]["categories"][0]["label"] == HOSTILE_LABEL
    # Leaflet's layer control renders names as HTML: the name is HTML-escaped first (in the map's module).
    script = map_module(html)
    assert "\\u0026lt;/script\\u0026gt;" in script and HOSTILE_TITLE not in script
    # Missing and broken layers are named in the notice; the map still renders.
    assert config["indicators_url"] is None  # no indicator tables in this data dir: no request, a note
    unavailable = {u["id"] for u in config["unavailable"]}
    assert unavailable == {"broken-layer", "absent-layer"}
    assert 'data-key="broken-layer"' in html and 'data-key="absent-layer"' in html
    catalogue = hostile_client.get("/")
    assert "<script>alert" not in catalogue.text and "<img src=x" not in catalogue.text
    assert "broken-layer" in catalogue.text


def test_hostile_feature_name_is_served_as_data_not_markup(hostile_client: TestClient) -> None:
    # Popups are built in the browser from /api/layers; the name arrives as a JSON string and
    # planview.js escapes it (tests/test_maps_browser.py checks the rendered popup).
    fc = hostile_client.get("/api/layers/cq-counties", params={"zoom": 6}).json()
    assert HOSTILE_NAME in {f["properties"]["name"] for f in fc["features"]}
    svg = hostile_client.get("/maps/hostile/thumbnail.svg").text
    assert "<script" not in svg and "<img" not in svg


def test_online_basemaps_only_when_configured(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, enable_amap=True, tianditu_token="tok<en>", enable_osm=True)
    with TestClient(create_app(settings)) as c:
        html = c.get("/maps/yunyang").text
    script = map_module(html)  # the tile layers are created by the map's module
    assert "tianditu.gov.cn" in script and "tk=tok%3Cen%3E" in script
    assert "tile.openstreetmap.org" in script and "autonavi.com" in script
    assert "GCJ-02" in html and "500" in html  # the Amap offset warning
    assert not external_urls(html), "tile URLs are not page assets"


def test_boot_layout_matches_the_stylesheet() -> None:
    """static/planview/boot.js sizes the first view from PAGE_LAYOUT before any CSS loads; keep both in step."""
    from server.mapview.builder import PAGE_LAYOUT

    css = (ROOT / "static" / "planview.css").read_text(encoding="utf-8")
    assert f"--pv-header-h: {PAGE_LAYOUT['header_px']}px;" in css
    assert f"--pv-panel-w: {PAGE_LAYOUT['panel_px']}px;" in css
    assert f"@media (max-width: {PAGE_LAYOUT['narrow_px']}px)" in css
    assert f".pv-mapwrap {{ height: {PAGE_LAYOUT['narrow_map_vh']}vh; }}" in css
    assert f"@media (max-width: {PAGE_LAYOUT['phone_px']}px)" in css  # phones: the map fills the screen
    boot = (ROOT / "static" / "planview" / "boot.js").read_text(encoding="utf-8")
    assert "layout.narrow_px" in boot and 'pageData("pv-prefetch")' in boot


def test_catalogue_links_to_the_overlay_page(client: TestClient) -> None:
    html = client.get("/").text
    assert 'href="/overlay"' in html
    assert client.get("/overlay").status_code == 200


def test_map_page_is_the_same_in_every_process(tmp_path: Path) -> None:
    """Every worker builds the same page: Folium's names are derived from the map id, not random, so
    the module's hash in the CSP and the map <div> it looks for agree wherever the page came from."""
    pages = []
    for i in range(2):
        with TestClient(create_app(make_settings(tmp_path / str(i)))) as c:
            r = c.get("/maps/chongqing")
            pages.append((r.text, r.headers["content-security-policy"]))
    assert pages[0] == pages[1]
    div = re.search(r'<div class="folium-map" id="(map_\w+)"', pages[0][0])
    assert div and f'L.map(\n                "{div.group(1)}"' in map_module(pages[0][0])
