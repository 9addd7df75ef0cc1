"""The inventory: every place either plan locates, its mentions, and the feature that maps it.

``data/plans/inventory.yaml`` is data (schema in ``docs/layer-format.md``).
Each entry quotes the plan verbatim (plan, chapter/section/box, sentence) and
names either the feature that maps it (``layer`` + ``key``) or a written
``unmapped_reason``. ``extent_rules`` state, with a quote, how a zone's
extent must relate to other features (touches / within / covers); they are
checked on the built geometry, so a redrawn schematic cannot silently
contradict the plan.

This module only reads and checks; ``planview plans inventory`` and
``planview layers check`` call it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from shapely.geometry.base import BaseGeometry

from geo.crs import EQUAL_AREA, LONLAT
from geo.errors import DataError
from layers.citations import PLAN_FILES, plan_text

INVENTORY_FILE = Path("plans") / "inventory.yaml"
PlanId = Literal["chongqing", "yunyang"]

_CHAPTER = re.compile(r"^(第[一二三四五六七八九十]+章)\s")
_SECTION = re.compile(r"^(第[一二三四五六七八九十]+节)\s")
_BOX = re.compile(r"^(专栏\d+|表\d+|图\d+)\s")
_TOC_PAGE = re.compile(r"\s\d+$")  # Yunyang's table of contents ends each line with a page number
_BOX_ITEM = re.compile(r"^\d")  # Chongqing's boxes continue on numbered lines (items, table rows)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mention(_Strict):
    plan: PlanId
    section: str = Field(min_length=3)
    text: str = Field(min_length=2)


class FeatureRef(_Strict):
    layer: str
    key: str

    def __str__(self) -> str:
        return f"{self.layer}:{self.key}"


class Entry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    aliases: list[str] = Field(default_factory=list)
    # Phrases that contain a spelling but name something else (龙缸茶业公司 is a company, not 天下龙缸):
    # their occurrences are not mentions of this place.
    not_mentions: list[str] = Field(default_factory=list)
    plans: list[PlanId]
    kind: str
    mentions: list[Mention] = Field(min_length=1)
    feature: FeatureRef | None = None
    unmapped_reason: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _feature_or_reason(self) -> Entry:
        if self.feature is not None and self.unmapped_reason:
            raise ValueError("give a feature or an unmapped_reason, not both")
        return self


class ExtentRule(_Strict):
    """How a zone's extent must relate to other features, stated from the plan.

    ``touches``: the subject overlaps each object by at least ``min_overlap_km2``;
    ``within``: at least ``min_share`` of the subject's area lies inside the union of the objects;
    ``covers``: at least ``min_share`` of each object's area lies inside the subject.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    rule: Literal["touches", "within", "covers"]
    subject: FeatureRef
    objects: list[FeatureRef] = Field(min_length=1)
    min_overlap_km2: float = 0.5
    min_share: float = Field(default=0.98, gt=0, le=1)
    because: Mention
    basis: str | None = None


class Inventory(_Strict):
    entries: list[Entry]
    extent_rules: list[ExtentRule] = Field(default_factory=list)


def inventory_path(data_dir: Path) -> Path:
    return data_dir / INVENTORY_FILE


def load_inventory(data_dir: Path) -> Inventory:
    path = inventory_path(data_dir)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read inventory: {exc}") from exc
    try:
        inv = Inventory.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
        raise DataError(f"{path}: invalid inventory: {problems}") from exc
    seen: set[str] = set()
    for e in inv.entries:
        if e.id in seen:
            raise DataError(f"{path}: duplicate entry id {e.id!r}")
        seen.add(e.id)
    return inv


# --- the plans' structure: which chapter/section/box each line belongs to ---------------------------

def _body_start(lines: list[str]) -> int:
    """Index of the first body line: after the table of contents (whose headings repeat in the body)."""
    first = next((i for i, ln in enumerate(lines) if _CHAPTER.match(ln.strip() + " ")), 0)
    title = lines[first].strip()
    again = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == title), None)
    if again is not None:
        return again
    # Yunyang: the TOC lines end with page numbers, the body headings do not
    return next((i for i in range(first, len(lines)) if _CHAPTER.match(lines[i].strip() + " ")
                 and not _TOC_PAGE.search(lines[i].strip())), first)


@lru_cache(maxsize=4)
def line_sections(plans_dir: Path, file_name: str) -> tuple[tuple[str, str], ...]:
    """For every line of a plan: (its text, "第X章 第Y节 专栏N" of where it stands; "" before the body)."""
    lines = plan_text(plans_dir, file_name).split("\n")
    start = _body_start(lines)
    chapter = section = box = ""
    box_opened = False  # Chongqing: the line right after a box heading is the box's, numbered or not
    out: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        s = line.strip()
        if i >= start and s:
            if m := _CHAPTER.match(s + " "):
                chapter, section, box = m.group(1), "", ""
            elif m := _SECTION.match(s + " "):
                section, box = m.group(1), ""
            elif m := _BOX.match(s + " "):
                box, box_opened = m.group(1), True
            elif box and not box_opened and not _BOX_ITEM.match(s) and file_name == PLAN_FILES["chongqing"]:
                box = ""
            else:
                box_opened = False
        label = " ".join(p for p in (chapter, section, box) if p) if i >= start else ""
        out.append((line, label))
        if file_name == PLAN_FILES["yunyang"] and _BOX.match(s + " "):
            box = ""  # Yunyang's boxes are one line each
    return tuple(out)


def sections_of(plans_dir: Path, plan: str, text: str) -> list[str]:
    """Every section label under which ``text`` occurs verbatim (within one line)."""
    return [label for line, label in line_sections(plans_dir, PLAN_FILES[plan]) if text in line]


def mention_problem(m: Mention, plans_dir: Path) -> str | None:
    """Why a mention is not a verbatim quote from the section it names, or None."""
    found = sections_of(plans_dir, m.plan, m.text)
    if not found:
        return f"quote not found verbatim in {PLAN_FILES[m.plan]}: {m.text[:60]!r}"
    if m.section not in found:
        return f"quote {m.text[:30]!r} is in {sorted(set(found))}, not in {m.section!r}"
    return None


# --- checks ---------------------------------------------------------------------------------------

Features = Mapping[str, gpd.GeoDataFrame]  # layer id -> features (key column named by the manifest)
Keys = Mapping[str, str]  # layer id -> key field


def _geometry(ref: FeatureRef, features: Features, keys: Keys) -> BaseGeometry | None:
    gdf = features.get(ref.layer)
    if gdf is None:
        return None
    hit = gdf[gdf[keys[ref.layer]].astype(str) == ref.key]
    return None if hit.empty else shapely.union_all(hit.geometry.values)


def _equal_area(*geoms: BaseGeometry) -> list[BaseGeometry]:
    return list(gpd.GeoSeries(list(geoms), crs=LONLAT).to_crs(EQUAL_AREA).values)


def rule_problems(rule: ExtentRule, features: Features, keys: Keys) -> list[str]:
    where = f"extent rule {rule.id} ({rule.rule})"
    subject = _geometry(rule.subject, features, keys)
    if subject is None:
        return [f"{where}: subject {rule.subject} is not a feature"]
    objects = []
    for ref in rule.objects:
        g = _geometry(ref, features, keys)
        if g is None:
            return [f"{where}: object {ref} is not a feature"]
        objects.append((ref, g))
    out = []
    if rule.rule == "touches":
        for ref, g in objects:
            s, o = _equal_area(subject, g)
            km2 = s.intersection(o).area / 1e6
            if km2 < rule.min_overlap_km2:
                out.append(f"{where}: {rule.subject} overlaps {ref} by {km2:.2f} km² < {rule.min_overlap_km2} km²")
    elif rule.rule == "within":
        s, o = _equal_area(subject, shapely.union_all([g for _, g in objects]))
        share = s.intersection(o).area / s.area if s.area else float(o.covers(s))
        if share < rule.min_share:
            out.append(f"{where}: only {share:.1%} of {rule.subject} lies within "
                       f"{', '.join(str(r) for r, _ in objects)} (needs {rule.min_share:.0%})")
    else:  # covers
        for ref, g in objects:
            s, o = _equal_area(subject, g)
            share = s.intersection(o).area / o.area if o.area else float(s.covers(o))
            if share < rule.min_share:
                out.append(f"{where}: {rule.subject} covers only {share:.1%} of {ref} (needs {rule.min_share:.0%})")
    return out


def inventory_problems(inv: Inventory, plans_dir: Path, features: Features, keys: Keys) -> list[str]:
    """Every problem with the inventory: unmapped entries without reason, quotes, dangling features, rules."""
    out = []
    for e in inv.entries:
        where = f"inventory {e.id} ({e.name})"
        if e.feature is None and not (e.unmapped_reason or "").strip():
            out.append(f"{where}: no feature and no unmapped_reason")
        if e.feature is not None and _geometry(e.feature, features, keys) is None:
            out.append(f"{where}: feature {e.feature} does not exist")
        for plan in {m.plan for m in e.mentions} - set(e.plans):
            out.append(f"{where}: mentioned in {plan} but plans lists {e.plans}")
        for m in e.mentions:
            if (problem := mention_problem(m, plans_dir)) is not None:
                out.append(f"{where}: {problem}")
    for rule in inv.extent_rules:
        if (problem := mention_problem(rule.because, plans_dir)) is not None:
            out.append(f"extent rule {rule.id}: {problem}")
        out += rule_problems(rule, features, keys)
    return out


def mapping_rows(inv: Inventory) -> list[dict[str, Any]]:
    """One row per entry for listings: id, name, plans, feature or reason."""
    return [{"id": e.id, "name": e.name, "plans": e.plans, "kind": e.kind,
             "feature": str(e.feature) if e.feature else None, "unmapped_reason": e.unmapped_reason,
             "mentions": len(e.mentions)} for e in inv.entries]
