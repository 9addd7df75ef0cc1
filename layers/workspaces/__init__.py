"""Saved overlay workspaces: every upload, kept and never half-written.

Public API (used by the overlay API/CLI and by the export helper)::

    from layers.workspaces import open_store, Workspace

    store = open_store(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
    ws_id = store.save(workspace)          # one transaction: all or nothing
    ws = store.get(ws_id)                  # Workspace; raises geo.errors.NotFound
    ws.sites                               # GeoDataFrame, EPSG:4326: site_no, name, industry, attributes, geometry
    ws.report                              # the JSON report dict (crs, warnings, notes, summary, sites[...])
    store.list()                           # [WorkspaceSummary], newest first
    store.delete(ws_id)                    # raises NotFound when absent

Two implementations of one :class:`WorkspaceStore` protocol:

* :class:`~layers.workspaces.gpkg.GeoPackageStore` (default): a real OGC
  GeoPackage written with sqlite3 following the spec (QGIS/GDAL open it; the
  ``sites`` table is a features table with a GPKG geometry column);
* :class:`~layers.workspaces.postgis.PostgisStore`: the same on PostGIS,
  chosen when a ``postgresql://`` URL is given (``PLANVIEW_DATABASE_URL``).

Building a workspace from an upload (read -> analyse -> report) lives in
:mod:`layers.workspaces.service`; output formats (CSV, GeoJSON) in
:mod:`layers.workspaces.formats`.
"""

from __future__ import annotations

from pathlib import Path

from layers.workspaces.model import (
    Reader,
    Workspace,
    WorkspaceAccess,
    WorkspaceStore,
    WorkspaceSummary,
    new_workspace_id,
)

__all__ = ["Reader", "Workspace", "WorkspaceAccess", "WorkspaceStore", "WorkspaceSummary", "new_workspace_id", "open_store"]


def open_store(*, gpkg_path: Path | str | None = None, database_url: str | None = None,
               schema: str | None = None) -> WorkspaceStore:
    """The PostGIS store when ``database_url`` is set, else the GeoPackage at ``gpkg_path``."""
    if database_url:
        from layers.workspaces.postgis import PostgisStore

        return PostgisStore(database_url, schema=schema or "public")
    if gpkg_path is None:
        raise ValueError("open_store needs gpkg_path or database_url")
    from layers.workspaces.gpkg import GeoPackageStore

    return GeoPackageStore(Path(gpkg_path))
