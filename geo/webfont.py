"""The pages' fallback Chinese web font: a WOFF2 subset of the exports' Noto Sans SC.

The pages name the system CJK fonts first (微软雅黑, PingFang, Noto Sans CJK …), so a browser that has one
never fetches this file. A machine with none of them (a fresh Linux desktop or kiosk on an intranet, the
headless Chromium of a test rig) drew every Chinese character of the UI and of the map's labels as an empty
box. This subset covers GB 2312 (the 6,763 common hanzi and its symbols), ASCII and every CJK character of
the layer data and the plans in ``data/`` — about 1 MB, fetched once and cached by the browser. Characters
outside it (a rare name in an uploaded file) fall back to whatever the system has, as before.

Built once per font version from the static Regular instance geo/fonts.py makes for the exports (bold is
synthesised by the browser), in the same cache folder; ``python -m geo.fonts`` builds it at set-up.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from geo.errors import DataError
from geo.fonts import default_cache_dir, ensure_static_fonts

WEB_FONT_VERSION = "1"
CJK_RANGES = ((0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))  # also the CSS unicode-range
DATA_FOLDERS = ("plans", "layers", "maps", "indicators", "gazetteer")  # under data/: the names the pages show
_lock = threading.Lock()


def data_folders(data_dir: Path) -> list[Path]:
    """The folders under ``data_dir`` whose text the pages show."""
    return [data_dir / name for name in DATA_FOLDERS if (data_dir / name).is_dir()]


def gb2312_characters() -> set[str]:
    """Every character of GB 2312 (rows 0xA1–0xF7, cells 0xA1–0xFE)."""
    out: set[str] = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                out.add(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return out


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def data_characters(folders: Iterable[Path]) -> set[str]:
    """The CJK characters of the text files (plans, layer manifests and GeoJSON) under ``folders``."""
    out: set[str] = set()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".txt", ".md", ".yaml", ".yml", ".geojson", ".json", ".csv") and path.is_file():
                try:
                    out |= {c for c in path.read_text(encoding="utf-8") if is_cjk(c)}
                except (OSError, UnicodeDecodeError):
                    continue
    return out


def ensure_web_font(data_folders: Iterable[Path] = (), cache_dir: Path | None = None) -> Path:
    """The WOFF2 subset (built on the first call for this font version and character set)."""
    regular = ensure_static_fonts(cache_dir)["regular"]
    chars = gb2312_characters() | data_characters(data_folders) | {chr(c) for c in range(0x20, 0x7F)}
    tag = hashlib.sha256("".join(sorted(chars)).encode("utf-8")).hexdigest()[:8]
    target = (cache_dir or default_cache_dir()) / f"{regular.stem}-web{WEB_FONT_VERSION}-{tag}.woff2"
    with _lock:
        if not target.is_file():
            try:
                _subset(regular, chars, target)
            except OSError as exc:
                raise DataError(f"无法写入字体缓存 / cannot write the web font {target}: {exc}") from exc
    return target


def _subset(source: Path, chars: set[str], target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff2"  # brotli-compressed: about a third of the TrueType subset
    options.hinting = False  # screens this font is for render CJK unhinted anyway
    font = TTFont(str(source))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        font.flavor = "woff2"
        font.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":  # pragma: no cover - set-up helper (make data), so no page waits for the subset
    print(ensure_web_font(data_folders(Path(__file__).resolve().parents[1] / "data")))
