"""Basemaps: offline by default, online tile providers only when configured.

The default map needs no internet: the county and region layers of each map
are its vector base, drawn on a plain background. Online raster providers
are added as alternative base layers only when the operator turns them on in
Settings (``enable_osm``, ``tianditu_token``, ``enable_amap``):

* OpenStreetMap — WGS84 data in Web Mercator, overlays line up.
* 天地图 (Tianditu) — CGCS2000, which equals WGS84 to well under a metre at
  map scale; needs the operator's browser token.
* 高德 (Amap) — tiles are in GCJ-02, so every WGS84 overlay appears offset by
  roughly 500 m; the layer name and a notice say so.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from geo.errors import DataError
from layers.tilefiles import describe

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

OFFLINE_BASE_NAME = "离线矢量底图（无需联网）"
OFFLINE_BASE_ID = "offline"  # the default; a permalink names any other basemap by its id (&base=...)
AMAP_WARNING = ("高德底图采用 GCJ-02 坐标，与本图 WGS84 图层相比偏移约 500 米，"
                "仅供参考，请勿据此量算或定位 / Amap tiles are GCJ-02: overlays appear offset by ~500 m")


@dataclass(frozen=True)
class BasemapOptions:
    """Which online providers the operator allows (plain values, not Settings)."""

    enable_osm: bool = False
    tianditu_token: str | None = None
    enable_amap: bool = False
    files: tuple[tuple[str, Path], ...] = ()  # offline MBTiles/PMTiles: (URL name, path)
    urls: tuple[tuple[str, str], ...] = ()  # intranet services: (title, URL template)

    @property
    def any_online(self) -> bool:
        return self.enable_osm or bool(self.tianditu_token) or self.enable_amap

    @property
    def any_extra(self) -> bool:
        """Is there any basemap besides the offline vector base (so a switcher is needed)?"""
        return self.any_online or bool(self.files) or bool(self.urls)


def basemap_options(settings: Settings) -> BasemapOptions:
    """The operator's basemap settings as plain values."""
    return BasemapOptions(enable_osm=settings.enable_osm, tianditu_token=settings.tianditu_token,
                          enable_amap=settings.enable_amap, files=tuple(sorted(settings.basemap_files.items())),
                          urls=tuple(settings.basemap_urls.items()))


@dataclass(frozen=True)
class TileProvider:
    name: str
    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 18
    warning: str | None = None
    overlay: bool = False
    max_native_zoom: int | None = None
    min_zoom: int = 0
    datum: str = "wgs84"  # "gcj02": the page shifts its layers onto these tiles while they are shown
    id: str = ""  # stable short name for the permalink (&base=id)
    vector: bool = False  # Mapbox Vector Tiles: drawn by the page (VectorGrid), not by a Leaflet TileLayer


def online_providers(options: BasemapOptions) -> list[TileProvider]:
    """The tile layers the operator enabled, in the order they appear in the layer control."""
    providers: list[TileProvider] = []
    if options.tianditu_token:
        tk = quote(options.tianditu_token, safe="")

        def wmts(layer: str) -> str:
            return (f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                    f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                    f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={tk}")

        providers.append(TileProvider("天地图·矢量（在线）", wmts("vec"),
                                      "&copy; 天地图 (国家地理信息公共服务平台)", subdomains="01234567",
                                      id="tianditu"))
        providers.append(TileProvider("天地图·注记（在线）", wmts("cva"),
                                      "&copy; 天地图", subdomains="01234567", overlay=True,
                                      id="tianditu-label"))
    if options.enable_osm:
        providers.append(TileProvider("OpenStreetMap（在线）", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                      "&copy; OpenStreetMap contributors (ODbL)", subdomains="abc", max_zoom=19,
                                      id="osm"))
    if options.enable_amap:
        providers.append(TileProvider(
            "高德地图（在线，GCJ-02，偏移约500米）",
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            "&copy; 高德地图 (GCJ-02)", subdomains="1234", warning=AMAP_WARNING, datum="gcj02",
            id="amap"))
    return providers


def local_providers(options: BasemapOptions) -> list[TileProvider]:
    """The operator's own tiles: MBTiles/PMTiles files served by planview, then intranet URL templates.

    A file that cannot be read is logged and left out (the map still opens on the vector base).
    """
    providers: list[TileProvider] = []
    for name, path in options.files:
        if not _NAME.match(name):
            log.error("basemap file name %r must be lowercase letters, digits, - or _; skipped", name)
            continue
        try:
            tiles = describe(name, path)
        except DataError as exc:
            log.error("basemap %s skipped: %s", name, exc)
            continue
        if not (tiles.raster or tiles.vector):
            log.error("basemap %s: %s tiles cannot be drawn by the map page; skipped", name, tiles.format)
            continue
        attribution = html.escape(tiles.attribution or f"本地底图 {tiles.title}")
        kind = "矢量" if tiles.vector else ""
        providers.append(TileProvider(f"{html.escape(tiles.title)}（本地离线{kind}瓦片）",
                                      f"/basemap/{name}/{{z}}/{{x}}/{{y}}", attribution, subdomains="abc",
                                      max_zoom=18, max_native_zoom=tiles.max_zoom, min_zoom=0, id=name,
                                      vector=tiles.vector))
    for title, url in options.urls:
        providers.append(TileProvider(f"{html.escape(title)}（内网）", url, html.escape(f"底图：{title}"),
                                      subdomains="abc", id="net-" + hashlib.sha256(title.encode()).hexdigest()[:6]))
    return providers
