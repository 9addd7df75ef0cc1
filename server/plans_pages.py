"""The plan texts on the web: the reader ``/plans/{plan}``, ``/api/search`` and ``/api/mentions``.

The plan model, the mention index and search live in :mod:`layers.planatlas`;
this module builds it once per app (on first use) and turns it into a page or
JSON. The reader is rendered with the app's Jinja templates (autoescaped):
plan text is split into plain-text segments and links, never joined as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from geo.errors import InvalidInput, NotFound
from layers.planatlas import MAX_QUERY, PlanAtlas, build_atlas, search
from layers.plannotes import CrossLink
from layers.plantext import PlanText, Section
from server.dependencies import CatalogueDep, MapsDep
from server.mapview.assets import PLANVIEW_CSS

router = APIRouter(tags=["plans"])
MAX_SEARCH_RESULTS = 50
PLAN_NAMES = {"chongqing": "重庆市规划", "yunyang": "云阳县规划"}


def get_atlas(request: Request, catalogue: CatalogueDep, maps: MapsDep) -> PlanAtlas:
    """The plan atlas of this app, built on first use (the catalogue does not change at run time)."""
    atlas: PlanAtlas | None = getattr(request.app.state, "plan_atlas", None)
    if atlas is None:
        atlas = build_atlas(catalogue, maps, request.app.state.settings.data_dir / "plans")
        request.app.state.plan_atlas = atlas
    return atlas


AtlasDep = Annotated[PlanAtlas, Depends(get_atlas)]


# ----------------------------------------------------------------- the reader

@dataclass
class Segment:
    text: str
    href: str | None = None
    title: str | None = None
    feature: str | None = None


@dataclass
class Chip:
    name: str
    href: str
    feature: str
    layer_title: str


@dataclass
class ParagraphView:
    anchor: str
    kind: str
    segments: list[Segment]
    chips: list[Chip] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SectionView:
    section: Section
    paragraphs: list[ParagraphView]
    table: list[list[str]] | None = None  # a table flattened to one cell a line, rebuilt
    indicators: dict[str, Any] | None = None  # the same table as data/indicators has it, split into columns


def _segments(atlas: PlanAtlas, plan: PlanText, anchor: str, start: int, text: str) -> tuple[list[Segment], list[Chip]]:
    """A paragraph as text and links: each feature it speaks of is linked once where its name stands.

    A feature cited by a quote whose name does not appear in the paragraph (or
    whose words another, longer name already covers) gets a chip after it.
    """
    items = atlas.index.by_paragraph.get((plan.plan, anchor), [])
    candidates: list[tuple[int, int, tuple[str, str]]] = []  # (offset in paragraph, -length, feature)
    for key, m in items:
        if not atlas.index.features[key].map_href:
            continue
        if m.how == "name":
            candidates.append((m.start - start, -len(m.match), key))
            continue
        for alias in atlas.index.aliases.get(key, []):
            i = text.find(alias)
            if i >= 0:
                candidates.append((i, -len(alias), key))
                break
    candidates.sort()
    segments: list[Segment] = []
    linked: set[tuple[str, str]] = set()
    pos = 0
    for i, neg, key in candidates:
        if key in linked or i < pos:
            continue  # one link per feature per paragraph; overlapping words keep the longer name
        ref = atlas.index.features[key]
        if i > pos:
            segments.append(Segment(text[pos:i]))
        segments.append(Segment(text[i:i - neg], href=ref.map_href, title=f"在地图上查看：{ref.name}（{ref.layer_title}）",
                                feature=f"{ref.layer}/{ref.id}"))
        linked.add(key)
        pos = i - neg
    if pos < len(text):
        segments.append(Segment(text[pos:]))
    chips: list[Chip] = []
    for key, _m in items:
        ref = atlas.index.features[key]
        feature = f"{ref.layer}/{ref.id}"
        if key in linked or not ref.map_href or any(c.feature == feature for c in chips):
            continue
        chips.append(Chip(name=ref.name, href=ref.map_href, feature=feature, layer_title=ref.layer_title))
    return segments, chips


def _table(section: Section) -> list[list[str]] | None:
    """Yunyang's 表1 is one cell a line: rebuild rows (the header runs up to the cell "1")."""
    cells = [p.text for p in section.paragraphs]
    if section.kind != "表" or "1" not in cells:
        return None
    width = cells.index("1")
    if width < 2 or len(cells) % width:
        return None
    return [cells[i:i + width] for i in range(0, len(cells), width)]


def reader_sections(atlas: PlanAtlas, plan: PlanText, indicator_tables: dict[str, dict[str, Any]] | None = None
                    ) -> list[SectionView]:
    by_para: dict[str, list[CrossLink]] = atlas.links_by_paragraph(plan.plan)
    by_source = {str(t.get("source")): t for t in (indicator_tables or {}).values()}
    views = []
    for s in plan.sections:
        paras = []
        for p in s.paragraphs:
            segments, chips = _segments(atlas, plan, p.anchor, p.start, p.text)
            links = [atlas.link_json(link) for link in by_para.get(p.anchor, [])]
            paras.append(ParagraphView(anchor=p.anchor, kind=p.kind, segments=segments, chips=chips, links=links))
        table = _table(s)
        # 专栏1's rows run their numbers together ("2.112.6"): show data/indicators' columns too
        indicators = by_source.get(f"{plan.file_name} {s.label}") if table is None else None
        views.append(SectionView(section=s, paragraphs=paras, table=table, indicators=indicators))
    return views


def toc_tree(plan: PlanText) -> list[dict[str, Any]]:
    """章 -> 节 -> 专栏/表, as nested dicts for the template."""
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for s in plan.toc():
        node = {"anchor": s.anchor, "heading": s.heading, "kind": s.kind, "children": []}
        nodes[s.anchor] = node
        parent = nodes.get(s.parent) if s.parent else None
        (parent["children"] if parent else roots).append(node)
    return roots


@router.get("/plans/{plan_id}", response_class=HTMLResponse, include_in_schema=False)
def plan_page(plan_id: str, request: Request, atlas: AtlasDep, catalogue: CatalogueDep) -> Response:
    plan = atlas.plans.get(plan_id)
    if plan is None:
        raise NotFound(f"没有规划 {plan_id!r} / unknown plan {plan_id!r}; known: {sorted(atlas.plans)}")
    others = [{"id": p, "name": PLAN_NAMES.get(p, p)} for p in atlas.plans if p != plan_id]
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "plan.html",
        {"plan": plan, "sections": reader_sections(atlas, plan, catalogue.indicators), "toc": toc_tree(plan), "css": PLANVIEW_CSS,
         "others": others, "plan_name": PLAN_NAMES.get(plan_id, plan_id),
         "mention_count": sum(1 for (p, _a), items in atlas.index.by_paragraph.items() if p == plan_id
                              for _ in items)},
    )


# ----------------------------------------------------------------------- API

@router.get("/api/search", tags=["plans"])
def search_api(atlas: AtlasDep,
               q: Annotated[str, Query(max_length=200, description="名称或原文片段，如 科学城、龙缸、小江")] = "",
               limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_RESULTS)] = 30) -> dict[str, Any]:
    """Features and plan clauses matching ``q``, best first (features, headings, then clauses)."""
    if len(q.strip()) > MAX_QUERY:
        raise InvalidInput(f"搜索词过长（最多 {MAX_QUERY} 字）/ query too long (at most {MAX_QUERY} characters)")
    results = search(atlas, q, limit)
    return {"q": q, "count": len(results), "results": results}


@router.get("/api/mentions/{layer_id}/{feature_id}", tags=["plans"])
def mentions_api(layer_id: str, feature_id: str, atlas: AtlasDep) -> dict[str, Any]:
    """Every clause of either plan that speaks of one feature, its body-text targets, cross-plan records."""
    out = atlas.feature_json(layer_id, feature_id)
    if out is None:
        raise NotFound(f"没有要素 {layer_id}/{feature_id} / unknown feature {layer_id}/{feature_id}")
    return out
