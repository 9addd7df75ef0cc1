"""What a DXF will expand to, counted from its group codes before GDAL explodes a single block.

A 330-byte DXF can hold one block and one array insert (MINSERT) of 2000×2000
copies of it; GDAL inlines block references, so the 4 million copies would be
built before any limit could be checked. Here the text is scanned once: each
block's own entities and vertices are counted, block references multiply them
(columns × rows of a MINSERT, nested INSERTs recursively, with a guard against
a block that inserts itself), and the totals are compared with the limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from geo.errors import InvalidInput, TooLarge
from geo.readers.limits import ReadLimits

# Sub-entities that belong to the entity before them: their points count as vertices, not features.
_CHILDREN = {"VERTEX", "SEQEND", "ATTRIB", "ENDBLK"}


@dataclass
class _Block:
    features: int = 0
    vertices: int = 0
    inserts: list[tuple[str, int]] = field(default_factory=list)  # (block name, copies)


@dataclass(frozen=True)
class DxfBudget:
    """Entities and vertices the drawing's model space expands to (block references inlined)."""

    features: int
    vertices: int
    largest_insert: tuple[str, int] | None  # (block, copies) of the reference that costs most


def _pairs(text: str) -> Iterator[tuple[str, str]]:
    lines = text.splitlines()
    for i in range(0, len(lines) - 1, 2):
        yield lines[i].strip(), lines[i + 1].strip()


def _int(value: str, default: int = 1) -> int:
    try:
        return int(float(value))
    except ValueError:
        return default


def scan(text: str) -> tuple[dict[str, _Block], _Block]:
    """Per-block counts and the model space (ENTITIES section) counts, references unresolved."""
    blocks: dict[str, _Block] = {}
    model = _Block()
    section = ""
    current: _Block | None = None  # the block or model space entities go to
    entity = ""
    insert_name, cols, rows = "", 1, 1
    pending_name = False  # after "0 BLOCK" the next code 2 is the block's name
    expect_section_name = False

    def close_entity() -> None:
        nonlocal entity
        if entity == "INSERT" and current is not None and insert_name:
            current.inserts.append((insert_name.upper(), max(cols, 1) * max(rows, 1)))
        entity = ""

    for code, value in _pairs(text):
        if code == "0":
            close_entity()
            if value == "SECTION":
                expect_section_name = True
                continue
            if value == "ENDSEC":
                section, current = "", None
                continue
            if section == "BLOCKS" and value == "BLOCK":
                current, pending_name = _Block(), True
                continue
            if section == "BLOCKS" and value == "ENDBLK":
                current = None
                continue
            if section == "ENTITIES":
                current = model
            if current is None:
                continue
            entity = value
            insert_name, cols, rows = "", 1, 1
            if value not in _CHILDREN and value != "INSERT":
                current.features += 1
            continue
        if expect_section_name and code == "2":
            section, expect_section_name = value.upper(), False
            continue
        if pending_name and code == "2" and current is not None:
            blocks[value.upper()] = current
            pending_name = False
            continue
        if current is None or not entity:
            continue
        if entity == "INSERT":
            if code == "2":
                insert_name = value
            elif code == "70":
                cols = _int(value)
            elif code == "71":
                rows = _int(value)
        elif code == "10":
            current.vertices += 1
    close_entity()
    return blocks, model


def budget(text: str) -> DxfBudget:
    """Inline every block reference (by counting, not building) and total the model space."""
    blocks, model = scan(text)
    memo: dict[str, tuple[int, int]] = {}
    visiting: set[str] = set()

    def cost(name: str) -> tuple[int, int]:
        if name in memo:
            return memo[name]
        block = blocks.get(name)
        if block is None:
            return 0, 0
        if name in visiting:
            raise InvalidInput(f"DXF 图块 {name} 引用了自身（循环嵌套），请在 CAD 中分解或修复后上传 / DXF block {name} "
                               "inserts itself (circular nesting); explode or repair it in your CAD program")
        visiting.add(name)
        features, vertices = block.features, block.vertices
        for child, copies in block.inserts:
            f, v = cost(child)
            features, vertices = features + copies * f, vertices + copies * v
        visiting.discard(name)
        memo[name] = (features, vertices)
        return features, vertices

    features, vertices = model.features, model.vertices
    largest: tuple[str, int] | None = None
    worst = -1
    for name, copies in model.inserts:
        f, v = cost(name)
        features, vertices = features + copies * f, vertices + copies * v
        if copies * (f + v) > worst:
            worst, largest = copies * (f + v), (name, copies)
    return DxfBudget(features=features, vertices=vertices, largest_insert=largest)


def check(data: bytes, limits: ReadLimits) -> DxfBudget:
    """Refuse (413) a DXF whose block references would expand past the feature or vertex limit."""
    if data.startswith(b"AutoCAD Binary DXF"):
        return DxfBudget(0, 0, None)  # binary DXF: GDAL's own limits and the job's memory limit apply
    result = budget(data.decode("latin-1"))
    over = []
    if result.features > limits.max_features:
        over.append((f"{result.features:,} 个图元（上限 {limits.max_features:,}）",
                     f"{result.features:,} entities (limit {limits.max_features:,})"))
    if result.vertices > limits.max_vertices:
        over.append((f"{result.vertices:,} 个顶点（上限 {limits.max_vertices:,}）",
                     f"{result.vertices:,} vertices (limit {limits.max_vertices:,})"))
    if over:
        zh = "、".join(o[0] for o in over)
        en = " and ".join(o[1] for o in over)
        hint_zh = hint_en = ""
        if result.largest_insert:
            name, copies = result.largest_insert
            hint_zh = f"；最大的是图块 {name} 的 {copies:,} 次插入（阵列/MINSERT 或嵌套图块）"
            hint_en = f"; the largest is {copies:,} copies of block {name} (array insert/MINSERT or nested blocks)"
        raise TooLarge(f"DXF 展开图块后有 {zh}{hint_zh}。请在 CAD 中删除或分解多余的图块阵列、只保留地块边界后上传 / "
                       f"the DXF expands to {en} once its blocks are inserted{hint_en}; delete the block arrays "
                       "in your CAD program, keep only the site boundaries, and upload again")
    return result
