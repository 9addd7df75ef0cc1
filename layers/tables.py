"""Attribute and indicator tables (YAML or CSV), kept apart from geometry."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from geo.errors import DataError


def load_records(path: Path) -> list[dict[str, Any]]:
    """Read an attribute table: a YAML list of mappings or a UTF-8 CSV."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                return [dict(row) for row in csv.DictReader(fh)]
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read attribute table: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: attribute table must be a YAML list of mappings")
    return data


def load_indicator_table(path: Path) -> dict[str, Any]:
    """Read one indicator table (``data/indicators/<id>.yaml``)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read indicator table: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("indicators"), list):
        raise DataError(f"{path}: indicator table needs an 'indicators' list")
    return data
