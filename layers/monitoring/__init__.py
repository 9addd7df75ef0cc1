"""Monitoring the plans (监测评估预警): annual values 2021-2025, progress to the 2025 targets, status.

Public API (web-free; used by ``server/monitor_api.py``, the dashboard and the exports)::

    from layers.monitoring import build_registry, open_value_store, check_entries, plan_report, Thresholds

    registry = build_registry(catalogue)             # every indicator, stable ids (tables + body-text targets)
    store = open_value_store(gpkg_path=..., database_url=...)   # same store as the workspaces
    values = check_entries(registry, "chongqing", [{"indicator": "chongqing.2", "year": 2023,
                                                    "value": 2.4, "source": "…统计公报"}])
    store.put(values, entered_by="…", via="api")     # a correction keeps the old value in the history
    report = plan_report(registry, store.records("chongqing"), "chongqing", Thresholds())

``plan_report`` returns plain dicts and lists only, so it can be pickled and
handed to a worker process that renders the evaluation PDF
(:func:`layers.monitoring.evaluation.render_evaluation_pdf`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from layers.monitoring.entry import check_entries, read_upload, template_csv, template_xlsx
from layers.monitoring.progress import STATUS_COLOURS, STATUSES, Progress, Thresholds, assess
from layers.monitoring.registry import PLANS, Indicator, Registry, build_registry
from layers.monitoring.store import NewValue, ValueRecord, ValueStore, current_values, open_value_store

__all__ = ["PLANS", "STATUSES", "STATUS_COLOURS", "Indicator", "NewValue", "Progress", "Registry", "Thresholds",
           "ValueRecord", "ValueStore", "build_registry", "check_entries", "indicator_entry", "open_value_store",
           "plan_report", "read_upload", "template_csv", "template_xlsx"]

PLAN_TITLES = {"chongqing": "重庆市科技创新“十四五”规划", "yunyang": "云阳县科技创新“十四五”规划"}


def indicator_entry(ind: Indicator, progress: Progress, history: Sequence[ValueRecord]) -> dict[str, Any]:
    """One indicator as the API, the dashboard and the exports see it."""
    out = ind.as_dict()
    out["values"] = [{**r.as_dict()} for _y, r in sorted(progress.values.items())]
    out["history"] = [r.as_dict() for r in history if not r.current]
    out["progress"] = progress.as_dict()
    return out


def plan_report(registry: Registry, records: Sequence[ValueRecord], plan: str, thresholds: Thresholds) -> dict[str, Any]:
    """Every indicator of a plan with values, history and status; plus counts and the date of the data."""
    current = current_values(records)
    by_indicator: dict[str, list[ValueRecord]] = {}
    for r in records:
        by_indicator.setdefault(r.indicator, []).append(r)
    entries = []
    counts = {s: 0 for s in STATUSES} | {"无状态": 0}
    for ind in registry.for_plan(plan):
        progress = assess(ind, current.get(ind.id, {}), thresholds)
        entries.append(indicator_entry(ind, progress, by_indicator.get(ind.id, [])))
        counts[progress.status or "无状态"] += 1
    latest_entry = max((r.entered_at for r in records), default=None)
    years = [r.year for r in records if r.current]
    return {
        "plan": plan, "title": PLAN_TITLES.get(plan, plan), "groups": registry.groups(plan),
        "indicators": entries, "counts": counts,
        "thresholds": {"normal_ratio": thresholds.normal_ratio, "warning_ratio": thresholds.warning_ratio},
        "data_date": latest_entry.isoformat(timespec="seconds") if latest_entry else None,
        "latest_year": max(years) if years else None,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "orphans": sorted({r.indicator for r in records if registry.get(r.indicator) is None}),
    }
