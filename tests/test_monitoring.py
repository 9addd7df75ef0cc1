"""Monitoring: annual values in through every path (API, form, CSV, XLSX), status, history, PDF/XLSX, dashboard."""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader
from support import bearer, running_app, signed_in

from geo.errors import InvalidInput
from layers.catalogue import Catalogue
from layers.monitoring import Thresholds, build_registry, check_entries, open_value_store, plan_report
from layers.monitoring.progress import assess, geometric_mean_rate, planned_path
from layers.monitoring.registry import Indicator
from layers.monitoring.store import NewValue, ValueRecord, ValueStore
from server.app import create_app
from server.settings import ROOT, Settings

SOURCE = "重庆市2023年国民经济和社会发展统计公报"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(content: bytes) -> str:
    return squash("".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None)
    with signed_in(create_app(settings), "王五", "planner") as c:  # values are entered by signed-in planners
        yield c


def entry(api: TestClient, plan: str, indicator: str) -> dict:
    body = api.get(f"/api/indicators/{plan}").json()
    return next(i for i in body["monitoring"]["indicators"] if i["id"] == indicator)


# ---------------------------------------------------------------- registry


def test_registry_lists_every_table_row_and_body_target(catalogue: Catalogue) -> None:
    registry = build_registry(catalogue)
    cq = {i.id: i for i in registry.for_plan("chongqing")}
    yy = {i.id: i for i in registry.for_plan("yunyang")}
    assert {f"chongqing.{n}" for n in range(1, 14)} <= set(cq)
    assert {f"yunyang.{n}" for n in range(1, 9)} <= set(yy)
    # the science city's body-text target (研发投入强度 ≥5%) is monitorable on its feature
    science = cq["cq-innovation-zones.xibu-kexuecheng.研发投入强度"]
    assert science.target == 5 and science.unit == "%" and science.feature is not None
    # the municipality's targets that repeat 专栏1 are not listed twice
    assert not any(i.feature and i.feature.layer == "cq-municipality" and "科技型企业" in i.name
                   for i in registry.for_plan("chongqing") if i.table is None)
    # row 1 is the 年均 growth rate: its target is the table's ">10", not an invented 2025 level
    row1 = cq["chongqing.1"]
    assert row1.kind == "annual_rate" and row1.target == 10 and row1.comparator == ">"
    assert yy["yunyang.7"].base_value is None and yy["yunyang.7"].path == "none"


def test_a_new_indicator_file_needs_no_code_change(tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "indicators").mkdir()
    (tmp_path / "plans" / "body-targets.yaml").write_text(
        "- feature: cq-municipality/重庆市\n  indicator: 环大学创新生态圈\n  comparator: '≥'\n  value: 15\n"
        "  unit: 个\n  year: 2025\n  source: 第十章 第三节\n  quote: 建成环大学创新生态圈15个以上\n"
        "- feature: cq-counties/500235\n  indicator: 市级科技型企业\n  comparator: '='\n  value: 1000\n"
        "  unit: 家\n  year: 2025\n  source: 表1\n", encoding="utf-8")
    extra = {"id": "extra", "title": "补充指标", "source": "test",
             "indicators": [{"plan": "yunyang", "id": "yy-extra.1", "name": "测试指标", "unit": "家",
                             "value_2020": 10, "target_2025": 20}]}
    cat = Catalogue(data_dir=tmp_path, build_dir=catalogue.build_dir, layers=catalogue.layers,
                    indicators={**catalogue.indicators, "extra": extra})
    registry = build_registry(cat)
    assert registry.get("yy-extra.1") is not None and registry.get("yy-extra.1").plan == "yunyang"  # type: ignore[union-attr]
    ring = registry.get("cq-municipality.重庆市.环大学创新生态圈")
    assert ring is not None and ring.plan == "chongqing" and ring.target == 15 and ring.group == "正文目标"
    # the same target as a 表1 row is not listed twice
    assert not any("市级科技型企业" in i.name for i in registry.for_plan("yunyang") if i.table is None)


def test_the_product_ships_with_no_values(api: TestClient) -> None:
    for plan in ("chongqing", "yunyang"):
        body = api.get(f"/api/indicators/{plan}").json()
        assert body["monitoring"]["indicators"]
        assert all(i["values"] == [] and i["progress"]["status"] is None for i in body["monitoring"]["indicators"])
    assert not list((ROOT / "data").rglob("*values*.csv"))


# ---------------------------------------------------------------- progress


def _ind(**kw: object) -> Indicator:
    base = dict(id="t.1", plan="chongqing", group="g", number=1, name="测试", unit="家", base_value=100.0,
                target=200.0, target_text="200", comparator="≥", kind="level", path="linear", attribute=None,
                source="s")
    base.update(kw)
    return Indicator(**base)  # type: ignore[arg-type]


def _rec(year: int, value: float) -> ValueRecord:
    from datetime import UTC, datetime

    return ValueRecord(id=year, plan="chongqing", indicator="t.1", year=year, value=value, unit="家", source="s",
                       note=None, entered_by="t", entered_at=datetime.now(UTC), via="api")


def test_status_flips_when_a_value_falls_below_the_path() -> None:
    ind, th = _ind(), Thresholds(normal_ratio=1.0, warning_ratio=0.8)
    assert planned_path(ind)[2023] == pytest.approx(160)
    assert assess(ind, {2023: _rec(2023, 161)}, th).status == "正常"
    lag = assess(ind, {2023: _rec(2023, 155)}, th)
    assert lag.status == "滞后" and "滞后" in lag.explanation and "160" in lag.explanation
    assert assess(ind, {2023: _rec(2023, 130)}, th).status == "预警"
    assert assess(ind, {2023: _rec(2023, 205)}, th).status == "达标"
    assert assess(ind, {2025: _rec(2025, 199)}, th).status == "预警"  # the period is over: missed


def test_lower_is_better_compound_and_annual_rates() -> None:
    th = Thresholds()
    down = _ind(base_value=10.0, target=5.0, comparator="≤")
    assert down.lower_is_better
    assert assess(down, {2022: _rec(2022, 7.5)}, th).status == "正常"
    assert assess(down, {2022: _rec(2022, 9.5)}, th).status == "预警"
    assert assess(down, {2022: _rec(2022, 4.9)}, th).status == "达标"
    compound = _ind(base_value=100.0, target=161.051, path="compound")  # 10 % a year
    assert planned_path(compound)[2022] == pytest.approx(121.0)
    rate = _ind(base_value=12.2, target=10.0, comparator=">", kind="annual_rate", path="flat")
    assert geometric_mean_rate([21.0, 0.0]) == pytest.approx((1.21 ** 0.5 - 1) * 100)
    assert assess(rate, {2021: _rec(2021, 15), 2022: _rec(2022, 8)}, th).status == "正常"
    assert assess(rate, {2021: _rec(2021, 5), 2022: _rec(2022, 6)}, th).status == "预警"


def test_no_target_and_no_values_say_so() -> None:
    th = Thresholds()
    none = assess(_ind(target=None, target_text=""), {2022: _rec(2022, 1)}, th)
    assert none.status is None and "未给出2025年目标" in none.explanation
    empty = assess(_ind(), {}, th)
    assert empty.status is None and "尚无年度值" in empty.explanation
    nobase = assess(_ind(base_value=None, path="none"), {2023: _rec(2023, 150)}, th)
    assert nobase.status is None and "2020年值" in nobase.explanation


# ---------------------------------------------------------------- entry rules


def test_checks_source_year_unit_and_indicator(catalogue: Catalogue) -> None:
    registry = build_registry(catalogue)
    good = {"indicator": "chongqing.5", "year": 2022, "value": 36000, "source": SOURCE}
    assert check_entries(registry, "chongqing", [good])[0].value == 36000
    cases = [({"source": ""}, "来源"), ({"year": 2020}, "2021"), ({"year": 2026}, "2021"),
             ({"value": 3.6}, "单位"), ({"unit": "万家"}, "单位应为"), ({"value": "abc"}, "数字"),
             ({"indicator": "yunyang.1"}, "没有指标"), ({"indicator": "chongqing.2", "value": 120}, "0—100")]
    for change, words in cases:
        with pytest.raises(InvalidInput) as err:
            check_entries(registry, "chongqing", [good | change])
        assert words in err.value.message and " / " in err.value.message, (change, err.value.message)


# ---------------------------------------------------------------- API, form, CSV, XLSX


def test_api_values_status_history_and_refusals(api: TestClient) -> None:
    r = api.post("/api/indicators/chongqing/values", json=[
        {"indicator": "chongqing.2", "year": 2023, "value": 2.45, "source": SOURCE}], headers={"X-Planview-User": "li"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["added"] == 1
    e = entry(api, "chongqing", "chongqing.2")
    assert e["values"][0]["value"] == 2.45 and e["values"][0]["source"] == SOURCE
    assert e["values"][0]["entered_by"] == "王五" and e["progress"]["status"] == "正常"  # the account, not the header
    # the old fields the map's side panel reads are still there, with ids and status added
    table = api.get("/api/indicators/chongqing").json()
    row2 = table["indicators"][1]
    assert row2["value_2020"] == 2.11 and row2["target_2025"] == 2.6 and row2["id"] == "chongqing.2"
    assert row2["status"] == "正常"
    # a correction below the path flips the status and keeps the old value in the history
    r = api.post("/api/indicators/chongqing/values", json=[
        {"indicator": "chongqing.2", "year": 2023, "value": 2.2, "source": SOURCE + "（修订）"}])
    assert r.json()["counts"]["corrected"] == 1
    e = entry(api, "chongqing", "chongqing.2")
    assert e["progress"]["status"] == "预警" and e["values"][0]["value"] == 2.2
    assert [h["value"] for h in e["history"]] == [2.45] and e["history"][0]["superseded_by"] == e["values"][0]["id"]
    # without a source: refused, bilingual, nothing stored
    r = api.post("/api/indicators/chongqing/values", json=[
        {"indicator": "chongqing.3", "year": 2023, "value": 5.0, "source": "  "}])
    assert r.status_code == 400 and "来源" in r.json()["message"] and "source is required" in r.json()["message"]
    assert entry(api, "chongqing", "chongqing.3")["values"] == []
    assert api.post("/api/indicators/chongqing/values", content=b"{bad").status_code == 400
    assert api.post("/api/indicators/nowhere/values", json=[]).status_code == 404


def test_form_entry_and_dashboard(api: TestClient) -> None:
    r = api.post("/monitor/yunyang/values", data={"indicator": "yunyang.2", "year": "2022", "value": "420",
                                                  "source": "云阳县2022年统计公报", "entered_by": "王五"},
                 follow_redirects=False)
    assert r.status_code == 303, r.text
    page = api.get(r.headers["location"]).text
    assert "已保存 1 个" in page and "云阳县2022年统计公报" in page and "王五" in page
    assert e_status(api, "yunyang", "yunyang.2") is not None
    bad = api.post("/monitor/yunyang/values", data={"indicator": "yunyang.2", "year": "2022", "value": "430",
                                                    "source": ""})
    assert bad.status_code == 400 and "来源" in bad.text
    assert "<script>alert" not in api.post("/monitor/yunyang/values", data={
        "indicator": "yunyang.2", "year": "2023", "value": "x", "source": "<script>alert(1)</script>"}).text


def e_status(api: TestClient, plan: str, ind: str) -> str | None:
    return entry(api, plan, ind)["progress"]["status"]  # type: ignore[no-any-return]


def test_csv_and_xlsx_import_through_the_template(api: TestClient) -> None:
    csv_template = api.get("/api/indicators/chongqing/template.csv")
    assert csv_template.status_code == 200 and csv_template.content.startswith(b"\xef\xbb\xbf")
    lines = csv_template.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("指标编号,指标名称,单位") and len(lines) > 13 * 5
    filled = [lines[0]] + [
        line.replace(",2022,,,", f",2022,40000,{SOURCE},") for line in lines[1:] if line.startswith("chongqing.5,")]
    r = api.post("/api/indicators/chongqing/import",
                 files={"file": ("values.csv", "\n".join(filled).encode("utf-8"), "text/csv")})
    assert r.status_code == 200, r.text
    assert entry(api, "chongqing", "chongqing.5")["values"][0]["via"] == "csv"

    book = load_workbook(io.BytesIO(api.get("/api/indicators/yunyang/template.xlsx").content))
    sheet = book["年度值"]
    assert [c.value for c in sheet[1]][:3] == ["指标编号", "指标名称", "单位"]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == "yunyang.8" and row[5].value == 2023:
            row[6].value, row[7].value = 6.5, "云阳县2023年技术合同登记统计"
    buf = io.BytesIO()
    book.save(buf)
    r = api.post("/monitor/yunyang/import", files={"file": ("填好的.xlsx", buf.getvalue())},
                 data={"entered_by": "赵六"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    e = entry(api, "yunyang", "yunyang.8")
    assert e["values"][0]["value"] == 6.5 and e["values"][0]["via"] == "xlsx"

    wb = Workbook()
    wb.active.append(["foo", "bar"])  # type: ignore[union-attr]
    buf = io.BytesIO()
    wb.save(buf)
    r = api.post("/api/indicators/yunyang/import", files={"file": ("x.xlsx", buf.getvalue())})
    assert r.status_code == 400 and "缺少列" in r.json()["message"]


def test_pdf_and_xlsx_exports_carry_values_sources_and_date(api: TestClient) -> None:
    api.post("/api/indicators/chongqing/values", json=[
        {"indicator": "chongqing.9", "year": 2023, "value": 780.5, "source": "2023年技术合同登记公报"},
        {"indicator": "cq-innovation-zones.xibu-kexuecheng.研发投入强度", "year": 2024, "value": 4.2, "source": "科学城年报"}])
    r = api.get("/api/indicators/chongqing/evaluation.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    for words in ("中期评估", "指标监测状态表", "技术合同成交额", "780.5", "2023年技术合同登记公报", "科学城年报",
                  "数据日期", "计划路径", "正文目标"):
        assert squash(words) in text, words
    assert "$" not in text
    book = load_workbook(io.BytesIO(api.get("/api/indicators/chongqing/status.xlsx").content))
    rows = {r[0]: r for r in book["指标状态"].iter_rows(min_row=2, values_only=True)}
    assert rows["chongqing.9"][8] == 780.5 and rows["chongqing.9"][15] in ("正常", "滞后", "预警")
    # the PDF was rendered by a worker of the job pool, as the signed-in user's job
    from server.jobs import app_pool

    pdf_jobs = [j for j in app_pool(api.app)._jobs.values() if j.label == "evaluation"]  # type: ignore[arg-type]
    assert pdf_jobs and pdf_jobs[-1].meta["owner"] == "王五" and pdf_jobs[-1].state == "done"


def test_values_need_the_planner_right_and_are_audited(tmp_path: Path) -> None:
    app = create_app(Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None))
    row = {"indicator": "yunyang.2", "year": 2022, "value": 420, "source": "云阳县2022年统计公报"}
    with signed_in(app, "viewer1", "viewer") as viewer:
        assert viewer.post("/api/indicators/yunyang/values", json=[row]).status_code == 403
        assert viewer.post("/monitor/yunyang/values", data={k: str(v) for k, v in row.items()}).status_code == 403
        assert viewer.post("/api/indicators/yunyang/import", files={"file": ("v.csv", b"x")}).status_code == 403
        assert viewer.post("/monitor/yunyang/import", files={"file": ("v.csv", b"x")}).status_code == 403
    with TestClient(app, raise_server_exceptions=False) as anon:
        assert anon.post("/api/indicators/yunyang/values", json=[row]).status_code == 401
    with signed_in(app, "王五", "planner") as c:
        assert c.post("/api/indicators/yunyang/values", json=[row], headers={"X-Planview-User": "mallory"}).status_code == 200
        assert c.post("/api/indicators/yunyang/values", json=[row]).json()["counts"]["unchanged"] == 1
        r = c.post("/monitor/yunyang/values", data={**{k: str(v) for k, v in row.items()}, "value": "431",
                                                    "source": "云阳县2022年统计公报（修订）", "entered_by": "冒名"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        assert entry(c, "yunyang", "yunyang.2")["values"][0]["entered_by"] == "王五"
    records = app.state.auth.audit.query(action="indicator_value")[0]  # newest first; the unchanged one left none
    assert [r.details["change"] for r in records] == ["corrected", "added"]
    corrected, added = records
    assert corrected.actor == "王五" and corrected.target == "yunyang/yunyang.2/2022"
    assert (corrected.details["old_value"], corrected.details["new_value"]) == (420, 431)
    assert corrected.details["source"] == "云阳县2022年统计公报（修订）" and corrected.details["via"] == "form"
    assert added.details["old_value"] is None and added.details["new_value"] == 420 and added.details["via"] == "api"


# ---------------------------------------------------------------- stores


def _exercise_store(s: ValueStore) -> None:
    v = NewValue(plan="yunyang", indicator="yunyang.1", year=2022, value=0.8, unit="%", source="A")
    assert [c.action for c in s.put([v], entered_by="t", via="api")] == ["added"]
    assert [c.action for c in s.put([v], entered_by="t", via="api")] == ["unchanged"]
    changes = s.put([NewValue(**{**v.__dict__, "value": 0.9, "source": "B"})], entered_by="u", via="form")
    assert changes[0].action == "corrected" and changes[0].previous is not None and changes[0].previous.value == 0.8
    records = s.records("yunyang")
    assert [(r.value, r.current) for r in records] == [(0.8, False), (0.9, True)]
    assert records[0].superseded_by == records[1].id
    report = plan_report(build_registry(Catalogue.load(ROOT / "data", ROOT / "data" / "build")), records, "yunyang",
                         Thresholds())
    e = next(i for i in report["indicators"] if i["id"] == "yunyang.1")
    assert e["values"][0]["value"] == 0.9 and e["history"][0]["value"] == 0.8


def test_geopackage_store_keeps_history(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "ws.gpkg"
    _exercise_store(open_value_store(gpkg_path=path))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'indicator_values'").fetchone() == (
            "attributes",)


def test_postgis_store_keeps_history() -> None:
    url = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PLANVIEW_TEST_DATABASE_URL not set (PostGIS tests)")
    import psycopg

    schema = f"mon_{uuid.uuid4().hex[:8]}"
    try:
        _exercise_store(open_value_store(database_url=url, schema=schema))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---------------------------------------------------------------- Chromium


@pytest.fixture(scope="module")
def monitor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("mon") / "ws.gpkg", database_url=None)
    with running_app(settings) as (server, url):
        yield url, bearer(server.config.app, "li", "planner")


def test_dashboard_draws_charts_offline_on_desktop_and_phone(monitor_server: tuple[str, dict[str, str]],
                                                            browser: object) -> None:
    import httpx

    monitor_server, auth = monitor_server  # type: ignore[assignment]
    r = httpx.post(f"{monitor_server}/api/indicators/chongqing/values", json=[
        {"indicator": "chongqing.4", "year": 2022, "value": 66.5, "source": "2022年科技统计年鉴"}], headers=auth)
    assert r.status_code == 200, r.text
    for viewport in ({"width": 1280, "height": 900}, {"width": 390, "height": 844}):
        page = browser.new_page(viewport=viewport)  # type: ignore[attr-defined]
        outside: list[str] = []
        errors: list[str] = []
        page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(monitor_server) else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{monitor_server}/monitor/chongqing")
        page.wait_for_function("document.body.dataset.chartsDrawn !== undefined", timeout=15000)
        cards = page.locator(".mo-chart").count()
        assert cards >= 13 and page.locator(".mo-chart canvas").count() == cards
        assert int(page.evaluate("document.body.dataset.chartsDrawn")) == cards
        row = page.locator("tr[data-indicator='chongqing.4']")
        assert "66.5" in row.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
        assert outside == [] and errors == []
        page.close()


def test_map_shows_status_in_side_panel_popup_and_colouring(monitor_server: tuple[str, dict[str, str]],
                                                           browser: object) -> None:
    import httpx

    monitor_server, auth = monitor_server  # type: ignore[assignment]
    r = httpx.post(f"{monitor_server}/api/indicators/chongqing/values", json=[
        {"indicator": "chongqing.3", "year": 2022, "value": 7.0, "source": "2022年科技经费投入统计公报"}], headers=auth)
    assert r.status_code == 200, r.text
    page = browser.new_page(viewport={"width": 1280, "height": 850})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{monitor_server}/maps/chongqing#map=7/30.2/107.7&layers=cq-municipality,cq-innovation-zones")
    page.wait_for_selector("html[data-monitor-ready]", timeout=30000)
    page.wait_for_function("planview.layerState('cq-municipality').loaded", timeout=30000)
    cell = page.locator("#pv-indicators-body tr[data-indicator='chongqing.3'] .pv-status-badge")
    assert cell.inner_text() == "正常"  # 7.0 in 2022 is above the path (5.84) but short of the target 8
    assert page.evaluate("planview.select('cq-municipality', '重庆市')")
    card = page.locator("#pv-feature-body .pv-monitor").inner_text()
    assert "实施状态" in card and "基础研究经费" in card and "正常" in card
    assert page.evaluate("planview.select('cq-innovation-zones', 'xibu-kexuecheng')")
    assert "研发投入强度" in page.locator("#pv-feature-body .pv-monitor").inner_text()
    fill = "document.querySelector('path.pv-layer-cq-municipality').getAttribute('fill')"
    page.click("#pv-status-colouring")
    page.wait_for_function(f"{fill} === '#4575b4'", timeout=5000)  # 正常 (worst status of the municipality's rows)
    assert errors == []
    page.close()
