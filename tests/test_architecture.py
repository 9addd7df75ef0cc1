"""Layering rules that keep the core reusable: geo/ and layers/ know nothing of the web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from server.settings import ROOT

WEB = {"fastapi", "starlette", "folium", "branca", "uvicorn", "jinja2"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ["geo", "layers"])
def test_core_packages_do_not_import_the_web_layer(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & (WEB | {"server"}))
                 for p in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}



@pytest.mark.parametrize("package", ["geo", "layers"])
def test_core_packages_take_arguments_not_settings(package: str) -> None:
    readers = [str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py")
               if "pydantic_settings" in _imports(p) or "os.environ" in p.read_text(encoding="utf-8")]
    assert readers == []
