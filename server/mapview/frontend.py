"""Which scripts a map page loads: the ES modules of ``static/planview`` as they are, or their build.

The modules are the source, and they always work served as they are: nothing has to be built to run
planview or to change its front end. What a build buys is the first view: the map page needs about
twenty of them before it can draw, and each costs the browser a request, a compile and a link on its
one main thread, which is busiest exactly then (benchmarks/maps.py measured some 60 ms of a 300 ms
time-to-drawn). ``planview js build`` (esbuild, a dev tool from package.json) bundles main.js with all
it imports, the tools it imports after the first view included, into one file in ``js_build_dir`` (data/build/js):
every module still runs once per page, and the tools still only once the map is drawn. boot.js, the
classic script that starts the first view's data requests at the top of the page head, is not part of
it: the modules reach it through firstview.js either way. The page carries boot.js and its own Folium
module inline (hashed in its CSP, server/pages.py): two requests fewer on the browser's six connections
before the first view's data can be asked for, and boot.js runs as soon as the head is parsed.

A page uses the build only while it is current: its manifest records a hash of every source file it
was made from. Edit any module and the pages fall back to the modules as they are, at once, until
the next build; an absent, broken or stale build is never served.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from server.mapview.assets import PLANVIEW_MAIN, PLANVIEW_MODULES, inline_script

BUILD_URL = "/static/build"  # served from js_build_dir
MANIFEST = "manifest.json"
BOOT = "planview/boot.js"  # under static/: the classic script the map page runs first, inline
ENTRY = "planview/main.js"  # what the build bundles, under static/: imported by the map page's inline module


@dataclass(frozen=True)
class FrontEnd:
    """What one map page runs: boot.js's text (inline) and the URLs of its modules."""

    boot: str  # the text of boot.js, inline at the top of <head>: requests the first view's layer data first
    main: str  # imported by the page's inline Folium module: start-up
    preload: tuple[str, ...]  # <link rel="modulepreload">: everything the first view imports statically
    built: bool  # served from a current build (not the modules as they are)


def sources(static_dir: Path) -> list[Path]:
    """The files a build is made from: the map page's modules and the monitoring module main.js imports."""
    return sorted((static_dir / "planview").glob("*.js")) + [static_dir / "monitor-map.js"]


def source_hashes(static_dir: Path) -> dict[str, str]:
    """sha256 of each source file, by its path under ``static/``; recomputed only when a file's stat changes."""
    files = sources(static_dir)
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file())
    return dict(_hashes(static_dir, stamp))


@lru_cache(maxsize=8)
def _hashes(static_dir: Path, stamp: tuple[tuple[str, int, int], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((Path(name).relative_to(static_dir).as_posix(), hashlib.sha256(Path(name).read_bytes()).hexdigest())
                 for name, _mtime, _size in stamp)


def front_end(static_dir: Path, folder: Path | None) -> FrontEnd:
    """The build in ``folder`` if there is a current one, else the modules as they are."""
    manifest = _read_manifest(folder / MANIFEST) if folder is not None else None
    if (folder is None or manifest is None or manifest.get("sources") != source_hashes(static_dir)
            or not (folder / str(manifest["main"])).is_file()):
        return FrontEnd(boot=boot_script(static_dir), main=PLANVIEW_MAIN, preload=tuple(module_urls(static_dir)),
                        built=False)
    main = f"{BUILD_URL}/{manifest['main']}"
    return FrontEnd(boot=boot_script(static_dir), main=main, preload=(main,), built=True)


def boot_script(static_dir: Path) -> str:
    """static/planview/boot.js as the page inlines it; read again only when the file changes."""
    path = static_dir / BOOT
    stat = path.stat()
    return _boot_script(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _boot_script(path: Path, mtime_ns: int, size: int) -> str:
    return inline_script(path.read_text(encoding="utf-8"))


def _read_manifest(path: Path) -> dict[str, object] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _manifest(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _manifest(path: str, mtime_ns: int, size: int) -> dict[str, object] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        return None
    main = data.get("main")
    return data if isinstance(main, str) and _SAFE_NAME.fullmatch(main) else None


_SAFE_NAME = re.compile(r"[\w.-]+\.js")  # build outputs sit flat in one folder

# ----------------------------------------------------------------- the modules as they are

ENTRY_MODULES = ("./" + PLANVIEW_MAIN.rsplit("/", 1)[1],)
_STATIC_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;'"]*?from\s*["'](\./[\w.-]+\.js)["']|^\s*import\s*["'](\./[\w.-]+\.js)["']""",
                            re.MULTILINE)


@lru_cache(maxsize=4)
def _modules(static_dir: Path, mtime_ns: int) -> tuple[str, ...]:
    folder = static_dir / "planview"
    seen: set[str] = set()
    todo = list(ENTRY_MODULES)
    while todo:
        name = todo.pop()
        if name in seen or not (folder / name).is_file():
            continue
        seen.add(name)
        text = (folder / name).read_text(encoding="utf-8")
        todo += [m.group(1) or m.group(2) for m in _STATIC_IMPORT.finditer(text)]
    return tuple(sorted(f"{PLANVIEW_MODULES}/{n.removeprefix('./')}" for n in seen))


def module_urls(static_dir: Path) -> list[str]:
    """The modules the first view needs, for ``<link rel="modulepreload">`` (no import waterfall).

    Only the static imports reachable from the entry modules: what main.js loads with ``import()`` after
    the map is drawn (tools, plan text) would compete with the first view's requests on the browser's
    six connections to this server, so it is not preloaded.
    """
    folder = static_dir / "planview"
    return list(_modules(static_dir, max(p.stat().st_mtime_ns for p in folder.glob("*.js"))))
