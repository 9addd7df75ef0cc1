"""The plan texts as a tree, the mention index, body targets, cross-plan records and search."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from layers.catalogue import Catalogue
from layers.citations import PLAN_FILES
from layers.maps import load_maps
from layers.mentions import build_index
from layers.planatlas import PlanAtlas, build_atlas, search
from layers.plannotes import load_body_targets, load_cross_links, note_problems
from layers.plantext import PlanText, load_plans, parse_plan, section_path
from server.settings import ROOT

PLANS_DIR = ROOT / "data" / "plans"


@pytest.fixture(scope="module")
def plans() -> dict[str, PlanText]:
    return load_plans(PLANS_DIR)


@pytest.fixture(scope="module")
def atlas(catalogue: Catalogue) -> PlanAtlas:
    return build_atlas(catalogue, load_maps(ROOT / "data"), PLANS_DIR)


# ------------------------------------------------------------------ parser

def test_chongqing_plan_starts_after_the_web_page_header(plans: dict[str, PlanText]) -> None:
    cq = plans["chongqing"]
    first = cq.paragraphs()[0][1]
    header = cq.text[:first.start]
    assert "重庆市科技创新“十四五”规划\n" in header  # the plan's own title line precedes the body
    assert "欢迎访问" not in first.text and "网站" not in "".join(p.text for _, p in cq.paragraphs()[:3])
    assert not any("备案号" in p.text or "渝ICP" in p.text for _, p in cq.paragraphs())  # footer left out
    assert not any("国务院部门网站" in p.text for _, p in plans["yunyang"].paragraphs())


def test_table_of_contents(plans: dict[str, PlanText]) -> None:
    cq, yy = plans["chongqing"], plans["yunyang"]
    assert [s.anchor for s in cq.toc() if s.kind == "章"] == [f"第{n}章" for n in (
        "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五")]
    assert [s.anchor for s in cq.toc() if s.kind == "专栏"] == [f"专栏{i}" for i in range(1, 28)]
    assert [s.anchor for s in yy.toc() if s.kind in ("专栏", "表")] == ["表1", "专栏1", "专栏2", "专栏3", "专栏4", "专栏5"]
    assert len([s for s in yy.toc() if s.kind == "章"]) == 14
    # the documents' own 目录 (Yunyang's with page numbers) lists exactly the 章 and 节 parsed from the body
    for plan in (cq, yy):
        own = plan.text[plan.text.index("目"):plan.paragraphs()[0][1].start]
        listed = [re.sub(r"\s+", "", re.sub(r"\s\d+$", "", ln.strip())) for ln in own.splitlines()
                  if re.match(r"^第[一二三四五六七八九十]+[章节]", ln.strip())]
        parsed = [re.sub(r"\s+", "", s.heading) for s in plan.toc() if s.kind in ("章", "节")]
        assert [x[:4] for x in listed] == [x[:4] for x in parsed], plan.plan
        # titles agree too, save one the Yunyang draft words differently in its 目录 (其它 / 其他)
        assert len([a for a, b in zip(listed, parsed, strict=True) if a != b]) <= 1, plan.plan
    sec = yy.section("第三章第一节")
    assert sec.title == "高质量建设小江科创城" and sec.parent == "第三章"
    assert "10平方公里小江科创城" in sec.paragraphs[0].text
    assert cq.section("第二章第二节").title == "高水平建设西部(重庆)科学城"
    assert cq.section("专栏26").parent == "第十章第三节"
    assert section_path(cq, cq.section("专栏26")) == "第十章 第三节 专栏26"
    anchors = [s.anchor for p in plans.values() for s in p.sections]
    for p in plans.values():
        assert len({s.anchor for s in p.sections}) == len(p.sections), "anchors are unique within a plan"
    assert anchors


def test_boxes_hold_their_items_and_end_where_the_text_goes_on(plans: dict[str, PlanText]) -> None:
    cq = plans["chongqing"]
    box = cq.section("专栏26")
    assert [p.text[:2] for p in box.paragraphs] == ["1.", "2."]
    # the paragraph after the box belongs to its section again
    sec = cq.section("第十章第三节")
    assert any(p.text.startswith("加快建设科技企业孵化载体") for p in sec.paragraphs)
    yy_box = plans["yunyang"].section("专栏1")
    assert yy_box.title == "科技创新主体培育重点项目"
    assert "争取在西部(重庆)科学城设立古生物研究所" in yy_box.paragraphs[0].text
    assert not yy_box.paragraphs[0].text.endswith("|")
    table = plans["yunyang"].section("表1")
    assert [p.text for p in table.paragraphs[:6]] == ["序号", "指标名称", "指标 属性", "2020年 指标值", "2025年 目标值", "1"]


def test_paragraph_offsets_are_the_files_own(plans: dict[str, PlanText]) -> None:
    for plan in plans.values():
        for _, p in plan.paragraphs():
            assert plan.text[p.start:p.end] == p.text
            for s in p.sentences():
                assert plan.text[s.start:s.start + len(s.text)] == s.text


def test_parser_on_a_small_text() -> None:
    text = ("页眉\n重庆市科技创新“十四五”规划\n目录\n第一章 总则\n第一节 目标\n"
            "第一章 总则\n序言段落。\n第一节 目标\n到2025年,甲。乙!\n专栏1 示例\n1.条目一。\n正文继续。\n备案号:1\n")
    plan = parse_plan("chongqing", text, "x.txt")
    assert [s.anchor for s in plan.sections] == ["第一章", "第一章第一节", "专栏1"]
    sec = plan.section("第一章第一节")
    assert [p.text for p in sec.paragraphs] == ["到2025年,甲。乙!", "正文继续。"]
    assert [s.text for s in sec.paragraphs[0].sentences()] == ["到2025年,甲。", "乙!"]
    assert plan.find("页眉") == [] and plan.find("备案号") == []


# ---------------------------------------------------------------- mentions

def test_every_mention_is_verbatim_and_in_its_clause(atlas: PlanAtlas) -> None:
    total = 0
    for key, mentions in atlas.index.by_feature.items():
        for m in mentions:
            plan = atlas.plans[m.plan]
            assert plan.text[m.start:m.start + len(m.match)] == m.match
            assert m.text in plan.text, (key, m.text)
            section, para = plan.paragraph_at(m.start)  # type: ignore[misc]
            assert para.anchor == m.anchor and section.anchor == m.section
            total += 1
    assert total > 250


def test_features_cited_by_quote_have_that_clause(atlas: PlanAtlas) -> None:
    ms = atlas.index.mentions("cq-innovation-zones", "xibu-kexuecheng")
    assert any(m.how == "quote" and m.section == "第二章第二节" for m in ms)
    # named in the other plan as well: Yunyang's box 1 and its open co-operation chapter
    assert any(m.plan == "yunyang" and m.section == "专栏1" and "古生物研究所" in m.text for m in ms)
    assert any(m.plan == "yunyang" and "西部科学城" in m.match for m in ms)
    longgang = atlas.index.mentions("yy-projects", "longgang")
    assert longgang and all(m.plan == "yunyang" for m in longgang)
    # "依托龙缸茶业公司…" names a company, not the place (the inventory's not_mentions)
    assert not any("龙缸茶业公司" in m.text and m.how == "name" for m in longgang)


def test_names_match_longest_first(atlas: PlanAtlas) -> None:
    """"开州浦里" names the 浦里 node, not only the district 开州."""
    puli = atlas.index.mentions("yy-wankaiyun-corridor", "kaizhou-puli")
    assert any("开州浦里" in m.text for m in puli)
    kaizhou_names = [m for m in atlas.index.mentions("cq-counties", "500154") if m.how == "name"]
    assert not any(m.match == "开州" and atlas.plans[m.plan].text[m.start:m.start + 4] == "开州浦里"
                   for m in kaizhou_names)
    # a district is found by its short name in both plans
    wanzhou = atlas.index.mentions("cq-counties", "500101")
    assert {m.plan for m in wanzhou} == {"chongqing", "yunyang"}


def test_every_feature_has_a_map_to_open_on(atlas: PlanAtlas) -> None:
    for ref in atlas.index.features.values():
        assert ref.map_href and ref.map_href.startswith(f"/maps/{ref.map_id}?feature={ref.layer}/")


# ----------------------------------------------------- body targets, cross-links

def test_body_targets_and_cross_links_quote_the_plans(atlas: PlanAtlas, plans: dict[str, PlanText]) -> None:
    targets = load_body_targets(PLANS_DIR)
    links = load_cross_links(PLANS_DIR)
    assert note_problems(plans, targets, links, set(atlas.index.features)) == []
    assert atlas.problems == []
    for t in targets:
        plan = plans[t.plan]
        offsets = plan.find(t.quote)
        assert offsets, t
        section, _ = plan.paragraph_at(offsets[0])  # type: ignore[misc]
        cited = t.source.split(maxsplit=1)[1]
        assert section_path(plan, section) == cited, (t.indicator, section_path(plan, section), cited)
        number = str(int(t.value)) if float(t.value).is_integer() else str(t.value)
        assert number in t.quote


def test_science_city_body_targets(atlas: PlanAtlas) -> None:
    info = atlas.feature_json("cq-innovation-zones", "xibu-kexuecheng")
    assert info is not None
    got = {(t["indicator"], t["comparator"], t["value"]) for t in info["targets"]}
    assert ("研发投入强度", "≥", 5) in got and ("高技术产业产值占规模以上工业总产值比重", ">", 50) in got
    assert all(t["href"].startswith("/plans/chongqing#第二章第二节-p") for t in info["targets"])


def test_the_plans_disagreements_are_recorded_with_both_quotes(atlas: PlanAtlas) -> None:
    info = atlas.feature_json("cq-municipality", "重庆市")
    assert info is not None
    rd = next(x for x in info["cross_links"] if x["id"] == "rd-intensity-2020")
    assert rd["kind"] == "disagree"
    quotes = {s["plan"]: s["quote"] for s in rd["statements"]}
    assert "2.11%" in quotes["chongqing"] and "2.10%" in quotes["yunyang"]
    wz = atlas.feature_json("cq-high-tech-zones", "cq-gxq-wanzhou")
    assert wz is not None
    rec = next(x for x in wz["cross_links"] if x["id"] == "wanzhou-high-tech-zone")
    assert any("国家级" in s["quote"] for s in rec["statements"])
    assert any("创建市级高新区" in s["quote"] for s in rec["statements"])
    assert all(re.match(r"^/plans/(chongqing|yunyang)#\S+-p\d+$", s["href"]) for s in rec["statements"])


def test_a_broken_quote_is_reported(plans: dict[str, PlanText]) -> None:
    from layers.plannotes import BodyTarget

    bad = BodyTarget(feature="cq-innovation-zones/xibu-kexuecheng", indicator="x", comparator="≥", value=7,
                     unit="%", year=2025, source=f"{PLAN_FILES['chongqing']} 第二章 第二节",
                     quote="到2025年,西部(重庆)科学城研发投入强度达到5%以上")
    problems = note_problems(plans, [bad], [])
    assert problems and "value 7" in problems[0]
    invented = bad.model_copy(update={"quote": "研发投入强度达到7%以上", "value": 7})
    assert "not verbatim" in note_problems(plans, [invented], [])[0]


# ------------------------------------------------------------------ search

@pytest.mark.parametrize(("q", "layer", "fid"), [
    ("科学城", "cq-innovation-zones", "xibu-kexuecheng"),
    ("龙缸", "yy-projects", "longgang"),
    ("小江", "yy-xiaojiang-science-city", "xjkcc"),
    ("西部科学城", "cq-innovation-zones", "xibu-kexuecheng"),
])
def test_search_finds_partial_chinese_names(atlas: PlanAtlas, q: str, layer: str, fid: str) -> None:
    results = search(atlas, q)
    features = [(r["layer"], r["id"]) for r in results if r["type"] == "feature"]
    assert (layer, fid) in features[:5], features[:8]
    assert results[0]["type"] == "feature"
    clauses = [r for r in results if r["type"] == "clause"]
    assert clauses and all(q in r["text"] or q in atlas.plans[r["plan"]].text for r in clauses)


def test_search_ranks_exact_names_first_and_finds_clauses(atlas: PlanAtlas) -> None:
    results = search(atlas, "云阳县")
    assert (results[0]["layer"], results[0]["id"]) == ("cq-counties", "500235")
    # the institute is a feature too (cq-sites, hosted in the science city, #9); its clause is still found
    found = search(atlas, "古生物研究所")
    clause = [r for r in found if r["type"] == "clause"]
    assert clause and clause[0]["href"].startswith("/plans/yunyang#专栏1-p")
    assert search(atlas, "   ") == [] and search(atlas, "没有这样的地方啊") == []


def test_inventory_mentions_and_spellings_join_the_index(catalogue: Catalogue, tmp_path: Path) -> None:
    """The inventory (data/plans/inventory.yaml, issue 9's data half) adds clauses and spellings."""
    for name in PLAN_FILES.values():
        shutil.copy(PLANS_DIR / name, tmp_path / name)
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump({"entries": [
        {"id": "yy-longgang", "name": "天下龙缸", "aliases": ["龙缸茶业公司"], "plans": ["yunyang"], "kind": "景区",
         "mentions": [{"plan": "yunyang", "section": "第五章 第一节",
                       "text": "围绕中药材优良品系选育、工厂化育苗与规范化种植技术研"}],
         "feature": {"layer": "yy-projects", "key": "longgang"}},
        {"id": "nowhere", "name": "不存在", "plans": ["yunyang"], "kind": "x", "mentions": [],
         "unmapped_reason": "test"},
    ]}, allow_unicode=True), "utf-8")
    plans = load_plans(tmp_path)
    index = build_index(catalogue, load_maps(ROOT / "data"), plans, tmp_path)
    ms = index.mentions("yy-projects", "longgang")
    assert any(m.how == "inventory" and m.section == "第五章第一节" for m in ms)
    assert any(m.how == "name" and m.match == "龙缸茶业公司" for m in ms)  # an alias the inventory spells
    assert "龙缸茶业公司" in index.aliases[("yy-projects", "longgang")]
    plain = build_index(catalogue, load_maps(ROOT / "data"), plans, None)
    assert not any(m.how == "inventory" for m in plain.mentions("yy-projects", "longgang"))


def test_layers_check_reports_a_quote_that_is_not_verbatim(tmp_path: Path) -> None:
    from layers.plannotes import BODY_TARGETS_FILE, check_notes

    for name in [*PLAN_FILES.values(), BODY_TARGETS_FILE]:
        shutil.copy(PLANS_DIR / name, tmp_path / name)
    known = {("cq-innovation-zones", "xibu-kexuecheng"), ("cq-municipality", "重庆市"), ("cq-counties", "500235"),
             ("yy-high-tech-zone", "yy-gxq")}
    assert check_notes(tmp_path, tmp_path, known) == []
    text = (tmp_path / BODY_TARGETS_FILE).read_text("utf-8").replace("研发投入强度达到5%以上", "研发投入强度达到6%以上")
    (tmp_path / BODY_TARGETS_FILE).write_text(text, "utf-8")
    problems = check_notes(tmp_path, tmp_path, known)
    assert len(problems) == 1 and "not verbatim" in problems[0]
    assert "unknown feature" in check_notes(tmp_path, tmp_path, set())[-1]
