"""Embed the Chinese font in an SVG sheet, so its text shows on a machine without CJK fonts.

matplotlib's SVG keeps text as ``<text>`` (searchable, editable) but only
names a font family, and the family it names for a font bound by file is its
default (DejaVu Sans), which has no Chinese. Here the sheet's characters are
subset out of Noto Sans SC (SIL OFL 1.1, which allows embedding) into a small
TrueType font, embedded as a ``data:`` URL in an ``@font-face`` rule, and
every text is pointed at it. Browsers and Inkscape then draw the Chinese
with the embedded glyphs; the text stays text.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from xml.etree import ElementTree as ET  # noqa: S405 - parses our own matplotlib output, not user input

from fontTools import subset
from fontTools.ttLib import TTFont

EMBEDDED_FAMILY = "planview Noto Sans SC"
_FAMILY = re.compile(r"font-family:\s*[^;\"]*")


def _text_chars(svg: bytes) -> str:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    chars = {c for el in root.iter() if el.tag.endswith(("text", "tspan")) for c in (el.text or "")}
    return "".join(sorted(chars | {" "}))


def subset_font(font_path: Path, chars: str) -> bytes:
    """A TrueType subset of ``font_path`` with just ``chars`` (no layout tables, names kept)."""
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = TTFont(str(font_path), lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def embed_font(svg: bytes, font_path: Path) -> bytes:
    """``svg`` with a subset of ``font_path`` embedded and all its text set in it."""
    text = svg.decode("utf-8")
    chars = _text_chars(svg)
    data = base64.b64encode(subset_font(font_path, chars)).decode("ascii")
    face = (f'<style type="text/css">@font-face{{font-family:"{EMBEDDED_FAMILY}";'
            f'src:url(data:font/ttf;base64,{data}) format("truetype");}}</style>')
    text = _FAMILY.sub(f"font-family: '{EMBEDDED_FAMILY}', 'Noto Sans SC', sans-serif", text)
    if "<defs>" in text:
        text = text.replace("<defs>", "<defs>\n  " + face, 1)
    else:
        text = re.sub(r"(<svg\b[^>]*>)", lambda m: m.group(1) + f"\n <defs>{face}</defs>", text, count=1)
    return text.encode("utf-8")
