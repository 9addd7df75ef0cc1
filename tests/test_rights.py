"""Every route of the app, with every role and with nobody signed in: the rights table holds.

The walk reads the routes from the app itself (so a route added tomorrow is
walked tomorrow): each must be listed in ``server/auth/rights.py`` RIGHTS, and
each answers 401 to nobody, 403 to a role without the right, and neither (nor
a 5xx) to a role with it — with public maps on and off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support import bearer

from layers.accounts import Role
from server.app import create_app
from server.auth.guard import flat_routes
from server.auth.rights import RIGHTS, Right, rights_of, route_key
from server.settings import Settings

ROLES = [None, "viewer", "planner", "admin"]
GEOJSON = (b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"A"},'
           b'"geometry":{"type":"Point","coordinates":[108.7,30.95]}}]}')
ORDER = {"GET": 0, "HEAD": 1, "OPTIONS": 2, "POST": 3, "PUT": 4, "PATCH": 5, "DELETE": 6}


def all_route_keys(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path template, table key) for every method of every route, mounts as GET."""
    out = []
    for path, methods, mount in flat_routes(app.router.routes):
        if mount:
            out.append(("GET", path, f"MOUNT {path}"))
            continue
        for method in sorted(set(methods or ()) | ({"HEAD"} if "GET" in (methods or ()) else set())):
            out.append((method, path, route_key(method, path)))
    return sorted(set(out), key=lambda t: (ORDER.get(t[0], 9), t[1]))


def fill(path: str, samples: dict[str, str]) -> str:
    if path == "/static":
        return "/static/planview.css"
    if path == "/static/build":
        return "/static/build/manifest.json"  # 404 without a build: the guard passed it, the folder had none
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: samples.get(m.group(1), "x"), path)


@pytest.fixture(scope="module", params=[True, False], ids=["public-maps", "private-maps"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[FastAPI, dict[str | None, TestClient], dict[str, str]]]:
    public = bool(request.param)
    settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("rights") / "ws.gpkg", database_url=None,
                        public_maps=public)
    app = create_app(settings)
    clients: dict[str | None, TestClient] = {None: TestClient(app, raise_server_exceptions=False)}
    for role in ROLES[1:]:
        clients[role] = TestClient(app, raise_server_exceptions=False, headers=bearer(app, role, role))  # type: ignore[arg-type]
    created = clients["planner"].post("/api/overlay", files={"file": ("a.geojson", GEOJSON)})
    assert created.status_code == 201, created.text
    layer = next(iter(app.state.catalogue.layers))
    ws_id = created.json()["id"]
    samples = {"map_id": "yunyang", "layer_id": layer, "collection_id": layer, "table_id": "x", "feature_id": "1",
               "ref": ws_id, "ws_id": ws_id, "workspace_id": ws_id, "token_id": "000000000000", "name": "viewer"}
    yield app, clients, samples
    for c in clients.values():
        c.close()


def test_every_route_has_a_right(world: tuple[FastAPI, dict[str | None, TestClient], dict[str, str]]) -> None:
    app, _, _ = world
    keys = all_route_keys(app)
    missing = sorted({key for _, _, key in keys if key not in RIGHTS})
    assert missing == [], f"add these routes to RIGHTS in server/auth/rights.py: {missing}"
    assert len(keys) > 40


def test_role_matrix_over_every_route(world: tuple[FastAPI, dict[str | None, TestClient], dict[str, str]]) -> None:
    app, clients, samples = world
    public = app.state.settings.public_maps
    problems = []
    for method, path, key in all_route_keys(app):
        right = RIGHTS[key]
        url = fill(path, samples)
        for role in ROLES:
            r = clients[role].request(method, url)
            status = r.status_code
            if status == 403 and role is None and method in ("POST", "PUT", "PATCH", "DELETE"):
                assert "csrf_failed" in r.text or "CSRF" in r.text, (method, url)  # a cookie-less form post
                continue
            allowed = right in rights_of(None if role is None else Role(role), public_maps=public)
            if allowed:
                ok = status not in (401, 403) and status < 500
                if key == "POST /login":  # the handler's own answer to an empty name/password
                    ok = status == 401 and "login-error" in r.text
            else:
                ok = status == (401 if role is None else 403)
            if not ok:
                problems.append(f"{method} {url} as {role or 'nobody'} ({right}): {status}")
    assert problems == [], "\n".join(problems)


def test_options_reveals_nothing(world: tuple[FastAPI, dict[str | None, TestClient], dict[str, str]]) -> None:
    app, clients, samples = world
    for _, path, _ in all_route_keys(app):
        r = clients[None].options(fill(path, samples))
        assert r.status_code in (204, 405) or (r.status_code == 200 and len(r.content) < 200), (path, r.status_code)


def test_an_unlisted_route_fails_closed(tmp_path: Path) -> None:
    app = create_app(Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None))

    @app.get("/api/unlisted")
    def unlisted() -> dict[str, str]:
        return {"secret": "x"}

    with TestClient(app, raise_server_exceptions=False, headers=bearer(app, "boss", "admin")) as c:
        r = c.get("/api/unlisted")
        assert r.status_code == 500 and "secret" not in r.text and "rights.py" in r.json()["message"]
    assert "GET /api/unlisted" not in RIGHTS


def test_public_maps_off_needs_a_login_for_maps(tmp_path: Path) -> None:
    app = create_app(Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None, public_maps=False))
    with TestClient(app, raise_server_exceptions=False) as c:
        page = c.get("/maps/yunyang")
        assert page.status_code == 401 and 'id="login-form"' in page.text and 'value="/maps/yunyang"' in page.text
        api = c.get("/api/layers")
        assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/ogc/collections").status_code == 401
        assert c.get("/static/planview.css").status_code == 200  # the login page needs its CSS
        assert c.get("/login").status_code == 200
    with TestClient(app, raise_server_exceptions=False, headers=bearer(app, "v", "viewer")) as c:
        assert c.get("/maps/yunyang").status_code == 200 and c.get("/api/layers").status_code == 200


def test_public_maps_on_pages_work_without_login(anon_client: TestClient) -> None:
    for url in ("/", "/maps/yunyang", "/api/layers", "/ogc/collections", "/docs"):
        assert anon_client.get(url).status_code == 200, url
    assert anon_client.get("/overlay").status_code == 401
    assert anon_client.post("/api/overlay", files={"file": ("a.geojson", GEOJSON)}).status_code == 401


def test_bad_tokens_are_refused(anon_client: TestClient) -> None:
    for header in ("Bearer pv_000000000000_" + "A" * 43, "Bearer nonsense", "Basic YWRtaW46YWRtaW4=", "Bearer "):
        r = anon_client.get("/api/layers", headers={"Authorization": header})
        assert r.status_code == 401, header


def test_right_values_are_the_documented_ones() -> None:
    assert {r.value for r in Right} == {"open", "public_read", "view", "plan", "admin"}
