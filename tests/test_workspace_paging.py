"""Workspace lists are paginated in SQL and saving respects a storage quota (#8), on GeoPackage and PostGIS."""

from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support import signed_in
from tests_support_settings import settings_for

from geo.errors import QuotaExceeded
from layers.catalogue import Catalogue
from layers.workspaces import Workspace, WorkspaceStore, new_workspace_id, open_store
from layers.workspaces.gpkg import GeoPackageStore
from layers.workspaces.service import analyse_upload
from server.app import create_app

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
CSV = "名称,经度,纬度\n甲,108.70,30.95\n乙,108.38,30.81\n".encode()
GEOJSON = (b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},'
           b'"geometry":{"type":"Point","coordinates":[108.7,30.95]}}]}')


@pytest.fixture(scope="module")
def template(catalogue: Catalogue) -> Workspace:
    return analyse_upload(CSV, "sites.csv", catalogue)


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkspaceStore]:
    if request.param == "gpkg":
        yield open_store(gpkg_path=tmp_path / "ws.gpkg")
        return
    if not DB_URL:
        pytest.skip("PLANVIEW_TEST_DATABASE_URL is not set")
    import psycopg

    schema = f"pv_test_{uuid.uuid4().hex[:10]}"
    yield open_store(database_url=DB_URL, schema=schema)
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _copies(template: Workspace, n: int) -> list[Workspace]:
    """n workspaces, each a minute newer than the one before (ids new, content the same)."""
    return [dataclasses.replace(template, id=new_workspace_id(), created=template.created + timedelta(minutes=i),
                                filename=f"site-{i:03d}.csv") for i in range(n)]


def test_120_workspaces_page_newest_first(store: WorkspaceStore, template: Workspace) -> None:
    saved = _copies(template, 120)
    for ws in saved:
        store.save(ws)
    assert store.count() == 120
    newest_first = [ws.id for ws in reversed(saved)]
    pages = [store.list(limit=50, offset=o) for o in (0, 50, 100)]
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [s.id for p in pages for s in p] == newest_first
    assert store.list(limit=50, offset=500) == []
    assert [s.id for s in store.list()] == newest_first  # unpaged still works


def test_gpkg_pages_in_sql_not_in_python(tmp_path: Path, template: Workspace) -> None:
    store = open_store(gpkg_path=tmp_path / "ws.gpkg")
    assert isinstance(store, GeoPackageStore)
    for ws in _copies(template, 30):
        store.save(ws)
    seen: list[str] = []
    original = sqlite3.connect

    def tracing(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = original(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(seen.append)
        return conn

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sqlite3, "connect", tracing)
        assert len(store.list(limit=10, offset=5)) == 10
    assert any("LIMIT" in q and "OFFSET" in q for q in seen)


def test_quota_refuses_a_save_that_would_pass_it(store: WorkspaceStore, template: Workspace) -> None:
    first, second = _copies(template, 2)
    store.save(first, quota_bytes=10 * 2**20)
    used = store.usage_bytes()
    assert used > 0
    with pytest.raises(QuotaExceeded) as info:
        store.save(second, quota_bytes=used + 10)
    assert "删除" in info.value.message and "delete" in info.value.message
    assert store.count() == 1  # nothing half-written
    store.save(second, quota_bytes=3 * used)
    assert store.count() == 2


def test_api_pages_with_total_and_next_link(tmp_path: Path, template: Workspace) -> None:
    settings = settings_for(tmp_path)
    store = open_store(gpkg_path=settings.workspace_gpkg)
    for ws in _copies(template, 120):
        store.save(ws)
    with signed_in(create_app(settings), "chief", "admin") as client:  # admins see every workspace
        first = client.get("/api/overlay").json()
        assert first["total"] == 120 and first["limit"] == 50 and len(first["workspaces"]) == 50
        assert first["links"]["next"] == "/api/overlay?limit=50&offset=50" and "prev" not in first["links"]
        ids = [w["id"] for w in first["workspaces"]]
        link: str | None = first["links"]["next"]
        while link:
            page = client.get(link).json()
            ids += [w["id"] for w in page["workspaces"]]
            link = page["links"].get("next")
        assert len(ids) == len(set(ids)) == 120
        assert len(client.get("/api/overlay?limit=500").json()["workspaces"]) == 120
        for bad in ("limit=0", "limit=501", "offset=-1", "limit=x"):
            r = client.get(f"/api/overlay?{bad}")
            assert r.status_code == 400, bad
        page = client.get("/overlay")
        assert page.status_code == 200
        assert len(re.findall(r'href="/overlay/[0-9a-f]{32}"', page.text)) == 50
        assert 'href="/overlay?page=2"' in page.text and 'href="/overlay?page=3"' in page.text
        last = client.get("/overlay?page=3").text
        assert len(re.findall(r'href="/overlay/[0-9a-f]{32}"', last)) == 20
        assert 'rel="prev"' in last and 'rel="next"' not in last


def test_api_quota_answers_507_saying_what_to_delete(tmp_path: Path) -> None:
    with signed_in(create_app(settings_for(tmp_path))) as client:
        first = client.post("/api/overlay", files={"file": ("a.geojson", GEOJSON)})
        assert first.status_code == 201, first.text
    one = open_store(gpkg_path=settings_for(tmp_path).workspace_gpkg).usage_bytes("planner")
    settings = settings_for(tmp_path, quota_mb=2.5 * one / 2**20)  # room for two such uploads, not three
    with signed_in(create_app(settings)) as client:
        refused = None
        for _ in range(3):
            r = client.post("/api/overlay", files={"file": ("a.geojson", GEOJSON)})
            if r.status_code != 201:
                refused = r
                break
        assert refused is not None and refused.status_code == 507
        body = refused.json()
        assert body["error"] == "quota_exceeded" and "删除" in body["message"] and "delete" in body["message"]
        total = client.get("/api/overlay").json()["total"]
        assert client.post("/overlay", files={"file": ("a.geojson", GEOJSON)}).status_code == 507
        assert client.get("/api/overlay").json()["total"] == total
    with signed_in(create_app(settings), "wang") as other:  # the quota is per owner: another planner has room
        assert other.post("/api/overlay", files={"file": ("a.geojson", GEOJSON)}).status_code == 201
