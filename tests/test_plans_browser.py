"""The plan reader and the map, linked both ways, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from support import keep_local

pytestmark = pytest.mark.browser


class Tab:
    """One page that records errors and any request leaving the loopback server."""

    def __init__(self, browser: Any, base: str, width: int = 1280, height: int = 800) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.outside = keep_local(self.page)
        self.base = base


    def map_ready(self) -> None:
        self.page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)

    def clean(self) -> bool:
        return self.errors == [] and self.outside == []


@pytest.fixture
def tab(browser: Any, live_server: str) -> Iterator[Tab]:
    t = Tab(browser, live_server)
    yield t
    t.context.close()


def _fragment(page: Any) -> str:
    return unquote(urlsplit(page.url).fragment)


def test_a_mention_in_the_reader_opens_the_map_on_its_feature(tab: Tab) -> None:
    page = tab.page
    page.goto(tab.base + "/plans/yunyang#第七章第一节")
    link = page.locator('#第七章第一节-p1 a.pv-place[data-feature="yy-projects/longgang"]')
    assert link.inner_text() == "天下龙缸"
    link.click()
    page.wait_for_url("**/maps/yunyang?feature=yy-projects/longgang**")
    tab.map_ready()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "天下龙缸" in popup.inner_text()
    # the side panel lists the clauses that mention it, among them the one we came from
    clauses = page.locator("#pv-feature-body .pv-clauses")
    clauses.wait_for()
    assert "规划原文" in clauses.inner_text()
    hrefs = [a.get_attribute("href") for a in clauses.locator("a.pv-clause").all()]
    assert "/plans/yunyang#第七章第一节-p1" in hrefs
    assert tab.clean(), (tab.errors, tab.outside)


def test_a_features_clause_list_opens_the_reader_at_the_clause(tab: Tab) -> None:
    page = tab.page
    page.goto(tab.base + "/maps/chongqing?feature=cq-innovation-zones/xibu-kexuecheng")
    tab.map_ready()
    panel = page.locator("#pv-feature-body .pv-clauses")
    panel.wait_for()
    count = int(panel.get_attribute("data-count") or 0)
    assert count >= 5 and f"规划原文 {count} 处" in panel.inner_text()
    assert panel.locator("a.pv-clause").count() == count
    # popup: the first few, and the body-text targets and the cross-plan records
    popup = page.locator(".leaflet-popup-content .pv-clauses")
    popup.wait_for()
    assert f"规划原文 {count} 处" in popup.inner_text()
    assert "研发投入强度" in panel.inner_text() and "两部规划对照" in panel.inner_text()
    yunyang = panel.locator('a.pv-clause[href^="/plans/yunyang#专栏1-"]')
    assert yunyang.count() == 1  # Yunyang's box 1 would site the paleontology institute here
    anchor = yunyang.get_attribute("data-anchor")
    yunyang.click()
    page.wait_for_url("**/plans/yunyang#*")
    assert _fragment(page) == anchor
    target = page.locator(f'[id="{anchor}"]')
    assert "古生物研究所" in target.inner_text()
    assert page.evaluate("id => { const r = document.getElementById(id).getBoundingClientRect();"
                         " return r.top >= 0 && r.top < innerHeight; }", anchor)
    assert page.evaluate("id => document.getElementById(id).matches(':target')", anchor)
    assert tab.clean(), (tab.errors, tab.outside)


def test_map_search_finds_places_and_clauses(tab: Tab) -> None:
    page = tab.page
    page.goto(tab.base + "/maps/yunyang")
    tab.map_ready()
    page.fill("#pv-search", "龙缸")
    first = page.locator("#pv-search-results .pv-result").first
    first.wait_for()
    assert first.inner_text().startswith("天下龙缸")
    first.click()
    page.locator(".leaflet-popup-content").wait_for()
    assert "天下龙缸" in page.locator(".leaflet-popup-content").inner_text()
    # a place on another map is a link to that map; a clause is a link to the reader
    page.fill("#pv-search", "科学城")
    page.locator("#pv-search-results a.pv-result-feature").first.wait_for()
    href = page.locator("#pv-search-results a.pv-result-feature").first.get_attribute("href")
    assert href == "/maps/chongqing?feature=cq-innovation-zones/xibu-kexuecheng"
    clause = page.locator("#pv-search-results a.pv-result-clause").first
    assert (clause.get_attribute("href") or "").startswith("/plans/")
    assert tab.clean(), (tab.errors, tab.outside)


def test_reader_on_a_phone(browser: Any, live_server: str) -> None:
    t = Tab(browser, live_server, 390, 844)
    try:
        page = t.page
        page.goto(t.base + "/plans/yunyang#第三章第二节")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        assert page.evaluate("document.getElementById('pv-toc-details').open") is False
        top = page.evaluate("document.getElementById('第三章第二节').getBoundingClientRect().top")
        assert 0 <= top < 200
        # the table of contents opens, and following an entry goes there and folds it again
        page.locator("#pv-toc-details summary").click()
        page.locator('.pv-toc a[href="#专栏3"]').click()
        assert _fragment(page) == "专栏3"
        assert page.evaluate("document.getElementById('pv-toc-details').open") is False
        assert page.locator("#专栏3").is_visible()
        # the table of 表1 is a table, scrolled inside its box rather than widening the page
        assert page.locator("#表1 table.pv-plan-table tr").count() == 9
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        assert t.clean(), (t.errors, t.outside)
    finally:
        t.context.close()


def test_map_opens_on_a_feature_on_a_phone(browser: Any, live_server: str) -> None:
    t = Tab(browser, live_server, 390, 844)
    try:
        page = t.page
        page.goto(t.base + "/maps/yunyang?feature=yy-xiaojiang-science-city/xjkcc")
        t.map_ready()
        page.wait_for_function("window.planview.focusedFromUrl !== undefined")
        assert page.evaluate("window.planview.focusedFromUrl") is True
        height = page.evaluate("document.querySelector('.pv-mapwrap').getBoundingClientRect().height")
        assert height > 844 * 0.6, height  # the map fills 70 % of the screen
        # on a phone the details open in the bottom sheet (no popup over the full-screen map)
        page.locator("#pv-feature-body .pv-clauses").wait_for()
        assert "小江科创城" in page.locator("#pv-feature-body").inner_text()
        assert page.get_attribute("#pv-panel", "data-sheet") == "half"
        assert t.clean(), (t.errors, t.outside)
    finally:
        t.context.close()
