"""The pages' fallback Chinese web font: what it covers, and how it is served."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont

from geo.webfont import data_characters, data_folders, gb2312_characters
from server.settings import ROOT


def test_gb2312_is_complete() -> None:
    chars = gb2312_characters()
    assert len(chars) == 7445  # 6,763 hanzi and 682 symbols
    assert {"云", "阳", "渝", "綦", "璧", "，", "。"} <= chars


def test_the_data_names_are_collected(tmp_path: Path) -> None:
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "a.geojson").write_text('{"name": "𬌗齁 Zone"}', encoding="utf-8")
    (tmp_path / "layers" / "b.gpkg").write_bytes(b"\x00binary")
    assert data_characters(data_folders(tmp_path)) == {"齁"}  # a CJK character; the astral one is outside its ranges


def test_the_font_is_served_with_every_name_on_the_maps(client: TestClient) -> None:
    r = client.get("/fonts/cjk.woff2")
    assert r.status_code == 200 and r.headers["content-type"] == "font/woff2"
    assert "content-encoding" not in r.headers  # WOFF2 is compressed already
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    cmap = TTFont(io.BytesIO(r.content)).getBestCmap()
    names = data_characters(data_folders(ROOT / "data"))
    missing = sorted(c for c in names | gb2312_characters() | set("planview 0123456789") if ord(c) not in cmap)
    assert missing == [], f"the web font lacks {''.join(missing[:40])}"
    assert len(r.content) < 1_500_000  # a subset, not the 17 MB variable font
    again = client.get("/fonts/cjk.woff2", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
