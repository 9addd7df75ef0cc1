"""Which indicators can be monitored: every row of every indicator table, every body-text target on a feature.

Indicators are data, not code. The registry is rebuilt from the catalogue:

* each ``data/indicators/*.yaml`` table (专栏1 of Chongqing, 表1 of Yunyang, and
  any later file such as body-text targets) contributes its rows. A table
  belongs to the plan named by its ``plan`` field, else to the plan its id names;
  a row may name its own ``plan``. A new file needs no code change;
* each target list (a YAML list of ``{feature: <layer>/<key>, indicator, value,
  unit, comparator, year, source, quote}``: ``data/plans/*targets*.yaml`` such as
  ``body-targets.yaml``, or such a list in ``data/indicators/``) contributes its
  body-text targets;
* each feature of a layer whose attributes carry ``targets`` (e.g. the science
  city's "研发投入强度达到5%以上") contributes those targets,
unless the same target is already listed (the municipality's targets repeat 专栏1).

Ids are stable: ``<table>.<number>`` (or the row's position when the table has
no numbers, or the row's own ``id``) and ``<layer>.<feature key>.<indicator>``
for body-text targets (the same id whichever file records them). Numbers are copied from the data; nothing is invented: a
target the plan does not give stays ``None`` and the status says so.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from geo.errors import DataError
from layers.catalogue import Catalogue, Layer
from layers.tables import load_records

log = logging.getLogger(__name__)

PLANS = ("chongqing", "yunyang")
FIRST_YEAR, LAST_YEAR, BASE_YEAR = 2021, 2025, 2020
# How the plans word a comparison; "以上" in Chinese official usage includes the bound.
QUALIFIERS = {"翻番": "≥", "以上": "≥", "达到": "≥", "突破": ">", "超过": ">", "以下": "≤", "不超过": "≤", "低于": "<", "控制在": "≤"}
_TEXT_TARGET = re.compile(r"^\s*(>=|<=|≥|≤|>|<|＞|＜)?\s*(-?\d+(?:\.\d+)?)")
_NORMALISE = str.maketrans({"＞": ">", "＜": "<"})


@dataclass(frozen=True)
class FeatureRef:
    layer: str
    key: str
    name: str


@dataclass(frozen=True)
class Indicator:
    """One monitorable indicator with its 2020 value and 2025 target, as the plan gives them."""

    id: str
    plan: str
    group: str  # the table title, or "正文目标" for targets written in the body text
    number: int | None
    name: str
    unit: str
    base_value: float | None  # 2020
    target: float | None  # 2025 (or, for an annual-rate indicator, the yearly rate)
    target_text: str  # as the plan writes it (">10（年均）", "≥5", "2.6")
    comparator: str  # ≥ > ≤ < : how a value meets the target
    kind: str  # "level": the value itself; "annual_rate": a yearly growth rate to be kept on average
    path: str  # "linear" | "compound" | "flat" | "none"
    attribute: str | None  # 预期性 / 约束性
    source: str
    quote: str | None = None
    note: str | None = None
    feature: FeatureRef | None = None
    table: str | None = None

    @property
    def lower_is_better(self) -> bool:
        if self.comparator in ("≤", "<"):
            return True
        return self.base_value is not None and self.target is not None and self.target < self.base_value \
            and self.kind == "level"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lower_is_better"] = self.lower_is_better
        return out


@dataclass
class Registry:
    indicators: dict[str, Indicator] = field(default_factory=dict)

    def for_plan(self, plan: str) -> list[Indicator]:
        return [i for i in self.indicators.values() if i.plan == plan]

    def get(self, indicator_id: str) -> Indicator | None:
        return self.indicators.get(indicator_id)

    def groups(self, plan: str) -> list[str]:
        return list(dict.fromkeys(i.group for i in self.for_plan(plan)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def parse_text_target(text: Any) -> tuple[str | None, float | None]:
    """``">10"`` -> (">", 10.0); a bare number -> (None, n); anything else -> (None, None). Never guesses."""
    if text is None:
        return None, None
    m = _TEXT_TARGET.match(str(text).translate(_NORMALISE))
    if not m:
        return None, None
    op = {">=": "≥", "<=": "≤"}.get(m.group(1) or "", m.group(1))
    return op, float(m.group(2))


def normalise_name(name: str) -> str:
    text = re.sub(r"[\s（）()“”\"、,，]", "", name)
    for old, new in (("年均", ""), ("国家级", "国家"), ("R&D", "研发"), ("GDP", "地区生产总值")):
        text = text.replace(old, new)
    return text


def _same_indicator(a: str, b: str) -> bool:
    na, nb = normalise_name(a), normalise_name(b)
    return bool(na and nb) and (na in nb or nb in na)


def _table_plan(table_id: str, table: dict[str, Any], row: dict[str, Any]) -> str | None:
    plan = row.get("plan") or table.get("plan") or (table_id if table_id in PLANS else None)
    return str(plan) if plan in PLANS else None


def _comparator(row: dict[str, Any], parsed: str | None) -> str:
    explicit = row.get("comparator")
    if explicit in ("≥", ">", "≤", "<", ">=", "<=", "="):
        return {">=": "≥", "<=": "≤"}.get(str(explicit), str(explicit))
    if parsed:
        return parsed
    qualifier = str(row.get("qualifier") or "")
    for word, op in QUALIFIERS.items():
        if word in qualifier:
            return op
    return "≥"


def table_indicators(table_id: str, table: dict[str, Any]) -> list[Indicator]:
    """The rows of one indicator table as indicators (rows without a plan or a name are skipped)."""
    out: list[Indicator] = []
    group = str(table.get("title") or table_id)
    source = str(table.get("source") or table_id)
    for position, row in enumerate(table.get("indicators") or [], start=1):
        if not isinstance(row, dict):
            continue
        plan = _table_plan(table_id, table, row)
        name = row.get("name") or row.get("indicator")
        if plan is None or not name:
            continue
        year = row.get("year")
        if year not in (None, LAST_YEAR) and "target_2025" not in row:
            continue  # e.g. a 2035 target: outside the 2021-2025 monitoring period
        number = row.get("number") if isinstance(row.get("number"), int) else None
        ind_id = str(row.get("id") or f"{table_id}.{number if number is not None else position}")
        base = _number(row.get("value_2020", row.get("baseline")))
        target = _number(row.get("target_2025", row.get("target", row.get("value"))))
        annual = row.get("annual_average")
        op, annual_rate = parse_text_target(annual)
        target_text = str(row.get("target_text") or (row.get("target_2025") if target is not None else annual) or "")
        if target is None and annual_rate is not None:
            kind, path, target = "annual_rate", "flat", annual_rate
            target_text = target_text or f"{annual}（年均）"
        else:
            kind = "level"
            explicit_path = row.get("path")
            if explicit_path in ("linear", "compound"):
                path = str(explicit_path)
            elif annual_rate is not None and target is not None and base:
                path = "compound"  # a level target the plan also words as "年均" growth
            else:
                path = "linear" if (target is not None and base is not None) else "none"
        if target is not None and not target_text:
            target_text = f"{target:g}"
        feature = None
        if row.get("layer") and row.get("key"):
            feature = FeatureRef(str(row["layer"]), str(row["key"]), str(row.get("feature_name") or row["key"]))
        out.append(Indicator(
            id=ind_id, plan=plan, group=str(row.get("group") or group), number=number, name=str(name),
            unit=str(row.get("unit") or ""), base_value=base, target=target, target_text=target_text,
            comparator=_comparator(row, op), kind=kind, path=path, attribute=row.get("kind") or row.get("attribute"),
            source=str(row.get("source") or source), quote=row.get("quote"), note=row.get("note"),
            feature=feature, table=table_id))
    return out


def _body_target(layer: Layer, key: str, fname: str, target: dict[str, Any], source: str,
                 quote: Any) -> Indicator | None:
    """One body-text target on a feature, or None when it is outside 2021-2025 or has no indicator."""
    name = str(target.get("indicator") or "").strip()
    if not name or target.get("year") not in (None, LAST_YEAR):
        return None
    value = _number(target.get("value"))
    note = target.get("note")
    if target.get("year") is None:
        note = (note + "；" if note else "") + "原文未写年份，按“十四五”期末（2025年）监测"
    op = _comparator(target, None)
    base = _number(target.get("value_2020"))
    shown = "" if value is None else (f"{value:g}" if op == "=" else f"{op}{value:g}")
    source_text = str(target.get("source") or source)
    plan = target.get("plan") if target.get("plan") in PLANS else next(
        (p for p in PLANS if source_text.startswith(p)), layer.manifest.plan)  # a Yunyang target on a county
    return Indicator(
        id=f"{layer.id}.{key}.{name}", plan=str(plan), group="正文目标", number=None, name=f"{fname}：{name}",
        unit=str(target.get("unit") or ""), base_value=base, target=value, target_text=shown,
        comparator="≥" if op == "=" else op, kind="level", path="none" if base is None else "linear", attribute=None,
        source=source_text, quote=target.get("quote") or quote, note=note,
        feature=FeatureRef(layer.id, key, fname), table=None)


def _duplicate(candidate: Indicator, known: list[Indicator]) -> bool:
    ref = candidate.feature
    short = candidate.name.split("：", 1)[-1]
    return any(k.id == candidate.id or (k.plan == candidate.plan and _same_indicator(k.name.split("：", 1)[-1], short)
                                        and (k.feature is None or ref is None or k.feature == ref))
               for k in known)


def target_list_indicators(catalogue: Catalogue, known: list[Indicator]) -> list[Indicator]:
    """Body-text targets from target-list files (``data/plans/*targets*.yaml``, lists in ``data/indicators``)."""
    paths = sorted((catalogue.data_dir / "plans").glob("*targets*.yaml"))
    paths += [p for p in sorted((catalogue.data_dir / "indicators").glob("*.yaml")) if p.stem not in catalogue.indicators]
    out: list[Indicator] = []
    for path in paths:
        try:
            rows = load_records(path)
        except DataError as exc:
            log.error("target list %s unreadable: %s", path, exc.message)
            continue
        for row in rows:
            ref = str(row.get("feature") or "")
            layer_id, _, key = ref.partition("/")
            layer = catalogue.layers.get(layer_id)
            if layer is None or not key:
                continue
            frame = layer.features
            match = frame[frame[layer.manifest.key].astype(str) == key]
            fname = str(match.iloc[0].get(layer.manifest.label_field) or key) if len(match) else key
            ind = _body_target(layer, key, fname, row, path.name, row.get("quote"))
            if ind is not None and not _duplicate(ind, known + out):
                out.append(ind)
    return out


def feature_indicators(catalogue: Catalogue, known: list[Indicator]) -> list[Indicator]:
    """Body-text targets recorded on features (``targets`` attribute), minus those already listed."""
    out: list[Indicator] = []
    for layer in catalogue.ordered():
        frame = layer.features
        if "targets" not in frame.columns:
            continue
        key_field, label = layer.manifest.key, layer.manifest.label_field
        for _, feature in frame.iterrows():
            targets = feature.get("targets")
            if not isinstance(targets, list) or not targets:
                continue
            key = str(feature[key_field])
            fname = str(feature.get(label) or key)
            for target in targets:
                if not isinstance(target, dict):
                    continue
                ind = _body_target(layer, key, fname, target, str(feature.get("source") or layer.manifest.title),
                                   feature.get("quote"))
                if ind is not None and not _duplicate(ind, known + out):
                    out.append(ind)
    return out


def build_registry(catalogue: Catalogue) -> Registry:
    """Every indicator of every plan, from the catalogue's tables and features."""
    rows: list[Indicator] = []
    for table_id, table in sorted(catalogue.indicators.items(), key=lambda kv: (kv[0] not in PLANS, kv[0])):
        rows.extend(table_indicators(table_id, table))
    # table rows linked to a feature through a layer manifest (cq-municipality -> chongqing) carry that link
    links: dict[str, FeatureRef] = {}
    for layer in catalogue.ordered():
        for key, table_id in layer.manifest.indicators.items():
            frame = layer.features
            match = frame[frame[layer.manifest.key].astype(str) == str(key)]
            name = str(match.iloc[0].get(layer.manifest.label_field) or key) if len(match) else str(key)
            links.setdefault(table_id, FeatureRef(layer.id, str(key), name))
    rows = [r if r.feature or r.table not in links else _with_feature(r, links[str(r.table)]) for r in rows]
    rows.extend(target_list_indicators(catalogue, rows))
    rows.extend(feature_indicators(catalogue, rows))
    registry = Registry()
    for row in rows:
        registry.indicators.setdefault(row.id, row)
    return registry


def _with_feature(row: Indicator, ref: FeatureRef) -> Indicator:
    from dataclasses import replace

    return replace(row, feature=ref)
