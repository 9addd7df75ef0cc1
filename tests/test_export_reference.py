"""Image comparison against a reviewed reference sheet, region by region.

The reference (tests/reference/export-yunyang-a4-landscape-72dpi.png) was
rendered by this code, looked at and approved. A broken legend, an empty map
or a lost title changes its region far beyond the tolerance, while font
hinting or anti-aliasing differences between machines stay well inside it.
Regenerate after an intended change with
``PLANVIEW_UPDATE_REFERENCE=1 .venv/bin/pytest tests/test_export_reference.py`` and review the PNG.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from layers.catalogue import Catalogue
from layers.export import Exported, ExportOptions, export_map
from layers.maps import load_maps
from server.settings import ROOT

REFERENCE = ROOT / "tests" / "reference" / "export-yunyang-a4-landscape-72dpi.png"
DPI = 72
# Mean absolute difference per channel, as a share of 255.
TOLERANCE = {"sheet": 0.03, "map": 0.04, "legend": 0.02, "header": 0.03}


@pytest.fixture(scope="module")
def rendered(catalogue: Catalogue) -> Exported:
    options = ExportOptions(format="png", paper="A4", orientation="landscape", dpi=DPI, date="2025-01-01",
                            figure_number="图1")
    return export_map(catalogue, load_maps(ROOT / "data"), "yunyang", options)


def pixels(png: bytes) -> NDArray[np.float64]:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64) / 255.0


def region(img: NDArray[np.float64], box_mm: tuple[float, float, float, float]) -> NDArray[np.float64]:
    """Crop a (x, y, w, h) sheet-millimetre box measured from the lower left."""
    x, y, w, h = box_mm
    k = DPI / 25.4
    height = img.shape[0]
    top, bottom = int(round(height - (y + h) * k)), int(round(height - y * k))
    return img[top:bottom, int(round(x * k)):int(round((x + w) * k))]


def regions(rendered: Exported, img: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    mx, my, mw, mh = rendered.boxes["map"]
    return {
        "sheet": img,
        "map": region(img, rendered.boxes["map"]),
        "legend": region(img, rendered.boxes["legend"]),
        "header": region(img, (0.0, my + mh, 297.0, 210.0 - (my + mh))),
    }


def ink(part: NDArray[np.float64]) -> float:
    """Share of pixels that are not (near) white."""
    return float(np.mean(np.min(part, axis=2) < 0.92))


def test_matches_the_reviewed_reference(rendered: Exported) -> None:
    if os.environ.get("PLANVIEW_UPDATE_REFERENCE"):
        REFERENCE.write_bytes(rendered.content)
        pytest.skip(f"reference rewritten: review {REFERENCE}")
    assert REFERENCE.exists(), "no reference image: run with PLANVIEW_UPDATE_REFERENCE=1 and review it"
    got, want = pixels(rendered.content), pixels(REFERENCE.read_bytes())
    assert got.shape == want.shape == (595, 842, 3)
    got_parts, want_parts = regions(rendered, got), regions(rendered, want)
    for name, limit in TOLERANCE.items():
        diff = float(np.mean(np.abs(got_parts[name] - want_parts[name])))
        assert diff < limit, f"{name} differs from the reference by {diff:.3f} (limit {limit})"


def test_the_map_legend_and_title_are_not_empty(rendered: Exported) -> None:
    parts = regions(rendered, pixels(rendered.content))
    assert ink(parts["map"]) > 0.5  # county fills and plan zones, not a blank frame
    assert ink(parts["legend"]) > 0.04  # swatches and labels
    assert ink(parts["header"]) > 0.01


def test_the_comparison_catches_a_blank_legend_or_map(rendered: Exported) -> None:
    """The tolerance is tight enough: wiping the legend or the map would fail the reference test."""
    want = pixels(REFERENCE.read_bytes()) if REFERENCE.exists() else pixels(rendered.content)
    for name in ("legend", "map"):
        broken = pixels(rendered.content).copy()
        part = region(broken, rendered.boxes[name])
        part[:] = 1.0  # white, as an empty legend or map would be
        diff = float(np.mean(np.abs(regions(rendered, broken)[name] - regions(rendered, want)[name])))
        assert diff > 2 * TOLERANCE[name], (name, diff)
