"""What every format reader returns: geometries as stored, attributes, and what the file declares."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.readers.crs_infer import CrsChoice


@dataclass
class RawSites:
    """Sites as read, before CRS resolution: coordinates exactly as in the file."""

    geometry: NDArray[np.object_]
    attributes: pd.DataFrame  # one row per geometry
    format: str  # "geojson", "shapefile", "kml", "kmz", "gpkg", "csv", "xlsx", "dxf", "landtxt"
    declared_crs: CrsChoice | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    # Names the file gives that may reveal an offset datum (file name, column names).
    datum_hints: list[str] = field(default_factory=list)


def cell(value: Any) -> Any:
    """A JSON-safe attribute value: str/int/float/bool/None (dates as ISO text)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple | np.ndarray):
        return "、".join(str(cell(v)) for v in value)
    if pd.isna(value):
        return None
    return str(value)


def clean_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """Attributes with JSON-safe cells and string column names; geometry columns dropped."""
    frame = frame.drop(columns=[c for c in frame.columns if str(c).lower() in ("geometry", "geom")], errors="ignore")
    out = pd.DataFrame({str(c): [cell(v) for v in frame[c].tolist()] for c in frame.columns}, index=range(len(frame)))
    return out
