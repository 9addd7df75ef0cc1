"""Shared fixtures: settings, an app from the factory, a live server, a real Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support import bearer, running_app

from layers.catalogue import Catalogue
from server.app import create_app
from server.settings import ROOT, Settings

CHROMIUM = os.environ.get("PLANVIEW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings for a test: the real data, but a private workspace store."""
    values: dict[str, object] = {"workspace_gpkg": tmp / "workspaces.gpkg", "database_url": None,
                                 "layer_store_gpkg": tmp / "layers.gpkg", **overrides}
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client signed in as the planner ``planner`` (personal API token): uploads, own workspaces, exports."""
    with TestClient(app, raise_server_exceptions=False, headers=bearer(app, "planner", "planner")) as c:
        yield c


@pytest.fixture
def anon_client(app: FastAPI) -> Iterator[TestClient]:
    """A client nobody signed in to."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def client_as(app: FastAPI) -> Iterator[Callable[..., TestClient]]:
    """``client_as("li", "viewer")``: a client signed in (API token) as that user, created with that role."""
    clients: list[TestClient] = []

    def make(name: str, role: str = "planner") -> TestClient:
        c = TestClient(app, raise_server_exceptions=False, headers=bearer(app, name, role))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load(ROOT / "data", ROOT / "data" / "build")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port; yields its base URL."""
    with running_app(make_settings(tmp_path_factory.mktemp("live"))) as (_, url):
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright; skipped with a reason when absent."""
    if not CHROMIUM:
        pytest.skip("no Chromium on this machine (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        # Playwright's wait_for_function evaluates its predicate as a string, which the pages' CSP
        # (no 'unsafe-eval') refuses; tests bypass the CSP unless they ask for it (test_http_hygiene_browser).
        new_context = b.new_context
        b.new_context = lambda **kw: new_context(**{"bypass_csp": True, **kw})  # type: ignore[method-assign]
        yield b
        b.close()


SERVICE_SKIPS = ("Chromium", "PLANVIEW_TEST_DATABASE_URL", "esbuild")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Where CI promises the real services (PLANVIEW_REQUIRE_SERVICES=1), a skip for lack of one is a failure.

    Locally, browser and PostGIS tests skip with a reason; in CI a silent skip
    would let the very checks that need real parts go unrun.
    """
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("PLANVIEW_REQUIRE_SERVICES") == "1" and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if any(s in reason for s in SERVICE_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"required service missing in CI: {reason}"
