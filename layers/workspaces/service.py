"""From an uploaded file to a saved workspace: read -> analyse against the catalogue -> report -> save.

Which layers take part is decided from the manifests' ``role``, never from a
list of ids: ``plan`` layers hold the zones; ``base`` layers are the
administrative geography (counties, regions, the municipality) and
``reference`` layers are context (township seats), neither of which is a zone.
The county layer is the finest base layer that carries a ``region``/``group``
attribute (the 38 counties). The zone index is
built once per catalogue version and reused for every upload.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely

from geo.overlay import ZoneIndex, ZoneLayer, analyse
from geo.readers import AreaOfInterest, ReadLimits, SiteSet, read_sites
from layers.catalogue import Catalogue, Layer
from layers.compliance import ControlSource, check_sites
from layers.workspaces.model import Workspace, WorkspaceStore, new_workspace_id

REPORT_VERSION = 1


def is_base_layer(layer: Layer) -> bool:
    """Not a plan zone layer: base geography (admin units) or reference context."""
    return layer.manifest.role != "plan"


def county_layer(catalogue: Catalogue) -> Layer | None:
    """The finest base layer that names each unit's region/group (cq-counties today)."""
    candidates = [layer for layer in catalogue.ordered()
                  if layer.manifest.role == "base" and ({"region", "group"} & set(layer.features.columns))]
    return max(candidates, key=lambda layer: len(layer.features), default=None)


@dataclass(frozen=True)
class OverlayContext:
    """What every upload is analysed against (built once per catalogue version)."""

    index: ZoneIndex
    area: AreaOfInterest | None
    county_layer: str | None
    zone_layers: tuple[str, ...]
    failed_layers: tuple[tuple[str, str], ...]


_CACHE: dict[tuple[Any, ...], OverlayContext] = {}
_CACHE_LOCK = threading.Lock()


def overlay_context(catalogue: Catalogue) -> OverlayContext:
    key = (str(catalogue.data_dir), tuple((lid, layer.version) for lid, layer in sorted(catalogue.layers.items())))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        zones = [ZoneLayer(id=layer.id, title=layer.manifest.title, features=layer.features,
                           key_field=layer.manifest.key, name_field=layer.manifest.label_field)
                 for layer in catalogue.ordered() if not is_base_layer(layer)]
        counties = county_layer(catalogue)
        county_features = None
        area = None
        if counties is not None:
            county_features = counties.features.assign(key=counties.features[counties.manifest.key])
            if counties.manifest.label_field != "name" and counties.manifest.label_field in county_features:
                county_features = county_features.assign(name=county_features[counties.manifest.label_field])
            outline = shapely.make_valid(shapely.union_all(counties.features.geometry.values))
            area = AreaOfInterest.from_lonlat("重庆市", outline)
        context = OverlayContext(
            index=ZoneIndex.build(zones, county_features),
            area=area, county_layer=counties.id if counties is not None else None,
            zone_layers=tuple(z.id for z in zones), failed_layers=tuple(sorted(catalogue.failed.items())),
        )
        if len(_CACHE) > 4:
            _CACHE.clear()
        _CACHE[key] = context
        return context


def _summary(sites: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "sites": len(sites),
        "in_zones": sum(1 for s in sites if s["zones"]),
        "in_corridor": sum(1 for s in sites if s["in_corridor"]),
        "outside_municipality": sum(1 for s in sites if s["county"] is None),
        "industry_mismatch": sum(1 for s in sites if any(z["industry_match"] is False for z in s["zones"])),
        "schematic": sum(1 for s in sites if any(z["schematic"] for z in s["zones"])),
    }


def build_report(ws_id: str, created: datetime, filename: str, data: bytes, siteset: SiteSet,
                 context: OverlayContext, control: Sequence[ControlSource] = ()) -> dict[str, Any]:
    """The JSON report of one upload (also what ``GET /api/overlay/{id}`` returns)."""
    result = analyse(siteset.sites, context.index)
    sites = result.site_reports(siteset.sites)
    for rep, attrs in zip(sites, siteset.sites["attributes"], strict=True):
        rep["attributes"] = attrs
    # 合规性审查 against the store's control layers (index first, exact geometry for candidates only)
    compliance, control_layers = check_sites(siteset.sites, control)
    for rep, comp in zip(sites, compliance, strict=True):
        rep["compliance"] = comp
        if comp["conflicts"]:
            rep["flags"] = [*rep["flags"], *(f"合规冲突 / conflict: {c}" for c in comp["conflicts"])]
    notes = list(siteset.notes)
    if not context.zone_layers:
        notes.append("目前没有规划分区图层可供叠加，仅给出区县归属 / no plan-zone layers are loaded yet; only the "
                     "county is reported")
    for layer_id, reason in context.failed_layers:
        notes.append(f"图层 {layer_id} 加载失败，未参与分析 / layer {layer_id} failed to load and was not analysed: "
                     f"{reason}")
    return {
        "version": REPORT_VERSION, "id": ws_id, "created": created.isoformat(), "filename": filename,
        "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), "format": siteset.format,
        "encoding": siteset.encoding, "crs": siteset.crs.as_dict(), "warnings": list(siteset.warnings),
        "notes": notes, "layers": context.index.layers, "county_layer": context.county_layer,
        "measured_in": "Albers equal-area (CGCS2000 ellipsoid) fitted to Chongqing; 1 亩 = 10000/15 m²",
        "summary": _summary(sites), "sites": sites,
        "compliance": {"layers": control_layers,
                       "conflicts": sum(1 for s in sites if s["compliance"]["conflicts"]),
                       "notes": sum(1 for s in sites if s["compliance"]["notes"])},
    }


def analyse_upload(data: bytes, filename: str, catalogue: Catalogue, *, crs: str | None = None,
                   encoding: str | None = None, limits: ReadLimits | None = None,
                   control: Sequence[ControlSource] = (), owner: str | None = None,
                   on_stage: Callable[[str], None] | None = None) -> Workspace:
    """Read and analyse an upload into an unsaved :class:`Workspace`; ``on_stage`` hears "reading", "analysing"."""
    stage = on_stage or (lambda _: None)
    context = overlay_context(catalogue)
    stage("reading")
    siteset = read_sites(data, filename, crs=crs, encoding=encoding, limits=limits, area=context.area)
    stage("analysing")
    ws_id = new_workspace_id()
    created = datetime.now(UTC)
    report = build_report(ws_id, created, filename, data, siteset, context, control)
    return Workspace(id=ws_id, created=created, filename=filename, sha256=report["sha256"], size_bytes=len(data),
                     format=siteset.format, crs=report["crs"], sites=siteset.sites, report=report, owner=owner)


def create_workspace(store: WorkspaceStore, data: bytes, filename: str, catalogue: Catalogue, *,
                     crs: str | None = None, encoding: str | None = None,
                     limits: ReadLimits | None = None, control: Sequence[ControlSource] = (),
                     owner: str | None = None) -> Workspace:
    """Analyse an upload and save it as a workspace (one transaction), owned by ``owner``."""
    workspace = analyse_upload(data, filename, catalogue, crs=crs, encoding=encoding, limits=limits,
                               control=control, owner=owner)
    store.save(workspace)
    return workspace
