"""``planview overlay FILE``: the same analysis as the web upload, saved as a workspace too.

The report goes to stdout (json, csv or geojson); the workspace id and any
warnings go to stderr, so the output can be piped into other tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geo.errors import InvalidInput, TooLarge
from layers.catalogue import Catalogue
from layers.compliance import control_sources
from layers.store import open_layer_store
from layers.workspaces import open_store
from layers.workspaces.formats import to_csv, to_geojson
from layers.workspaces.service import create_workspace
from server.overlay_api import limits_from
from server.settings import Settings


def run_overlay(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise InvalidInput(f"找不到文件 {path} / no such file: {path}")
    if path.stat().st_size > settings.max_upload_bytes:
        raise TooLarge(f"文件超过 {settings.max_upload_mb:g} MB 上限 / the file exceeds the "
                       f"{settings.max_upload_mb:g} MB limit")
    catalogue = Catalogue.load(settings.data_dir, settings.build_dir)
    store = open_store(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
    layer_store = open_layer_store(gpkg_path=settings.layer_store_gpkg, database_url=settings.database_url,
                                   schema=settings.layer_store_schema)
    workspace = create_workspace(store, path.read_bytes(), path.name, catalogue, crs=args.crs,
                                 encoding=args.encoding, limits=limits_from(settings),
                                 control=control_sources(layer_store, layer_store.layers()))
    report = workspace.report
    print(f"workspace {workspace.id} saved; CRS {report['crs']['label']} ({report['crs']['source']})",
          file=sys.stderr)
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    fmt = getattr(args, "format", "json") or "json"
    if fmt == "csv":
        sys.stdout.buffer.write(to_csv(report))
    elif fmt == "geojson":
        sys.stdout.write(json.dumps(to_geojson(workspace), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    sys.stdout.flush()
    return 0
