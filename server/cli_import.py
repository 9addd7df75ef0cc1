"""``planview layers import``: the CLI side of :func:`layers.store.importer.import_layer`."""

from __future__ import annotations

import argparse
import json

from layers.store.importer import import_layer
from server.settings import Settings


def chongqing_area(settings: Settings):  # type: ignore[no-untyped-def]
    """The municipality outline the CRS inference and warnings measure against (as the overlay does)."""
    from layers.catalogue import Catalogue
    from layers.workspaces.service import overlay_context

    try:
        return overlay_context(Catalogue.load(settings.data_dir, settings.build_dir)).area
    except Exception:  # noqa: BLE001 - without the outline the import still works, with fewer warnings
        return None


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import, and append an audit record either way: who (``--by`` or the OS user), file, SHA-256, layer, version."""
    from pathlib import Path

    from geo.errors import PlanviewError
    from layers.audit import Entry, open_audit
    from layers.store.importer import sha256_file
    from server.auth.state import environment_actor

    path = Path(args.file)
    who = f"cli:{args.by}" if getattr(args, "by", None) else environment_actor()
    details = {"file": path.name, "sha256": sha256_file(path) if path.is_file() else None, "layer": args.id,
               "role": args.role}
    trail = open_audit(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)

    def audit(outcome: str, **extra: object) -> None:
        trail.append(Entry(actor=who, address="localhost", action="layer_import", target="planview layers import",
                           details={"via": "cli", **details, **extra}, outcome=outcome))

    try:
        summary = import_layer(
            args.file, layer_id=args.id, title=args.title, role=args.role, class_field=args.class_field,
            crs=args.crs, encoding=args.encoding, plan=args.plan, gpkg_path=settings.layer_store_gpkg,
            database_url=settings.database_url, schema=settings.layer_store_schema,
            class_defaults=settings.control_classes, area=chongqing_area(settings),
        )
    except PlanviewError as exc:
        audit(f"failed: {exc.code}")
        raise
    audit("ok", version=summary["version"], features=summary["features"])
    for warning in summary["warnings"]:
        print(f"WARNING {warning}")
    print(f"imported {summary['id']} v{summary['version']}: {summary['features']:,} features from {summary['file']} "
          f"(sha256 {summary['sha256'][:12]}…, CRS {summary['crs']['label']}) into the {summary['store']} store")
    print(json.dumps(summary, ensure_ascii=False))
    return 0
