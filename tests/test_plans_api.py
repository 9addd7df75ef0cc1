"""HTTP: the reader page, /api/search and /api/mentions."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.testclient import TestClient

from server.mapview.assets import external_urls


def test_reader_page_has_toc_anchors_and_map_links(client: TestClient) -> None:
    r = client.get("/plans/yunyang")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html and external_urls(html) == []
    for anchor in ("第三章", "第三章第一节", "专栏1", "表1", "第十四章第三节"):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html
    assert 'href="/maps/yunyang?feature=yy-projects/longgang"' in html
    assert 'href="/maps/chongqing?feature=cq-innovation-zones/xibu-kexuecheng"' in html
    # both cross-plan disagreements are shown where the clause stands
    cq = client.get("/plans/chongqing").text
    assert "两规划说法不一" in cq and "2.10%" in cq and "2.11%" in cq
    ids = re.findall(r'\sid="([^"]+)"', cq)
    assert len(ids) == len(set(ids)), "element ids are unique"
    assert 'id="专栏26"' in cq and 'href="#专栏27"' in cq
    # 专栏1's run-together rows also appear split into columns (from data/indicators), the verbatim rows folded
    box = cq[cq.index('id="专栏1"'):cq.index('id="第二章"')]
    assert re.search(r"<td>\s*26371\s*</td>", box) and re.search(r"<td>\s*45000\s*</td>", box)
    assert "<th>2025年</th>" in box and 'class="pv-verbatim"' in box and "2.112.6" in box


def test_unknown_plan_is_a_chinese_404(client: TestClient) -> None:
    r = client.get("/plans/<script>", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "<script>" not in r.text


def test_search_api_shape_and_ranking(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": "科学城"})
    assert r.status_code == 200
    body = r.json()
    assert body["q"] == "科学城" and body["count"] == len(body["results"]) > 3
    first = body["results"][0]
    assert first["type"] == "feature" and first["id"] == "xibu-kexuecheng"
    assert set(first) >= {"layer", "id", "name", "plan", "layer_title", "href", "mentions"}
    kinds = {x["type"] for x in body["results"]}
    assert {"feature", "clause"} <= kinds
    clause = next(x for x in body["results"] if x["type"] == "clause")
    assert set(clause) >= {"plan", "anchor", "section", "text", "href"} and "科学城" in clause["text"]
    assert client.get("/api/search", params={"q": "小江", "limit": 3}).json()["count"] == 3
    assert client.get("/api/search").json()["results"] == []


def test_search_api_refuses_bad_input_clearly(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": "长" * 80})
    assert r.status_code in (400, 422)
    assert client.get("/api/search", params={"q": "x", "limit": 0}).status_code in (400, 422)
    hostile = client.get("/api/search", params={"q": "<img src=x onerror=alert(1)>"})
    assert hostile.status_code == 200 and hostile.json()["results"] == []


def test_mentions_api(client: TestClient) -> None:
    r = client.get("/api/mentions/cq-innovation-zones/xibu-kexuecheng")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == len(body["mentions"]) >= 5
    m = body["mentions"][0]
    assert set(m) >= {"plan", "section", "anchor", "text", "href"}
    assert m["href"] == f"/plans/{m['plan']}#{m['anchor']}"
    assert {t["indicator"] for t in body["targets"]} >= {"研发投入强度"}
    assert {x["id"] for x in body["cross_links"]} == {"western-science-city", "paleontology-institute"}
    county = client.get("/api/mentions/cq-counties/500235").json()
    assert county["count"] > 10 and any(t["indicator"] == "农业科技进步贡献率" for t in county["targets"])
    assert client.get("/api/mentions/cq-counties/" + quote("不存在")).status_code == 404
    assert client.get("/api/mentions/no-layer/1").status_code == 404


def test_layer_payload_does_not_carry_mentions(client: TestClient) -> None:
    """The clauses come on demand: the map's first view stays as small as before."""
    fc = client.get("/api/layers/cq-innovation-zones?zoom=8").json()
    assert all("mentions" not in f["properties"] for f in fc["features"])
