"""``planview export MAP --format pdf --paper A4 --orientation landscape --out FILE``.

Translates the command line into :class:`layers.export.ExportOptions`; the
same code path as ``/api/export``, so a sheet made here is the sheet the web
page downloads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
from pathlib import Path

from geo.errors import InvalidInput
from layers.catalogue import Catalogue, parse_bbox
from layers.export import ExportOptions, export_map, load_overlay, parse_layer_ids
from layers.maps import load_maps
from layers.workspaces import open_store
from server.settings import Settings


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    bbox = getattr(args, "bbox", None)
    date = getattr(args, "date", None)
    return ExportOptions(
        format=args.format, paper=args.paper, orientation=args.orientation, dpi=args.dpi,
        title=args.title, subtitle=getattr(args, "subtitle", None),
        figure_number=getattr(args, "figure", None),
        date=dt.date.today().isoformat() if date is None else date,
        bbox=parse_bbox(bbox) if bbox else None,
        layers=parse_layer_ids(getattr(args, "layers", None)),
    )


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """Render and write the file atomically; prints where it went."""
    out = Path(args.out)
    if out.is_dir():
        raise InvalidInput(f"--out 须为文件路径 / --out must be a file path, {out} is a folder")
    options = options_from_args(args)
    catalogue = Catalogue.load(settings.data_dir, settings.build_dir)
    overlay = None
    if getattr(args, "overlay", None):
        store = open_store(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
        overlay = load_overlay(store, args.overlay)
    result = export_map(catalogue, load_maps(settings.data_dir), args.map, options, overlay=overlay)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".planview-", suffix=out.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(result.content)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {out} ({len(result.content):,} bytes, {result.media_type}; layers: {', '.join(result.layers)})")
    return 0
