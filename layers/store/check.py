"""``planview layers check`` for the layer store: every stored layer's manifest, table, counts, extent and index.

What an operator needs to trust a 10⁶-feature layer without opening it: the
manifest parses, the version's table exists, the recorded feature count is
the table's row count, the recorded extent is a real box (and GeoPackage's
``gpkg_contents`` agrees), and the spatial index is there and covers every row.
"""

from __future__ import annotations

from pydantic import ValidationError

from geo.errors import PlanviewError
from layers.store.model import LayerStore


def store_problems(store: LayerStore) -> list[str]:
    """Problems of the current version of every stored layer, as readable lines; empty when all is well."""
    try:
        layers = store.layers()
    except (PlanviewError, ValidationError, ValueError) as exc:
        return [f"layer store ({store.kind}): manifests cannot be read: {str(exc)[:300]}"]
    out: list[str] = []
    for layer in layers:
        where = f"stored layer {layer.id} v{layer.version} ({layer.table})"
        facts = store.inspect(layer)
        if not facts["table"]:
            out.append(f"{where}: table is missing")
            continue
        if facts["rows"] != layer.feature_count:
            out.append(f"{where}: {facts['rows']} rows, but {layer.feature_count} recorded")
        x0, y0, x1, y1 = layer.bbox
        if layer.feature_count and not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            out.append(f"{where}: recorded extent {layer.bbox} is not a lon/lat box")
        if facts.get("contents_bbox") is not None and any(
                abs(a - b) > 1e-9 for a, b in zip(facts["contents_bbox"], layer.bbox, strict=True)):
            out.append(f"{where}: gpkg_contents extent {facts['contents_bbox']} differs from {layer.bbox}")
        if not facts["index"]:
            out.append(f"{where}: spatial index is missing")
        elif facts.get("index_rows") is not None and facts["index_rows"] != facts["rows"]:
            out.append(f"{where}: spatial index holds {facts['index_rows']} of {facts['rows']} rows")
        if layer.manifest.role == "control" and not layer.manifest.control:
            out.append(f"{where}: a control layer without control classes")
        if not (layer.manifest.provenance or {}).get("sha256"):
            out.append(f"{where}: no provenance (source file SHA-256)")
    return out
