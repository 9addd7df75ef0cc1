"""Where each feature is spoken of in the plans: the mention index.

A mention is one clause (paragraph) of a plan that speaks of a feature, with
the sentence that does so, verbatim. Mentions come from three places, merged:

- ``quote``: the feature's own citations (``quote``, ``*_quote``, ``more_quotes``,
  ``targets[].quote``) found in the plan text;
- ``inventory``: the inventory of every place the plans locate
  (``data/plans/inventory.yaml``, when present), whose entries name a feature and
  list their mentions;
- ``name``: the feature's name (or an alias: without the bracketed part, a
  district without 区/县, ``aliases`` in its attributes) where it occurs in the
  text — in its own plan, and in the other plan for base units (districts) and
  for places ``cross-links.yaml`` says both plans speak of.

Name matches are leftmost-longest over all features at once, so "开州浦里"
is the 浦里 node's mention, not 开州's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from layers.catalogue import Catalogue, jsonable
from layers.maps import MapDefinition
from layers.plantext import PlanText, Section, section_path

log = logging.getLogger(__name__)

INVENTORY_FILE = "inventory.yaml"
MIN_ALIAS = 2
MIN_BARE = 4
_BRACKETS = re.compile(r"[(（][^)）]*[)）]")
_COUNTY_SUFFIX = re.compile(r"(土家族苗族自治县|土家族自治县|苗族土家族自治县|自治县|区|县)$")


@dataclass(frozen=True)
class FeatureRef:
    layer: str
    id: str
    name: str
    plan: str
    role: str
    layer_title: str
    map_id: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.layer, self.id)

    @property
    def map_href(self) -> str | None:
        """The map page focused on this feature (``?feature=layer/id``)."""
        if not self.map_id:
            return None
        return f"/maps/{self.map_id}?feature={self.layer}/{self.id}"


@dataclass(frozen=True)
class Mention:
    plan: str
    section: str  # the section anchor (第三章第一节, 专栏26 …)
    section_label: str  # "第三章 第一节 高质量建设小江科创城"
    anchor: str  # the paragraph anchor in the reader (第三章第一节-p1)
    text: str  # the sentence, verbatim
    match: str  # the verbatim words that name the feature (or the quote)
    start: int  # file offset of ``match``
    how: str  # quote | inventory | name

    @property
    def href(self) -> str:
        return f"/plans/{self.plan}#{self.anchor}"

    def as_json(self) -> dict[str, Any]:
        return {"plan": self.plan, "section": self.section_label, "anchor": self.anchor,
                "section_anchor": self.section, "text": self.text, "match": self.match, "how": self.how,
                "href": self.href}


@dataclass
class MentionIndex:
    features: dict[tuple[str, str], FeatureRef] = field(default_factory=dict)
    aliases: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    by_feature: dict[tuple[str, str], list[Mention]] = field(default_factory=dict)
    # (plan, paragraph anchor) -> [(feature key, mention)]
    by_paragraph: dict[tuple[str, str], list[tuple[tuple[str, str], Mention]]] = field(default_factory=dict)

    def mentions(self, layer: str, fid: str) -> list[Mention]:
        return self.by_feature.get((layer, fid), [])

    def add(self, key: tuple[str, str], m: Mention) -> None:
        existing = self.by_feature.setdefault(key, [])
        for i, e in enumerate(existing):
            if e.plan == m.plan and e.anchor == m.anchor and e.text == m.text:
                # keep the strongest evidence for one sentence: quote > inventory > name
                if _RANK[m.how] < _RANK[e.how]:
                    existing[i] = m
                    self._replace_in_paragraph(key, e, m)
                return
        existing.append(m)
        self.by_paragraph.setdefault((m.plan, m.anchor), []).append((key, m))

    def _replace_in_paragraph(self, key: tuple[str, str], old: Mention, new: Mention) -> None:
        items = self.by_paragraph.get((old.plan, old.anchor), [])
        for i, (k, m) in enumerate(items):
            if k == key and m is old:
                items[i] = (key, new)

    def sort(self, plans: dict[str, PlanText]) -> None:
        order = {p: i for i, p in enumerate(plans)}
        for ms in self.by_feature.values():
            ms.sort(key=lambda m: (order.get(m.plan, 9), m.start))
        for items in self.by_paragraph.values():
            items.sort(key=lambda km: km[1].start)


_RANK = {"quote": 0, "inventory": 1, "name": 2}


def section_label(plan: PlanText, section: Section) -> str:
    return f"{section_path(plan, section)} {section.title}".strip()


def mention_at(plan: PlanText, offset: int, match: str, how: str) -> Mention | None:
    """The mention of ``match`` found at file ``offset`` (None outside the plan body)."""
    found = plan.paragraph_at(offset)
    if found is None:
        return None
    section, para = found
    sentence = para.sentence_at(offset)
    text = sentence.text
    end = offset + len(match)
    if end > sentence.start + len(text):  # a quote spanning sentences: take the whole span
        text = plan.text[sentence.start:min(end, para.end)]
    return Mention(plan=plan.plan, section=section.anchor, section_label=section_label(plan, section),
                   anchor=para.anchor, text=text.strip(), match=match, start=offset, how=how)


def _quotes(props: dict[str, Any]) -> Iterable[str]:
    for key, value in props.items():
        if key == "quote" or key.endswith("_quote"):
            if isinstance(value, str) and value.strip():
                yield value
        elif key in ("more_quotes", "quotes") and isinstance(value, list):
            yield from (v for v in value if isinstance(v, str) and v.strip())
        elif key == "targets" and isinstance(value, list):
            yield from (t["quote"] for t in value if isinstance(t, dict) and isinstance(t.get("quote"), str))


def aliases_for(name: str, role: str, props: dict[str, Any]) -> list[str]:
    """The words that name a feature in the plan text, longest first."""
    out = [name]
    bare = _BRACKETS.sub("", name).strip()
    if bare != name and len(bare) >= MIN_BARE:  # 西部(重庆)科学城 -> 西部科学城, not 万州(…) -> 万州
        out.append(bare)
    if role == "base":
        short = _COUNTY_SUFFIX.sub("", name)
        if short != name and len(short) >= MIN_ALIAS:
            out.append(short)
    extra = props.get("aliases")
    if isinstance(extra, list):
        out.extend(str(a) for a in extra if isinstance(a, str))
    seen: list[str] = []
    for a in out:
        a = a.strip()
        if len(a) >= MIN_ALIAS and a not in seen:
            seen.append(a)
    return sorted(seen, key=len, reverse=True)


def map_for_layer(maps: dict[str, MapDefinition], layer_id: str, plan: str) -> str | None:
    """The map to open a feature of ``layer_id`` on: one of its plan's maps if any shows it."""
    holders = [m for m in maps.values() if any(ml.id == layer_id for ml in m.layers)]
    own = [m for m in holders if m.plan == plan]
    chosen = own or holders
    return chosen[0].id if chosen else None


def feature_refs(catalogue: Catalogue, maps: dict[str, MapDefinition]) -> Iterable[tuple[FeatureRef, dict[str, Any]]]:
    for layer in catalogue.ordered():
        m = layer.manifest
        map_id = map_for_layer(maps, m.id, m.plan)
        for props in layer.properties():
            fid = props.get(m.key)
            if fid is None:
                continue
            name = props.get(m.label_field) or props.get("name") or str(fid)
            yield (FeatureRef(layer=m.id, id=str(fid), name=str(name), plan=m.plan, role=m.role,
                              layer_title=m.title, map_id=map_id), props)


def read_inventory(plans_dir: Path) -> list[dict[str, Any]]:
    """The inventory's entries (empty when there is none yet); unknown shapes are skipped, not fatal."""
    path = plans_dir / INVENTORY_FILE
    if not path.exists():
        return []
    return _read_inventory(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _read_inventory(path: Path, mtime_ns: int) -> list[dict[str, Any]]:
    try:
        # libyaml's loader when present: the inventory is large, the pure-Python parser takes seconds
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        log.error("inventory %s unreadable: %s", path, exc)
        return []
    if isinstance(data, dict):
        data = data.get("entries") or data.get("places") or data.get("inventory") or []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def _inventory_features(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The features an inventory entry says map it: ``feature: {layer, key}`` (or ``layer/id``, or a list)."""
    out: list[tuple[str, str]] = []
    raw = entry.get("features", entry.get("feature"))
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        if isinstance(item, str) and "/" in item:
            layer, fid = item.split("/", 1)
            out.append((layer, fid))
        elif isinstance(item, dict) and item.get("layer"):
            key = item.get("key", item.get("id"))
            if key is not None:
                out.append((str(item["layer"]), str(key)))
    return out


def _inventory_text(mention: dict[str, Any]) -> str | None:
    for k in ("text", "quote", "verbatim", "sentence"):
        if isinstance(mention.get(k), str) and mention[k].strip():
            return str(mention[k])
    return None


NOT_A_MENTION = ("", "")  # the key of an inventory's ``not_mentions`` phrase


def build_index(catalogue: Catalogue, maps: dict[str, MapDefinition], plans: dict[str, PlanText],
                plans_dir: Path | None = None, shared_names: Iterable[str] = ()) -> MentionIndex:
    """Every mention of every feature of ``catalogue`` in ``plans``."""
    index = MentionIndex()
    pending_names: list[tuple[str, tuple[str, str], set[str]]] = []  # (alias, key, plans to search)
    shared = set(shared_names)
    inventory = read_inventory(plans_dir) if plans_dir is not None else []
    # The inventory's spellings of a place (its name as the plan writes it, its aliases) name its
    # feature in the plans the entry lists.
    spellings: dict[tuple[str, str], list[tuple[str, set[str]]]] = {}
    for entry in inventory:
        words = [entry.get("name")] + list(entry.get("aliases") or [])
        where = {str(p) for p in (entry.get("plans") or []) if p in plans} or set(plans)
        for key in _inventory_features(entry):
            spellings.setdefault(key, []).extend((str(w), where) for w in words if isinstance(w, str) and len(w) >= MIN_ALIAS)
        # a longer phrase wins leftmost-longest matching, so it hides the spelling inside it; then it is dropped
        pending_names.extend((str(p), NOT_A_MENTION, where) for p in entry.get("not_mentions") or [])
    for ref, props in feature_refs(catalogue, maps):
        index.features[ref.key] = ref
        props = {k: jsonable(v) for k, v in props.items()}
        # 1. the feature's own quotes
        for quote in _quotes(props):
            for plan in _plans_first(plans, ref.plan):
                offsets = plan.find(quote)
                for off in offsets:
                    if (m := mention_at(plan, off, quote, "quote")) is not None:
                        index.add(ref.key, m)
                if offsets:
                    break
        # 3. names (collected; matched below, all features at once)
        names = aliases_for(ref.name, ref.role, props)
        index.aliases[ref.key] = names
        for alias in names:
            where = set(plans) if (ref.role == "base" or ref.name in shared or alias in shared) else {ref.plan}
            pending_names.append((alias, ref.key, where))
        for word, where in spellings.get(ref.key, []):
            if word not in names:
                index.aliases[ref.key].append(word)
                pending_names.append((word, ref.key, where))
    # 2. the inventory, when there is one
    if inventory:
        for entry in inventory:
            keys = [k for k in _inventory_features(entry) if k in index.features]
            for mention in entry.get("mentions") or []:
                if not isinstance(mention, dict):
                    continue
                text = _inventory_text(mention)
                target = plans.get(str(mention.get("plan", "")))
                if text is None or target is None:
                    continue
                for off in target.find(text)[:1]:
                    if (m := mention_at(target, off, text, "inventory")) is not None:
                        for key in keys:
                            index.add(key, m)
    for plan in plans.values():
        for start, alias, key in _leftmost_longest(plan, [(a, k) for a, k, w in pending_names if plan.plan in w]):
            if key != NOT_A_MENTION and (m := mention_at(plan, start, alias, "name")) is not None:
                index.add(key, m)
    index.sort(plans)
    return index


def _plans_first(plans: dict[str, PlanText], first: str) -> list[PlanText]:
    return sorted(plans.values(), key=lambda p: p.plan != first)


def _leftmost_longest(plan: PlanText, names: list[tuple[str, tuple[str, str]]]) -> list[tuple[int, str, tuple[str, str]]]:
    """Non-overlapping name occurrences: at each place the longest name wins."""
    hits: list[tuple[int, int, str, tuple[str, str]]] = []
    for alias, key in names:
        for off in plan.find(alias):
            hits.append((off, -len(alias), alias, key))
    hits.sort()
    out: list[tuple[int, str, tuple[str, str]]] = []
    covered_to = -1
    last: tuple[int, int] | None = None
    for off, neg, alias, key in hits:
        end = off - neg
        if (off, end) == last:  # the same words name several features (a site in two layers)
            out.append((off, alias, key))
            continue
        if off < covered_to:
            continue
        out.append((off, alias, key))
        covered_to = end
        last = (off, end)
    return out
