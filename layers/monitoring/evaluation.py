"""The mid-term evaluation (中期评估) as PDF and the status table as XLSX.

Both take the plain dict of :func:`layers.monitoring.plan_report` and nothing
else, so :func:`render_evaluation_pdf` is a plain picklable function a worker
process can run (the PDF is the heavy part: fonts and one chart per indicator).
The PDF goes through the same print engine as the maps (``geo.printmap``:
matplotlib, Noto Sans SC embedded, literal text, never mathtext): the status
table, the sources, the method and the date of the data on document pages,
then one page of small charts per indicator group (actual values, planned
path, 2025 target).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from geo.fonts import cjk_fonts
from geo.printmap.document import Heading, KeyValues, Paragraph, Table, document_pages, save_pdf
from geo.printmap.furniture import draw_text
from geo.printmap.spec import Page

STATUS_COLOURS = {"达标": "#1a9850", "正常": "#4575b4", "滞后": "#f39c12", "预警": "#d73027"}
TABLE_COLUMNS = [("编号", 9), ("指标", 26), ("单位", 6), ("2020年", 8), ("2025年目标", 9), ("最新值", 11),
                 ("计划路径值", 9), ("状态", 6), ("说明", 40)]
XLSX_COLUMNS = ("指标编号", "分组", "指标名称", "单位", "2020年值", "2025年目标", "2021", "2022", "2023", "2024",
                "2025", "最新年份", "最新值", "计划路径值", "进度比", "状态", "说明", "来源")
PATH_WORDS = {"linear": "直线（2020年值至2025年目标等量推进）", "compound": "复合增长（按年均增速推进）",
              "flat": "逐年不低于年均增速目标（以复合平均计）", "none": "规划未给出2020年值，仅对照2025年目标"}
METHOD = ("计划路径：自2020年值至2025年目标，一般按直线等量推进；规划以“年均”增速表述的按复合增长推进；"
          "指标本身为年均增速的，以已录入各年增速的复合平均对照目标。进度比 = 2020年以来实际变化 ÷ 计划路径同年变化。"
          "状态：最新值已达到2025年目标为“达标”；进度比不低于 {normal:.0%} 为“正常”；不低于 {warning:.0%} 为“滞后”；"
          "低于 {warning:.0%} 或期末（2025年）未达目标为“预警”。无目标或无年度值的指标不判定状态。")


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    text = f"{float(value):,.4f}".rstrip("0").rstrip(".")
    return text


def _latest(ind: dict[str, Any]) -> str:
    p = ind["progress"]
    if p.get("latest_year") is None:
        return "—"
    prefix = "年均 " if ind["kind"] == "annual_rate" else ""
    return f"{prefix}{_num(p.get('latest_value'))}（{p['latest_year']}）"


def status_row(ind: dict[str, Any]) -> list[str]:
    p = ind["progress"]
    return [ind["id"], ind["name"], ind["unit"], _num(ind.get("base_value")), ind.get("target_text") or "—",
            _latest(ind), _num(p.get("expected")), p.get("status") or "—", p.get("explanation") or ""]


def source_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for ind in report["indicators"]:
        for v in ind["values"]:
            lines.append(f"{ind['id']} {ind['name']}，{v['year']}年 {_num(v['value'])}{ind['unit']}：{v['source']}"
                         f"（{v['entered_by']} 录入于 {v['entered_at'][:10]}）")
    return lines


def _chart(ax: Axes, ind: dict[str, Any], fonts: Any) -> None:
    """One small chart: planned path (dashed), 2025 target (diamond), actual values (line + dots)."""
    small = fonts.properties(size=6)
    path = {int(y): v for y, v in (ind["progress"].get("planned_path") or {}).items()}
    if path:
        ys = sorted(path)
        ax.plot(ys, [path[y] for y in ys], linestyle="--", color="#7f8c8d", linewidth=1.0)
    if ind.get("target") is not None:
        ax.plot([2025], [ind["target"]], marker="D", color="#8e44ad", markersize=4, linestyle="none")
    if ind.get("base_value") is not None:
        ax.plot([2020], [ind["base_value"]], marker="o", color="#555555", markersize=3, linestyle="none")
    values = [(v["year"], v["value"]) for v in ind["values"]]
    if values:
        colour = STATUS_COLOURS.get(ind["progress"].get("status") or "", "#2c3e50")
        ax.plot([y for y, _ in values], [v for _, v in values], marker="o", color=colour, linewidth=1.6,
                markersize=3.5)
    ax.set_xlim(2019.6, 2025.4)
    ax.set_xticks(range(2020, 2026))
    ax.set_xticklabels([str(y) for y in range(2020, 2026)], fontproperties=small)
    for label in ax.get_yticklabels():
        label.set_fontproperties(small)
    ax.tick_params(labelsize=6, length=2)
    ax.grid(True, color="#e5e5e5", linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not values and not path:
        ax.text(0.5, 0.5, "无目标、无年度值", transform=ax.transAxes, ha="center", va="center",
                fontproperties=fonts.properties(size=7), color="#888888", parse_math=False, usetex=False)


def chart_pages(report: dict[str, Any], page: Page, first_number: int, total: int) -> list[Figure]:
    """One page per indicator group: a grid of small charts, each titled with id, name, unit and status."""
    fonts = cjk_fonts()
    regular, bold = fonts.properties(), fonts.properties(bold=True)
    figures = []
    groups = report["groups"]
    for n, group in enumerate(groups, start=first_number):
        inds = [i for i in report["indicators"] if i["group"] == group]
        fig = Figure(figsize=page.size_in, dpi=page.dpi, facecolor="white")
        FigureCanvasAgg(fig)
        sheet = fig.add_axes((0, 0, 1, 1))
        sheet.set_xlim(0, page.width_mm)
        sheet.set_ylim(0, page.height_mm)
        sheet.set_axis_off()
        margin = 12.0
        top = page.height_mm - margin
        draw_text(sheet, margin, top, f"中期评估 · {report['title']}", regular, 7.0, color="#555555")
        draw_text(sheet, page.width_mm - margin, top, f"第 {n} 页 / 共 {total} 页", regular, 7.0, ha="right",
                  color="#555555")
        draw_text(sheet, margin, top - 6, f"图{n - first_number + 1}　{group}：实际值、计划路径与2025年目标", bold, 11.0)
        draw_text(sheet, margin, margin + 4,
                  "图例：彩色实线与圆点为录入的年度值（颜色表示状态：绿 达标、蓝 正常、橙 滞后、红 预警）；灰色虚线为计划路径；"
                  "紫色菱形为2025年目标；灰点为2020年值。" + (f"  数据截至：{report['data_date'][:10]}" if report.get("data_date")
                                                      else "  尚无年度值"), regular, 6.5, color="#333333")
        cols = 4 if len(inds) > 6 else 3 if len(inds) > 2 else max(len(inds), 1)
        rows = max(1, math.ceil(len(inds) / cols))
        grid_top, grid_bottom = top - 14, margin + 12
        cell_w = (page.width_mm - 2 * margin) / cols
        cell_h = (grid_top - grid_bottom) / rows
        for k, ind in enumerate(inds):
            r, c = divmod(k, cols)
            x0 = margin + c * cell_w
            y_top = grid_top - r * cell_h
            status = ind["progress"].get("status") or "无状态"
            title = f"{ind['id']}  {ind['name']}（{ind['unit']}）"
            if len(title) > 34:
                title = title[:33] + "…"
            draw_text(sheet, x0 + 2, y_top, title, bold, 6.5)
            draw_text(sheet, x0 + 2, y_top - 3.6, f"状态：{status}　目标 {ind.get('target_text') or '—'}", regular, 6.0,
                      color=STATUS_COLOURS.get(status, "#555555"))
            left = (x0 + 9) / page.width_mm
            bottom = (y_top - cell_h + 6) / page.height_mm
            width = (cell_w - 13) / page.width_mm
            height = (cell_h - 15) / page.height_mm
            _chart(fig.add_axes((left, bottom, width, height)), ind, fonts)
        figures.append(fig)
    return figures


def render_evaluation_pdf(report: dict[str, Any], *, date: str | None = None) -> bytes:
    """The mid-term evaluation PDF of one plan (see the module docstring). Plain data in, bytes out."""
    page = Page.from_paper("A4", "landscape", dpi=150, format="pdf")
    counts = report.get("counts") or {}
    thresholds = report.get("thresholds") or {"normal_ratio": 1.0, "warning_ratio": 0.8}
    data_date = report.get("data_date")
    blocks: list[Heading | Paragraph | KeyValues | Table] = [
        Heading(f"{report['title']}实施情况中期评估（监测评估预警）"),
        KeyValues([
            ("规划", report["title"]),
            ("数据日期", f"最近一次录入 {data_date[:19].replace('T', ' ')}（UTC）" if data_date else "尚无年度值"),
            ("最新数据年份", str(report.get("latest_year") or "—")),
            ("状态汇总", "；".join(f"{k} {v} 项" for k, v in counts.items())),
            ("生成日期", date or report.get("generated", "")[:10]),
        ]),
        Heading("一、指标监测状态表"),
        Table(TABLE_COLUMNS, [status_row(i) for i in report["indicators"]]),
        Heading("二、年度值来源"),
    ]
    sources = source_lines(report)
    blocks += [Paragraph(s) for s in sources] or [Paragraph("尚未录入任何年度值；本产品不自行填写任何数值。")]
    blocks += [Heading("三、方法与说明"),
               Paragraph(METHOD.format(normal=thresholds["normal_ratio"], warning=thresholds["warning_ratio"])),
               Paragraph("2020年值与2025年目标取自规划文本（专栏1、表1及正文），年度值由规划人员录入并注明来源；"
                         "更正的数值保留在历史记录中。本评估为监测提示，不替代正式的规划实施评估结论。")]
    chart_count = len(report["groups"])
    footer = "指标监测为规划实施提示，以统计部门正式发布数据为准。" + (f"  生成日期：{date}" if date else "")
    docs = document_pages(blocks, page, running_head=f"中期评估 · {report['title']}", footer=footer,
                          total_extra_pages=chart_count)
    charts = chart_pages(report, page, len(docs) + 1, len(docs) + chart_count)
    return save_pdf([*docs, *charts], title=f"{report['title']}中期评估")


def status_xlsx(report: dict[str, Any]) -> bytes:
    """The status table (and every value with its source and history) as an XLSX workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "指标状态"
    sheet.append(list(XLSX_COLUMNS))
    for ind in report["indicators"]:
        by_year = {v["year"]: v["value"] for v in ind["values"]}
        p = ind["progress"]
        sheet.append([ind["id"], ind["group"], ind["name"], ind["unit"], ind.get("base_value"), ind.get("target_text"),
                      *[by_year.get(y) for y in range(2021, 2026)], p.get("latest_year"), p.get("latest_value"),
                      p.get("expected"), p.get("ratio"), p.get("status") or "—", p.get("explanation"), ind["source"]])
        fill = STATUS_COLOURS.get(p.get("status") or "")
        if fill:
            sheet.cell(row=sheet.max_row, column=16).fill = PatternFill("solid", fgColor=fill.lstrip("#"))
    values = book.create_sheet("年度值及历史")
    values.append(["指标编号", "指标名称", "年份", "数值", "单位", "来源", "备注", "录入人", "录入时间", "方式", "状态"])
    for ind in report["indicators"]:
        for v in ind["values"] + ind["history"]:
            values.append([ind["id"], ind["name"], v["year"], v["value"], v["unit"], v["source"], v.get("note"),
                           v["entered_by"], v["entered_at"], v["via"], "已更正" if v.get("superseded_at") else "现行"])
    for ws in (sheet, values):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    info = book.create_sheet("说明")
    for line in (report["title"], f"数据日期：{report.get('data_date') or '尚无年度值'}",
                 METHOD.format(normal=report["thresholds"]["normal_ratio"], warning=report["thresholds"]["warning_ratio"])):
        info.append([line])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def group_titles(report: dict[str, Any]) -> Sequence[str]:
    return list(report["groups"])
