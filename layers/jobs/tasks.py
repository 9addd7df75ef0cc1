"""The heavy jobs planview runs in worker processes: analyse an upload, export a map, render a report.

Each is a plain module-level function of picklable arguments. The catalogue
and the map definitions are not sent along (tens of MB); the worker loads
them from disk once and keeps them, keyed by a :class:`CatalogueRef` whose
``versions`` change whenever a layer file does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo.errors import PlanviewError
from geo.readers import ReadLimits
from layers.catalogue import Catalogue
from layers.export import Exported, ExportOptions, Overlay, export_map
from layers.maps import MapDefinition, load_maps
from layers.store import StoreRef
from layers.workspaces import Workspace


@dataclass(frozen=True)
class CatalogueRef:
    """Where a catalogue lives and which layer versions it had: enough for a worker to load the same one."""

    data_dir: Path
    build_dir: Path
    versions: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, catalogue: Catalogue) -> CatalogueRef:
        return cls(Path(catalogue.data_dir), Path(catalogue.build_dir),
                   tuple((lid, layer.version) for lid, layer in sorted(catalogue.layers.items())))


_LOADED: dict[CatalogueRef, tuple[Catalogue, dict[str, MapDefinition]]] = {}
_LOADED_LOCK = threading.Lock()


def load(ref: CatalogueRef) -> tuple[Catalogue, dict[str, MapDefinition]]:
    """The catalogue and maps for ``ref``, loaded once per worker process."""
    with _LOADED_LOCK:
        if ref not in _LOADED:
            if len(_LOADED) > 2:
                _LOADED.clear()
            _LOADED[ref] = (Catalogue.load(ref.data_dir, ref.build_dir), load_maps(ref.data_dir))
        return _LOADED[ref]


def analyse_upload_job(ref: CatalogueRef, data: bytes, filename: str, crs: str | None, encoding: str | None,
                       limits: ReadLimits, store: StoreRef | None = None) -> Workspace:
    """Read and analyse an upload into an unsaved workspace (saving happens in the server, if still wanted).

    With ``store``, the upload is also checked against the store's control layers (合规性审查)."""
    from layers.compliance import control_sources
    from layers.jobs.worker import progress
    from layers.workspaces.service import analyse_upload

    progress("loading")
    catalogue, _ = load(ref)
    control = []
    if store is not None:
        opened = store.open()
        control = control_sources(opened, opened.layers())
    return analyse_upload(data, filename, catalogue, crs=crs, encoding=encoding, limits=limits, control=control,
                          on_stage=progress)


def export_map_job(ref: CatalogueRef, map_id: str, options: ExportOptions, overlay: Overlay | None) -> Exported:
    catalogue, maps = load(ref)
    return export_map(catalogue, maps, map_id, options, overlay=overlay)


def report_job(ref: CatalogueRef, workspace: Workspace, date: str) -> bytes:
    from layers.report import render_report

    catalogue, maps = load(ref)
    return render_report(catalogue, maps, workspace, date=date)


def warm(ref: CatalogueRef) -> dict[str, Any]:
    """Load the catalogue in a worker ahead of the first real job (benchmarks, start-up)."""
    catalogue, maps = load(ref)
    return {"layers": len(catalogue.layers), "maps": len(maps)}


def import_layer_job(path: str, *, source_name: str, layer_id: str, title: str, role: str,
                     class_field: str | None, crs: str | None, encoding: str | None, store: StoreRef,
                     class_defaults: str | None, catalogue: CatalogueRef | None = None) -> dict[str, Any]:
    """Import an uploaded file (saved at ``path`` by the server) into the layer store: a new version.

    The Chongqing outline the CRS inference and warnings measure against comes
    from the catalogue the worker loads itself (only ``catalogue``, a reference,
    crosses the process boundary). The server deletes ``path`` when the job ends.
    """
    from layers.store.importer import import_layer

    area = None
    if catalogue is not None:
        from layers.workspaces.service import overlay_context

        try:
            area = overlay_context(load(catalogue)[0]).area
        except Exception:  # noqa: BLE001 - without the outline the import still works, with fewer warnings
            area = None
    try:
        return import_layer(path, layer_id=layer_id, title=title, role=role, class_field=class_field, crs=crs,
                            encoding=encoding, gpkg_path=store.gpkg_path, database_url=store.database_url,
                            schema=store.schema, class_defaults=class_defaults, area=area, source_name=source_name)
    except PlanviewError as exc:  # the server's temporary path means nothing to the user (and is not theirs to see)
        exc.message = exc.message.replace(path, source_name)
        exc.detail = exc.detail.replace(path, source_name) if exc.detail else exc.detail
        raise
