"""The pages' fallback Chinese web font: what each subset covers, and how it is served."""

from __future__ import annotations

import io
import re
from pathlib import Path

from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont

from geo.webfont import gb2312_characters, is_cjk, text_characters, text_folders, unicode_range
from server.settings import ROOT


def test_gb2312_is_complete() -> None:
    chars = gb2312_characters()
    assert len(chars) == 7445  # 6,763 hanzi and 682 symbols
    assert {"云", "阳", "渝", "綦", "璧", "，", "。"} <= chars


def test_text_is_collected_from_data_and_code_but_not_vendored_files(tmp_path: Path) -> None:
    (tmp_path / "data" / "layers").mkdir(parents=True)
    (tmp_path / "data" / "layers" / "a.geojson").write_text('{"name": "𬌗齁 Zone"}', encoding="utf-8")
    (tmp_path / "data" / "layers" / "b.gpkg").write_bytes(b"\x00binary")
    (tmp_path / "static" / "vendor").mkdir(parents=True)
    (tmp_path / "static" / "vendor" / "lib.js").write_text("// 鬱", encoding="utf-8")
    (tmp_path / "static" / "app.js").write_text('t = "鼹";', encoding="utf-8")
    # a CJK character of each; the astral one is outside the ranges, the vendored file is not planview's text
    assert text_characters(text_folders(tmp_path / "data", tmp_path)) == {"齁", "鼹"}


def test_unicode_range_joins_runs() -> None:
    assert unicode_range("一丁七万") == "U+4E00-4E01,U+4E03,U+4E07"


def _ranges(css: str) -> list[tuple[str, set[int]]]:
    out = []
    for url, ranges in re.findall(r'src: url\("([^"]+)"\).*?unicode-range: ([^;]+);', css, re.S):
        codes: set[int] = set()
        for part in ranges.split(","):
            lo, _, hi = part.strip().removeprefix("U+").partition("-")
            codes |= set(range(int(lo, 16), int(hi or lo, 16) + 1))
        out.append((url, codes))
    return out


def test_a_map_page_needs_only_the_small_subset_and_both_are_served(client: TestClient) -> None:
    css = client.get("/fonts/cjk.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/fonts/cjk.css", headers={"if-none-match": css.headers["etag"]}).status_code == 304
    (rest_url, rest), (common_url, common) = _ranges(css.text)  # the browser tries the last rule first
    page = client.get("/maps/yunyang").text + client.get("/api/layers/yy-sites?zoom=10").text
    assert {ord(c) for c in page if is_cjk(c)} <= common, "a map page's text needs the large subset"
    assert not (rest & common) and {ord(c) for c in gb2312_characters() if is_cjk(c)} <= rest | common
    names = {ord(c) for c in text_characters(text_folders(ROOT / "data", ROOT))}
    for url, declared, limit in ((common_url, common, 400_000), (rest_url, rest, 1_000_000)):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "font/woff2" and len(r.content) < limit
        assert "immutable" in r.headers["cache-control"] and "content-encoding" not in r.headers
        cmap = TTFont(io.BytesIO(r.content)).getBestCmap()
        assert declared <= set(cmap), f"{url} lacks characters its unicode-range promises"
    assert names <= common
    assert client.get("/fonts/other.woff2").status_code == 404
    assert client.get("/fonts/..%2Fsecret").status_code == 404
