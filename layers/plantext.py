"""The plan texts as a navigable tree: 章 / 节 / 专栏 / 表, paragraphs and sentences.

The texts in ``data/plans`` are kept exactly as received (web-page header and
footer, a table of contents, tables flattened to lines). This module finds the
plan inside each text and splits it into sections with stable anchors
(``第三章``, ``第三章第一节``, ``专栏26``, ``表1``), each holding its
paragraphs with their character offsets in the original file — so a verbatim
quote found anywhere in the file maps back to the paragraph (clause) and
section that hold it. No web framework here: the reader page, the mention
index and search all build on this.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from geo.errors import NotFound
from layers.citations import PLAN_FILES

PLAN_TITLES = {
    "chongqing": "重庆市科技创新“十四五”规划（2021—2025年）",
    "yunyang": "云阳县科技创新“十四五”规划（征求意见稿）",
}
# The line on which each plan proper begins (what precedes it is the web page's
# header or the call for comments) and the first line of the web page's footer.
PLAN_START = {"chongqing": "重庆市科技创新“十四五”规划", "yunyang": "云阳县科技创新“十四五”规划"}
PLAN_END = {"chongqing": "备案号", "yunyang": "国务院部门网站"}

_NUM = "一二三四五六七八九十百"
_CHAPTER = re.compile(rf"^第([{_NUM}]+)章\s*(.*?)\s*$")
_SECTION = re.compile(rf"^第([{_NUM}]+)节\s*(.*?)\s*$")
_BOX = re.compile(r"^专栏\s*(\d+)\s+(\S+)\s*(.*?)\s*$")
_TABLE = re.compile(r"^表\s*(\d+)\s+(.*?)\s*$")
_FIGURE = re.compile(r"^图\s*(\d+)\s+(.*?)\s*$")
_TOC_PAGE = re.compile(r"\s\d+\s*$")  # "第一节 发展成就 1": a table-of-contents line
# A sentence ends at 。！？； (and a closing quote or bracket right after it).
_SENTENCE = re.compile(r"[^。！？；!?;]*(?:[。！？；!?;]+[”’」』)）]*|$)")


@dataclass(frozen=True)
class Sentence:
    start: int  # offset in the plan file
    text: str


@dataclass
class Paragraph:
    anchor: str  # e.g. "第三章第一节-p2"; the reader's element id
    start: int  # offset of the first character in the plan file
    text: str
    kind: str = "text"  # text | row (a table/box row) | figure

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def sentences(self) -> list[Sentence]:
        out: list[Sentence] = []
        for m in _SENTENCE.finditer(self.text):
            if m.group().strip():
                out.append(Sentence(self.start + m.start(), m.group()))
        return out

    def sentence_at(self, offset: int) -> Sentence:
        """The sentence holding file offset ``offset`` (the whole paragraph if none)."""
        for s in self.sentences():
            if s.start <= offset < s.start + len(s.text):
                return s
        return Sentence(self.start, self.text)


@dataclass
class Section:
    anchor: str  # 第三章 | 第三章第一节 | 专栏26 | 表1 | 前言
    kind: str  # 章 | 节 | 专栏 | 表 | 前言
    label: str  # 第三章 | 第一节 | 专栏26 | 表1
    title: str
    level: int  # 1 章/前言, 2 节, 3 专栏/表 (inside the section that holds them)
    parent: str | None
    paragraphs: list[Paragraph] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return f"{self.label} {self.title}".strip() if self.label else self.title

    @property
    def start(self) -> int:
        return self.paragraphs[0].start if self.paragraphs else -1


@dataclass
class PlanText:
    plan: str
    title: str
    file_name: str
    text: str  # the whole file, exactly as received
    sections: list[Section]
    _starts: list[int] = field(default_factory=list, repr=False)
    _paras: list[tuple[Section, Paragraph]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        pairs = [(s, p) for s in self.sections for p in s.paragraphs]
        pairs.sort(key=lambda sp: sp[1].start)
        self._paras = pairs
        self._starts = [p.start for _, p in pairs]

    def section(self, anchor: str) -> Section:
        for s in self.sections:
            if s.anchor == anchor:
                return s
        raise NotFound(f"规划 {self.plan} 中没有章节 {anchor!r} / no section {anchor!r} in plan {self.plan}")

    def toc(self) -> list[Section]:
        """The table of contents: every 章, 节, 专栏 and 表, in document order."""
        return [s for s in self.sections if s.kind != "前言"]

    def paragraph_at(self, offset: int) -> tuple[Section, Paragraph] | None:
        """The section and paragraph holding file offset ``offset`` (None outside the plan body)."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return None
        section, para = self._paras[i]
        return (section, para) if offset < para.end else None

    def paragraphs(self) -> list[tuple[Section, Paragraph]]:
        return list(self._paras)

    def find(self, needle: str) -> list[int]:
        """Every offset of ``needle`` inside the plan body (not the web page's header, footer or TOC)."""
        out: list[int] = []
        if not needle:
            return out
        i = self.text.find(needle)
        while i >= 0:
            if self.paragraph_at(i) is not None:
                out.append(i)
            i = self.text.find(needle, i + 1)
        return out


def section_path(plan: PlanText, section: Section) -> str:
    """"第三章 第一节" / "第十章 第三节 专栏26": how ``source`` fields cite a place in the plan."""
    parts = [section.label]
    parent = section.parent
    while parent:
        p = plan.section(parent)
        parts.insert(0, p.label)
        parent = p.parent
    return " ".join(x for x in parts if x)


def _lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        out.append((pos, line))
        pos += len(raw)
    return out


def _strip(offset: int, line: str) -> tuple[int, str]:
    stripped = line.strip()
    return (offset + line.index(stripped[0]) if stripped else offset), stripped


def parse_plan(plan: str, text: str, file_name: str = "") -> PlanText:
    """Split one plan text into sections and paragraphs (offsets kept)."""
    lines = _lines(text)
    start_title = PLAN_START[plan]
    begin = next((i for i, (_, ln) in enumerate(lines) if ln.strip() == start_title), 0)
    end = next((i for i, (_, ln) in enumerate(lines) if i > begin and ln.strip().startswith(PLAN_END[plan])),
               len(lines))
    body = lines[begin + 1:end]
    # Skip the title page and the table of contents: the body starts at the first
    # chapter heading that is not a TOC line (TOC lines end with a page number in
    # the Yunyang text; in the Chongqing text the TOC headings simply recur).
    first_chapter_title: str | None = None
    body_from = 0
    seen: set[str] = set()
    for i, (_, ln) in enumerate(body):
        s = ln.strip()
        if not _CHAPTER.match(s):
            continue
        key = re.sub(r"\s+", "", _TOC_PAGE.sub("", s))
        if first_chapter_title is None:
            first_chapter_title = key
        elif key == first_chapter_title and key in seen:
            body_from = i
            break
        seen.add(key)
    # A preface before 第一章 (Yunyang has one): everything after the TOC's last
    # line and before the body's first chapter that is not a TOC line.
    sections: list[Section] = []
    preface = Section(anchor="前言", kind="前言", label="", title="前言", level=1, parent=None)
    toc_end = 0
    for i, (_, ln) in enumerate(body[:body_from]):
        s = ln.strip()
        if _TOC_PAGE.search(s) or s.replace(" ", "") in ("目录",) or _CHAPTER.match(s) or _SECTION.match(s):
            toc_end = i + 1
    for off, ln in body[toc_end:body_from]:
        o, s = _strip(off, ln)
        if s and len(s) > 30:  # a real paragraph, not a title-page line
            preface.paragraphs.append(Paragraph(anchor=f"前言-p{len(preface.paragraphs) + 1}", start=o, text=s))
    if preface.paragraphs:
        sections.append(preface)

    chapter: Section | None = None
    section: Section | None = None
    block: Section | None = None  # an open 专栏 / 表
    current: Section | None = None

    def add_para(target: Section, offset: int, s: str, kind: str = "text") -> None:
        target.paragraphs.append(Paragraph(anchor=f"{target.anchor}-p{len(target.paragraphs) + 1}",
                                           start=offset, text=s, kind=kind))

    for off, ln in body[body_from:]:
        o, s = _strip(off, ln)
        if not s:
            continue
        if m := _CHAPTER.match(s):
            chapter = Section(anchor=f"第{m[1]}章", kind="章", label=f"第{m[1]}章", title=m[2], level=1, parent=None)
            sections.append(chapter)
            section = block = None
            current = chapter
            continue
        if (m := _SECTION.match(s)) and chapter is not None:
            section = Section(anchor=f"{chapter.anchor}第{m[1]}节", kind="节", label=f"第{m[1]}节", title=m[2],
                              level=2, parent=chapter.anchor)
            sections.append(section)
            block = None
            current = section
            continue
        holder = section or chapter
        if (m := _BOX.match(s)) and holder is not None:
            block = Section(anchor=f"专栏{m[1]}", kind="专栏", label=f"专栏{m[1]}", title=m[2], level=3,
                            parent=holder.anchor)
            sections.append(block)
            current = block
            if m[3]:  # Yunyang: the whole box on one line, title first
                rest = s[m.start(3):].rstrip(" |")
                add_para(block, o + m.start(3), rest)
                block = None
                current = holder
            continue
        if (m := _TABLE.match(s)) and holder is not None:
            block = Section(anchor=f"表{m[1]}", kind="表", label=f"表{m[1]}", title=m[2], level=3,
                            parent=holder.anchor)
            sections.append(block)
            current = block
            continue
        if current is None:
            continue
        if block is not None:
            # A box/table goes on while its lines look like rows: numbered items
            # ("1.数学科学…"), the header row, or Yunyang's "cell |" lines.
            if re.match(r"^(\d+|序号)", s) or s.endswith("|"):
                add_para(block, o, s.rstrip(" |"), "row")
                continue
            block = None
            current = holder
            assert current is not None
        if m := _FIGURE.match(s):
            add_para(current, o, s, "figure")
            continue
        add_para(current, o, s)
    return PlanText(plan=plan, title=PLAN_TITLES[plan], file_name=file_name, text=text, sections=sections)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int, plan: str) -> PlanText:
    return parse_plan(plan, path.read_text(encoding="utf-8"), path.name)


def load_plan(plans_dir: Path, plan: str) -> PlanText:
    """The parsed plan ``plan`` (``chongqing`` or ``yunyang``), cached while the file is unchanged."""
    if plan not in PLAN_FILES:
        raise NotFound(f"没有规划 {plan!r} / unknown plan {plan!r}; known: {sorted(PLAN_FILES)}")
    path = plans_dir / PLAN_FILES[plan]
    return _load(path, path.stat().st_mtime_ns, plan)


def load_plans(plans_dir: Path) -> dict[str, PlanText]:
    """Every plan whose text is present (a data dir without plan texts has none)."""
    return {plan: load_plan(plans_dir, plan) for plan, name in PLAN_FILES.items() if (plans_dir / name).exists()}
