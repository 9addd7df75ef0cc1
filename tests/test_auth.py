"""Accounts, sessions, CSRF, ownership and sharing, throttling and the audit trail, through HTTP and the stores.

The stores run on a real GeoPackage and, with ``PLANVIEW_TEST_DATABASE_URL``,
on a real PostGIS (each run in its own schema).
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support import PASSWORD, add_user, bearer

from geo.errors import Conflict, NotAuthenticated, TooManyAttempts
from layers.accounts import LoginThrottle, Role, authenticate, create_token, hash_password, open_accounts, token_user
from layers.audit import Entry, open_audit
from server.app import create_app
from server.cli import main as cli_main
from server.settings import Settings

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
GEOJSON = (b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"A"},'
           b'"geometry":{"type":"Point","coordinates":[108.7,30.95]}}]}')


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD, next_url: str = "/") -> TestClient:
    token = csrf(client.get("/login").text)
    r = client.post("/login", data={"name": name, "password": password, "next": next_url, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture(params=["gpkg", "postgis"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, object]]:
    if request.param == "gpkg":
        yield {"gpkg_path": tmp_path / "ws.gpkg"}
        return
    if not DB_URL:
        pytest.skip("PLANVIEW_TEST_DATABASE_URL is not set (.ci/run starts PostgreSQL+PostGIS and sets it)")
    import psycopg

    schema = f"pv_auth_{uuid.uuid4().hex[:10]}"
    yield {"database_url": DB_URL, "schema": schema}
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---------------------------------------------------------------- stores


def test_accounts_store(store_args: dict[str, object]) -> None:
    store = open_accounts(**store_args)  # type: ignore[arg-type]
    store.add_user("李工", Role.PLANNER, hash_password(PASSWORD))
    with pytest.raises(Conflict):
        store.add_user("李工", Role.VIEWER, None)
    throttle = LoginThrottle()
    assert authenticate(store, throttle, "李工", PASSWORD, "10.0.0.1").role is Role.PLANNER
    with pytest.raises(NotAuthenticated):
        authenticate(store, throttle, "李工", "wrong password", "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        authenticate(store, throttle, "nobody", PASSWORD, "10.0.0.1")
    info, text = create_token(store, "李工", "QGIS")
    assert text.startswith("pv_") and text not in repr(store.list_tokens("李工"))
    user = token_user(store, text)
    assert user is not None and user.name == "李工"
    assert token_user(store, text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    before = store.get_user("李工").session_epoch
    store.update_user("李工", disabled=True)
    assert token_user(store, text) is None and store.list_tokens("李工") == []  # disabling revokes tokens
    assert store.get_user("李工").session_epoch == before + 1
    with pytest.raises(NotAuthenticated):
        authenticate(store, throttle, "李工", PASSWORD, "10.0.0.1")
    assert store.meta_value("k", "first") == "first" and store.meta_value("k", "second") == "first"
    with pytest.raises(Exception, match="用户名"):
        store.add_user("*", Role.VIEWER, None)
    assert info.id not in [t.id for t in store.list_tokens()]


def test_login_throttle_per_account_and_address() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_account=3, per_address=5, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("li", "1.1.1.1")
        throttle.failed("li", "1.1.1.1")
    with pytest.raises(TooManyAttempts) as exc:
        throttle.check("li", "2.2.2.2")  # the account is throttled from any address
    assert 0 < exc.value.retry_after <= 61
    throttle.check("wang", "2.2.2.2")
    for name in ("a", "b"):
        throttle.failed(name, "1.1.1.1")
    with pytest.raises(TooManyAttempts):
        throttle.check("zhao", "1.1.1.1")  # five failures from one address, whatever the names
    now[0] += 61
    throttle.check("li", "1.1.1.1")


def test_audit_chain_detects_edits(store_args: dict[str, object]) -> None:
    trail = open_audit(**store_args)  # type: ignore[arg-type]
    for i in range(5):
        trail.append(Entry(actor="li", address="10.0.0.1", action="upload", target=f"ws:{i}",
                           details={"file": f"地块{i}.zip", "sha256": "ab" * 32}))
    assert trail.verify() == (5, None)
    records, total = trail.query(actor="li", limit=2)
    assert total == 5 and [r.seq for r in records] == [5, 4] and records[0].details["file"] == "地块4.zip"
    # append-only: the store itself refuses changes …
    with pytest.raises(Exception, match="append-only"):
        _tamper(store_args, "UPDATE {t} SET outcome = 'forged' WHERE seq = 3")
    # … and a change made behind its back is found, at the record changed
    _tamper(store_args, "UPDATE {t} SET details = replace(details, '地块2', '地块X') WHERE seq = 3", force=True)
    checked, broken = trail.verify()
    assert checked == 2 and broken is not None and broken.seq == 3 and "edited" in broken.reason
    _tamper(store_args, "DELETE FROM {t} WHERE seq = 3", force=True)
    checked, broken = trail.verify()
    assert broken is not None and broken.seq == 3 and "missing" in broken.reason


def _tamper(store_args: dict[str, object], statement: str, *, force: bool = False) -> None:
    """Change the audit table directly, as someone with write access to the file or database could."""
    if "gpkg_path" in store_args:
        with sqlite3.connect(store_args["gpkg_path"]) as conn:  # type: ignore[arg-type]
            if force:
                conn.execute("DROP TRIGGER IF EXISTS planview_audit_no_update")
                conn.execute("DROP TRIGGER IF EXISTS planview_audit_no_delete")
            conn.execute(statement.format(t="planview_audit"))
        return
    import psycopg

    table = f'"{store_args["schema"]}".planview_audit'
    with psycopg.connect(DB_URL, autocommit=True) as pg:  # type: ignore[arg-type]
        if force:
            pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER planview_audit_append_only")
        pg.execute(statement.format(t=table))  # type: ignore[arg-type]


# ---------------------------------------------------------------- HTTP: sessions and CSRF


@pytest.fixture
def people(app: FastAPI) -> FastAPI:
    for name, role in (("li", "planner"), ("wang", "planner"), ("zhao", "viewer"), ("boss", "admin")):
        add_user(app, name, role)
    return app


def test_login_cookie_csrf_logout(people: FastAPI, anon_client: TestClient) -> None:
    c = anon_client
    form = c.get("/login")
    cookie = form.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    bad = c.post("/login", data={"name": "li", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False)
    assert bad.status_code == 403
    wrong = c.post("/login", data={"name": "li", "password": "nope nope", "csrf_token": csrf(form.text)})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    before = c.cookies.get("planview_session")
    login(c, "li", next_url="/overlay")
    assert c.cookies.get("planview_session") != before  # a new session at sign-in (no fixation)
    page = c.get("/overlay")
    assert page.status_code == 200 and "li" in page.text
    token = csrf(page.text)
    # state-changing requests of a cookie session need the token: header, query (multipart) or form field
    assert c.post("/api/overlay", files={"file": ("a.geojson", GEOJSON)}).status_code == 403
    up = c.post(f"/overlay?csrf_token={token}", files={"file": ("a.geojson", GEOJSON)}, follow_redirects=False)
    assert up.status_code == 303
    ws_id = up.headers["location"].rsplit("/", 1)[1]
    assert c.delete(f"/api/overlay/{ws_id}").status_code == 403
    assert c.delete(f"/api/overlay/{ws_id}", headers={"X-CSRF-Token": token}).status_code == 204
    # a foreign site cannot post without the token, even with the cookie
    assert c.post("/logout", data={}).status_code == 403
    out = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert c.get("/overlay").status_code == 401
    audit = people.state.auth.audit.query(actor="li")[0]
    assert [r.action for r in reversed(audit)] == ["login", "upload", "delete", "logout"]
    assert people.state.auth.audit.query(action="login_failed")[1] == 1


def test_logout_ends_copied_sessions(people: FastAPI) -> None:
    with TestClient(people) as a, TestClient(people) as b:
        login(a, "li")
        b.cookies.set("planview_session", a.cookies.get("planview_session") or "")
        assert b.get("/account").status_code == 200
        a.post("/logout", data={"csrf_token": csrf(a.get("/account").text)})
        assert b.get("/account").status_code == 401


def test_login_throttled_over_http(tmp_path: Path) -> None:
    app = create_app(Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None, login_max_per_account=3))
    add_user(app, "li", "planner")
    with TestClient(app) as c:
        for _ in range(3):
            r = c.post("/login", data={"name": "li", "password": "bad password", "csrf_token": csrf(c.get("/login").text)})
            assert r.status_code == 401
        r = c.post("/login", data={"name": "li", "password": PASSWORD, "csrf_token": csrf(c.get("/login").text)})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_open_redirects_are_refused(people: FastAPI, anon_client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = csrf(anon_client.get("/login").text)
        r = anon_client.post("/login", data={"name": "li", "password": PASSWORD, "next": target, "csrf_token": token},
                             follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/", target
        anon_client.post("/logout", data={"csrf_token": csrf(anon_client.get("/account").text)})


# ---------------------------------------------------------------- ownership and sharing


def test_workspaces_belong_to_their_owner(people: FastAPI) -> None:
    li = TestClient(people, headers=bearer(people, "li"))
    wang = TestClient(people, headers=bearer(people, "wang"))
    zhao = TestClient(people, headers=bearer(people, "zhao"))
    boss = TestClient(people, headers=bearer(people, "boss"))
    ws_id = li.post("/api/overlay", files={"file": ("li.geojson", GEOJSON)}).json()["id"]
    assert zhao.post("/api/overlay", files={"file": ("z.geojson", GEOJSON)}).status_code == 403  # viewer
    for url in (f"/api/overlay/{ws_id}", f"/api/overlay/{ws_id}.csv", f"/overlay/{ws_id}",
                f"/api/overlay/{ws_id}/report.pdf", f"/api/export?map=yunyang&format=svg&overlay={ws_id}"):
        assert wang.get(url).status_code == 404, url  # someone else's: not found, not forbidden
        assert zhao.get(url).status_code == 404, url
    assert wang.delete(f"/api/overlay/{ws_id}").status_code == 404
    assert wang.get("/api/overlay").json()["workspaces"] == []
    assert [w["id"] for w in boss.get("/api/overlay").json()["workspaces"]] == [ws_id]  # admins see all
    # read-only sharing with a named user, then with everyone signed in
    assert wang.put(f"/api/overlay/{ws_id}/share", json={"users": ["zhao"]}).status_code == 404
    assert li.put(f"/api/overlay/{ws_id}/share", json={"users": ["nobody"]}).status_code == 400
    assert li.put(f"/api/overlay/{ws_id}/share", json={"users": ["zhao"]}).json()["shared_with"] == ["zhao"]
    assert zhao.get(f"/api/overlay/{ws_id}.csv").status_code == 200
    assert [w["id"] for w in zhao.get("/api/overlay").json()["workspaces"]] == [ws_id]
    assert wang.get(f"/api/overlay/{ws_id}").status_code == 404
    li.put(f"/api/overlay/{ws_id}/share", json={"users": [], "everyone": True})
    assert wang.get(f"/api/overlay/{ws_id}").status_code == 200
    assert wang.delete(f"/api/overlay/{ws_id}").status_code == 404  # shared is read-only
    assert li.delete(f"/api/overlay/{ws_id}").status_code == 204
    trail = people.state.auth.audit
    assert trail.query(action="denied")[1] >= 10
    share = trail.query(action="share")[0][-1]
    assert share.actor == "li" and share.details["users"] == ["zhao"]
    upload = trail.query(action="upload", actor="li")[0][0]
    assert upload.details["file"] == "li.geojson" and len(upload.details["sha256"]) == 64
    for c in (li, wang, zhao, boss):
        c.close()


def test_workspaces_from_before_accounts_belong_to_the_admin(tmp_path: Path) -> None:
    from layers.catalogue import Catalogue
    from layers.workspaces import open_store
    from layers.workspaces.service import create_workspace
    from server.settings import ROOT

    store = open_store(gpkg_path=tmp_path / "ws.gpkg")
    old = create_workspace(store, GEOJSON, "old.geojson", Catalogue.load(ROOT / "data", ROOT / "data" / "build"))
    assert old.owner is None
    app = create_app(Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None, admin_password="first admin pw"))
    assert app.state.auth.bootstrap(store, announce=False) is None  # password from settings: nothing to print
    assert store.access(old.id).owner == "admin"
    assert authenticate(app.state.auth.accounts, LoginThrottle(), "admin", "first admin pw", "x").role is Role.ADMIN


def test_first_start_prints_a_one_time_admin_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None))
    generated = app.state.auth.bootstrap()
    assert generated and generated in capsys.readouterr().err
    assert app.state.auth.bootstrap() is None  # only the first time


# ---------------------------------------------------------------- account page, admin pages, audit API


def test_tokens_on_the_account_page(people: FastAPI, anon_client: TestClient) -> None:
    c = login(anon_client, "zhao")
    page = c.post("/account/tokens", data={"label": "QGIS <b>", "csrf_token": csrf(c.get("/account").text)})
    text = re.search(r'<code class="au-secret">([^<]+)</code>', page.text)
    assert page.status_code == 200 and text and "QGIS &lt;b&gt;" in page.text
    with TestClient(people, headers={"Authorization": f"Bearer {text.group(1)}"}) as api:
        me = api.get("/api/account").json()
        assert me["name"] == "zhao" and me["role"] == "viewer" and me["via"] == "token"
        token_id = api.get("/api/account/tokens").json()["tokens"][0]["id"]
    c.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf(c.get("/account").text)})
    with TestClient(people, headers={"Authorization": f"Bearer {text.group(1)}"}) as api:
        assert api.get("/api/account").status_code == 401


def test_admin_manages_users_and_reads_the_audit(people: FastAPI, anon_client: TestClient) -> None:
    c = login(anon_client, "boss")
    token = csrf(c.get("/admin/users").text)
    added = c.post("/admin/users", data={"name": "新人", "role": "viewer", "password": "", "csrf_token": token})
    assert added.status_code == 200 and 'id="users-secret"' in added.text
    assert c.post("/admin/users/新人", data={"action": "set-role", "role": "planner", "csrf_token": token}
                  ).status_code == 200
    assert people.state.auth.accounts.get_user("新人").role is Role.PLANNER
    last = c.post("/admin/users/boss", data={"action": "disable", "csrf_token": token})
    assert last.status_code == 409 and "最后一位管理员" in last.text
    r = c.get("/api/audit", params={"action": "user_set_role"})
    body = r.json()
    assert body["total"] == 1 and body["records"][0]["details"]["role"] == "planner"
    assert c.get("/api/audit", params={"since": "yesterday"}).status_code == 400
    csv_text = c.get("/api/audit.csv").content.decode("utf-8-sig")
    assert csv_text.startswith("序号 seq") and "user_add" in csv_text
    page = c.get("/admin/audit")
    assert page.status_code == 200 and 'id="chain-ok"' in page.text


def test_cli_users_and_audit_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    gpkg = tmp_path / "ws.gpkg"
    monkeypatch.setenv("PLANVIEW_WORKSPACE_GPKG", str(gpkg))
    monkeypatch.delenv("PLANVIEW_DATABASE_URL", raising=False)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long password\n"))
    assert cli_main(["users", "add", "li", "--role", "planner"]) == 0
    assert cli_main(["users", "set-role", "li", "viewer"]) == 0
    assert cli_main(["users", "token", "li"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"pv_[0-9a-f]{12}_\S{43}", out)
    assert token
    assert token_user(open_accounts(gpkg_path=gpkg), token.group(0)) is not None
    assert cli_main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "li" in listing and "viewer" in listing
    assert cli_main(["users", "disable", "li"]) == 0
    assert cli_main(["users", "add", "li"]) == 2  # exists
    assert cli_main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    _tamper({"gpkg_path": gpkg}, "UPDATE {t} SET actor = 'someone' WHERE seq = 2", force=True)
    assert cli_main(["audit", "verify"]) == 1
    assert "record 2" in capsys.readouterr().out
