"""The pages' fallback Chinese web font: two WOFF2 subsets of the exports' Noto Sans SC.

The pages name the system CJK fonts first (微软雅黑, PingFang, Noto Sans CJK …), so a browser that has one
never fetches these files. A machine with none of them (a fresh Linux desktop or kiosk on an intranet, the
headless Chromium of a test rig) drew every Chinese character of the UI and of the map's labels as an empty
box. The font is cut in two, Google-Fonts style, with ``unicode-range`` telling the browser which file holds
which characters, so a page downloads only what it shows:

* ``common``: every CJK character planview's own text uses (the layer data and plans in ``data/``, the
  pages, the front end and the server's messages), about 1,700 characters and 0.25 MB: all a map page needs;
* ``rest``: the remainder of GB 2312 (the 6,763 common hanzi and its symbols), about 0.8 MB, fetched only
  where a page shows other text (a name in an uploaded file).

Characters outside both fall back to whatever the system has, as before. Built once per font version and
character set from the static Regular instance geo/fonts.py makes for the exports (bold is synthesised by
the browser), in the same cache folder; ``python -m geo.webfont`` builds them at set-up.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from geo.errors import DataError
from geo.fonts import default_cache_dir, ensure_static_fonts

WEB_FONT_VERSION = "2"
FAMILY = "planview CJK"  # the name planview.css puts after the system CJK fonts
CJK_RANGES = ((0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))
DATA_FOLDERS = ("plans", "layers", "maps", "indicators", "gazetteer")  # under data/: the names the pages show
CODE_FOLDERS = ("server", "layers", "static")  # under the repository: the UI's own text
TEXT_SUFFIXES = (".txt", ".md", ".yaml", ".yml", ".geojson", ".json", ".csv", ".py", ".html", ".js", ".css")
SKIP_PARTS = frozenset({"vendor", "node_modules", "__pycache__", "build"})
_lock = threading.Lock()


@dataclass(frozen=True)
class WebFont:
    """One subset: its file and the characters it is declared for (``unicode-range``)."""

    path: Path
    chars: frozenset[str]


@dataclass(frozen=True)
class WebFonts:
    common: WebFont
    rest: WebFont


def text_folders(data_dir: Path, code_root: Path) -> list[Path]:
    """The folders whose text the pages show: the data's and the code's (under the repository ``code_root``)."""
    folders = [data_dir / n for n in DATA_FOLDERS] + [code_root / n for n in CODE_FOLDERS]
    return [f for f in folders if f.is_dir()]


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


def text_characters(folders: Iterable[Path]) -> set[str]:
    """The CJK characters of the text files under ``folders`` (vendored and built files left out)."""
    out: set[str] = set()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix not in TEXT_SUFFIXES or SKIP_PARTS & set(path.relative_to(folder).parts):
                continue
            try:
                out |= {c for c in path.read_text(encoding="utf-8") if is_cjk(c)}
            except (OSError, UnicodeDecodeError):
                continue
    return out


def ensure_web_fonts(folders: Iterable[Path] = (), cache_dir: Path | None = None) -> WebFonts:
    """The two subsets (built on the first call for this font version and character set)."""
    regular = ensure_static_fonts(cache_dir)["regular"]
    common = frozenset(text_characters(folders))
    rest = frozenset(c for c in gb2312_characters() if is_cjk(c)) - common
    folder = cache_dir or default_cache_dir()
    fonts = []
    for name, chars in (("common", common), ("rest", rest)):
        tag = hashlib.sha256("".join(sorted(chars)).encode("utf-8")).hexdigest()[:8]
        fonts.append(WebFont(folder / f"{regular.stem}-{name}{WEB_FONT_VERSION}-{tag}.woff2", chars))
    with _lock:
        for font in fonts:
            if not font.path.is_file():
                try:
                    _subset(regular, font.chars, font.path)
                except OSError as exc:
                    raise DataError(f"无法写入字体缓存 / cannot write the web font {font.path}: {exc}") from exc
    return WebFonts(common=fonts[0], rest=fonts[1])


def unicode_range(chars: Iterable[str]) -> str:
    """CSS ``unicode-range`` for ``chars``: runs of consecutive code points as ranges."""
    codes = sorted({ord(c) for c in chars})
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return ",".join(f"U+{lo:X}" if lo == hi else f"U+{lo:X}-{hi:X}" for lo, hi in runs)


def stylesheet(fonts: WebFonts, url_of: dict[str, str]) -> str:
    """The @font-face rules; ``url_of`` maps each subset's file name to its URL.

    The rest is declared first: where ranges overlap the browser tries the last rule first, so a character
    in the common subset never fetches the larger file.
    """
    rules = []
    for font in (fonts.rest, fonts.common):
        rules.append(
            "@font-face {\n"
            f'  font-family: "{FAMILY}";\n'
            f'  src: url("{url_of[font.path.name]}") format("woff2");\n'
            "  font-display: swap;\n"
            f"  unicode-range: {unicode_range(font.chars)};\n"
            "}\n")
    return ("/* The pages' fallback Chinese font: subsets of Noto Sans SC (SIL OFL 1.1), made by geo/webfont.py. */\n"
            + "".join(rules))


def _subset(source: Path, chars: Iterable[str], target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff2"  # brotli-compressed: about a third of the TrueType subset
    options.hinting = False  # CJK is drawn unhinted on the screens this font is for anyway
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


if __name__ == "__main__":  # pragma: no cover - set-up helper (make data), so no page waits for the subsets
    root = Path(__file__).resolve().parents[1]
    built = ensure_web_fonts(text_folders(root / "data", root))
    print(built.common.path, built.rest.path)
