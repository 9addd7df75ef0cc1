"""The GeoNames gazetteer that schematic placements cite (``data/gazetteer``).

A schematic's ``placement_basis`` names its anchor as ``GeoNames <id> <名称>``;
:func:`cited_ids` finds those ids so that checks can verify the feature lies
within its stated uncertainty of the cited point.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import NamedTuple

CITATION = re.compile(r"GeoNames\s+(\d{5,9})")


class Place(NamedTuple):
    geonameid: str
    name: str
    name_zh: tuple[str, ...]
    lon: float
    lat: float
    feature_code: str


def load_gazetteer(path: Path) -> dict[str, Place]:
    """GeoNames places by id, from the committed TSV extract."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {
            row["geonameid"]: Place(row["geonameid"], row["name"], tuple(filter(None, row["name_zh"].split("|"))),
                                    float(row["lon"]), float(row["lat"]), row["feature_code"])
            for row in csv.DictReader(fh, delimiter="\t")
        }


def cited_ids(placement_basis: str | None) -> list[str]:
    return CITATION.findall(placement_basis or "")
