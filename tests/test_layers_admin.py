"""Admins import layers over HTTP (/admin/layers, /api/admin/layers) and the CLI: job pool, rights, audit trail.

Also: jobs belong to whoever submitted them (/api/jobs/{id} answers 404 to
others), and a GeoJSON body sent to /api/overlay is owned and audited like a
multipart upload.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi import FastAPI
from fastapi.testclient import TestClient

from layers.audit import open_audit
from server.cli import main as cli_main

X0, Y0, D = 108.90, 30.90, 0.001  # a 6×6 grid of ~95 m parcels in Yunyang
SITE = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"名称": "画的地块"},
     "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.93], [108.70, 30.93], [108.70, 30.94],
                                                      [108.69, 30.94], [108.69, 30.93]]]}}]}).encode()


def small_gpkg(folder: Path, side: int = 6) -> Path:
    """A real GeoPackage in CGCS2000 Gauss–Krüger (EPSG:4545), as a county's 三区三线 comes."""
    i, j = np.meshgrid(np.arange(side), np.arange(side))
    xs, ys = X0 + i.ravel() * D, Y0 + j.ravel() * D
    gdf = gpd.GeoDataFrame({"DLMC": np.where(i.ravel() < side // 2, "永久基本农田", "生态保护红线"),
                            "BSM": np.arange(side * side)},
                           geometry=shapely.box(xs, ys, xs + D, ys + D), crs="EPSG:4326")
    path = folder / "云阳三区三线.gpkg"
    gdf.to_crs("EPSG:4545").to_file(path, driver="GPKG", layer="sqsx")
    return path


def audit_records(app: FastAPI, action: str) -> list[Any]:
    return app.state.auth.audit.query(action=action, limit=100)[0]  # type: ignore[no-any-return]


def wait_job(c: TestClient, url: str) -> dict[str, Any]:
    deadline = time.time() + 90
    while (job := c.get(url).json())["state"] in ("queued", "running"):
        assert time.time() < deadline, job
        time.sleep(0.2)
    return job  # type: ignore[no-any-return]


FORM = {"id": "yy-sqsx", "title": "云阳县三区三线", "role": "control", "class_field": "DLMC", "crs": "", "encoding": ""}


def test_admin_imports_a_geopackage_and_it_is_served(app: FastAPI, client_as: Callable[..., TestClient],
                                                     tmp_path: Path) -> None:
    admin = client_as("root", "admin")
    src = small_gpkg(tmp_path)
    data = src.read_bytes()
    r = admin.post("/api/admin/layers", files={"file": (src.name, data)}, data=FORM)
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["id"] == "yy-sqsx" and summary["version"] == 1 and summary["features"] == 36
    assert summary["sha256"] == hashlib.sha256(data).hexdigest() and summary["file"] == src.name
    assert r.headers["location"] == "/api/layers/yy-sqsx"
    # listed with its provenance, in the catalogue and served by area
    listed = {row["id"]: row for row in admin.get("/api/admin/layers").json()["layers"]}["yy-sqsx"]
    assert listed["file"] == src.name and listed["sha256"] == summary["sha256"] and "4545" in listed["crs"]
    assert listed["features"] == 36 and listed["versions"] == 1 and listed["role"] == "control"
    assert "yy-sqsx" in {layer["id"] for layer in admin.get("/api/layers").json()["layers"]}
    part = admin.get(f"/api/layers/yy-sqsx?bbox={X0},{Y0},{X0 + 0.0025},{Y0 + 0.0025}")
    assert part.status_code == 200, part.text
    assert 0 < len(part.json()["features"]) < 36
    # the page lists it (zh-CN), with the CSRF field and the ES module that polls the job
    page = admin.get("/admin/layers")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert 'data-layer="yy-sqsx"' in page.text and summary["sha256"][:12] in page.text and src.name in page.text
    assert 'name="csrf_token"' in page.text and "/static/admin-layers.js" in page.text
    assert admin.get("/static/admin-layers.js").status_code == 200
    # the audit trail: who, file, SHA-256, layer, version, outcome
    (rec,) = audit_records(app, "layer_import")
    assert rec.actor == "root" and rec.outcome == "ok"
    assert rec.details["file"] == src.name and rec.details["sha256"] == summary["sha256"]
    assert rec.details["layer"] == "yy-sqsx" and rec.details["version"] == 1


def test_async_import_polls_the_job_and_jobs_are_private(app: FastAPI, client_as: Callable[..., TestClient],
                                                         tmp_path: Path) -> None:
    admin = client_as("root", "admin")
    src = small_gpkg(tmp_path)
    r = admin.post("/api/admin/layers", files={"file": (src.name, src.read_bytes())},
                   data={**FORM, "id": "yy-async"}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    url = r.headers["location"]
    job = wait_job(admin, url)
    assert job["state"] == "done" and job["summary"]["version"] == 1 and job["result"] == "/api/layers/yy-async"
    assert job["owner"] == "root"
    # someone else's job does not exist for a planner; nor does an admin's
    assert client_as("li", "planner").get(url).status_code == 404
    # a planner's upload job: the planner and admins see it, another planner does not
    li = client_as("li", "planner")
    up = li.post("/api/overlay", files={"file": ("s.geojson", SITE)}, headers={"Prefer": "respond-async"})
    assert up.status_code == 202, up.text
    mine = wait_job(li, up.headers["location"])
    assert mine["state"] == "done" and mine["owner"] == "li"
    assert client_as("wang", "planner").get(up.headers["location"]).status_code == 404
    assert client_as("zhao", "viewer").get(up.headers["location"]).status_code == 404
    assert admin.get(up.headers["location"]).json()["workspace"] == mine["workspace"]


def test_only_admins_import(app: FastAPI, client_as: Callable[..., TestClient], anon_client: TestClient,
                            tmp_path: Path) -> None:
    src = small_gpkg(tmp_path)
    files = {"file": (src.name, src.read_bytes())}
    for role in ("planner", "viewer"):
        c = client_as(f"u-{role}", role)
        assert c.post("/api/admin/layers", files=files, data=FORM).status_code == 403
        assert c.get("/admin/layers").status_code == 403
        assert c.get("/api/admin/layers").status_code == 403
    assert anon_client.post("/api/admin/layers", files=files, data=FORM).status_code == 401
    assert anon_client.get("/api/admin/layers").status_code == 401
    assert "yy-sqsx" not in {layer["id"] for layer in client_as("root", "admin").get("/api/layers").json()["layers"]}


def test_bad_files_and_options_are_refused_clearly(app: FastAPI, client_as: Callable[..., TestClient],
                                                   tmp_path: Path) -> None:
    admin = client_as("root", "admin")
    r = admin.post("/api/admin/layers", files={"file": ("坏的.gpkg", b"this is not a GeoPackage")}, data=FORM)
    assert 400 <= r.status_code < 500, r.text
    assert "坏的.gpkg" in r.json()["message"] and "planview-import" not in r.text  # no server path
    failed = audit_records(app, "layer_import")
    assert failed and failed[0].outcome.startswith("failed") and failed[0].details["file"] == "坏的.gpkg"
    src = small_gpkg(tmp_path)
    r = admin.post("/api/admin/layers", files={"file": (src.name, src.read_bytes())}, data={**FORM, "id": "Bad Id!"})
    assert r.status_code == 400 and r.json()["message"]
    r = admin.post("/api/admin/layers", files={"file": (src.name, src.read_bytes())}, data={**FORM, "title": ""})
    assert r.status_code == 400 and "title" in r.json()["message"]
    r = admin.post("/api/admin/layers", files={"file": (src.name, src.read_bytes())},
                   data={**FORM, "class_field": "NOPE"})
    assert r.status_code == 400 and "NOPE" in r.json()["message"]
    r = admin.post("/api/admin/layers", files={"file": (src.name, src.read_bytes())}, data={**FORM, "role": "x"})
    assert r.status_code == 400 and "role" in r.json()["message"]
    assert admin.get("/api/admin/layers").json()["layers"] == []


def test_upload_size_limit_holds(tmp_path: Path, client_as: Callable[..., TestClient],
                                 settings: Any) -> None:
    admin = client_as("root", "admin")
    too_big = b"x" * (settings.max_upload_bytes + 1024)
    r = admin.post("/api/admin/layers", files={"file": ("big.gpkg", too_big)}, data=FORM)
    assert r.status_code == 413 and "MB" in r.json()["message"]


def test_geojson_body_is_owned_and_audited_like_a_multipart_upload(app: FastAPI,
                                                                   client_as: Callable[..., TestClient]) -> None:
    li = client_as("li", "planner")
    r = li.post("/api/overlay?name=画的", content=SITE, headers={"content-type": "application/geo+json"})
    assert r.status_code == 201, r.text
    ws = r.json()["id"]
    assert li.get(f"/api/overlay/{ws}").status_code == 200
    assert client_as("wang", "planner").get(f"/api/overlay/{ws}").status_code == 404  # li's, not anyone's
    (rec,) = audit_records(app, "upload")
    assert rec.actor == "li" and rec.outcome == "ok" and rec.details["workspace"] == ws
    assert rec.details["file"] == "画的.geojson" and rec.details["sha256"] == hashlib.sha256(SITE).hexdigest()
    # asynchronously: through the job pool, owned by li
    r = li.post("/api/overlay", content=SITE, headers={"content-type": "application/geo+json",
                                                        "Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    job = wait_job(li, r.headers["location"])
    assert job["state"] == "done" and job["owner"] == "li"
    # a bad body fails in the job, and the refusal is audited too
    bad = li.post("/api/overlay", content=b'{"type": "Nope"}', headers={"content-type": "application/geo+json"})
    assert 400 <= bad.status_code < 500
    records = audit_records(app, "upload")
    assert records[0].outcome.startswith("failed") and records[0].actor == "li"
    assert [r.outcome for r in records].count("ok") == 2


def test_cli_import_is_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PLANVIEW_WORKSPACE_GPKG", str(tmp_path / "ws.gpkg"))
    monkeypatch.setenv("PLANVIEW_LAYER_STORE_GPKG", str(tmp_path / "layers.gpkg"))
    monkeypatch.delenv("PLANVIEW_DATABASE_URL", raising=False)
    src = small_gpkg(tmp_path)
    assert cli_main(["layers", "import", str(src), "--id", "yy-cli", "--title", "三区三线", "--role", "control",
                     "--class-field", "DLMC", "--by", "张三"]) == 0
    assert "imported yy-cli v1" in capsys.readouterr().out
    assert cli_main(["layers", "import", str(src), "--id", "yy-cli", "--title", "三区三线",
                     "--class-field", "NOPE"]) == 2
    trail = open_audit(gpkg_path=tmp_path / "ws.gpkg", database_url=None)
    failed, ok = trail.query(action="layer_import")[0][:2]
    assert ok.actor == "cli:张三" and ok.outcome == "ok" and ok.details["version"] == 1
    assert ok.details["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest() and ok.details["layer"] == "yy-cli"
    assert failed.actor.startswith("cli:") and failed.outcome.startswith("failed")
