"""Progress against the plan: the planned path 2020 -> 2025, the latest value against it, and a status.

The planned path
    *linear*: from the 2020 value straight to the 2025 target;
    *compound*: at a constant yearly growth rate from the 2020 value to the target
    (for level targets the plan also words as "年均" growth);
    *flat*: for an indicator that *is* an annual growth rate (专栏1 row 1,
    "全社会研发经费投入增长 >10 年均"): every year's rate must meet the target; the
    achieved value is the compound (geometric) average of the rates entered so far;
    *none*: the plan gives no 2020 value, so only the target can be compared.

Status, from two thresholds (settings ``PLANVIEW_MONITOR_NORMAL_RATIO`` and
``PLANVIEW_MONITOR_WARNING_RATIO``) applied to the *progress ratio* = progress
made since 2020 / progress the path plans by that year:
    达标  the latest value already meets the 2025 target;
    正常  ratio >= normal ratio (on or above the path);
    滞后  warning ratio <= ratio < normal ratio;
    预警  ratio < warning ratio (or, at 2025, the target is missed).
Lower-is-better indicators work the same way (the ratio uses signed changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from layers.monitoring.registry import BASE_YEAR, FIRST_YEAR, LAST_YEAR, Indicator
from layers.monitoring.store import ValueRecord

STATUSES = ("达标", "正常", "滞后", "预警")
STATUS_COLOURS = {"达标": "#1a9850", "正常": "#4575b4", "滞后": "#f39c12", "预警": "#d73027", None: "#9e9e9e"}


@dataclass(frozen=True)
class Thresholds:
    normal_ratio: float = 1.0
    warning_ratio: float = 0.8

    def __post_init__(self) -> None:
        if not (0 <= self.warning_ratio <= self.normal_ratio):
            raise ValueError("warning_ratio must lie between 0 and normal_ratio")


@dataclass
class Progress:
    indicator: Indicator
    values: dict[int, ValueRecord] = field(default_factory=dict)  # current value per year
    planned: dict[int, float] = field(default_factory=dict)  # the path, 2020..2025
    latest_year: int | None = None
    latest_value: float | None = None  # for annual rates: the average so far
    expected: float | None = None  # the path at latest_year
    ratio: float | None = None
    status: str | None = None
    explanation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "explanation": self.explanation, "colour": STATUS_COLOURS[self.status],
            "latest_year": self.latest_year, "latest_value": _round(self.latest_value),
            "expected": _round(self.expected), "ratio": _round(self.ratio, 4),
            "planned_path": {str(y): _round(v) for y, v in self.planned.items()}, "path": self.indicator.path,
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    digits = 3 if abs(value) < 10 else 2 if abs(value) < 1000 else 0
    text = f"{value:,.{digits}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}".rstrip()


def target_words(ind: Indicator) -> str:
    """The target as the plan writes it, with the unit when the text is a bare number."""
    text = ind.target_text or (f"{ind.target:g}" if ind.target is not None else "—")
    return f"{text}{ind.unit}" if ind.unit == "%" and not text.endswith(("）", ")")) else (
        f"{text} {ind.unit}" if not text.endswith(("）", ")")) else text)


def planned_path(ind: Indicator) -> dict[int, float]:
    """The planned value for 2020..2025 (empty when the plan gives no path)."""
    years = range(BASE_YEAR, LAST_YEAR + 1)
    if ind.target is None:
        return {}
    if ind.path == "flat":
        return {y: ind.target for y in range(FIRST_YEAR, LAST_YEAR + 1)}
    base = ind.base_value
    if base is None or ind.path == "none":
        return {LAST_YEAR: ind.target}
    span = LAST_YEAR - BASE_YEAR
    if ind.path == "compound" and base > 0 and ind.target > 0:
        rate = (ind.target / base) ** (1 / span)
        return {y: base * rate ** (y - BASE_YEAR) for y in years}
    return {y: base + (ind.target - base) * (y - BASE_YEAR) / span for y in years}


def meets(value: float, target: float, comparator: str) -> bool:
    eps = 1e-9 * max(1.0, abs(target))
    if comparator == ">":
        return value > target + eps
    if comparator == "≤":
        return value <= target + eps
    if comparator == "<":
        return value < target - eps
    return value >= target - eps


def geometric_mean_rate(rates_percent: list[float]) -> float:
    """The compound average of yearly growth rates in % (what "年均增长" means)."""
    product = 1.0
    for r in rates_percent:
        product *= 1 + r / 100
    if product <= 0:
        return -100.0
    return (product ** (1 / len(rates_percent)) - 1) * 100


def assess(ind: Indicator, values: dict[int, ValueRecord], thresholds: Thresholds) -> Progress:
    """Compute path, latest value, ratio, status and the one-sentence explanation (zh-CN)."""
    p = Progress(indicator=ind, values=dict(sorted(values.items())), planned=planned_path(ind))
    unit = ind.unit
    if ind.target is None:
        p.explanation = "规划未给出2025年目标值，不计算进度。" + (
            f"已录入 {len(values)} 个年度值。" if values else "尚无年度值。")
        if values:
            p.latest_year = max(values)
            p.latest_value = values[p.latest_year].value
        return p
    if not values:
        p.explanation = f"尚无年度值；2025年目标 {target_words(ind)}。"
        return p
    year = max(values)
    p.latest_year = year
    if ind.kind == "annual_rate":
        rates = [values[y].value for y in sorted(values)]
        achieved = geometric_mean_rate(rates)
        p.latest_value, p.expected = achieved, ind.target
        if year == LAST_YEAR and len(rates) == LAST_YEAR - FIRST_YEAR + 1 and meets(achieved, ind.target, ind.comparator):
            p.status = "达标"
        else:
            p.ratio = achieved / ind.target if ind.target else None
            p.status = _by_ratio(p.ratio, thresholds, meets(achieved, ind.target, ind.comparator))
        p.explanation = (f"{min(values)}—{year}年年均 {_fmt(achieved, unit)}（{len(rates)} 个年度值的复合平均），"
                         f"规划要求年均 {ind.comparator}{_fmt(ind.target, unit)}，{p.status}。")
        return p
    value = values[year].value
    p.latest_value = value
    if meets(value, ind.target, ind.comparator):
        p.status = "达标"
        p.expected = p.planned.get(year)
        p.explanation = f"{year}年 {_fmt(value, unit)}，已达到2025年目标 {target_words(ind)}，达标。"
        return p
    expected = p.planned.get(year)
    p.expected = expected
    base = ind.base_value
    if expected is None or base is None:
        p.status = "预警" if year == LAST_YEAR else None
        p.explanation = (f"{year}年 {_fmt(value, unit)}，2025年目标 {target_words(ind)}；"
                         "规划未给出2020年值，无法画出计划路径" + ("，期末未达标，预警。" if p.status else "，暂不判定进度。"))
        return p
    planned_change = expected - base
    if abs(planned_change) < 1e-12:
        p.ratio = 1.0 if (value - base) * (ind.target - base) >= 0 else 0.0
    else:
        p.ratio = (value - base) / planned_change
    p.status = _by_ratio(p.ratio, thresholds, False)
    if year == LAST_YEAR and p.status in ("正常", "滞后"):
        p.status = "预警"  # at the end of the period the target is missed: no "normal" left
    p.explanation = (f"{year}年 {_fmt(value, unit)}，按计划路径应达 {_fmt(expected, unit)}，"
                     f"完成计划进度的 {p.ratio * 100:.0f}%，{p.status}。")
    return p


def _by_ratio(ratio: float | None, thresholds: Thresholds, met: bool) -> str:
    if met:
        return "正常"
    if ratio is None or not math.isfinite(ratio):
        return "预警"
    if ratio >= thresholds.normal_ratio:
        return "正常"
    if ratio >= thresholds.warning_ratio:
        return "滞后"
    return "预警"
