"""The OpenAPI 3.0 definition of ``/ogc`` (the ``service-desc`` of the landing page).

Why hand-written: FastAPI's own ``/openapi.json`` is OpenAPI 3.1 with
JSON Schema 2020-12, but OGC API – Features Part 1 (conformance class
``oas30``) and the clients that read it (GDAL, OWSLib, QGIS) expect 3.0. This
document is small, describes exactly the parameters the routes accept, and is
validated as 3.0 by the tests.
"""

from __future__ import annotations

from typing import Any

OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
GEOJSON = "application/geo+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _ok(description: str, *media: str, schema: str = "object") -> dict[str, Any]:
    content = {m: {"schema": {"$ref": f"#/components/schemas/{schema}"}} for m in media}
    content["text/html"] = {"schema": {"type": "string"}}
    return {"description": description, "content": content}


ERRORS = {
    "400": {"$ref": "#/components/responses/InvalidParameter"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "500": {"$ref": "#/components/responses/ServerError"},
}


def openapi_document(base: str, collection_ids: list[str], crs: list[str], max_limit: int,
                     default_limit: int) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document for the OGC API under ``base``."""
    parameters: dict[str, Any] = {
        "f": {"name": "f", "in": "query", "required": False, "description": "输出格式 / encoding (json or html)",
              "schema": {"type": "string", "enum": ["json", "html"]}, "style": "form", "explode": False},
        "collectionId": {"name": "collectionId", "in": "path", "required": True,
                         "description": "要素集合编号；混合几何类型的图层按类型拆分 / collection id",
                         "schema": {"type": "string", "enum": collection_ids}},
        "featureId": {"name": "featureId", "in": "path", "required": True, "description": "要素编号 / feature id",
                      "schema": {"type": "string"}},
        "limit": {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
                  "description": f"每页要素数，大于 {max_limit} 时按 {max_limit} 返回 / page size; values above "
                                 f"{max_limit} are clamped to it",
                  "schema": {"type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit}},
        "offset": {"name": "offset", "in": "query", "required": False, "style": "form", "explode": False,
                   "description": "跳过的要素数 / number of features to skip (paging; prefer the next link)",
                   "schema": {"type": "integer", "minimum": 0, "default": 0}},
        "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
                 "description": "minx,miny,maxx,maxy，坐标系见 bbox-crs（默认 CRS84 经度,纬度）/ in bbox-crs axis order",
                 "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}},
        "bbox-crs": {"name": "bbox-crs", "in": "query", "required": False, "style": "form", "explode": False,
                     "description": "bbox 的坐标参考系 / CRS of bbox",
                     "schema": {"type": "string", "format": "uri", "enum": crs}},
        "crs": {"name": "crs", "in": "query", "required": False, "style": "form", "explode": False,
                "description": "输出坐标参考系，按权威机构轴序（EPSG:4490 为纬度,经度）/ output CRS, authority axis order",
                "schema": {"type": "string", "format": "uri", "enum": crs}},
        "datetime": {"name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
                     "description": "RFC 3339 时刻或区间。图层均无时间属性：格式有效即接受，不过滤任何要素 / "
                                    "checked, but the layers carry no time, so it filters nothing",
                     "schema": {"type": "string"}},
    }
    schemas: dict[str, Any] = {
        "object": {"type": "object", "additionalProperties": True},
        "exception": {"type": "object", "required": ["code"],
                      "properties": {"code": {"type": "string"}, "description": {"type": "string"}}},
        "featureCollectionGeoJSON": {
            "type": "object", "required": ["type", "features"],
            "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                           "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
                           "links": {"type": "array", "items": {"$ref": "#/components/schemas/link"}},
                           "numberMatched": {"type": "integer", "minimum": 0},
                           "numberReturned": {"type": "integer", "minimum": 0},
                           "bbox": {"type": "array", "items": {"type": "number"}}}},
        "featureGeoJSON": {
            "type": "object", "required": ["type", "geometry", "properties"],
            "properties": {"type": {"type": "string", "enum": ["Feature"]},
                           "geometry": {"type": "object", "nullable": True},
                           "properties": {"type": "object", "nullable": True},
                           "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                           "links": {"type": "array", "items": {"$ref": "#/components/schemas/link"}}}},
        "link": {"type": "object", "required": ["href"],
                 "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                                "title": {"type": "string"}}},
    }

    def error(description: str) -> dict[str, Any]:
        return {"description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}}

    def op(op_id: str, summary: str, params: list[str], ok: dict[str, Any], crs_header: bool = False) -> dict[str, Any]:
        response = dict(ok)
        if crs_header:
            response["headers"] = {"Content-Crs": {"description": "返回坐标的坐标参考系 / CRS of the coordinates",
                                                   "schema": {"type": "string"}}}
        return {"get": {"operationId": op_id, "summary": summary, "tags": ["OGC API – Features"],
                        "parameters": [_ref(p) for p in params], "responses": {"200": response, **ERRORS}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "planview OGC API – Features", "version": "1.0.0",
                 "description": "重庆市与云阳县科技创新“十四五”规划图层 / S&T plan layers of Chongqing and Yunyang",
                 "license": {"name": "数据许可见各集合的 license 链接 / see each collection's license link"}},
        "servers": [{"url": base}],
        "tags": [{"name": "OGC API – Features"}],
        "paths": {
            "/": op("getLandingPage", "着陆页 / landing page", ["f"], _ok("landing page", "application/json")),
            "/api": op("getAPI", "本文档 / this API definition", ["f"], _ok("OpenAPI 3.0", OPENAPI_MEDIA_TYPE)),
            "/conformance": op("getConformance", "符合性声明 / conformance", ["f"],
                               _ok("conformance classes", "application/json")),
            "/collections": op("getCollections", "要素集合 / collections", ["f"], _ok("collections", "application/json")),
            "/collections/{collectionId}": op("describeCollection", "一个要素集合 / one collection",
                                              ["collectionId", "f"], _ok("collection", "application/json")),
            "/collections/{collectionId}/queryables": op(
                "getQueryables", "可查询属性（JSON Schema）/ queryables", ["collectionId", "f"],
                _ok("queryables", "application/schema+json")),
            "/collections/{collectionId}/schema": op(
                "getSchema", "要素模式（JSON Schema）/ feature schema", ["collectionId", "f"],
                _ok("schema", "application/schema+json")),
            "/collections/{collectionId}/items": op(
                "getFeatures", "要素 / features", ["collectionId", "f", "limit", "offset", "bbox", "bbox-crs", "crs",
                                                   "datetime"],
                _ok("features", GEOJSON, schema="featureCollectionGeoJSON"), crs_header=True),
            "/collections/{collectionId}/items/{featureId}": op(
                "getFeature", "一个要素 / one feature", ["collectionId", "featureId", "f", "crs"],
                _ok("feature", GEOJSON, schema="featureGeoJSON"), crs_header=True),
        },
        "components": {
            "parameters": parameters,
            "schemas": schemas,
            "responses": {"InvalidParameter": error("请求参数有误 / invalid parameter"),
                          "NotFound": error("不存在 / not found"),
                          "ServerError": error("服务器错误 / server error")},
        },
    }
