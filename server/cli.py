"""The ``planview`` command line: serve, data build, layers check/replace, plans inventory, overlay, export."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from geo.errors import PlanviewError
from server.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server.app import create_app
    from server.overlay_api import open_workspace_store
    from server.serving import server_config

    app = create_app(settings)
    app.state.auth.bootstrap(open_workspace_store(settings))  # first start: the admin and a one-time password
    uvicorn.Server(server_config(app, settings, args.host, args.port)).run()
    return 0


def _data_build(args: argparse.Namespace, settings: Settings) -> int:
    from layers.build import build_all

    counts = build_all(settings.data_dir, settings.build_dir)
    for layer_id, n in sorted(counts.items()):
        print(f"built {layer_id}: {n} features")
    return 0


def _layers_check(args: argparse.Namespace, settings: Settings) -> int:
    from layers.check import check_all

    problems = check_all(settings.data_dir, settings.build_dir, settings.plans_dir)
    if settings.database_url or settings.layer_store_gpkg.exists():
        from layers.store import open_layer_store
        from layers.store.check import store_problems

        store = open_layer_store(gpkg_path=settings.layer_store_gpkg, database_url=settings.database_url,
                                 schema=settings.layer_store_schema)
        problems += store_problems(store)
    for p in problems:
        print(f"PROBLEM {p}")
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _layers_replace(args: argparse.Namespace, settings: Settings) -> int:
    import hashlib
    from pathlib import Path

    from layers.audit import Entry, open_audit
    from layers.replace import replace_geometry
    from server.auth.state import environment_actor

    path = Path(args.file)
    details = {"layer": args.layer, "file": path.name,
               "sha256": hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None}
    trail = open_audit(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
    try:
        result = replace_geometry(settings.data_dir, settings.build_dir, args.layer, path, key=args.key)
    except PlanviewError as exc:
        trail.append(Entry(actor=environment_actor(), address="localhost", action="layer_replace",
                           target="planview layers replace", details=details, outcome=f"failed: {exc.code}"))
        raise
    trail.append(Entry(actor=environment_actor(), address="localhost", action="layer_replace",
                       target="planview layers replace", details=details))
    print(result)
    return 0


def _layers_import(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli_import import run_import

    return run_import(args, settings)


def _plans_inventory(args: argparse.Namespace, settings: Settings) -> int:
    from layers.inventory import load_inventory, mapping_rows

    rows = mapping_rows(load_inventory(settings.data_dir))
    shown = [r for r in rows if not r["feature"]] if args.missing else rows
    for r in shown:
        target = r["feature"] or f"未画: {r['unmapped_reason'] or '（缺少理由）'}"
        print(f"{r['id']}\t{r['name']}\t{','.join(r['plans'])}\t{target}")
    mapped = sum(1 for r in rows if r["feature"])
    bad = [r for r in rows if not r["feature"] and not (r["unmapped_reason"] or "").strip()]
    print(f"{len(rows)} entries: {mapped} mapped, {len(rows) - mapped} unmapped with a reason"
          + (f", {len(bad)} WITHOUT feature or reason" if bad else ""))
    return 1 if bad else 0


def _overlay(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli_overlay import run_overlay

    return run_overlay(args, settings)


def _js_build(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli_js import run_js_build

    return run_js_build(args, settings)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli_export import run_export

    return run_export(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planview", description="重庆/云阳科技创新规划地图")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web viewer")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=_serve)

    data = sub.add_parser("data", help="derived data").add_subparsers(dest="data_command", required=True)
    data.add_parser("build", help="rebuild derived layer geometry from pinned packages").set_defaults(handler=_data_build)

    layers = sub.add_parser("layers", help="the layer catalogue").add_subparsers(dest="layers_command", required=True)
    layers.add_parser("check", help="validate manifests, geometry, joins and citations").set_defaults(handler=_layers_check)
    replace = layers.add_parser("replace", help="replace a layer's geometry with an authoritative file")
    replace.add_argument("layer")
    replace.add_argument("file")
    replace.add_argument("--key", help="field in FILE holding the layer's join key")
    replace.set_defaults(handler=_layers_replace)

    imp = layers.add_parser("import", help="import a large authoritative layer (三区三线, 国土空间规划 …) into the store")
    imp.add_argument("file")
    imp.add_argument("--id", required=True, help="layer id: lower-case letters, digits, hyphens")
    imp.add_argument("--title", required=True)
    imp.add_argument("--role", choices=["control", "reference", "plan"], default="reference")
    imp.add_argument("--class-field", help="field holding the class (永久基本农田 …): style, legend, control check")
    imp.add_argument("--crs", help="EPSG:4545, gcj02, bd09 … (default: from the file or inferred)")
    imp.add_argument("--encoding", help="attribute text encoding, e.g. gbk")
    imp.add_argument("--plan", choices=["chongqing", "yunyang"], help="default: from where the layer lies")
    imp.add_argument("--by", help="who imports, for the audit trail (default: the OS user)")
    imp.set_defaults(handler=_layers_import)

    plans = sub.add_parser("plans", help="the two plans' texts").add_subparsers(dest="plans_command", required=True)
    inventory = plans.add_parser("inventory", help="every place the plans locate, and the feature that maps it")
    inventory.add_argument("--missing", action="store_true", help="only entries without a feature")
    inventory.set_defaults(handler=_plans_inventory)

    overlay = sub.add_parser("overlay", help="check project sites against the plan zones")
    overlay.add_argument("file")
    overlay.add_argument("--crs", help="EPSG:4545, gcj02, bd09 … (default: from the file or inferred)")
    overlay.add_argument("--encoding", help="attribute text encoding, e.g. gbk")
    overlay.add_argument("--format", choices=["json", "csv", "geojson"], default="json")
    overlay.set_defaults(handler=_overlay)

    js = sub.add_parser("js", help="the map page's front end").add_subparsers(dest="js_command", required=True)
    js_build = js.add_parser("build", help="bundle static/planview for the first view (optional; esbuild from npm)")
    js_build.add_argument("--esbuild", help="path of the esbuild binary (default: node_modules/.bin/esbuild)")
    js_build.set_defaults(handler=_js_build)

    export = sub.add_parser("export", help="static map for documents (PNG/PDF/SVG)")
    export.add_argument("map")
    export.add_argument("--format", choices=["png", "pdf", "svg"], default="pdf")
    export.add_argument("--paper", choices=["A4", "A3"], default="A4")
    export.add_argument("--orientation", choices=["portrait", "landscape"], default="landscape")
    export.add_argument("--dpi", type=int, default=300)
    export.add_argument("--title")
    export.add_argument("--subtitle")
    export.add_argument("--overlay", help="workspace id of an upload to draw on top")
    export.add_argument("--figure", help="figure number, e.g. 图1")
    export.add_argument("--date", help="date printed on the map (default: today)")
    export.add_argument("--bbox", help="view to draw, minx,miny,maxx,maxy in lon/lat (default: the map's)")
    export.add_argument("--layers", help="comma-separated layer ids to show (default: the map's visible layers)")
    export.add_argument("--out", required=True)
    export.set_defaults(handler=_export)

    from server.cli_users import add_parsers

    add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, Settings()))
    except PlanviewError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
