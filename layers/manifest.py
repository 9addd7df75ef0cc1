"""Layer manifests: the typed, validated description of one layer folder.

A manifest is data (``data/layers/<id>/manifest.yaml``); this module only
checks it. Validation errors name the file and the field so that whoever edits
the YAML knows what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from geo.errors import DataError

# The precision ladder, best first: official (a real boundary), schematic (a drawn shape, 示意),
# located (a point whose position a cited source gives), host (the plan names only the unit it
# lies in: marker at the unit's seat with an uncertainty ring, or the unit highlighted).
# A layer holding several kinds says "mixed".
Precision = Literal["official", "schematic", "located", "host", "mixed"]
PRECISIONS = ("official", "schematic", "located", "host")
# base: administrative geography the plans are laid over (counties, regions);
# plan: the zones and sites the plans name (overlay checks uploads against these);
# reference: context from a dataset (e.g. township seats, rivers), cited by dataset, not by plan;
# control: an authoritative control layer (三区三线, 国土空间规划 land use) that every site check
# is measured against (合规性审查), imported into the layer store with ``planview layers import``.
Role = Literal["base", "plan", "reference", "control"]
# What a control class means for building on it: forbid = a conflict (永久基本农田, 生态保护红线),
# restrict = a note (e.g. 一般农用地), allow = nothing to say (城镇开发边界).
Effect = Literal["forbid", "restrict", "allow"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DissolveSpec(_Strict):
    source: str = Field(alias="from")
    by: str


class GeometrySpec(_Strict):
    """Exactly one geometry source."""

    file: str | None = None
    schematic: str | None = None
    dataset: str | None = None
    dissolve: DissolveSpec | None = None
    sites: str | None = None  # sites.yaml: located points and host-unit placements (layers/sites.py)
    rivers: str | None = None  # rivers.yaml: river lines selected from a pinned dataset (layers/rivers.py)
    # a table in the layer store (large imported layers, read lazily and by area)
    store: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> GeometrySpec:
        kinds = ("file", "schematic", "dataset", "dissolve", "sites", "rivers", "store")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {'/'.join(kinds)}, got {given or 'none'}")
        return self


class Style(_Strict):
    color: str = "#3366cc"
    weight: float = 2.0
    fill_color: str | None = None
    fill_opacity: float = 0.25
    opacity: float = 1.0
    dash_array: str | None = None
    radius: float = 6.0


class LegendCategory(_Strict):
    value: str
    label: str
    color: str


class Legend(_Strict):
    title: str
    field: str | None = None
    categories: list[LegendCategory] = Field(default_factory=list)


class LabelSpec(_Strict):
    """Permanent names on the map: which field, from/to which zoom, and who wins when labels collide.

    The page places labels by ``priority`` (higher first, then larger features first) and drops
    any that would overlap one already placed, so a label appears at every zoom where it fits.
    """

    field: str | None = None  # default: the layer's label_field
    min_zoom: float = Field(default=0, ge=0, le=22)
    max_zoom: float = Field(default=22, ge=0, le=22)
    priority: int = 50
    size: float = Field(default=13, ge=8, le=24)  # CSS px
    color: str = "#1f2933"
    halo: str = "#ffffff"


class ControlClass(_Strict):
    """What one class of a control layer means for a site on it (data, not code)."""

    effect: Effect = "allow"
    note: str = ""


class ControlSpec(_Strict):
    """How a ``control`` layer takes part in every site check: which field holds the class and what each means."""

    class_field: str
    classes: dict[str, ControlClass] = Field(default_factory=dict)

    def effect_of(self, value: object) -> ControlClass:
        return self.classes.get(str(value), ControlClass())


class LayerManifest(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    title_en: str | None = None
    plan: Literal["chongqing", "yunyang"]
    role: Role = "plan"
    description: str = ""
    order: int = 50
    key: str
    attributes: str
    geometry: GeometrySpec
    precision: Precision
    geometry_source: str
    label_field: str = "name"
    popup_fields: dict[str, str] = Field(default_factory=dict)
    style: Style = Field(default_factory=Style)
    legend: Legend | None = None
    label: LabelSpec | None = None
    indicators: dict[str, str] = Field(default_factory=dict)
    control: ControlSpec | None = None
    # where an imported layer came from: source file name, sha256, CRS, importer version
    provenance: dict[str, Any] = Field(default_factory=dict)

    def color_for(self, props: dict[str, Any]) -> str:
        """Fill colour of a feature: its legend category's, else the layer's."""
        if self.legend and self.legend.field:
            value = props.get(self.legend.field)
            for cat in self.legend.categories:
                if cat.value == value:
                    return cat.color
        return self.style.fill_color or self.style.color


def load_manifest(path: Path) -> LayerManifest:
    """Read and validate one manifest; the folder name must equal its id."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read manifest: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: manifest must be a YAML mapping")
    try:
        manifest = LayerManifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise DataError(f"{path}: invalid manifest: {problems}") from exc
    if manifest.id != path.parent.name:
        raise DataError(f"{path}: id {manifest.id!r} must equal the folder name {path.parent.name!r}")
    return manifest
