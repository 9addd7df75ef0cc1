"""More than one process: two ``planview serve`` against one PostGIS see the same layers and workspaces.

Two real server processes on loopback ports, one database. A control layer
imported by a third process (``planview layers import``) appears in both
within a second (the store's generation token); an upload through server A
is read back, with its 合规性审查, through server B.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from support import free_port

from server.settings import ROOT

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:  # noqa: S310 - loopback test server
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serve(tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PLANVIEW_DATABASE_URL": str(DB_URL),
           "PLANVIEW_WORKSPACE_GPKG": str(tmp / f"{name}-ws.gpkg"),
           "PLANVIEW_LAYER_STORE_GPKG": str(tmp / f"{name}-layers.gpkg")}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if _get(url + "/api/layers")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not start")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    if not DB_URL:
        pytest.skip("PLANVIEW_TEST_DATABASE_URL is not set (.ci/run starts PostgreSQL+PostGIS and sets it)")
    a, url_a = _serve(tmp_path, "a")
    b, url_b = _serve(tmp_path, "b")
    try:
        _wait(a, url_a)
        _wait(b, url_b)
        yield url_a, url_b
    finally:
        for p in (a, b):
            p.terminate()
            p.wait(timeout=30)


def test_two_processes_share_layers_and_workspaces(two_servers: tuple[str, str], tmp_path: Path) -> None:
    url_a, url_b = two_servers
    layer_id = f"mp-{uuid.uuid4().hex[:8]}"
    i, j = np.meshgrid(np.arange(10), np.arange(10))
    xs, ys = 108.90 + i.ravel() * 0.001, 30.90 + j.ravel() * 0.001
    gdf = gpd.GeoDataFrame({"DLMC": np.where(i.ravel() < 5, "永久基本农田", "城镇开发边界")},
                           geometry=shapely.box(xs, ys, xs + 0.001, ys + 0.001), crs="EPSG:4326")
    src = tmp_path / "sqsx.gpkg"
    gdf.to_crs("EPSG:4545").to_file(src, driver="GPKG")
    assert layer_id not in _get(url_a + "/api/layers")[1].decode()
    env = {**os.environ, "PLANVIEW_DATABASE_URL": str(DB_URL)}
    done = subprocess.run([sys.executable, "-m", "server.cli", "layers", "import", str(src), "--id", layer_id,
                           "--title", "三区三线", "--role", "control", "--class-field", "DLMC"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    time.sleep(1.5)  # the store's generation is checked at most once a second
    try:
        for url in (url_a, url_b):
            layers = {x["id"]: x for x in json.loads(_get(url + "/api/layers")[1])["layers"]}
            assert layers[layer_id]["feature_count"] == 100
            status, _ = _get(f"{url}/api/layers/{layer_id}/features/1")
            assert status == 200
        # an upload through A, read through B, checked against the layer
        site = gpd.GeoSeries([shapely.box(108.902, 30.902, 108.903, 30.903)], crs="EPSG:4326").to_json().encode()
        boundary = "pvboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.geojson\"\r\n"
                "Content-Type: application/geo+json\r\n\r\n").encode() + site + f"\r\n--{boundary}--\r\n".encode()
        planner = f"mp-{uuid.uuid4().hex[:6]}"  # uploads need the planner right (#11); users live in PostGIS too
        subprocess.run([sys.executable, "-m", "server.cli", "users", "add", planner, "--role", "planner"], cwd=ROOT,
                       env=env, input="mp-password-123\n", capture_output=True, text=True, timeout=120, check=True)
        token = subprocess.run([sys.executable, "-m", "server.cli", "users", "token", planner], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120, check=True).stdout.split()[-1]
        req = urllib.request.Request(url_a + "/api/overlay", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                              "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=120) as r:  # noqa: S310 - loopback test server
            created = json.loads(r.read())
        status, raw = _get(f"{url_b}/api/overlay/{created['id']}", token)
        assert status == 200
        report = json.loads(raw)
        classes = report["sites"][0]["compliance"]["classes"]
        assert [c["class"] for c in classes if c["layer"] == layer_id] == ["永久基本农田"]
    finally:
        import psycopg

        with psycopg.connect(str(DB_URL), autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "lyr_{layer_id.replace("-", "_")}_v1"')
            conn.execute("DELETE FROM planview_layers WHERE id = %s", (layer_id,))
