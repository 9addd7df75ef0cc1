"""Format detection from the bytes first (magic numbers, content), the file name second.

Planners' files are often misnamed (a ``.txt`` that is CSV, a ``.json`` that
is GeoJSON, a KMZ renamed ``.zip``), so content decides where it can.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from geo.errors import InvalidInput, UnsupportedFormat
from geo.readers.base import RawSites
from geo.readers.limits import ReadLimits

SUPPORTED = ("GeoJSON, Shapefile (.zip), KML, KMZ, GeoPackage, CSV, XLSX, DXF, 坐标TXT")


def _text_head(data: bytes) -> str:
    head = data[:8192]
    for codec in ("utf-8", "gb18030"):
        try:
            return head.decode(codec, "ignore").lstrip("\ufeff \t\r\n")
        except LookupError:  # pragma: no cover - both codecs exist
            continue
    return ""


def _unsupported(filename: str, what: str | None = None) -> UnsupportedFormat:
    shown = what or (PurePosixPath(filename).suffix or "无扩展名 / no extension")
    return UnsupportedFormat(
        f"不支持的文件格式（{shown}）。支持：{SUPPORTED} / unsupported file format ({shown}); supported: {SUPPORTED}"
    )


def sniff(data: bytes, filename: str) -> str:
    """One of: zip, kmz, xlsx, gpkg, geojson, kml, dxf, landtxt, csv (or raise)."""
    suffix = PurePosixPath(filename.lower()).suffix
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        if suffix == ".kmz":
            return "kmz"
        if suffix in (".xlsx", ".xlsm"):
            return "xlsx"
        if b"[Content_Types].xml" in data[:4096] and b"xl/" in data[:65536]:
            return "xlsx"
        return "zip"
    if data.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _unsupported(filename, "旧版 Excel .xls，请另存为 .xlsx 或 .csv / legacy .xls; save as .xlsx or .csv")
    if data[:4] in (b"AC10", b"AC1.") or data.startswith(b"AC10"):
        raise _unsupported(filename, "DWG，请在 CAD 中另存为 DXF / DWG; save it as DXF in your CAD program")
    if data.startswith(b"\x00\x00\x27\x0a"):
        raise InvalidInput("只上传了 .shp：请把同名的 .shp/.shx/.dbf（及 .prj、.cpg）一起打包为 zip 上传 / "
                           "a bare .shp was uploaded: zip the .shp, .shx and .dbf (and .prj, .cpg) together")
    if data.startswith(b"AutoCAD Binary DXF"):
        return "dxf"
    if b"\x00" in data[:4096]:
        raise _unsupported(filename, "二进制文件 / binary file")
    head = _text_head(data)
    if head.startswith(("{", "[")) and suffix not in (".csv", ".txt"):
        return "geojson"
    if head.startswith("<"):
        if "<kml" in head[:4096]:
            return "kml"
        raise _unsupported(filename, "XML 但不是 KML / XML that is not KML")
    lines = [ln.strip() for ln in head.splitlines()[:4]]
    if len(lines) >= 2 and lines[0] == "0" and lines[1] in ("SECTION", "SECTION\r"):
        return "dxf"
    from geo.readers.landtxt import looks_like_landtxt

    if looks_like_landtxt(head):
        return "landtxt"
    if suffix in (".csv", ".txt", ".tsv") or "," in head or "\t" in head:
        return "csv"
    raise _unsupported(filename)


def read_bytes(data: bytes, filename: str, limits: ReadLimits, encoding: str | None, *,
               nested: bool = False) -> RawSites:
    """Dispatch to the reader for the detected format."""
    from geo.readers import kml, landtxt, table, vector

    fmt = sniff(data, filename)
    if fmt == "zip":
        if nested:
            raise InvalidInput("压缩包中又有压缩包，请解开后上传 / a ZIP inside a ZIP; unzip it first")
        return vector.read_zip(data, limits, encoding, filename)
    if fmt == "kmz":
        return _read_kmz(data, limits)
    if fmt == "xlsx":
        return table.read_xlsx(data, limits)
    if fmt == "gpkg":
        return vector.read_gpkg(data, limits)
    if fmt == "geojson":
        return vector.read_geojson(data, encoding, limits)
    if fmt == "kml":
        return kml.parse_kml(data, limits)
    if fmt == "dxf":
        return vector.read_dxf(data, encoding, limits)
    if fmt == "landtxt":
        return landtxt.parse_landtxt(data, encoding, limits)
    return table.read_csv(data, encoding, limits)


def _read_kmz(data: bytes, limits: ReadLimits) -> RawSites:
    from geo.readers.archive import SafeZip
    from geo.readers.kml import parse_kml

    zf = SafeZip.open(data, limits, what="KMZ")
    try:
        kmls = [m for m in zf.members() if m.suffix == ".kml"]
        if not kmls:
            raise InvalidInput("KMZ 中没有 .kml 文件 / the KMZ holds no .kml file")
        main = next((m for m in kmls if m.name.lower() == "doc.kml"), sorted(kmls, key=lambda m: m.name)[0])
        return parse_kml(zf.read(main.name), limits, fmt="kmz")
    finally:
        zf.close()
