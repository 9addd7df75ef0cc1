"""Checking entered values, and the CSV/XLSX template and import (Chinese headers).

Every path (form, CSV, XLSX, API) ends in :func:`check_entries`, so the rules are
the same everywhere: the indicator must exist in the plan, the year must be
2021-2025, the value a finite number in the indicator's unit, the source
present. All problems of a batch are reported together (row by row, bilingual)
and nothing of a batch with a problem is stored.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from geo.errors import InvalidInput, TooLarge, UnsupportedFormat
from layers.monitoring.registry import FIRST_YEAR, LAST_YEAR, Indicator, Registry
from layers.monitoring.store import NewValue

MAX_ROWS = 2000
MAX_SOURCE = 500
MAX_NOTE = 1000
# Header aliases: the template's Chinese headers first, API-style English names too.
HEADERS = {
    "indicator": ("指标编号", "indicator", "id"),
    "name": ("指标名称", "name"),
    "unit": ("单位", "unit"),
    "year": ("年份", "year"),
    "value": ("数值", "value", "年度值"),
    "source": ("来源", "数据来源", "source"),
    "note": ("备注", "note"),
}
TEMPLATE_COLUMNS = ("指标编号", "指标名称", "单位", "2020年值", "2025年目标", "年份", "数值", "来源", "备注")
COUNT_UNITS = ("家", "个", "件", "人年", "件/万人", "亿元", "件/万名从业人员")
_UNIT_ALIASES = {"％": "%", "percent": "%"}


def _clean_unit(unit: Any) -> str:
    text = re.sub(r"\s+", "", str(unit or ""))
    return _UNIT_ALIASES.get(text.lower(), text).strip("()（）")


def _parse_year(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    m = re.fullmatch(r"\s*(\d{4})\s*年?\s*", str(raw or ""))
    return int(m.group(1)) if m else None


def _parse_value(raw: Any, unit: str) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = str(raw).strip().replace(",", "").replace("，", "")
        if unit == "%" and text.endswith(("%", "％")):
            text = text[:-1]
        try:
            value = float(text)
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def find_indicator(registry: Registry, plan: str, ref: Any, name: Any = None) -> Indicator | None:
    """By id (as ``GET /api/indicators/{plan}`` lists them); by exact name when no id is given."""
    if ref not in (None, ""):
        ind = registry.get(str(ref).strip())
        return ind if ind is not None and ind.plan == plan else None
    if name:
        matches = [i for i in registry.for_plan(plan) if i.name == str(name).strip()]
        return matches[0] if len(matches) == 1 else None
    return None


def unit_problem(ind: Indicator, value: float, unit: str | None) -> str | None:
    """Why ``value`` cannot be in the indicator's unit, or None. Never converts: the planner fixes the unit."""
    if unit and _clean_unit(unit) != _clean_unit(ind.unit):
        return f"单位应为“{ind.unit}”而非“{unit}” / unit must be {ind.unit!r}, not {unit!r}"
    if ind.unit == "%":
        if ind.kind == "annual_rate":
            if not -100 < value <= 1000:
                return f"增长率 {value:g}% 不合理（应大于 -100%）/ growth rate {value:g}% is out of range"
        elif not 0 <= value <= 100:
            return f"比例 {value:g}% 应在 0—100 之间 / a share in % must lie between 0 and 100, got {value:g}"
    elif ind.unit in COUNT_UNITS and value < 0:
        return f"{ind.unit} 计的数值不能为负 / a count in {ind.unit} cannot be negative, got {value:g}"
    refs = [abs(v) for v in (ind.base_value, ind.target) if v]
    if refs and value and ind.kind == "level":
        ref = max(refs)
        if abs(value) > 50 * ref or abs(value) < ref / 1000:
            return (f"数值 {value:g} 与2020年值/2025年目标（{ref:g} {ind.unit}）相差过大，请检查单位是否为“{ind.unit}”"
                    f" / value {value:g} is far off the plan's figures ({ref:g} {ind.unit}): is it in {ind.unit!r}?")
    return None


def check_entries(registry: Registry, plan: str, rows: Sequence[Mapping[str, Any]], *,
                  row_label: str = "第 {n} 条 / entry {n}") -> list[NewValue]:
    """Validate a batch; raise :class:`InvalidInput` listing every problem, or return the values to store."""
    if len(rows) > MAX_ROWS:
        raise TooLarge(f"一次最多 {MAX_ROWS} 条 / at most {MAX_ROWS} values per request, got {len(rows)}")
    problems: list[str] = []
    out: list[NewValue] = []
    seen: dict[tuple[str, int], int] = {}
    for n, row in enumerate(rows, start=1):
        where = row_label.format(n=n)
        if not isinstance(row, Mapping):
            problems.append(f"{where}：应为对象 {{indicator, year, value, source}} / must be an object")
            continue
        ind = find_indicator(registry, plan, row.get("indicator"), row.get("name"))
        if ind is None:
            ref = row.get("indicator") or row.get("name")
            problems.append(f"{where}：没有指标 {ref!r}（见 GET /api/indicators/{plan} 的 id）/ unknown indicator "
                            f"{ref!r} in plan {plan}; use an id listed by GET /api/indicators/{plan}")
            continue
        year = _parse_year(row.get("year"))
        row_problems = []
        if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
            row_problems.append(f"年份须为 {FIRST_YEAR}—{LAST_YEAR} / year must be {FIRST_YEAR}-{LAST_YEAR}, "
                                f"got {row.get('year')!r}")
        value = _parse_value(row.get("value"), ind.unit)
        if value is None:
            row_problems.append(f"数值须为数字 / value must be a number, got {row.get('value')!r}")
        else:
            problem = unit_problem(ind, value, row.get("unit") or None)
            if problem:
                row_problems.append(problem)
        source = str(row.get("source") or "").strip()
        if not source:
            row_problems.append("缺少来源（如“重庆市2023年国民经济和社会发展统计公报”）/ source is required "
                                "(e.g. the statistical bulletin and its year, or a document name)")
        elif len(source) > MAX_SOURCE or any(ord(c) < 32 for c in source):
            row_problems.append(f"来源过长或含控制字符（最多 {MAX_SOURCE} 字）/ source too long or has control characters")
        note = str(row.get("note") or "").strip() or None
        if note and len(note) > MAX_NOTE:
            row_problems.append(f"备注最多 {MAX_NOTE} 字 / note longer than {MAX_NOTE} characters")
        if year is not None and (ind.id, year) in seen:
            row_problems.append(f"与第 {seen[(ind.id, year)]} 条重复（同一指标同一年份）/ duplicates entry "
                                f"{seen[(ind.id, year)]} (same indicator and year)")
        if row_problems:
            problems.append(f"{where}（{ind.id} {ind.name}）：" + "；".join(row_problems))
            continue
        assert year is not None and value is not None
        seen[(ind.id, year)] = n
        out.append(NewValue(plan=plan, indicator=ind.id, year=year, value=value, unit=ind.unit, source=source,
                            note=note))
    if problems:
        raise InvalidInput("数据有误，未保存任何值 / nothing was saved; fix these values: " + " | ".join(problems[:50])
                           + (f" | …另有 {len(problems) - 50} 处 / and {len(problems) - 50} more" if len(problems) > 50
                              else ""))
    if not out:
        raise InvalidInput("没有可保存的值（数值列为空）/ no values to save: every value cell is empty")
    return out


# ------------------------------------------------------------------ files

def _canonical(headers: Iterable[Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i, h in enumerate(headers):
        text = re.sub(r"\s+", "", str(h or "")).lower()
        for key, aliases in HEADERS.items():
            if text in {a.lower() for a in aliases} and key not in out.values():
                out[i] = key
    return out


def _rows_from_table(table: Iterable[Sequence[Any]], label: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    columns: dict[int, str] | None = None
    for cells in table:
        if columns is None:
            if not any(c not in (None, "") for c in cells):
                continue
            columns = _canonical(cells)
            missing = [HEADERS[k][0] for k in ("year", "value", "source") if k not in columns.values()]
            if "indicator" not in columns.values() and "name" not in columns.values():
                missing.insert(0, "指标编号")
            if missing:
                raise InvalidInput(f"{label} 缺少列：{'、'.join(missing)}（请使用下载的模板）/ {label} lacks the columns "
                                   f"{', '.join(missing)}; use the downloadable template")
            continue
        row = {key: cells[i] if i < len(cells) else None for i, key in columns.items()}
        if row.get("value") in (None, "") or str(row.get("value")).strip() == "":
            continue  # template rows not filled in
        rows.append(row)
        if len(rows) > MAX_ROWS:
            raise TooLarge(f"{label} 超过 {MAX_ROWS} 行 / {label} has more than {MAX_ROWS} filled rows")
    if columns is None:
        raise InvalidInput(f"{label} 是空的 / {label} is empty")
    return rows


def read_csv(data: bytes) -> list[dict[str, Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnsupportedFormat("CSV 须为 UTF-8 或 GB18030 编码 / the CSV must be UTF-8 or GB18030 encoded")
    try:
        return _rows_from_table(csv.reader(io.StringIO(text, newline="")), "CSV")
    except csv.Error as exc:
        raise UnsupportedFormat(f"CSV 无法解析 / the CSV cannot be parsed: {exc}") from exc


def read_xlsx(data: bytes) -> list[dict[str, Any]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnsupportedFormat("无法读取 XLSX（请另存为 .xlsx）/ cannot read the XLSX file; save it as .xlsx",
                                detail=str(exc)) from exc
    try:
        sheet = book.worksheets[0]
        return _rows_from_table(sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 50), "XLSX")
    finally:
        book.close()


def read_upload(data: bytes, filename: str) -> tuple[list[dict[str, Any]], str]:
    """Rows of a CSV or XLSX upload and which it was (``csv``/``xlsx``)."""
    name = filename.lower()
    if name.endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return read_xlsx(data), "xlsx"
    if name.endswith((".csv", ".txt")) or not name:
        return read_csv(data), "csv"
    raise UnsupportedFormat(f"只接受 CSV 或 XLSX / only CSV or XLSX files are accepted, got {filename!r}")


def template_rows(indicators: Sequence[Indicator]) -> list[list[Any]]:
    """One row per indicator and year 2021-2025, value and source left for the planner."""
    rows = []
    for ind in indicators:
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            rows.append([ind.id, ind.name, ind.unit, ind.base_value if ind.base_value is not None else "",
                         ind.target_text, year, "", "", ""])
    return rows


def template_csv(indicators: Sequence[Indicator]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerows(template_rows(indicators))
    return buf.getvalue().encode("utf-8-sig")  # BOM: Excel opens it as UTF-8


def template_xlsx(indicators: Sequence[Indicator], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "年度值"
    sheet.append(list(TEMPLATE_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF1F4")
    for row in template_rows(indicators):
        sheet.append(row)
    for col, width in zip("ABCDEFGHI", (26, 36, 10, 10, 14, 8, 12, 40, 24), strict=True):
        sheet.column_dimensions[col].width = width
    info = book.create_sheet("说明")
    for line in (title, "每行填写一个指标一个年份的数值；“数值”留空的行在导入时忽略。",
                 "“来源”必填：统计公报名称及年份，或文件名称（如“重庆市2023年国民经济和社会发展统计公报”）。",
                 "数值须使用“单位”列的单位；“2020年值”“2025年目标”仅供参考，导入时不读取。",
                 "同一指标同一年份再次导入即为更正，旧值保留在历史记录中。"):
        info.append([line])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
