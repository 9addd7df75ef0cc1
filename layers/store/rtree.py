"""Bulk-loading an SQLite R-tree (the GeoPackage ``gpkg_rtree_index``) in one pass, as GDAL does for GeoPackage.

Inserting 10⁶ boxes one by one through the ``rtree`` virtual table costs an
R*-tree choose-subtree and split per row (minutes at 10⁶). Here the tree is
packed Sort-Tile-Recursive in numpy and its three shadow tables
(``<name>_node``, ``<name>_rowid``, ``<name>_parent``) are written directly,
in SQLite's documented node format (big-endian: 2-byte depth in the root,
2-byte cell count, then cells of an 8-byte id and float32 min/max per
dimension, minima rounded down and maxima up). The result is a normal R-tree:
SQLite queries and ``rtreecheck()`` accept it, later inserts work.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
from numpy.typing import NDArray

CELL = np.dtype([("id", ">i8"), ("x0", ">f4"), ("x1", ">f4"), ("y0", ">f4"), ("y1", ">f4")])
MAX_CELLS = 51  # SQLite's RTREE_MAXCELLS


def _down(v: NDArray[np.float64]) -> NDArray[np.float32]:
    f = v.astype(np.float32)
    return np.where(f.astype(np.float64) > v, np.nextafter(f, np.float32(-np.inf)), f)


def _up(v: NDArray[np.float64]) -> NDArray[np.float32]:
    f = v.astype(np.float32)
    return np.where(f.astype(np.float64) < v, np.nextafter(f, np.float32(np.inf)), f)


def _str_order(boxes: NDArray[np.float64], per_node: int) -> NDArray[np.intp]:
    """Sort-Tile-Recursive order: vertical slices by centre x, each sorted by centre y."""
    n = len(boxes)
    nodes = math.ceil(n / per_node)
    slices = max(1, math.ceil(math.sqrt(nodes)))
    by_x = np.argsort((boxes[:, 0] + boxes[:, 2]), kind="stable")
    slice_of = np.empty(n, dtype=np.int64)
    slice_of[by_x] = np.arange(n) // (slices * per_node)
    return np.lexsort(((boxes[:, 1] + boxes[:, 3]), slice_of))  # type: ignore[no-any-return]


def _node_blobs(ids: NDArray[np.int64], boxes: NDArray[np.float64], per_node: int, node_size: int,
                depth_of_root: int | None) -> list[bytes]:
    """Cells in groups of ``per_node`` -> node blobs of ``node_size`` bytes (root depth written when given)."""
    n = len(ids)
    count = math.ceil(n / per_node)
    cells = np.zeros(count * per_node, dtype=CELL)
    cells["id"][:n] = ids
    cells["x0"][:n] = _down(boxes[:, 0])
    cells["x1"][:n] = _up(boxes[:, 2])
    cells["y0"][:n] = _down(boxes[:, 1])
    cells["y1"][:n] = _up(boxes[:, 3])
    header = np.zeros((count, 2), dtype=">u2")
    header[:, 1] = np.minimum(per_node, n - np.arange(count) * per_node)
    if depth_of_root is not None:
        header[0, 0] = depth_of_root
    body = np.concatenate([header.view(np.uint8).reshape(count, 4),
                           cells.view(np.uint8).reshape(count, per_node * CELL.itemsize),
                           np.zeros((count, node_size - 4 - per_node * CELL.itemsize), dtype=np.uint8)], axis=1)
    return [row.tobytes() for row in body]


def bulk_load(conn: sqlite3.Connection, name: str, ids: NDArray[np.int64], boxes: NDArray[np.float64]) -> None:
    """Fill the empty R-tree virtual table ``name`` (created ``USING rtree(id, minx, maxx, miny, maxy)``).

    ``boxes`` rows are (minx, miny, maxx, maxy), as ``shapely.bounds`` gives them."""
    qn = '"' + (name + "_node").replace('"', '""') + '"'
    qr = '"' + (name + "_rowid").replace('"', '""') + '"'
    qp = '"' + (name + "_parent").replace('"', '""') + '"'
    if len(ids) == 0:
        return
    root = conn.execute(f"SELECT length(data) FROM {qn} WHERE nodeno = 1").fetchone()
    if root is None or conn.execute(f"SELECT count(*) FROM {qr}").fetchone()[0]:
        raise ValueError(f"R-tree {name} is not empty")
    node_size = int(root[0])
    per_node = min(MAX_CELLS, (node_size - 4) // CELL.itemsize)
    ids = np.asarray(ids, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64)
    # bottom-up: level 0 holds the entries, level d+1 one cell per node of level d (its position there, its box);
    # each level is STR-sorted before it is cut into nodes
    levels: list[tuple[NDArray[np.int64], NDArray[np.float64]]] = []
    cur_ids, cur_boxes = ids, boxes
    while True:
        order = _str_order(cur_boxes, per_node)
        cur_ids, cur_boxes = cur_ids[order], cur_boxes[order]
        levels.append((cur_ids, cur_boxes))
        if len(cur_ids) <= per_node:
            break
        starts = np.arange(0, len(cur_ids), per_node)
        cur_boxes = np.column_stack([np.minimum.reduceat(cur_boxes[:, 0], starts),
                                     np.minimum.reduceat(cur_boxes[:, 1], starts),
                                     np.maximum.reduceat(cur_boxes[:, 2], starts),
                                     np.maximum.reduceat(cur_boxes[:, 3], starts)])
        cur_ids = np.arange(len(starts), dtype=np.int64)  # positions of the nodes just made
    height = len(levels) - 1
    first: dict[int, int] = {}  # node number of each level's first node: the root is 1, then top-down
    nxt = 1
    for level in range(height, -1, -1):
        first[level] = nxt
        nxt += math.ceil(len(levels[level][0]) / per_node)
    conn.execute(f"DELETE FROM {qn}")
    for level in range(height, -1, -1):
        cell_ids, cell_boxes = levels[level]
        if level > 0:
            cell_ids = cell_ids + first[level - 1]  # child positions -> child node numbers
        blobs = _node_blobs(cell_ids, cell_boxes, per_node, node_size, height if level == height else None)
        conn.executemany(f"INSERT INTO {qn} (nodeno, data) VALUES (?, ?)",
                         zip(range(first[level], first[level] + len(blobs)), blobs, strict=True))
        owner = (np.arange(len(cell_ids)) // per_node + first[level]).tolist()
        target = qr if level == 0 else qp
        cols = "(rowid, nodeno)" if level == 0 else "(nodeno, parentnode)"
        conn.executemany(f"INSERT INTO {target} {cols} VALUES (?, ?)", zip(cell_ids.tolist(), owner, strict=True))
