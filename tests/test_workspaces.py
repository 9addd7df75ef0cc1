"""The workspace store on a real GeoPackage and a real PostGIS: round trip, concurrency, crash safety.

PostGIS tests need ``PLANVIEW_TEST_DATABASE_URL`` (``.ci/run`` starts PostgreSQL and sets it); each run
works in its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyogrio
import pytest
import shapely

from geo.errors import NotFound, StorageError
from layers.catalogue import Catalogue
from layers.workspaces import Reader, Workspace, WorkspaceStore, open_store
from layers.workspaces.gpkg import GeoPackageStore, decode_geometry, encode_geometry
from layers.workspaces.service import analyse_upload, create_workspace
from server.settings import ROOT

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
NO_POSTGIS = "PLANVIEW_TEST_DATABASE_URL is not set (.ci/run starts PostgreSQL+PostGIS and sets it)"

CSV = ("名称,经度,纬度,行业\n"
       "云阳东区,108.70,30.95,生物医药\n"
       "万州项目,108.38,30.81,汽车\n"
       "北京,116.4,39.9,\n").encode("gbk")
POLYGONS = ('{"type":"FeatureCollection","features":['
            '{"type":"Feature","properties":{"name":"甲"},"geometry":{"type":"Polygon","coordinates":'
            '[[[108.70,30.95],[108.71,30.95],[108.71,30.96],[108.70,30.96],[108.70,30.95]]]}},'
            '{"type":"Feature","properties":{"name":"乙"},"geometry":{"type":"Point","coordinates":[108.4,30.8]}}'
            "]}").encode()


@pytest.fixture(scope="module")
def postgis_schema() -> Iterator[str]:
    if not DB_URL:
        pytest.skip(NO_POSTGIS)
    import psycopg

    schema = f"pv_test_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> WorkspaceStore:
    if request.param == "gpkg":
        return open_store(gpkg_path=tmp_path / "ws.gpkg")
    schema = request.getfixturevalue("postgis_schema")
    return open_store(database_url=DB_URL, schema=schema)


def _workspace(catalogue: Catalogue, data: bytes = CSV, name: str = "sites.csv") -> Workspace:
    return analyse_upload(data, name, catalogue)


def test_round_trip(store: WorkspaceStore, catalogue: Catalogue) -> None:
    ws = _workspace(catalogue, POLYGONS, "sites.geojson")
    assert store.save(ws) == ws.id
    back = store.get(ws.id)
    assert back.id == ws.id and back.filename == "sites.geojson" and back.sha256 == ws.sha256
    assert back.created == ws.created and back.crs == ws.crs and back.report == ws.report
    assert list(back.sites["name"]) == ["甲", "乙"] and str(back.sites.crs) == "EPSG:4326"
    assert all(a.equals_exact(b, 1e-12) for a, b in zip(back.sites.geometry, ws.sites.geometry, strict=True))
    assert ws.id in [s.id for s in store.list()]
    store.delete(ws.id)
    assert ws.id not in [s.id for s in store.list()]
    with pytest.raises(NotFound):
        store.get(ws.id)
    with pytest.raises(NotFound):
        store.delete(ws.id)


def test_bad_ids_are_not_found(store: WorkspaceStore) -> None:
    for bad in ("../../etc/passwd", "x' OR '1'='1", "", "0" * 31):
        with pytest.raises(NotFound):
            store.get(bad)


def test_twenty_parallel_uploads_lose_nothing(store: WorkspaceStore, catalogue: Catalogue) -> None:
    def upload(i: int) -> str:
        data = CSV.replace("云阳东区".encode("gbk"), f"云阳东区{i}".encode("gbk"))
        return create_workspace(store, data, f"sites-{i}.csv", catalogue).id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(upload, range(20)))
    assert len(set(ids)) == 20
    listed = {s.id: s for s in store.list()}
    assert set(ids) <= set(listed)
    for i, ws_id in enumerate(ids):
        ws = store.get(ws_id)
        assert ws.filename == f"sites-{i}.csv" and ws.sites.loc[0, "name"] == f"云阳东区{i}"
        assert len(ws.sites) == 3 and listed[ws_id].site_count == 3


def test_failure_mid_write_leaves_nothing(store: WorkspaceStore, catalogue: Catalogue,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _workspace(catalogue)
    method = "_site_records" if isinstance(store, GeoPackageStore) else "_copy_rows"
    original = getattr(type(store), method)

    def exploding(self: object, workspace: Workspace) -> Iterator[tuple[object, ...]]:
        for i, row in enumerate(original(self, workspace)):
            if i == 2:
                raise RuntimeError("disk unplugged")
            yield row

    monkeypatch.setattr(type(store), method, exploding)
    with pytest.raises((RuntimeError, StorageError)):
        store.save(ws)
    monkeypatch.undo()
    assert ws.id not in [s.id for s in store.list()]
    with pytest.raises(NotFound):
        store.get(ws.id)
    _assert_no_site_rows(store, ws.id)
    store.save(ws)  # the same workspace saves cleanly afterwards
    assert len(store.get(ws.id).sites) == 3


def _assert_no_site_rows(store: WorkspaceStore, ws_id: str) -> None:
    if isinstance(store, GeoPackageStore):
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT count(*) FROM sites WHERE workspace_id = ?", (ws_id,)).fetchone()[0] == 0
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    else:
        import psycopg

        with psycopg.connect(store.url) as conn:  # type: ignore[attr-defined]
            n = conn.execute(f'SELECT count(*) FROM "{store.schema}".planview_sites WHERE workspace_id = %s',  # type: ignore[attr-defined]
                             (ws_id,)).fetchone()
            assert n is not None and n[0] == 0


CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from layers.catalogue import Catalogue
    from layers.workspaces import open_store
    from layers.workspaces.gpkg import GeoPackageStore
    from layers.workspaces.postgis import PostgisStore
    from layers.workspaces.service import analyse_upload
    store = open_store(gpkg_path={gpkg!r}, database_url={url!r}, schema={schema!r})
    cat = Catalogue.load(Path({root!r}) / "data", Path({root!r}) / "data" / "build")
    ws = analyse_upload({data!r}, "crash.csv", cat)
    cls = type(store)
    method = "_site_records" if cls is GeoPackageStore else "_copy_rows"
    original = getattr(cls, method)
    def dying(self, workspace):
        for i, row in enumerate(original(self, workspace)):
            if i == 2:
                print(ws.id, flush=True)
                os._exit(17)  # the process dies mid-transaction: no cleanup, no rollback call
            yield row
    setattr(cls, method, dying)
    store.save(ws)
""")


def test_process_crash_mid_write_leaves_no_half_workspace(store: WorkspaceStore, tmp_path: Path) -> None:
    is_gpkg = isinstance(store, GeoPackageStore)
    script = CRASH.format(root=str(ROOT), data=CSV, gpkg=str(store.path) if is_gpkg else None,  # type: ignore[attr-defined]
                          url=None if is_gpkg else store.url, schema=None if is_gpkg else store.schema)  # type: ignore[attr-defined]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr
    ws_id = proc.stdout.strip()
    assert len(ws_id) == 32
    reopened = open_store(gpkg_path=store.path) if is_gpkg else store  # type: ignore[attr-defined]
    assert ws_id not in [s.id for s in reopened.list()]
    with pytest.raises(NotFound):
        reopened.get(ws_id)
    _assert_no_site_rows(reopened, ws_id)


def test_geopackage_is_real(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "ws.gpkg"
    store = open_store(gpkg_path=path)
    ws = _workspace(catalogue, POLYGONS, "sites.geojson")
    store.save(ws)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2 for older clients
        assert conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name='sites'").fetchone()[0] == "features"
    layers = dict(pyogrio.list_layers(path))
    assert "sites" in layers and layers["workspaces"] is None
    info = pyogrio.read_info(path, layer="sites")
    assert info["crs"] == "EPSG:4326" and info["features"] == 2
    gdf = pyogrio.read_dataframe(path, layer="sites")
    assert list(gdf["name"]) == ["甲", "乙"] and set(gdf["workspace_id"]) == {ws.id}
    assert gdf.geometry.iloc[0].equals_exact(ws.sites.geometry.iloc[0], 1e-12)
    assert gdf.loc[0, "county"] == "云阳县"
    table = pyogrio.read_dataframe(path, layer="workspaces", read_geometry=False)
    assert list(table["filename"]) == ["sites.geojson"] and list(table["sha256"]) == [ws.sha256]


def test_geometry_blob_round_trip() -> None:
    geoms = shapely.from_wkt(["POINT (108.7 30.9)", "POLYGON ((0 0, 1 0, 1 1, 0 0))",
                              "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))"])
    blobs = encode_geometry(geoms)
    assert all(b[:2] == b"GP" and b[3] == 0b11 for b in blobs)
    assert all(decode_geometry(b).equals(g) for b, g in zip(blobs, geoms, strict=True))
    with pytest.raises(StorageError):
        decode_geometry(b"XX")


def test_owners_shares_and_readers(store: WorkspaceStore, catalogue: Catalogue) -> None:
    mine = create_workspace(store, CSV, "mine.csv", catalogue, owner="li")
    theirs = create_workspace(store, CSV, "theirs.csv", catalogue, owner="wang")
    legacy = create_workspace(store, CSV, "legacy.csv", catalogue)  # from before accounts: no owner
    li, wang, zhao = Reader("li"), Reader("wang"), Reader("zhao")
    ours = {mine.id, theirs.id, legacy.id}

    def visible(reader: Reader) -> set[str]:
        return {s.id for s in store.list(reader)} & ours

    assert visible(li) == {mine.id} and visible(wang) == {theirs.id} and visible(zhao) == set()
    assert visible(Reader("boss", see_all=True)) == ours
    store.share(mine.id, ["zhao", "zhao"])
    assert visible(zhao) == {mine.id} and store.get(mine.id).shared_with == ("zhao",)
    access = store.access(mine.id)
    assert access.can_read(zhao) and not access.can_change(zhao) and access.can_change(li)
    assert not access.can_read(wang)
    store.share(mine.id, ["*"])
    assert mine.id in visible(wang) and store.access(mine.id).can_read(wang)
    assert [s.shared_with for s in store.list(li) if s.id == mine.id] == [("*",)]
    store.share(mine.id, [])
    assert visible(wang) == {theirs.id}
    with pytest.raises(NotFound):
        store.share("0" * 32, ["zhao"])
    assert store.claim_unowned("admin") >= 1
    assert store.access(legacy.id).owner == "admin" and store.get(theirs.id).owner == "wang"
    store.delete(mine.id)
    with pytest.raises(NotFound):
        store.access(mine.id)
