"""``planview js build``: bundle the map page's ES modules for the first view (see server/mapview/frontend.py).

Runs esbuild (a dev tool from package.json, ``make`` installs it into node_modules/) on main.js: one
ES module with every module it imports, statically or after the first view (``import()`` of a bundled
module becomes a function call that runs it then), so each still runs once per page.
The output is swapped in for ``js_build_dir`` (data/build/js) by renames, with a manifest of the sources' hashes: a
page sees the old build, none (the modules as they are) or the new one, never half of one, and never
a build made from other sources than the ones on disk.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from geo.errors import InvalidInput
from server.mapview.frontend import ENTRY, MANIFEST, source_hashes
from server.settings import ROOT, Settings

DEFAULT_ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"


def build_js(static_dir: Path, out_dir: Path, esbuild: Path = DEFAULT_ESBUILD) -> dict[str, object]:
    """Build into ``out_dir`` (replaced whole); returns the manifest written there."""
    if not esbuild.is_file():
        raise InvalidInput(f"找不到 esbuild：{esbuild}（先运行 make，或 npm ci）/ esbuild not found at {esbuild}: run make (or npm ci)")
    before = source_hashes(static_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".js-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private: the server may run as another user
    try:
        cmd = [str(esbuild), str(static_dir / ENTRY), "--bundle", "--format=esm", "--target=es2020", "--minify",
               "--sourcemap", "--legal-comments=none", f"--outdir={tmp}", "--entry-names=[name]-[hash]",
               "--log-level=warning"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or done.stderr.strip():  # a warning (an import() it cannot follow) is a failure too
            raise InvalidInput(f"esbuild 失败 / esbuild failed:\n{done.stderr.strip()}")
        if source_hashes(static_dir) != before:
            raise InvalidInput("构建期间源文件有改动，请重新构建 / the sources changed during the build: build again")
        version = subprocess.run([str(esbuild), "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
        bundle = next(tmp.glob("main-*.js")).name  # named by its content: cached for good (server/app.py)
        manifest: dict[str, object] = {"sources": before, "main": bundle, "esbuild": version}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        old = out_dir.with_name(out_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_js_build(args: argparse.Namespace, settings: Settings) -> int:
    out = settings.js_build_dir
    manifest = build_js(settings.static_dir, out, Path(args.esbuild) if args.esbuild else DEFAULT_ESBUILD)
    files = sorted(p for p in out.glob("*.js"))
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {out}: {len(files)} file(s), {total:,} bytes, from {len(manifest['sources'])} sources")  # type: ignore[arg-type]
    return 0
