"""Offline assets: every JS/CSS link folium would put on a CDN, served from /static.

Folium elements list their assets in ``default_js`` / ``default_css`` class
attributes that point at CDNs. :func:`localize` rewrites them on each element
*instance* of one map (never on the class, so nothing leaks into other maps or
other code using folium), mapping folium's link names to files vendored from
npm under ``static/vendor`` (see ``static/vendor/README.md``). A link we have
not vendored is an error, not a silent CDN request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from branca.element import Element
from folium.elements import JSCSSMixin

VENDOR = "/static/vendor"
PLANVIEW_MODULES = "/static/planview"  # the map page's ES modules, served as they are
PLANVIEW_MAIN = f"{PLANVIEW_MODULES}/main.js"  # imported by each map page's inline Folium module
PLANVIEW_CSS = "/static/planview.css"

# folium link name -> local URL; ``None`` drops a link whose asset no planview
# page uses (jQuery, Bootstrap and the awesome-markers icons serve only folium's
# Marker icons and Bootstrap-styled popups; our popups are plain HTML).
LOCAL_ASSETS: dict[str, str | None] = {
    "leaflet": f"{VENDOR}/leaflet/leaflet.js",
    "leaflet_css": f"{VENDOR}/leaflet/leaflet.css",
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
}

# An absolute http(s) URL in an attribute or CSS url(); XML namespaces are not fetched.
_EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


class UnvendoredAsset(RuntimeError):
    """A folium element wants a CDN asset that is not vendored under static/vendor."""


def walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from walk(child)


def _local(links: list[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, url in links:
        if url.startswith("/"):
            out.append((name, url))
            continue
        if name not in LOCAL_ASSETS:
            raise UnvendoredAsset(f"{owner} needs {name} ({url}); vendor it in static/vendor/update.sh "
                                  "and map it in server/mapview/assets.py")
        local = LOCAL_ASSETS[name]
        if local is not None:
            out.append((name, local))
    return out


def localize(root: Element) -> None:
    """Point every folium element under ``root`` at vendored assets (per instance)."""
    for element in walk(root):
        if isinstance(element, JSCSSMixin):
            owner = type(element).__name__
            element.default_js = _local(list(element.default_js), owner)
            element.default_css = _local(list(element.default_css), owner)


def external_urls(html: str) -> list[str]:
    """Snippets of ``html`` that would make the browser fetch from another host."""
    return [html[max(0, m.start() - 40): m.end() + 60] for m in _EXTERNAL.finditer(html)]


def inline_script(text: str) -> str:
    """JavaScript made safe to sit inside an HTML ``<script>`` element: no ``</script>`` or ``<!--`` can end it.

    ``<\\/`` and ``<\\!`` mean the same inside a JS string, and planview's scripts have them nowhere else.
    """
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")
