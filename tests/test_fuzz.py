"""Property-based fuzzing (Hypothesis) of every reader and of every query parameter of the HTTP API.

The property is the one of issue #8: hostile input never gives a 5xx (a 503
"busy" with ``Retry-After`` only when the job queue is full) and never takes
longer than the job time limit. Readers are fed small valid samples built
here, then mutated: bytes flipped, inserted, cut; numbers replaced by
``inf``/``nan``/huge values; names replaced by control characters, ``$…$``
mathtext, emoji, markup. The HTTP side walks ``app.routes`` of the app
factory, so a new GET route is fuzzed without editing this file; each of its
path and query parameters gets values that are sometimes right and mostly
wrong.

Bounded and reproducible: ``derandomize=True`` (the same examples on every
run, in CI too), no example database, and few examples per target; the whole
module takes about a minute on a 2-core machine. An input that once gave a
5xx is kept as an explicit ``@example``.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastapi.routing
import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from conftest import make_settings
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from support import bearer

from geo.crs import LONLAT, transformer
from geo.errors import PlanviewError
from geo.readers import read_sites
from server.app import create_app
from server.errors import status_for
from server.ogc import COMMON_PARAMS, ITEM_PARAMS, ITEMS_PARAMS

JOB_LIMIT_S = 30.0  # the test app's job time limit: no call may take longer
# More examples when hunting locally (PLANVIEW_FUZZ_SCALE=20); CI runs the fixed, small default.
SCALE = float(os.environ.get("PLANVIEW_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    """Few, fixed examples: CI sees the same inputs every run, and the suite stays within its time budget."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


# ---------------------------------------------------------------- hostile values

NASTY_NUMBERS = ["inf", "-inf", "nan", "NaN", "Infinity", "1e400", "-1e400", "1e308", "-0", "0", "1e-320",
                 "99999999999999999999999999", "-99999999999999999999", "1,5", "0x1F", "１２３", "", " ", "1e",
                 "--1", "3.", ".5", "1_000", "9" * 400]
NASTY_TEXT = ["$x^2$ 地块 $\\frac{1}{0}$", "$", "$$", "火箭 🚀 基地", "tab\there", "zero\u200bwidth", "\x00", "\x1b[31m",
              "\r\n", "\ufeff", "<script>alert(1)</script>", "&amp;&#0;", "{{ 7*7 }}", "%s%n", "\\", "'\"", "\u202e",
              "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "a" * 3000, "名称" * 200, "NUL\x00IN", "\ud7ff\ue000", ""]


def numbers() -> st.SearchStrategy[str]:
    """Number-like text: edge cases, any float (inf/nan too), huge integers, and plausible coordinates."""
    return st.one_of(
        st.sampled_from(NASTY_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(-(10**30), 10**30).map(str),
        st.floats(-200, 200).map(lambda v: f"{v:.6f}"),
        st.floats(1e5, 4e7).map(lambda v: f"{v:.3f}"),
    )


def texts() -> st.SearchStrategy[str]:
    """Text a user might type or paste: control characters, mathtext, emoji, markup, very long strings."""
    return st.one_of(
        st.sampled_from(NASTY_TEXT),
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.lists(st.sampled_from(NASTY_TEXT[:20]), min_size=1, max_size=4).map("".join),
    )


# ---------------------------------------------------------------- small valid samples, one per format

BLOCK = shapely.Polygon([(108.700, 30.950), (108.702, 30.950), (108.702, 30.9515), (108.700, 30.9515)])
NAMES = ["东区地块", "西区地块"]


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _frame(names: list[str] | None = None, crs: int = 4326) -> gpd.GeoDataFrame:
    names = names or NAMES
    geoms = [shapely.affinity.translate(BLOCK, xoff=0.01 * i) for i in range(len(names))]
    frame = gpd.GeoDataFrame({"名称": names, "行业": ["生物医药"] * len(names)}, geometry=geoms, crs=LONLAT)
    return frame.to_crs(crs)


def geojson_sample() -> bytes:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": NAMES[0], "行业": "装备制造"}, "geometry": shapely.geometry.mapping(BLOCK)},
        {"type": "Feature", "properties": {"名称": NAMES[1]}, "geometry": {"type": "Point", "coordinates": [108.38, 30.81]}},
    ]}
    return json.dumps(fc, ensure_ascii=False).encode()


KML = """<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Placemark><name>东区地块</name><ExtendedData><Data name="行业"><value>能源电子</value></Data></ExtendedData>
 <Polygon><outerBoundaryIs><LinearRing><coordinates>
  108.700,30.950,0 108.702,30.950,0 108.702,30.9515,0 108.700,30.9515,0 108.700,30.950,0
 </coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
<Placemark><name>西区地块</name><MultiGeometry><Point><coordinates>108.38,30.81</coordinates></Point>
 <LineString><coordinates>108.39,30.82 108.40,30.83</coordinates></LineString></MultiGeometry></Placemark>
</Document></kml>"""

CSV = "项目名称,经度,纬度,行业\n东区地块,108.38,30.81,汽车\n西区地块,108.70,30.95,生物医药\n"


def _gk(lon: float, lat: float) -> tuple[float, float]:
    e, n = transformer(LONLAT, "EPSG:4524").transform(lon, lat)
    return float(e), float(n)


def dxf_sample() -> bytes:
    (x0, y0), (x1, y1) = _gk(108.700, 30.950), _gk(108.702, 30.9515)
    entities = [
        "LWPOLYLINE", "5", "A1", "8", "SITES", "90", "4", "70", "1",
        "10", f"{x0:.3f}", "20", f"{y0:.3f}", "10", f"{x1:.3f}", "20", f"{y0:.3f}",
        "10", f"{x1:.3f}", "20", f"{y1:.3f}", "10", f"{x0:.3f}", "20", f"{y1:.3f}",
        "0", "TEXT", "5", "A2", "8", "LABELS", "10", f"{(x0 + x1) / 2:.3f}", "20", f"{(y0 + y1) / 2:.3f}",
        "40", "5.0", "1", "东区地块",
        "0", "POINT", "8", "0", "10", f"{x0 + 900:.3f}", "20", f"{y0 + 900:.3f}",
    ]
    return "\n".join(["0", "SECTION", "2", "ENTITIES", "0", *entities, "0", "ENDSEC", "0", "EOF", ""]).encode()


def landtxt_sample() -> bytes:
    outer = [_gk(x, y) for x, y in BLOCK.exterior.coords]
    hole = [_gk(x, y) for x, y in [(108.7005, 30.9503), (108.7010, 30.9503), (108.7010, 30.9506), (108.7005, 30.9503)]]
    lines = ["[属性描述]", "坐标系=2000国家大地坐标系", "几度分带=3", "计量单位=米", "带号=36", "[地块坐标]",
             f"{len(outer) + len(hole)},3.0,1,东区地块,面,,工业用地,,@"]
    lines += [f"J{i + 1},1,{n:.3f},{e:.3f}" for i, (e, n) in enumerate(outer)]
    lines += [f"J{i + 10},2,{n:.3f},{e:.3f}" for i, (e, n) in enumerate(hole)]
    e, n = _gk(108.38, 30.81)
    lines += ["4,0.1,2,西区地块,面,,商业用地,,@", f"J1,1,{n:.3f},{e:.3f}", f"J2,1,{n:.3f},{e + 30:.3f}",
              f"J3,1,{n + 30:.3f},{e + 30:.3f}", f"J1,1,{n:.3f},{e:.3f}"]
    return "\r\n".join(lines).encode("gbk")


def shapefile_sample(frame: gpd.GeoDataFrame | None = None) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sites.shp"
        (frame if frame is not None else _frame(crs=4524)).to_file(path, driver="ESRI Shapefile", encoding="UTF-8")
        parts = sorted(Path(tmp).glob("sites.*"))
        return _zip({f"地块/{p.name}": p.read_bytes() for p in parts})


def gpkg_sample(frame: gpd.GeoDataFrame | None = None) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sites.gpkg"
        pyogrio.write_dataframe(frame if frame is not None else _frame(crs=4524), path, layer="地块")
        return path.read_bytes()


def xlsx_sample(rows: list[list[Any]] | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["拟建项目选址一览表"])
    ws.append(["序号", "项目名称", "经度", "纬度", "所属行业"])
    for row in rows if rows is not None else [[1, "东区地块", "108°22'48\"", "30°48'36\"", "汽车"],
                                              [2, "西区地块", 108.70, 30.95, "生物医药"]]:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@cache
def samples() -> dict[str, bytes]:
    """One small valid file per reader, keyed by the file name that selects the reader."""
    return {
        "s.geojson": geojson_sample(), "s.zip": shapefile_sample(), "s.kml": KML.encode(),
        "s.kmz": _zip({"doc.kml": KML.encode()}), "s.gpkg": gpkg_sample(), "s.csv": CSV.encode(),
        "s.xlsx": xlsx_sample(), "s.dxf": dxf_sample(), "坐标.txt": landtxt_sample(),
    }


TEXT_FORMATS = ["s.geojson", "s.kml", "s.csv", "s.dxf", "坐标.txt"]
ALL_FORMATS = ["s.geojson", "s.zip", "s.kml", "s.kmz", "s.gpkg", "s.csv", "s.xlsx", "s.dxf", "坐标.txt"]


# ---------------------------------------------------------------- mutations

@st.composite
def byte_mutants(draw: st.DrawFn, data: bytes) -> bytes:
    """The sample cut short, with bytes flipped, with random bytes inserted, or with a slice removed."""
    n = len(data)
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, n - 1))]
    out = bytearray(data)
    if kind == "flip":
        for pos, mask in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=8)):
            out[pos] ^= mask
    elif kind == "insert":
        pos = draw(st.integers(0, n))
        out[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    else:
        start = draw(st.integers(0, n - 1))
        del out[start:start + draw(st.integers(1, max(1, n // 4)))]
    return bytes(out)


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@st.composite
def text_mutants(draw: st.DrawFn, data: bytes) -> bytes:
    """A text sample with some numbers replaced by hostile number text and the names by hostile text."""
    text = data.decode("gbk" if data.startswith("[属性".encode("gbk")) else "utf-8")
    spans = [m.span() for m in NUMBER.finditer(text)]
    chosen = draw(st.sets(st.integers(0, len(spans) - 1), min_size=1, max_size=6)) if spans else set()
    for i in sorted(chosen, reverse=True):
        a, b = spans[i]
        text = text[:a] + draw(numbers()) + text[b:]
    if draw(st.booleans()):
        name = draw(texts())
        text = text.replace(NAMES[draw(st.integers(0, 1))], name)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def reader_inputs(draw: st.DrawFn) -> tuple[bytes, str]:
    name = draw(st.sampled_from(ALL_FORMATS))
    data = samples()[name]
    if name in TEXT_FORMATS and draw(st.booleans()):
        data = draw(text_mutants(data))
    if draw(st.booleans()) or name not in TEXT_FORMATS:
        data = draw(byte_mutants(data))
    return data, name


# ---------------------------------------------------------------- the reader property

def read_or_refuse(data: bytes, name: str, **options: Any) -> None:
    """Read the file or refuse it with a 4xx error that says what to fix, within the job time limit."""
    started = time.monotonic()
    try:
        result = read_sites(data, name, **options)
    except PlanviewError as exc:
        assert status_for(exc) < 500, f"{type(exc).__name__} would be a {status_for(exc)}: {exc.message}"
        assert "/" in exc.message, f"message not bilingual: {exc.message}"
    else:
        coords = shapely.get_coordinates(result.sites.geometry.values)
        assert np.isfinite(coords).all(), "a site with a non-finite coordinate was accepted"
        assert len(result.sites) > 0
    elapsed = time.monotonic() - started
    assert elapsed < JOB_LIMIT_S, f"reading took {elapsed:.1f} s, more than the {JOB_LIMIT_S:.0f} s job limit"


# An XML declaration naming an unknown codec (LookupError escaped the KML reader: a 500).
UNKNOWN_XML_CODEC = KML.replace("UTF-8", "UTFinf").encode()


@fuzz(100)
@given(reader_inputs())
@example((UNKNOWN_XML_CODEC, "s.kml"))
@example((_zip({"doc.kml": UNKNOWN_XML_CODEC}), "s.kmz"))
def test_mutated_files_are_read_or_refused_with_a_4xx(case: tuple[bytes, str]) -> None:
    read_or_refuse(*case)


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_every_sample_is_valid_before_mutation(name: str) -> None:
    """The mutations start from files every reader accepts (else the fuzzing would test nothing)."""
    s = read_sites(samples()[name], name)
    assert len(s.sites) >= 1 and np.isfinite(shapely.get_coordinates(s.sites.geometry.values)).all()


@fuzz(15)
@given(st.sampled_from(TEXT_FORMATS + ["s.zip", "s.gpkg", "s.xlsx"]),
       st.one_of(st.none(), st.sampled_from(["EPSG:4326", "EPSG:4524", "EPSG:4978", "+proj=ortho", "gcj02", "bd09",
                                             "EPSG:0", "EPSG:99999999", "cgcs2000", "EPSG:4545+5773"]), texts()),
       st.one_of(st.none(), st.sampled_from(["utf-8", "gbk", "utf-16", "utf-32", "latin-1", "cp037", "rot13",
                                             "base64", "idna", "punycode", "nope", "mbcs"]), texts()))
def test_any_crs_and_encoding_option_is_used_or_refused(name: str, crs: str | None, encoding: str | None) -> None:
    read_or_refuse(samples()[name], name, crs=crs, encoding=encoding)


@st.composite
def built_tables(draw: st.DrawFn) -> tuple[bytes, str]:
    """Binary formats built from hostile values (a byte flip rarely gets past their checksums and headers)."""
    name = draw(st.sampled_from(["s.xlsx", "s.gpkg", "s.zip"]))
    count = draw(st.integers(1, 3))
    if name == "s.xlsx":
        cell = st.one_of(texts(), numbers(), st.floats(allow_nan=True, allow_infinity=True), st.none())
        rows = draw(st.lists(st.lists(cell, min_size=0, max_size=6), min_size=count, max_size=count))
        # openpyxl cannot write control characters at all, so an XLSX never holds them
        return xlsx_sample([[ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row]
                            for row in rows]), name
    names = [draw(texts()).replace("\x00", "") for _ in range(count)]
    xy = st.floats(allow_nan=False, allow_infinity=False)  # GDAL writes no inf/nan; the text formats carry those
    geoms = []
    for _ in range(count):
        pts = draw(st.lists(st.tuples(xy, xy), min_size=1, max_size=5))
        geoms.append(shapely.Polygon([*pts, pts[0]] * 2) if len(pts) >= 3 else shapely.Point(pts[0]))
    frame = gpd.GeoDataFrame({"名称": names}, geometry=geoms, crs="EPSG:4524")
    if len({g.geom_type for g in geoms}) > 1:
        frame = frame.iloc[:1]
    return (gpkg_sample(frame) if name == "s.gpkg" else shapefile_sample(frame)), name


@fuzz(12)
@given(built_tables())
def test_tables_and_packages_built_from_hostile_values(case: tuple[bytes, str]) -> None:
    read_or_refuse(*case)


# ---------------------------------------------------------------- the HTTP property


def check_answer(response: Any, elapsed: float, what: str) -> None:
    """Never a 5xx except 503 Busy (``Retry-After``: the job queue is full), never past the job limit."""
    status = response.status_code
    busy = status == 503 and "retry-after" in response.headers
    assert status < 500 or busy, f"{what} -> {status}: {response.text[:300]}"
    assert elapsed < JOB_LIMIT_S, f"{what} took {elapsed:.1f} s, past the {JOB_LIMIT_S:.0f} s job limit"


@dataclass(frozen=True)
class GetRoute:
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]

    def url(self, values: dict[str, str]) -> str:
        out = self.path
        for name in self.path_params:
            out = re.sub(r"\{" + name + r"(:[a-z]+)?\}", quote(values[name], safe=""), out)
        return out


# Routes that read their query string themselves (OGC API: check_params) declare it here.
RAW_QUERY: dict[str, set[str]] = {"/collections/{collection_id}/items": ITEMS_PARAMS,
                                  "/collections/{collection_id}/items/{feature_id}": ITEM_PARAMS,
                                  "/monitor/{plan}": {"saved"}}


def _query_names(route: APIRoute) -> set[str]:
    names: set[str] = set()
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        names |= {p.alias for p in dep.query_params}
        stack.extend(dep.dependencies)
    return names


def _api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], APIRoute]]:
    """(path, methods, route) of every API route, routers included at any depth.

    FastAPI ≥ 0.165 keeps included routers as one entry each in ``app.routes``;
    ``iter_route_contexts`` (when there) flattens them with their prefixes.
    """
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    if walk is None:
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, set(route.methods), route
        return
    for context in walk(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.path_format, set(context.methods or ()), context.original_route


def get_routes(app: FastAPI) -> list[GetRoute]:
    """Every GET route of the app with its path and query parameters."""
    out = []
    for path, methods, route in _api_routes(app):
        if "GET" not in methods:
            continue
        tail = path.split("/ogc", 1)[-1] if path.startswith("/ogc") else path
        query = _query_names(route) | RAW_QUERY.get(tail, set()) | (COMMON_PARAMS if path.startswith("/ogc") else set())
        params = tuple(re.findall(r"\{(\w+)(?::\w+)?\}", path))
        out.append(GetRoute(path, params, tuple(sorted(query))))
    return out


@dataclass
class Fuzzed:
    client: TestClient
    routes: list[GetRoute]
    good: dict[str, list[str]]  # known-good values by parameter name


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_settings(tmp, job_timeout_s=JOB_LIMIT_S, job_queue=8))
    # as an admin, so that every route's handler runs (rights are tested elsewhere; here: no 5xx anywhere)
    with TestClient(app, raise_server_exceptions=False, headers=bearer(app, "fuzzer", "admin")) as client:
        names = ["$x^2$ 地块 🚀", "tab\there\u200b"]
        upload = client.post("/api/overlay", files={"file": ("s.geojson", json.dumps({"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"名称": n}, "geometry": shapely.geometry.mapping(
                shapely.affinity.translate(BLOCK, xoff=0.01 * i))} for i, n in enumerate(names)]}).encode())})
        assert upload.status_code == 201, upload.text
        workspace = upload.json()["id"]
        layers = [layer["id"] for layer in client.get("/api/layers").json()["layers"]]
        collections = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
        maps = ["yunyang", "chongqing"]
        good = {
            "layer_id": layers[:6], "collection_id": collections[:4], "map_id": maps, "map": maps,
            "plan_id": ["chongqing", "yunyang"], "plan": ["chongqing", "yunyang"], "table_id": ["yunyang-targets"],
            "ref": [workspace, f"{workspace}.csv", f"{workspace}.geojson", f"{workspace}.gpkg"],
            "ws_id": [workspace], "workspace_id": [workspace], "overlay": [workspace], "fmt": ["csv", "xlsx"],
            "feature_id": ["1", "0", "500101"], "job_id": ["nope"], "z": ["5", "8", "12"], "x": ["25", "204"],
            "y": ["13", "106", "106.png"], "name": ["osm", "tianditu"],
            "bbox": ["108.0,30.0,109.5,31.5", "108.7,30.9,108.8,31.0", "-180,-90,180,90"],
            "zoom": ["8", "12"], "limit": ["1", "10", "10000"], "offset": ["0", "5"], "f": ["json", "html", "geojson"],
            "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/EPSG/0/4326",
                    "http://www.opengis.net/def/crs/EPSG/0/4524", "EPSG:4978"],
            "bbox-crs": ["http://www.opengis.net/def/crs/EPSG/0/4326", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
            "datetime": ["2021-01-01T00:00:00Z", "../..", "2021/2025"], "q": ["科学城", "龙缸", "小江"],
            "format": ["png", "pdf", "svg"], "paper": ["A4", "A3"], "orientation": ["portrait", "landscape"],
            "dpi": ["72", "96"], "width": ["400", "800"], "height": ["300", "600"],
            "layers": [",".join(layers[:3]), layers[0]], "date": ["2026-01-01", ""],
        }
        yield Fuzzed(client, get_routes(app), good)


def values_for(name: str, good: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """Right values sometimes (so the deeper code runs), hostile ones mostly."""
    wrong = st.one_of(numbers(), texts(), st.lists(numbers(), min_size=3, max_size=5).map(",".join))
    right = good.get(name)
    return st.one_of(st.sampled_from(right), wrong) if right else wrong


HEAVY = {"/api/export": 8, "/api/overlay/{workspace_id}/report.pdf": 3,
         "/api/indicators/{plan}/evaluation.pdf": 3, "/api/indicators/{plan}/status.xlsx": 3}
EXAMPLES_PER_ROUTE = 5


def test_every_get_route_is_fuzzed(fuzzed: Fuzzed) -> None:
    """The walk finds the routes named in the issue (so a refactor cannot silently empty the fuzzing)."""
    paths = {r.path for r in fuzzed.routes}
    for path in ("/api/export", "/api/layers/{layer_id}", "/ogc/collections/{collection_id}/items", "/api/search",
                 "/tiles/{layer_id}/{z}/{x}/{y}.mvt"):
        assert path in paths, sorted(paths)
    items = next(r for r in fuzzed.routes if r.path == "/ogc/collections/{collection_id}/items")
    assert {"limit", "offset", "bbox", "crs"} <= set(items.query_params)
    assert {"bbox", "zoom"} <= set(next(r for r in fuzzed.routes if r.path == "/api/layers/{layer_id}").query_params)


def fuzz_route(fuzzed: Fuzzed, route: GetRoute) -> Callable[[], None]:
    @fuzz(HEAVY.get(route.path, EXAMPLES_PER_ROUTE))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        path_values = {name: data.draw(values_for(name, fuzzed.good), label=name) for name in route.path_params}
        chosen = data.draw(st.sets(st.sampled_from(route.query_params)) if route.query_params else st.just(set()))
        query = {name: data.draw(values_for(name, fuzzed.good), label=name) for name in sorted(chosen)}
        headers = {"accept": data.draw(st.sampled_from(["application/json", "text/html", "*/*"]))}
        url = route.url(path_values)
        started = time.monotonic()
        response = fuzzed.client.get(url, params=query, headers=headers)
        check_answer(response, time.monotonic() - started, f"GET {url} {query!r}")

    return run  # type: ignore[no-any-return]


def test_random_values_in_every_get_route_never_give_a_5xx(fuzzed: Fuzzed) -> None:
    failures = []
    for route in fuzzed.routes:
        try:
            fuzz_route(fuzzed, route)()
        except Exception as exc:  # noqa: BLE001 - collect every route's failure, then report them together
            failures.append(f"{route.path}: {exc}")
    assert not failures, "\n\n".join(failures)
