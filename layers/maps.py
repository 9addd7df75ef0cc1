"""Map definitions: which layers a map shows, how, and its first view.

A map is data (``data/maps/<id>.yaml``), not code; the interactive page
(server) and the static export both read it from here.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geo.errors import DataError, NotFound


class MapLayer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    visible: bool = True


class MapDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    subtitle: str | None = None
    plan: str
    description: str
    order: int = 50
    layers: list[MapLayer]
    # Initial view as lon/lat bounds (minx, miny, maxx, maxy); the page fits it.
    bounds: tuple[float, float, float, float]
    min_zoom: int = 5
    max_zoom: int = 17


def load_maps(data_dir: Path) -> dict[str, MapDefinition]:
    """All map definitions under ``data_dir/maps``, by id, in catalogue order."""
    maps: dict[str, MapDefinition] = {}
    for path in sorted((data_dir / "maps").glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            definition = MapDefinition.model_validate(raw)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise DataError(f"{path}: invalid map definition: {exc}") from exc
        if definition.id != path.stem:
            raise DataError(f"{path}: id {definition.id!r} must equal the file name")
        maps[definition.id] = definition
    return dict(sorted(maps.items(), key=lambda kv: (kv[1].order, kv[0])))


def get_map(maps: dict[str, MapDefinition], map_id: str) -> MapDefinition:
    try:
        return maps[map_id]
    except KeyError:
        raise NotFound(f"没有地图 {map_id!r} / unknown map {map_id!r}; known: {sorted(maps)}") from None
