"""report.html and the maps: self-contained, in both languages, checked in a real Chromium.

The browser test needs Chromium (Debian package ``chromium``; ``.ci/run`` installs it). Where
it cannot be installed, ``SITING_SKIP_BROWSER=1`` skips that test; without the variable a
missing Chromium fails the test with a message saying how to install it.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image, ImageStat

from optimizer.deliverables import maps
from optimizer.deliverables.layers import RunOutputs, map_layers
from optimizer.deliverables.maps import MoneyTicks
from optimizer.deliverables.report import render_report, solver_state, status_html
from optimizer.deliverables.write import write_deliverables
from optimizer.distances import network as street_network
from optimizer.distances.network import NetworkEngine
from optimizer.pipeline import PlanRun, run_plan
from optimizer.progress import capture_log
from tests.browser import Browser, find_chromium
from tests.town import write_town

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanRun, Path]:
    """The grid town planned once (Chinese report), with its output folder."""
    folder = tmp_path_factory.mktemp("town")
    with capture_log():
        run = run_plan(write_town(folder), out_dir=folder / "out", lang="zh")
    assert run.out_dir is not None
    return run, run.out_dir


def test_run_folder_holds_every_deliverable(town: tuple[PlanRun, Path]) -> None:
    _, out = town
    for name in ("report.html", "plan.xlsx", "plan.gpkg", "run.log", "summary.json"):
        assert (out / name).is_file(), name
    names = {p.name for p in (out / "maps").iterdir()}
    expected = {
        "sites.png",
        "coverage_elder_care.png",
        "coverage_convenience.png",
        "uncovered.png",
        "service_areas.png",
        "cost_coverage.png",
    }
    assert names == expected
    for name in names:
        data = (out / "maps" / name).read_bytes()
        assert data.startswith(PNG)
        width, height = Image.open(io.BytesIO(data)).size
        assert width > 400 and height > 200
    log_text = (out / "run.log").read_text(encoding="utf-8")
    assert "solved by highs" in log_text and "deliverables:" in log_text


def test_report_is_self_contained(town: tuple[PlanRun, Path]) -> None:
    html = (town[1] / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    images = re.findall(r'<img [^>]*src="([^"]{0,30})', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert 'id="map-sites"' in html and 'id="chart-cost-coverage"' in html


def test_report_in_chinese_with_budgets_and_years(town: tuple[PlanRun, Path]) -> None:
    run, out = town
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    for text in ("核心指标", "建设清单", "依据与假设", "新区与老区覆盖", "老旧小区", "预算"):
        assert text in html, text
    # every year of the construction list has its table, with its budget in the heading
    for year in run.plan.construction_list["year"].dropna().unique():
        assert f'id="list-{int(year)}"' in html
    assert "150.0 万元" in html and "100.0 万元" in html  # the 2026 and 2027 budgets
    # the standards' sources from the catalog, and the input file hash
    assert "GB 50180-2018" in html
    digest = next(iter(run.summary["inputs"].values()))
    assert digest in html


def test_report_in_english(town: tuple[PlanRun, Path], tmp_path: Path) -> None:
    run, _ = town
    write_deliverables(tmp_path, run.scenario, run.inputs, run.plan, run.summary, lang="en")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    for text in ("Headline figures", "Construction list", "Standards and assumptions"):
        assert text in html
    assert "核心指标" not in html


def _summary(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"status": "OPTIMAL", "gap": 0.0, "bound": 10.0, "phases": []}
    return base | changes


def test_feasible_is_shown_with_its_gap_never_as_optimal() -> None:
    cls, text = status_html(_summary(status="FEASIBLE", gap=0.0321), "en")
    assert cls == "warn" and "feasible, not proven optimal" in text and "3.21%" in text
    assert ">proven optimal<" not in text
    # an optimal final phase after a phase stopped at its time limit is not optimal either
    phases = [{"status": "FEASIBLE", "gap": 0.05}, {"status": "OPTIMAL", "gap": 0.0}]
    assert solver_state(_summary(phases=phases)) == ("FEASIBLE", 0.05)
    cls, text = status_html(_summary(phases=phases), "zh")
    assert cls == "warn" and "可行解（未证明最优）" in text and "5.00%" in text
    # optimal within a requested gap tolerance says so
    assert "optimal within the set gap" in status_html(_summary(gap=0.004), "en")[1]
    assert "proven optimal" in status_html(_summary(), "en")[1]


def test_no_cjk_font_falls_back_to_english_labels_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(maps, "cjk_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="optimizer.deliverables.maps"):
        assert maps.map_language("zh") == ("en", True)
    assert "no CJK font" in caplog.text and "fonts-noto-cjk" in caplog.text
    assert maps.map_language("en") == ("en", False)


@pytest.mark.browser
def test_a_cjk_font_is_found_for_chinese_maps() -> None:
    # the project's install (.ci/run) provides fonts-noto-cjk; a machine without any CJK font
    # gets English map labels and a warning (previous test), never empty boxes
    if os.environ.get("SITING_SKIP_CJK_FONT") == "1":
        pytest.skip("SITING_SKIP_CJK_FONT=1: this machine has no CJK font")
    assert maps.cjk_font() is not None, (
        "no CJK font for the maps: install the Debian package fonts-noto-cjk (bash .ci/run "
        "does), or set SITING_SKIP_CJK_FONT=1 on a machine that cannot"
    )


def test_comparison_adds_a_section_and_the_coverage_budget_curve(
    town: tuple[PlanRun, Path],
) -> None:
    run, _ = town
    outputs = RunOutputs.from_plan(
        run.scenario, run.inputs, run.plan, run.summary, engine=run.engine
    )
    comparison = pd.DataFrame(
        {
            "budget": [1e6, 2e6, 3e6],
            "cost": [0.9e6, 1.9e6, 2.3e6],
            "coverage_pct": [20.0, 45.0, 59.3],
            "coverage_pct:elder_care": [10.0, 40.0, 53.3],
            "coverage_pct:convenience": [30.0, 50.0, 65.2],
            "sites": [2, 4, 5],
            "status": ["OPTIMAL"] * 3,
            "gap": [0.0, 0.0, 0.0],
        }
    )
    outputs.comparison = comparison
    layers = map_layers(outputs)
    figures = maps.render_all(outputs, layers, "en")
    assert figures.images["coverage_budget"].startswith(PNG)
    html = render_report(outputs, figures, "en", comparison=comparison)
    assert 'id="comparison"' in html and 'id="chart-coverage-budget"' in html
    assert "Budget scenarios compared" in html


def test_service_areas_follow_the_runs_own_routing_without_reading_the_network_again(
    town: tuple[PlanRun, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = town
    assert isinstance(run.engine, NetworkEngine)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the deliverables read the street network again")

    monkeypatch.setattr(street_network, "read_network", no_reading)
    outputs = RunOutputs.from_plan(
        run.scenario, run.inputs, run.plan, run.summary, engine=run.engine
    )
    layers = map_layers(outputs)
    areas = layers.service_areas
    assert layers.service_area_method == "network" and set(areas["method"]) == {"network"}
    assert layers.streets is not None and len(layers.streets) == run.engine.network.n_edges
    # each area is the engine's reach from the same facilities (one implementation)
    for row in areas.itertuples():
        pts = layers.chosen if row.kind == "new" else layers.existing
        col = "facility_type" if row.kind == "new" else "type"
        xy = shapely.get_coordinates(pts.geometry[pts[col] == row.facility_type].to_numpy())
        expected = run.engine.service_area(xy, row.walk_limit_m)
        assert row.geometry.symmetric_difference(expected).area < 1e-6 * expected.area


def test_a_network_run_without_its_engine_gets_circles_and_says_so(
    town: tuple[PlanRun, Path], caplog: pytest.LogCaptureFixture
) -> None:
    run, _ = town
    outputs = RunOutputs.from_plan(run.scenario, run.inputs, run.plan, run.summary)
    with caplog.at_level(logging.WARNING, logger="optimizer.deliverables.layers"):
        layers = map_layers(outputs)
    assert "engine was not handed" in caplog.text
    assert layers.service_area_method == "euclidean" and layers.streets is None
    one = layers.service_areas[layers.service_areas["facilities"] == 1].iloc[0]
    detour = run.scenario.distances.detour_factor
    radius = one["walk_limit_m"] / detour
    assert one.geometry.area == pytest.approx(np.pi * radius**2, rel=0.01)
    figures = maps.Figures(images={"service_areas": PNG}, map_lang="en")
    html = render_report(outputs, figures, "en")
    assert "circles of radius walking limit / detour factor" in html
    with_engine = RunOutputs.from_plan(
        run.scenario, run.inputs, run.plan, run.summary, engine=run.engine
    )
    html = render_report(with_engine, figures, "en")
    assert "the streets reachable within each type" in html


def _stats(png: bytes) -> tuple[float, int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    spread = float(np.mean(ImageStat.Stat(image).stddev))
    colours = len(image.getcolors(maxcolors=1 << 20) or [])
    return spread, colours


VISIBLE = """(() => {
  const el = document.querySelector(%r);
  if (!el) return null;
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return {w: r.width, h: r.height, top: r.top + scrollY, left: r.left + scrollX,
          shown: s.display !== 'none' && s.visibility !== 'hidden' && s.opacity !== '0',
          loaded: el.tagName !== 'IMG' || (el.complete && el.naturalWidth > 0),
          rows: el.tagName === 'TABLE' ? el.tBodies[0].rows.length : null};
})()"""


@pytest.mark.browser
def test_report_in_headless_chromium(town: tuple[PlanRun, Path], tmp_path: Path) -> None:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("SITING_SKIP_BROWSER") == "1":
            pytest.skip("SITING_SKIP_BROWSER=1 and no Chromium on this machine")
        pytest.fail(
            "Chromium not found: install the Debian package `chromium` (bash .ci/run does), "
            "set SITING_CHROMIUM to its executable, or set SITING_SKIP_BROWSER=1 on a machine "
            "that cannot install it"
        )
    run, out = town
    with Browser(executable, width=1280, height=1000) as browser:
        browser.open((out / "report.html").resolve().as_uri())
        assert browser.problems() == []
        # nothing but the file itself is loaded: no network, no other file
        assert browser.requests() == [(out / "report.html").resolve().as_uri()]
        assert browser.evaluate("document.title").startswith("社区公共服务设施布点规划")
        first_year = int(run.plan.construction_list["year"].min())
        found = {}
        for selector in ("#map-sites", "#map-coverage_elder_care", f"#list-{first_year}"):
            box = browser.evaluate(VISIBLE % selector)
            assert box is not None, f"{selector} missing"
            assert box["shown"] and box["loaded"], selector
            assert box["w"] > 600 and box["h"] > 100, (selector, box)
            found[selector] = box
        rows = run.plan.construction_list["year"].eq(first_year).sum()
        assert found[f"#list-{first_year}"]["rows"] == rows
        page = browser.screenshot({"x": 0, "y": 0, "width": 1280, "height": 1000})
        box = found["#map-sites"]
        map_shot = browser.screenshot(
            {"x": box["left"], "y": box["top"], "width": box["w"], "height": box["h"]}
        )
        assert browser.problems() == []
    (tmp_path / "report.png").write_bytes(page)
    spread, colours = _stats(page)
    assert spread > 20 and colours > 50, (spread, colours)
    spread, colours = _stats(map_shot)
    assert spread > 10 and colours > 20, (spread, colours)


def test_money_ticks_show_enough_decimals_for_small_budgets() -> None:
    # a town's sweep of 0.5 ... 2 million yuan must not label its ticks "0 0 1 2 2"

    ticks = MoneyTicks()
    assert ticks.format_ticks([0.0, 0.5, 1.0, 1.5]) == ["0.0", "0.5", "1.0", "1.5"]
    assert ticks.format_ticks([0.0, 2500.0, 5000.0]) == ["0", "2,500", "5,000"]
