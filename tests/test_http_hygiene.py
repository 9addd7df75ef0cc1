"""HTTP hygiene: security headers, HEAD, Allow on 405, byte ranges, CORS, slow clients, cache keys.

The slow-client tests run the app under uvicorn exactly as ``planview serve`` does
(``server.serving.server_config``) and talk to it with raw loopback sockets; GDAL is
run as a subprocess against a live server to read a layer through ``/vsicurl/``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from conftest import make_settings
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount
from support import bearer, free_port, signed_in

from layers.catalogue import Catalogue
from server.app import create_app
from server.middleware import content_security_policy, script_hashes
from server.serving import server_config
from server.settings import ROOT, Settings
from server.static_assets import CachedStaticFiles, _asset

LAYER = "cq-counties"
GEOJSON = json.dumps({"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {"name": "试验地块"},
    "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.93], [108.71, 30.93], [108.71, 30.95],
                                                     [108.69, 30.95], [108.69, 30.93]]]}}]}).encode()
AUTH = b""  # the Authorization header line of a planner on the server ``serving`` started last
PAGES = ["/", "/maps/chongqing", "/overlay", "/plans/yunyang", "/monitor/yunyang", "/ogc?f=html",
         "/ogc/collections?f=html", "/docs", "/redoc"]


@pytest.fixture(scope="module")
def hclient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with signed_in(create_app(make_settings(tmp_path_factory.mktemp("hygiene")))) as c:  # a planner may upload
        yield c


@pytest.fixture(scope="module")
def workspace_page(hclient: TestClient) -> str:
    r = hclient.post("/api/overlay?name=hygiene", content=GEOJSON, headers={"content-type": "application/geo+json"})
    assert r.status_code == 201, r.text
    return f"/overlay/{r.json()['id']}"


def _csp(headers: dict[str, str] | object) -> dict[str, list[str]]:
    policy = headers["content-security-policy"]  # type: ignore[index]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


# ---------------------------------------------------------------- security headers


def test_every_kind_of_response_carries_the_security_headers(hclient: TestClient, workspace_page: str) -> None:
    answers = {path: hclient.get(path) for path in [*PAGES, workspace_page, "/api/layers", f"/api/layers/{LAYER}",
                                                  "/static/planview.css", "/ogc/conformance", "/no-such-page",
                                                  "/api/layers/no-such-layer"]}
    answers["405"] = hclient.post("/api/layers")
    answers["400"] = hclient.get(f"/api/layers/{LAYER}?bbox=nonsense")
    for path, r in answers.items():
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "SAMEORIGIN", path
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
        csp = _csp(r.headers)
        assert csp["frame-ancestors"] == ["'self'"], path
        assert csp["object-src"] == ["'none'"], path
        assert "'unsafe-inline'" not in csp["script-src"], path
        # no page allows eval, the map pages included (their measure tool is planview's own, not leaflet-measure)
        assert "'unsafe-eval'" not in csp["script-src"], path
        assert csp["script-src"][0] == "'self'", path
    assert answers["/no-such-page"].status_code == 404 and answers["405"].status_code == 405


def test_a_500_page_carries_the_headers_too(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/boom")
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff" and "frame-ancestors 'self'" in r.headers[
        "content-security-policy"]


def test_pages_have_no_inline_script_but_data_and_hashed_ones(hclient: TestClient, workspace_page: str) -> None:
    """Inline code would need 'unsafe-inline': every page runs only /static and module files (JSON data is fine)."""
    for path in [*PAGES, workspace_page]:
        r = hclient.get(path)
        assert r.status_code == 200, path
        allowed = set(_csp(r.headers)["script-src"][1:])
        for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", r.text, re.DOTALL | re.IGNORECASE):
            if "src=" in attrs or "application/json" in attrs or not body.strip():
                continue
            assert script_hashes(f"<script>{body}</script>")[0] in allowed, f"unhashed inline script on {path}"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", r.text, re.IGNORECASE), f"inline event handler on {path}"
        assert not re.search(r"\ssrc\s*=\s*[\"']https?://", r.text), f"remote asset on {path}"
        assert not re.search(r"<link[^>]+stylesheet[^>]+https?://", r.text), f"remote stylesheet on {path}"


def test_only_docs_allows_one_hashed_script(hclient: TestClient) -> None:
    docs = _csp(hclient.get("/docs").headers)["script-src"]
    assert len(docs) == 2 and docs[1].startswith("'sha256-")
    assert _csp(hclient.get("/").headers)["script-src"] == ["'self'"]


def test_configured_basemap_servers_are_allowed_for_images_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, enable_osm=True, tianditu_token="tk", enable_amap=True,
                             basemap_urls={"影像": "http://{s}.tiles.intranet:8080/img/{z}/{x}/{y}.png",
                                           "本机": "/local/{z}/{x}/{y}.png"})
    with TestClient(create_app(settings)) as c:
        csp = _csp(c.get("/").headers)
    for origin in ["https://tile.openstreetmap.org", "https://t0.tianditu.gov.cn", "https://t7.tianditu.gov.cn",
                   "https://webrd01.is.autonavi.com", "http://a.tiles.intranet:8080", "http://c.tiles.intranet:8080"]:
        assert origin in csp["img-src"] and origin in csp["connect-src"], origin
        assert origin not in csp["script-src"]
    assert not any("{" in s for s in csp["img-src"])
    with TestClient(create_app(make_settings(tmp_path / "plain"))) as c:
        assert _csp(c.get("/").headers)["img-src"] == ["'self'", "data:", "blob:"]


def test_policy_text() -> None:
    policy = content_security_policy(["https://a.example"], ["'sha256-x'"])
    assert "script-src 'self' 'sha256-x'" in policy and "img-src 'self' data: blob: https://a.example" in policy


# ---------------------------------------------------------------- HEAD and 405


def _concrete(path: str, workspace: str) -> str | None:
    values = {"layer_id": LAYER, "collection_id": LAYER, "map_id": "chongqing", "plan_id": "yunyang",
              "plan": "yunyang", "table_id": "yunyang", "feature_id": "0", "ws_id": workspace, "ref": workspace}
    try:
        return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m[1]], path)
    except KeyError:
        return None


def test_head_answers_on_every_get_route_with_the_get_headers_and_no_body(hclient: TestClient,
                                                                             workspace_page: str) -> None:
    workspace = workspace_page.rsplit("/", 1)[1]
    schema_paths = [p for p, ops in hclient.get("/openapi.json").json()["paths"].items() if "get" in ops]
    checked = 0
    for template in [*schema_paths, *PAGES, "/maps/{map_id}/thumbnail.svg", "/overlay/{ws_id}"]:
        if template == "/export" or template.endswith((".pdf", ".xlsx", "template.{fmt}", ".mvt", "/api/jobs/{job_id}")):
            continue  # heavy exports (run as jobs) and tiles are GET like the rest; not worth the time here
        path = _concrete(template, workspace)
        assert path is not None, template
        get, head = hclient.get(path), hclient.head(path)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        assert head.headers.get("etag") == get.headers.get("etag"), path
        if get.status_code == 200 and "content-length" in get.headers and "html" not in get.headers["content-type"]:
            # (HTML forms carry a fresh CSRF token each time, so only other bodies have a fixed length)
            assert head.headers["content-length"] == get.headers["content-length"], path
        checked += 1
    assert checked >= 20
    static = hclient.head("/static/planview.css")
    assert static.status_code == 200 and static.content == b"" and int(static.headers["content-length"]) > 0


def test_405_names_the_allowed_methods(hclient: TestClient) -> None:
    cases = {("POST", "/api/layers"): "GET, HEAD", ("DELETE", f"/api/layers/{LAYER}"): "GET, HEAD",
             ("PUT", "/overlay"): "GET, HEAD, POST", ("PATCH", "/api/overlay"): "GET, HEAD, POST",
             ("DELETE", "/static/planview.css"): "GET, HEAD", ("POST", "/ogc/collections"): "GET, HEAD"}
    for (method, path), allow in cases.items():
        r = hclient.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.headers["allow"] == allow, (method, path)


def test_head_on_a_post_only_route_is_405_with_allow(hclient: TestClient) -> None:
    r = hclient.head("/api/indicators/yunyang/values")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


# ---------------------------------------------------------------- byte ranges


def test_layer_geojson_answers_byte_ranges(hclient: TestClient) -> None:
    url = f"/api/layers/{LAYER}"
    full = hclient.get(url, headers={"accept-encoding": "identity"})
    body, etag = full.content, full.headers["etag"]
    assert full.headers["accept-ranges"] == "bytes"
    first = hclient.get(url, headers={"range": "bytes=0-99", "accept-encoding": "gzip"})
    assert first.status_code == 206 and first.content == body[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(body)}" and "content-encoding" not in first.headers
    tail = hclient.get(url, headers={"range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == body[-10:]
    middle = hclient.get(url, headers={"range": f"bytes={len(body) - 5}-{len(body) + 100}"})
    assert middle.content == body[-5:] and middle.headers["content-range"] == (
        f"bytes {len(body) - 5}-{len(body) - 1}/{len(body)}")
    past = hclient.get(url, headers={"range": f"bytes={len(body)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(body)}"
    assert hclient.get(url, headers={"range": "bytes=0-1,5-9"}).status_code == 200  # several ranges: whole body
    assert hclient.get(url, headers={"range": "lines=1-2"}).status_code == 200
    assert hclient.get(url, headers={"range": "bytes=0-9", "if-range": etag}).status_code == 206
    assert hclient.get(url, headers={"range": "bytes=0-9", "if-range": '"stale"'}).status_code == 200


def test_static_files_answer_byte_ranges(hclient: TestClient) -> None:
    body = (ROOT / "static" / "vendor" / "leaflet" / "leaflet.js").read_bytes()
    r = hclient.get("/static/vendor/leaflet/leaflet.js", headers={"range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == body[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(body)}"



def test_static_text_goes_out_gzipped_from_a_cache_with_its_validators(hclient: TestClient) -> None:
    body = (ROOT / "static" / "vendor" / "leaflet" / "leaflet.js").read_bytes()
    with hclient.stream("GET", "/static/vendor/leaflet/leaflet.js", headers={"accept-encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
        headers = r.headers
    assert headers["content-encoding"] == "gzip" and gzip.decompress(raw) == body
    assert int(headers["content-length"]) == len(raw)  # compressed once and kept, not streamed through gzip
    hits = _asset.cache_info().hits
    assert hclient.get("/static/vendor/leaflet/leaflet.js").content == body and _asset.cache_info().hits > hits
    assert len(raw) < len(body) / 2 and headers["etag"] and "javascript" in headers["content-type"]
    assert "max-age=86400" in headers["cache-control"] and "Accept-Encoding" in headers["vary"]
    assert hclient.get("/static/vendor/leaflet/leaflet.js", headers={"if-none-match": headers["etag"]}
                       ).status_code == 304
    plain = hclient.get("/static/vendor/leaflet/leaflet.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == body
    head = hclient.head("/static/vendor/leaflet/leaflet.js")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == headers["etag"]


def test_static_files_from_memory_follow_edits_and_stay_inside_their_folder(tmp_path: Path) -> None:
    """A file edited on disk is served in its new version at once; nothing outside the folder is served."""
    (tmp_path / "static").mkdir()
    (tmp_path / "secret.txt").write_text("not for the web")
    asset = tmp_path / "static" / "app.js"
    asset.write_text("export const v = 1;\n" * 100)
    client = TestClient(Starlette(routes=[Mount("/static", CachedStaticFiles(directory=str(tmp_path / "static")))]))
    first = client.get("/static/app.js")
    assert first.status_code == 200 and first.text.startswith("export const v = 1;")
    asset.write_text("export const v = 2;\n" * 100)
    os.utime(asset, ns=(asset.stat().st_atime_ns, asset.stat().st_mtime_ns + 10**9))
    second = client.get("/static/app.js")
    assert second.text.startswith("export const v = 2;") and second.headers["etag"] != first.headers["etag"]
    assert client.get("/static/../secret.txt").status_code == 404
    assert client.get("/static/%2e%2e/secret.txt").status_code == 404
    assert client.get("/static/missing.js").status_code == 404


# ---------------------------------------------------------------- CORS


def test_cors_is_off_by_default(hclient: TestClient) -> None:
    r = hclient.get("/api/layers", headers={"origin": "https://other.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = hclient.options("/api/layers", headers={"origin": "https://other.example",
                                                  "access-control-request-method": "GET"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured_covers_read_only_routes_only(tmp_path: Path) -> None:
    origin = "https://gis.example.gov.cn"
    with TestClient(create_app(make_settings(tmp_path, cors_origins=[origin])), raise_server_exceptions=False) as c:
        for path in ["/api/layers", f"/api/layers/{LAYER}", "/ogc/collections", f"/ogc/collections/{LAYER}/items"]:
            r = c.get(path, headers={"origin": origin})
            assert r.headers["access-control-allow-origin"] == origin, path
            assert "content-range" in r.headers["access-control-expose-headers"].lower()
        assert "access-control-allow-origin" not in c.get("/api/layers", headers={"origin": "https://evil.example"}).headers
        for method, path in [("GET", "/"), ("GET", "/overlay"), ("POST", "/api/overlay"), ("GET", "/api/overlay")]:
            r = c.request(method, path, headers={"origin": origin})
            assert "access-control-allow-origin" not in r.headers, (method, path)
        ok = c.options("/ogc/collections", headers={"origin": origin, "access-control-request-method": "GET",
                                                    "access-control-request-headers": "range"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == origin
        post = c.options("/api/layers", headers={"origin": origin, "access-control-request-method": "POST"})
        assert post.status_code == 400


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANVIEW_CORS_ORIGINS", '["https://a.example", "https://b.example"]')
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.delenv("PLANVIEW_CORS_ORIGINS")
    assert Settings().cors_origins == []


# ---------------------------------------------------------------- response cache keys


def test_gzipped_bodies_with_links_are_per_host(hclient: TestClient) -> None:
    """The gzip cache is keyed by ETag: OGC bodies hold absolute links, so their ETag includes the host."""
    url = f"/ogc/collections/{LAYER}/items?limit=2"
    seen = {}
    for host in ["127.0.0.1:8183", "localhost:8183", "127.0.0.1:8183"]:
        r = hclient.get(url, headers={"host": host, "accept-encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        links = [link["href"] for link in r.json()["links"]]
        assert links and all(h.startswith(f"http://{host}/") for h in links), (host, links)
        seen[host] = r.headers["etag"]
    assert seen["127.0.0.1:8183"] != seen["localhost:8183"]
    other = hclient.get(url.replace("limit=2", "limit=3"), headers={"accept-encoding": "gzip"})
    assert other.headers["etag"] != seen["127.0.0.1:8183"] and len(other.json()["features"]) == 3


def test_layer_bodies_do_not_depend_on_the_host(hclient: TestClient) -> None:
    """/api/layers bodies hold only relative links, so one cached body serves every host."""
    for url in ["/api/layers", f"/api/layers/{LAYER}"]:
        a = hclient.get(url, headers={"host": "127.0.0.1:8183", "accept-encoding": "gzip"})
        b = hclient.get(url, headers={"host": "intranet.example:80", "accept-encoding": "gzip"})
        assert a.content == b.content, url
        assert "127.0.0.1" not in a.text and "http://" not in a.text.replace("http://www.", ""), url


def test_two_apps_in_one_process_do_not_share_cached_bodies(tmp_path: Path) -> None:
    """The gzip cache belongs to the app: same ETag in two apps (e.g. two stores) never crosses over."""
    from starlette.requests import Request as StarletteRequest

    from server.responses import cached_json

    for name, fill in [("a", b"a"), ("b", b"b")]:
        app = create_app(make_settings(tmp_path / name))
        body = b'{"n":"' + fill * 3000 + b'"}'
        request = StarletteRequest({"type": "http", "method": "GET", "path": "/", "query_string": b"", "app": app,
                                    "headers": [(b"accept-encoding", b"gzip")]})
        r = cached_json(request, body, "same-etag")  # type: ignore[arg-type]
        assert r.headers["content-encoding"] == "gzip" and gzip.decompress(bytes(r.body)) == body


# ---------------------------------------------------------------- slow clients (a real uvicorn)


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app under uvicorn with ``planview serve``'s configuration, on a free loopback port."""
    global AUTH
    port = free_port()
    app = create_app(settings)
    AUTH = "Authorization: {}\r\n".format(bearer(app, "planner")["Authorization"]).encode()
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("slow"), header_timeout_s=1.0, body_timeout_s=1.0,
                             keep_alive_s=1, max_header_kb=16)
    with serving(settings) as address:
        yield address


def _talk(address: str, data: bytes, wait: float = 8.0) -> tuple[bytes, float]:
    """Send ``data`` and stall; return everything the server sent until it closed, and how long that took."""
    host, port = address.split(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        if data:
            s.sendall(data)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
        except TimeoutError:
            pytest.fail(f"server kept a stalled connection open for {wait} s; got {received[:200]!r}")
    return received, time.monotonic() - start


def test_stalled_headers_are_cut_off_with_408(impatient: str) -> None:
    answer, took = _talk(impatient, b"GET /api/layers HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408 ") and took < 5


def test_a_silent_connection_is_closed(impatient: str) -> None:
    answer, took = _talk(impatient, b"")
    assert answer == b"" and took < 5


def test_stalled_body_is_408_with_a_bilingual_message(impatient: str) -> None:
    head = (b"POST /api/overlay HTTP/1.1\r\nHost: x\r\nContent-Type: application/geo+json\r\n" + AUTH
            + b"Content-Length: 10000\r\n\r\n")
    answer, took = _talk(impatient, head + GEOJSON[:50])
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert took < 5
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"] == "request_timeout" and "秒" in body["message"] and "no request data" in body["message"]


def test_kept_alive_connection_times_its_next_request_head_too(impatient: str) -> None:
    """After one answered request, a second head that stalls is cut off (uvicorn's keep-alive timer
    stops as soon as any byte of it arrives, so only the head deadline bounds it)."""
    host, port = impatient.split(":")
    with socket.create_connection((host, int(port)), timeout=8) as s:
        s.sendall(b"GET /ogc/conformance HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"conformsTo" not in first or not first.rstrip().endswith(b"}"):
            first += s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        start = time.monotonic()
        s.sendall(b"GET /api/layers HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except TimeoutError:
            pytest.fail("the stalled second request kept the connection open")
    assert answer.startswith(b"HTTP/1.1 408 ") and time.monotonic() - start < 5


def test_a_prompt_client_is_served_and_headers_over_the_limit_are_refused(impatient: str) -> None:
    answer, _ = _talk(impatient, b"GET /ogc/conformance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and b"conformsTo" in answer
    # a head that grows past max_header_kb (16 KB here) is refused at once, not buffered until the deadline
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 1024)
    answer, took = _talk(impatient, huge)
    assert answer.startswith(b"HTTP/1.1 400 ") and took < 0.9


def test_slow_but_steady_upload_is_not_cut_off(impatient: str) -> None:
    """The timeout is per read, not for the whole body: a body sent in pieces 0.3 s apart still counts."""
    host, port = impatient.split(":")
    head = (f"POST /api/overlay?name=slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/geo+json\r\n"
            f"Content-Length: {len(GEOJSON)}\r\nConnection: close\r\n").encode() + AUTH + b"\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head)
        for i in range(0, len(GEOJSON), 80):
            time.sleep(0.3)
            s.sendall(GEOJSON[i:i + 80])
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]


# ---------------------------------------------------------------- GDAL reads a layer over HTTP


def test_gdal_vsicurl_opens_a_layer_with_head_and_ranges(tmp_path: Path, catalogue: Catalogue) -> None:
    with serving(make_settings(tmp_path)) as address:
        url = f"/vsicurl/http://{address}/api/layers/{LAYER}"
        script = ("import json, sys, pyogrio; info = pyogrio.read_info(sys.argv[1]); "
                  "print(json.dumps({'features': int(info['features']), 'driver': info['driver']}))")
        run = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=120,
                             env={"CPL_VSIL_CURL_ALLOWED_EXTENSIONS": "{noext}", "GDAL_HTTP_TIMEOUT": "30",
                                  "PATH": "/usr/bin:/bin", "CPL_DEBUG": "ON", "CPL_CURL_VERBOSE": "YES"})
    assert run.returncode == 0, run.stderr[-2000:]
    info = json.loads(run.stdout.strip().splitlines()[-1])
    assert info == {"driver": "GeoJSON", "features": len(catalogue.layers[LAYER].features)}
    assert "Range: bytes=" in run.stderr, "GDAL did not read by byte ranges"
