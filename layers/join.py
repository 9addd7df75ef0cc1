"""The join of geometry and plan attributes by a stable key.

The join is strict: every feature needs exactly one attribute record and every
record exactly one feature. Anything else is a :class:`JoinError` that lists
the unmatched keys on each side, because a silent left join would drop a
plan zone from the map without anyone noticing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import JoinError


def _dupes(values: list[str]) -> list[str]:
    return sorted(k for k, n in Counter(values).items() if n > 1)


def join_attributes(
    features: gpd.GeoDataFrame, records: list[dict[str, Any]], key: str, *, where: str
) -> gpd.GeoDataFrame:
    """Join ``records`` onto ``features`` by ``key``; raise on any mismatch."""
    if key not in features.columns:
        raise JoinError(f"{where}: geometry has no key field {key!r}")
    missing_key = [i for i, r in enumerate(records) if key not in r or r[key] is None]
    if missing_key:
        raise JoinError(f"{where}: attribute records {missing_key} have no {key!r}")
    geo_keys = [str(k) for k in features[key]]
    attr_keys = [str(r[key]) for r in records]
    problems = []
    if d := _dupes(geo_keys):
        problems.append(f"duplicate keys in geometry: {d}")
    if d := _dupes(attr_keys):
        problems.append(f"duplicate keys in attributes: {d}")
    if only_geo := sorted(set(geo_keys) - set(attr_keys)):
        problems.append(f"keys in geometry without attributes: {only_geo}")
    if only_attr := sorted(set(attr_keys) - set(geo_keys)):
        problems.append(f"keys in attributes without geometry: {only_attr}")
    if problems:
        raise JoinError(f"{where}: join on {key!r} failed: " + "; ".join(problems))
    table = pd.DataFrame([{**r, key: str(r[key])} for r in records])
    left = features.drop(columns=[c for c in table.columns if c != key and c in features.columns])
    left = left.assign(**{key: geo_keys})
    joined = left.merge(table, on=key, how="left", validate="one_to_one")
    return gpd.GeoDataFrame(joined, geometry="geometry", crs=features.crs)
