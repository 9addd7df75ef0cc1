"""The Chinese font of every exported map and report, from a pinned PyPI package.

A fresh machine has no CJK system font, and matplotlib's DejaVu Sans draws
Chinese as empty boxes. The font therefore comes from the registry package
``justmytype-intl-cjk`` (Google Fonts' Noto Sans SC, SIL OFL 1.1), which the
project's set-up installs; nothing here looks at system font folders.

That package ships Noto Sans SC as a *variable* TrueType font whose default
instance is Thin (wght 100), and matplotlib can neither pick a variable
instance nor embed a CFF (.otf) font correctly in PDF (it files CFF outlines
as TrueType ``FontFile2``, which strict viewers reject). So on first use the
variable font is instantiated once with fontTools at Regular (400) and Bold
(700) into static glyf-outline TrueType files under a cache folder; those
embed in PDF as proper ``CIDFontType2`` subsets with selectable text.
Instancing takes ~10 s per weight, once per machine (``python -m geo.fonts``
does it ahead of time).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from matplotlib import font_manager

from geo.errors import DataError

FONT_PACKAGE = "justmytype-intl-cjk"
FONT_MODULE = "justmytype_intl_cjk"
FONT_RESOURCE = ("fonts", "ofl", "notosanssc", "NotoSansSC[wght].ttf")
FONT_LICENCE = "Noto Sans SC, SIL Open Font License 1.1"
FAMILY = "Noto Sans SC"
WEIGHTS = {"regular": 400, "bold": 700}
# OpenType layout and vertical-metrics tables: large, parsed on every PDF font subset, unused for horizontal
# Chinese text (a Latin ligature or kerning pair is the only thing lost).
UNUSED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "STAT", "vhea", "vmtx")
CACHE_VERSION = "2"

_build_lock = threading.Lock()


@dataclass(frozen=True)
class CjkFonts:
    """Paths of the static Regular and Bold instances, registered with matplotlib."""

    regular: Path
    bold: Path

    def properties(self, *, bold: bool = False, size: float = 10.0) -> font_manager.FontProperties:
        """FontProperties bound to the file itself (no family lookup, no fallback surprises)."""
        return font_manager.FontProperties(fname=str(self.bold if bold else self.regular), size=size)


def source_font_path() -> Path:
    """The variable Noto Sans SC file inside the installed package."""
    try:
        root = resources.files(FONT_MODULE)
    except ModuleNotFoundError:
        raise DataError(
            f"缺少中文字体包 {FONT_PACKAGE}，请按 README 安装依赖 / "
            f"the CJK font package {FONT_PACKAGE} is not installed; run the README set-up (pip install -e .)"
        ) from None
    path = Path(str(root.joinpath(*FONT_RESOURCE)))
    if not path.is_file():
        raise DataError(f"字体包 {FONT_PACKAGE} 不完整 / font file missing from {FONT_PACKAGE}: {path}")
    return path


def default_cache_dir() -> Path:
    """Per-user cache folder (a temporary one when home is read-only); the fonts are derived files."""
    folder = Path.home() / ".cache" / "planview" / "fonts"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"planview-fonts-{os.getuid()}"


def _fingerprint(source: Path) -> str:
    try:
        version = metadata.version(FONT_PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    stat = source.stat()
    return hashlib.sha256(f"{CACHE_VERSION}:{version}:{stat.st_size}".encode()).hexdigest()[:10]


def _instantiate(source: Path, weight: int, target: Path) -> None:
    """Write the static instance of ``source`` at ``weight`` atomically to ``target``."""
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    font = TTFont(str(source))
    static = instancer.instantiateVariableFont(font, {"wght": weight}, updateFontNames=True, optimize=False)
    for table in UNUSED_TABLES:  # matplotlib lays out CJK without them; without them PDF subsetting is ~4x faster
        if table in static:
            del static[table]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        static.save(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_static_fonts(cache_dir: Path | None = None) -> dict[str, Path]:
    """Create (once) and return the static instances, keyed by weight name."""
    source = source_font_path()
    folder = cache_dir or default_cache_dir()
    tag = _fingerprint(source)
    paths = {name: folder / f"NotoSansSC-{name.title()}-{tag}.ttf" for name in WEIGHTS}
    with _build_lock:
        for name, path in paths.items():
            if not path.is_file():
                try:
                    _instantiate(source, WEIGHTS[name], path)
                except OSError as exc:
                    raise DataError(f"无法写入字体缓存 / cannot write the font cache {folder}: {exc}") from exc
    return paths


@lru_cache(maxsize=4)
def cjk_fonts(cache_dir: Path | None = None) -> CjkFonts:
    """The registered CJK fonts (instancing them on the first call in a fresh cache)."""
    paths = ensure_static_fonts(cache_dir)
    for path in paths.values():
        font_manager.fontManager.addfont(str(path))
    return CjkFonts(regular=paths["regular"], bold=paths["bold"])


if __name__ == "__main__":  # pragma: no cover - set-up helper
    fonts = cjk_fonts()
    print(f"{FAMILY}: {fonts.regular} {fonts.bold}")
