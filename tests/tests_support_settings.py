"""Settings for tests that build their own app (the same as conftest's ``make_settings``)."""

from __future__ import annotations

from pathlib import Path

from conftest import make_settings

from server.settings import Settings


def settings_for(tmp: Path, **overrides: object) -> Settings:
    return make_settings(tmp, **overrides)
