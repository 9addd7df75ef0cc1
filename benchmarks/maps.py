"""Benchmark: our ``/maps/chongqing`` against ``GeoDataFrame.explore()`` of the same 38 counties.

    .venv/bin/python -m benchmarks.maps [--runs 5]

Both pages are measured in the same run, in the same headless Chromium:

* bytes to show the first view — HTML + layer data as transferred (gzip):
  the baseline embeds all geometry in its HTML (gzip level 9, as our
  GZipMiddleware does); ours is the page plus each ``/api/layers`` response
  the browser fetched before the map was ready. Target: at most 1/5.
* time until every layer is drawn, from navigation start, median of
  ``--runs`` cold loads (fresh browser context each, the two pages
  alternating). Both pages are served by uvicorn with gzip in processes of
  their own (the default app from the environment, and a one-route app for
  the saved baseline page); the baseline's CDN assets are intercepted with
  ``page.route`` and served from local copies (``npm pack`` of the exact
  versions folium names, cached in ``benchmarks/out/cdn``; any asset that
  cannot be fetched is served empty, which only makes the baseline faster).
  Its OpenStreetMap tiles are aborted, ours uses none. Target: at most 1/2.
* ours is served with its first-view build when there is a current one (``make bench`` makes it;
  server/mapview/frontend.py), and says which.
* both again on a phone viewport (390×844, touch, mobile): ours then lays out as a
  full-screen map with a bottom sheet. Same targets.

This is a benchmark, not a test: it prints numbers and ratios, and exits 1
only when a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
MAP_ID = "chongqing"
BASE_LAYER = "cq-counties"

# CDN URL prefix -> (npm package@version, folder inside the package that the prefix maps to)
CDN_PACKAGES: dict[str, tuple[str, str]] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/": ("leaflet@1.9.3", ""),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/": ("bootstrap@5.2.2", ""),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        ("drmonty-leaflet-awesome-markers@2.0.2", "js/leaflet.awesome-markers.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        ("drmonty-leaflet-awesome-markers@2.0.2", "css/leaflet.awesome-markers.css"),
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/": ("@fortawesome/fontawesome-free@6.2.0", ""),
}


# ------------------------------------------------------------------ baseline

def baseline_html() -> str:
    """What ``explore()`` writes for the 38 counties (with their plan attributes)."""
    from layers.catalogue import Catalogue

    catalogue = Catalogue.load(ROOT / "data", ROOT / "data" / "build")
    counties = catalogue.get(BASE_LAYER).features
    return str(counties.explore().get_root().render())


def _npm_unpack(spec: str, cache: Path) -> Path | None:
    folder = cache / spec.replace("/", "_").replace("@", "_")
    if (folder / "package").is_dir():
        return folder / "package"
    if not shutil.which("npm"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp, check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError):
            return None
        tarball = next(Path(tmp).glob("*.tgz"))
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(folder, filter="data")
    return folder / "package"


def cdn_copies() -> dict[str, Path | None]:
    """CDN prefix -> local file or folder (None when it could not be fetched)."""
    cache = OUT / "cdn"
    out: dict[str, Path | None] = {}
    for prefix, (spec, inner) in CDN_PACKAGES.items():
        root = _npm_unpack(spec, cache)
        out[prefix] = (root / inner) if root else None
    return out


def _cdn_route(copies: dict[str, Path | None], served: dict[str, str]) -> Any:
    def handle(route: Any) -> None:
        url = route.request.url.split("?")[0].split("#")[0]
        if "tile.openstreetmap.org" in url:
            served[url] = "aborted (tile)"
            route.abort()
            return
        for prefix, local in copies.items():
            if not url.startswith(prefix):
                continue
            path = local if local is None or local.is_file() else local / url[len(prefix):]
            if path is not None and path.is_file():
                served[url] = "local copy"
                route.fulfill(path=str(path))
                return
        served[url] = "empty stub"
        ctype = "text/css" if url.endswith(".css") else "application/javascript"
        route.fulfill(status=200, body="", content_type=ctype)
    return handle


# ------------------------------------------------------------------- servers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn in its own process (the browser driver in this process must not share its GIL)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    deadline = time.time() + 240  # a busy machine loads the catalogue slowly
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"{app} did not start") from None
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def baseline_app() -> Any:
    """Serve the saved baseline page like ours is served: uvicorn + GZipMiddleware."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from starlette.middleware.gzip import GZipMiddleware

    html = (OUT / "baseline-explore.html").read_text(encoding="utf-8")
    app = FastAPI()
    app.add_middleware(GZipMiddleware, minimum_size=1024)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return html

    return app


# ---------------------------------------------------------------- measuring

DRAWN_OURS = "() => window.planview && window.planview.ready && performance.now()"
DRAWN_BASELINE = "() => document.querySelectorAll('path.leaflet-interactive').length >= 38 && performance.now()"


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}  # a link opened from a chat on a phone (touch, mobile UA)


def _load(browser: Any, url: str, drawn: str, route: Any = None,
          record: bool = False, viewport: dict[str, int] | None = None) -> tuple[float, list[tuple[str, str, int]]]:
    """One cold load: ms from navigation start to drawn, and, when ``record``, (url, type,
    encoded body bytes) per request (recording adds driver traffic, so timed loads don't)."""
    phone = viewport == PHONE
    context = browser.new_context(viewport=viewport or DESKTOP, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    finished: list[Any] = []
    if record:
        page.on("requestfinished", lambda request: finished.append(request))
    if route is not None:
        page.route("https://**/*", route)
    page.goto(url, wait_until="commit")
    ms = float(page.wait_for_function(drawn, polling="raf", timeout=60_000).json_value())
    if record:
        page.wait_for_timeout(500)  # let late responses (indicator table) finish
    sizes = [(r.url, r.resource_type, int(r.sizes()["responseBodySize"])) for r in finished]
    context.close()
    return ms, sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold loads per page (median reported)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    html = baseline_html()
    build_s = time.perf_counter() - t0
    (OUT / "baseline-explore.html").write_text(html, encoding="utf-8")
    base_raw = len(html.encode())
    base_gz = len(gzip.compress(html.encode(), 9))
    copies = cdn_copies()

    ours_proc, ours_url = _serve("server.app:create_app", {"PLANVIEW_WORKSPACE_GPKG": str(OUT / "bench-ws.gpkg")})
    base_proc, base_url = _serve("benchmarks.maps:baseline_app")
    served: dict[str, str] = {}
    ours_ms: list[float] = []
    base_ms: list[float] = []
    ours_sizes: list[tuple[str, str, int]] = []
    phone_sizes: list[tuple[str, str, int]] = []
    ours_phone_ms: list[float] = []
    base_phone_ms: list[float] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            # warm both servers' caches once; this load of ours also records the bytes transferred
            _ms, ours_sizes = _load(browser, f"{ours_url}/maps/{MAP_ID}", DRAWN_OURS, record=True)
            _load(browser, base_url + "/", DRAWN_BASELINE, _cdn_route(copies, served))
            for _ in range(args.runs):
                ours_ms.append(_load(browser, f"{ours_url}/maps/{MAP_ID}", DRAWN_OURS)[0])
                base_ms.append(_load(browser, base_url + "/", DRAWN_BASELINE, _cdn_route(copies, served))[0])
            # the same on a phone viewport
            _ms, phone_sizes = _load(browser, f"{ours_url}/maps/{MAP_ID}", DRAWN_OURS, record=True, viewport=PHONE)
            for _ in range(args.runs):
                ours_phone_ms.append(_load(browser, f"{ours_url}/maps/{MAP_ID}", DRAWN_OURS, viewport=PHONE)[0])
                base_phone_ms.append(_load(browser, base_url + "/", DRAWN_BASELINE, _cdn_route(copies, served),
                                           viewport=PHONE)[0])
            browser.close()
    finally:
        for proc in (ours_proc, base_proc):
            proc.terminate()
            proc.wait(timeout=10)

    page_bytes = sum(n for u, t, n in ours_sizes if t == "document")
    data = [(u, n) for u, t, n in ours_sizes if "/api/layers/" in u]
    data_bytes = sum(n for _, n in data)
    static_bytes = sum(n for u, t, n in ours_sizes if "/static/" in u)
    other_api = sum(n for u, t, n in ours_sizes if "/api/" in u and "/api/layers/" not in u)
    first_view = page_bytes + data_bytes
    ours_med, base_med = statistics.median(ours_ms), statistics.median(base_ms)
    bytes_ratio = first_view / base_gz
    time_ratio = ours_med / base_med

    print(f"baseline: GeoDataFrame.explore() of {BASE_LAYER} (built in {build_s:.2f} s)")
    print(f"  HTML {base_raw:,} B raw, {base_gz:,} B gzip; CDN assets: "
          + ", ".join(f"{v}×{list(served.values()).count(v)}" for v in sorted(set(served.values()))))
    from server.mapview.frontend import front_end
    from server.settings import Settings

    settings = Settings()
    front = front_end(settings.static_dir, settings.js_build_dir if settings.js_build else None)
    which = "the first-view build, " + front.main if front.built else "the ES modules as they are (no current build: make js)"
    print(f"ours: /maps/{MAP_ID} (front end: {which})")
    print(f"  HTML {page_bytes:,} B gzip + layer data {data_bytes:,} B gzip = {first_view:,} B for the first view")
    for url, n in data:
        print(f"    {url.split('/api/', 1)[1]}: {n:,} B")
    print(f"  (also fetched: static JS/CSS {static_bytes:,} B gzip, cacheable; indicator table {other_api:,} B)")
    print(f"bytes, first view (HTML + layer data, gzip): ours {first_view:,} B vs baseline {base_gz:,} B "
          f"-> ratio {bytes_ratio:.3f} (target <= 0.200) {'OK' if bytes_ratio <= 0.2 else 'MISSED'}")
    paired = statistics.median(o / b for o, b in zip(ours_ms, base_ms, strict=True))
    load = os.getloadavg()[0]
    print(f"machine load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs "
          "(timings are only comparable on an otherwise idle machine); median of paired ratios "
          f"{paired:.3f}")
    print(f"time until all layers drawn, median of {args.runs} cold loads: ours {ours_med:.0f} ms "
          f"{[round(x) for x in ours_ms]} vs baseline {base_med:.0f} ms {[round(x) for x in base_ms]} "
          f"-> ratio {time_ratio:.3f} (target <= 0.500) {'OK' if time_ratio <= 0.5 else 'MISSED'}")
    phone_first = sum(n for u, t, n in phone_sizes if t == "document" or "/api/layers/" in u)
    phone_bytes_ratio = phone_first / base_gz
    phone_med, base_phone_med = statistics.median(ours_phone_ms), statistics.median(base_phone_ms)
    phone_time_ratio = phone_med / base_phone_med
    print(f"phone 390×844 (touch): bytes, first view: ours {phone_first:,} B vs baseline {base_gz:,} B "
          f"-> ratio {phone_bytes_ratio:.3f} (target <= 0.200) {'OK' if phone_bytes_ratio <= 0.2 else 'MISSED'}")
    print(f"phone 390×844 (touch): time until all layers drawn: ours {phone_med:.0f} ms "
          f"{[round(x) for x in ours_phone_ms]} vs baseline {base_phone_med:.0f} ms "
          f"{[round(x) for x in base_phone_ms]} -> ratio {phone_time_ratio:.3f} (target <= 0.500) "
          f"{'OK' if phone_time_ratio <= 0.5 else 'MISSED'}")
    ok = bytes_ratio <= 0.2 and time_ratio <= 0.5 and phone_bytes_ratio <= 0.2 and phone_time_ratio <= 0.5
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
