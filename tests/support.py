"""Test helpers shared by several modules: a real app under uvicorn on a free loopback port."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from layers.accounts import Role, create_token, hash_password
from server.app import create_app
from server.settings import Settings

PASSWORD = "correct horse battery"  # every test user's password


def add_user(app: FastAPI, name: str, role: str = "planner", password: str = PASSWORD) -> None:
    """A local user in the app's account store (kept if it exists)."""
    accounts = app.state.auth.accounts
    if accounts.find_user(name) is None:
        accounts.add_user(name, Role(role), hash_password(password))


def token_for(app: FastAPI, name: str, role: str = "planner") -> str:
    """A personal API token for ``name`` (created with ``role`` if needed)."""
    add_user(app, name, role)
    return create_token(app.state.auth.accounts, name, "test")[1]


def bearer(app: FastAPI, name: str, role: str = "planner") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, name, role)}"}


def signed_in(app: FastAPI, name: str = "planner", role: str = "planner") -> TestClient:
    """A TestClient acting as ``name`` (created with ``role``) through a personal API token; use it with ``with``."""
    return TestClient(app, raise_server_exceptions=False, headers=bearer(app, name, role))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(settings: Settings) -> Iterator[tuple[uvicorn.Server, str]]:
    """Serve ``create_app(settings)`` in a thread; yields the server and its base URL, stops it after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("test server did not start within 30 s")
        time.sleep(0.05)
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def keep_local(page: Any) -> list[str]:
    """Abort every request that leaves the loopback server (the product must work offline) and return the
    list the page's outside requests are recorded in, for the test to assert empty."""
    outside: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    page.route("**/*", route)
    return outside


def map_module(html: str) -> str:
    """The map page's inline module: Folium's script, which creates the map, its layer groups and basemaps."""
    found = re.findall(r'<script type="module">(.*?)</script>', html, re.DOTALL)
    assert len(found) == 1, "a map page has exactly one inline module"
    return str(found[0])
