"""The plans and the map, linked both ways: one object built once per app.

It holds the parsed plans, the mention index (feature -> clauses, clause ->
features), the body-text targets and the cross-plan records, and answers the
questions the reader page, the map's popups and search ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layers.catalogue import Catalogue
from layers.maps import MapDefinition
from layers.mentions import FeatureRef, MentionIndex, build_index, mention_at
from layers.plannotes import BodyTarget, CrossLink, load_body_targets, load_cross_links, note_problems
from layers.plantext import PlanText, load_plans


@dataclass
class PlanAtlas:
    plans: dict[str, PlanText]
    index: MentionIndex
    targets: list[BodyTarget]
    links: list[CrossLink]
    problems: list[str] = field(default_factory=list)

    def feature(self, layer: str, fid: str) -> FeatureRef | None:
        return self.index.features.get((layer, fid))

    def targets_for(self, key: tuple[str, str]) -> list[BodyTarget]:
        return [t for t in self.targets if t.key == key]

    def links_for(self, key: tuple[str, str]) -> list[CrossLink]:
        return [link for link in self.links if key in link.keys]

    def statement_anchor(self, plan: str, quote: str) -> str | None:
        p = self.plans[plan]
        for off in p.find(quote)[:1]:
            m = mention_at(p, off, quote, "quote")
            return m.anchor if m else None
        return None

    def links_by_paragraph(self, plan: str) -> dict[str, list[CrossLink]]:
        """Paragraph anchor -> the cross-plan records quoting it (for the reader)."""
        out: dict[str, list[CrossLink]] = {}
        for link in self.links:
            for s in link.statements:
                if s.plan == plan and (anchor := self.statement_anchor(plan, s.quote)):
                    out.setdefault(anchor, []).append(link)
        return out

    def link_json(self, link: CrossLink) -> dict[str, Any]:
        feats = []
        for key in link.keys:
            ref = self.index.features.get(key)
            if ref:
                feats.append({"layer": ref.layer, "id": ref.id, "name": ref.name, "href": ref.map_href})
        return {
            "id": link.id, "kind": link.kind, "title": link.title, "note": link.note, "features": feats,
            "statements": [{"plan": s.plan, "quote": s.quote,
                            "href": f"/plans/{s.plan}#{self.statement_anchor(s.plan, s.quote) or ''}"}
                           for s in link.statements],
        }

    def target_json(self, t: BodyTarget) -> dict[str, Any]:
        return {"indicator": t.indicator, "comparator": t.comparator, "value": t.value, "unit": t.unit,
                "year": t.year, "quote": t.quote, "source": t.source, "plan": t.plan,
                "href": f"/plans/{t.plan}#{self.statement_anchor(t.plan, t.quote) or ''}"}

    def feature_json(self, layer: str, fid: str) -> dict[str, Any] | None:
        """What the map shows for one feature: its clauses, body targets and cross-plan records."""
        ref = self.feature(layer, fid)
        if ref is None:
            return None
        mentions = self.index.mentions(layer, fid)
        return {
            "layer": layer, "id": fid, "name": ref.name, "plan": ref.plan,
            "count": len(mentions),
            "mentions": [m.as_json() for m in mentions],
            "targets": [self.target_json(t) for t in self.targets_for(ref.key)],
            "cross_links": [self.link_json(link) for link in self.links_for(ref.key)],
        }


def build_atlas(catalogue: Catalogue, maps: dict[str, MapDefinition], plans_dir: Path) -> PlanAtlas:
    plans = load_plans(plans_dir)
    targets = load_body_targets(plans_dir)
    links = load_cross_links(plans_dir)
    shared: set[str] = set()
    for link in links:
        shared.update(link.features)
    # Features both plans speak of are name-matched in both plans.
    shared_names = set()
    for layer in catalogue.layers.values():
        m = layer.manifest
        for props in layer.properties():
            if f"{m.id}/{props.get(m.key)}" in shared:
                shared_names.add(str(props.get(m.label_field) or props.get("name")))
    index = build_index(catalogue, maps, plans, plans_dir, shared_names)
    problems = note_problems(plans, targets, links, set(index.features))
    return PlanAtlas(plans=plans, index=index, targets=targets, links=links, problems=problems)


# ------------------------------------------------------------------- search

MAX_QUERY = 50
_SPACE = re.compile(r"\s+")


def normalise_query(q: str) -> str:
    return _SPACE.sub("", q)[:MAX_QUERY]


def search(atlas: PlanAtlas, q: str, limit: int = 30) -> list[dict[str, Any]]:
    """Features and plan clauses matching ``q`` (Chinese, partial names), best first.

    Features rank by how their name or an alias holds the query (equal >
    prefix > anywhere), then by how often the plans speak of them; clauses
    rank below a feature whose name holds the query, a heading before a
    paragraph, then by document order.
    """
    q = normalise_query(q)
    if not q:
        return []
    ql = q.lower()
    results: list[tuple[float, int, dict[str, Any]]] = []
    for key, ref in atlas.index.features.items():
        names = atlas.index.aliases.get(key, [ref.name])
        best = 0.0
        for n in names:
            nl = n.lower()
            if nl == ql:
                best = max(best, 100)
            elif nl.startswith(ql):
                best = max(best, 80)
            elif ql in nl:
                best = max(best, 60)
        if not best:
            continue
        count = len(atlas.index.mentions(*key))
        score = best + min(count, 20) / 2 + (5 if ref.role == "plan" else 0)
        results.append((score, 0, {
            "type": "feature", "layer": ref.layer, "id": ref.id, "name": ref.name, "plan": ref.plan,
            "layer_title": ref.layer_title, "href": ref.map_href, "map": ref.map_id, "mentions": count,
        }))
    seq = 0
    for plan in atlas.plans.values():
        for section in plan.sections:
            if q in section.title:
                seq += 1
                results.append((55, seq, {
                    "type": "section", "plan": plan.plan, "anchor": section.anchor, "name": section.heading,
                    "text": section.heading, "href": f"/plans/{plan.plan}#{section.anchor}",
                }))
        for section, para in plan.paragraphs():
            i = para.text.find(q)
            if i < 0:
                continue
            seq += 1
            sentence = para.sentence_at(para.start + i)
            results.append((30 + min(para.text.count(q), 5), seq, {
                "type": "clause", "plan": plan.plan, "anchor": para.anchor, "section": section.heading,
                "text": sentence.text.strip(), "href": f"/plans/{plan.plan}#{para.anchor}",
            }))
    results.sort(key=lambda r: (-r[0], r[1]))
    return [r[2] for r in results[:limit]]
