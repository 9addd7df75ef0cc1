"""Two small data files about the plans' text, read and checked against it.

- ``data/plans/body-targets.yaml``: targets written in the body text (not in
  专栏1 / 表1), each on its feature, with the verbatim quote holding the number;
- ``data/plans/cross-links.yaml``: where both plans speak of one place (and
  where they disagree), quoting each plan.

A quote that is not verbatim, or a value its quote does not contain, is an
error: the file is data about the plans, never a place to invent numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from geo.errors import DataError
from layers.plantext import PlanText

BODY_TARGETS_FILE = "body-targets.yaml"
CROSS_LINKS_FILE = "cross-links.yaml"
Comparator = Literal["≥", ">", "=", "≤", "<", "≈"]


def _feature_key(ref: str) -> tuple[str, str]:
    layer, _, fid = ref.partition("/")
    if not layer or not fid:
        raise ValueError(f"feature must be 'layer/id', got {ref!r}")
    return (layer, fid)


class BodyTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    feature: str
    indicator: str
    comparator: Comparator
    value: float | int
    unit: str
    year: int | None
    source: str
    quote: str

    @property
    def key(self) -> tuple[str, str]:
        return _feature_key(self.feature)

    @property
    def plan(self) -> str:
        return "chongqing" if self.source.startswith("chongqing") else "yunyang"


class Statement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    plan: Literal["chongqing", "yunyang"]
    quote: str


class CrossLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    kind: Literal["same-place", "disagree"]
    title: str
    features: list[str]
    statements: list[Statement]
    note: str

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [_feature_key(f) for f in self.features]


def _read_list(path: Path) -> list[object]:
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: must be a YAML list")
    return data


def load_body_targets(plans_dir: Path) -> list[BodyTarget]:
    path = plans_dir / BODY_TARGETS_FILE
    try:
        return [BodyTarget.model_validate(r) for r in _read_list(path)]
    except ValidationError as exc:
        raise DataError(f"{path}: {exc}") from exc


def load_cross_links(plans_dir: Path) -> list[CrossLink]:
    path = plans_dir / CROSS_LINKS_FILE
    try:
        return [CrossLink.model_validate(r) for r in _read_list(path)]
    except ValidationError as exc:
        raise DataError(f"{path}: {exc}") from exc


def _number_text(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def note_problems(plans: dict[str, PlanText], targets: list[BodyTarget], links: list[CrossLink],
                  known: set[tuple[str, str]] | None = None) -> list[str]:
    """Every way the two files disagree with the plan texts (or name an unknown feature)."""
    problems: list[str] = []
    for t in targets:
        plan = plans.get(t.plan)
        if plan is None or not plan.find(t.quote):
            problems.append(f"body target {t.feature} {t.indicator}: quote not verbatim in {t.plan}: {t.quote!r}")
        elif _number_text(t.value) not in t.quote:
            problems.append(f"body target {t.feature} {t.indicator}: value {t.value} is not in its quote")
        if known is not None and t.key not in known:
            problems.append(f"body target {t.indicator}: unknown feature {t.feature}")
    for link in links:
        for s in link.statements:
            if not plans[s.plan].find(s.quote):
                problems.append(f"cross-link {link.id}: quote not verbatim in {s.plan}: {s.quote!r}")
        if known is not None:
            problems.extend(f"cross-link {link.id}: unknown feature {'/'.join(k)}" for k in link.keys if k not in known)
    return problems


def check_notes(notes_dir: Path, plans_dir: Path, known: set[tuple[str, str]]) -> list[str]:
    """``planview layers check``'s part: both files (in ``notes_dir``, the data dir's ``plans``)
    readable, their quotes verbatim in the plan texts (in ``plans_dir``), their features known."""
    from layers.plantext import load_plans

    try:
        targets, links = load_body_targets(notes_dir), load_cross_links(notes_dir)
    except DataError as exc:
        return [exc.message]
    return note_problems(load_plans(plans_dir), targets, links, known)
