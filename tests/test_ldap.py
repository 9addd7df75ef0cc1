"""Directory login against a real OpenLDAP server (Debian ``slapd``), started here on a loopback port.

The fixture writes a throw-away slapd.conf and database (mdb) into a temporary
directory, loads people and groups with ``slapadd`` and runs ``slapd`` in the
foreground; no system service is used. ``.ci/run`` installs ``slapd`` and
``ldap-utils``; without them the tests skip with that reason.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo.errors import NotAuthenticated, StorageError
from layers.accounts import LoginThrottle, Role, authenticate, open_accounts
from server.app import create_app
from server.auth.directory import LdapDirectory, escape_filter, escape_rdn
from server.settings import Settings

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
SCHEMA = Path("/etc/ldap/schema")
MODULES = next((p for p in (Path("/usr/lib/ldap"), Path("/usr/lib/x86_64-linux-gnu/ldap")) if p.exists()), None)
SUFFIX = "dc=planview,dc=test"
PEOPLE = {"zhang": ("张 planner pw 1", "planners"), "liu": ("liu admin pw 12", "admins"),
          "chen": ("chen viewer pw 1", None), "wang, x": ("comma name pw 1", None)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ldif() -> str:
    blocks = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: planview\ndc: planview\n",
              f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
              f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n"]
    members: dict[str, list[str]] = {"planview-planners": [], "planview-admins": []}
    for uid, (password, group) in PEOPLE.items():
        dn = f"uid={escape_rdn(uid)},ou=people,{SUFFIX}"
        blocks.append(f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
                      f"userPassword: {password}\n")
        if group:
            members[f"planview-{group}"].append(dn)
    for cn, dns in members.items():
        blocks.append(f"dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n"
                      + "".join(f"member: {d}\n" for d in dns))
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not SLAPD or not SCHEMA.exists() or MODULES is None:
        pytest.skip("no OpenLDAP slapd on this machine (apt-get install slapd ldap-utils); .ci/run installs it")
    tmp = tmp_path_factory.mktemp("slapd")
    (tmp / "db").mkdir()
    conf = tmp / "slapd.conf"
    conf.write_text("\n".join([
        *(f"include {SCHEMA / s}.schema" for s in ("core", "cosine", "inetorgperson", "nis")),
        f"modulepath {MODULES}", "moduleload back_mdb", f"pidfile {tmp / 'slapd.pid'}",
        "database mdb", f'suffix "{SUFFIX}"', f'rootdn "cn=admin,{SUFFIX}"', "rootpw not-used-by-the-tests",
        f"directory {tmp / 'db'}", "maxsize 10485760",
        "access to attrs=userPassword by anonymous auth by self read by * none",
        "access to * by * read", ""]), encoding="utf-8")
    (tmp / "base.ldif").write_text(_ldif(), encoding="utf-8")
    subprocess.run([SLAPD, "-T", "add", "-f", str(conf), "-l", str(tmp / "base.ldif")], check=True,
                   capture_output=True, timeout=60)
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", url + "/", "-d", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"slapd did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _directory(url: str, **overrides: object) -> LdapDirectory:
    args: dict[str, object] = {
        "url": url, "user_dn": f"uid={{name}},ou=people,{SUFFIX}", "start_tls": False,
        "group_base": f"ou=groups,{SUFFIX}", "admin_group": "planview-admins", "planner_group": "planview-planners",
        "default_role": Role.VIEWER, "timeout_s": 5.0}
    args.update(overrides)
    return LdapDirectory(**args)  # type: ignore[arg-type]


def test_bind_and_roles_from_groups(slapd: str) -> None:
    d = _directory(slapd)
    assert d.authenticate("zhang", "张 planner pw 1") is Role.PLANNER
    assert d.authenticate("liu", "liu admin pw 12") is Role.ADMIN
    assert d.authenticate("chen", "chen viewer pw 1") is Role.VIEWER
    assert d.authenticate("wang, x", "comma name pw 1") is Role.VIEWER  # escaped into the DN, not split by it
    assert d.authenticate("zhang", "wrong") is None
    assert d.authenticate("zhang", "") is None  # never an anonymous bind
    assert d.authenticate("nobody", "whatever pw") is None
    assert d.authenticate("*", "whatever pw") is None
    assert _directory(slapd, group_base=None).authenticate("liu", "liu admin pw 12") is Role.VIEWER


def test_unreachable_directory_is_a_storage_error() -> None:
    with pytest.raises(StorageError):
        _directory(f"ldap://127.0.0.1:{_free_port()}", timeout_s=2.0).authenticate("zhang", "x pw")


def test_escaping() -> None:
    assert escape_rdn("wang, x") == "wang\\, x" and escape_rdn(" #a ") == "\\ #a\\ "
    assert escape_filter("a*)(uid=*") == "a\\2a\\29\\28uid=\\2a"


def test_directory_users_sign_in_and_are_kept_as_ldap_accounts(slapd: str, tmp_path: Path) -> None:
    store = open_accounts(gpkg_path=tmp_path / "ws.gpkg")
    d = _directory(slapd)
    throttle = LoginThrottle()
    user = authenticate(store, throttle, "zhang", "张 planner pw 1", "10.0.0.1", d)
    assert user.source == "ldap" and user.role is Role.PLANNER and user.password_hash is None
    with pytest.raises(NotAuthenticated):
        authenticate(store, throttle, "zhang", "wrong", "10.0.0.1", d)
    store.update_user("zhang", disabled=True)  # disabled here wins over a good directory password
    with pytest.raises(NotAuthenticated):
        authenticate(store, throttle, "zhang", "张 planner pw 1", "10.0.0.1", d)


def test_ldap_login_over_http(slapd: str, tmp_path: Path) -> None:
    settings = Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None, ldap_url=slapd,
                        ldap_user_dn=f"uid={{name}},ou=people,{SUFFIX}", ldap_group_base=f"ou=groups,{SUFFIX}")
    app = create_app(settings)
    with TestClient(app) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        r = c.post("/login", data={"name": "liu", "password": "liu admin pw 12", "csrf_token": token},
                   follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/admin/users").status_code == 200  # admin through the directory group
    login = app.state.auth.audit.query(action="login")[0][0]
    assert login.actor == "liu" and login.details["source"] == "ldap"
