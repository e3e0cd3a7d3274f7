"""explore.html: the columns it is made of (fast), and the page itself in headless Chromium.

The browser tests (marker ``browser``) open a planned town's page, the sample city's (zh) and a
4-budget sweep's page offline, drive Bokeh's models by name
(``Bokeh.documents[0].get_model_by_name``) and click on the map as a person would, and check
what the page then shows against the run's own tables.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image, ImageStat

from optimizer.deliverables.explore import NAMES, render_explore
from optimizer.deliverables.explore_data import (
    STATES,
    ScenarioPlan,
    block_columns,
    coverage_columns,
    plan_totals,
    scenario_columns,
    simplify_tolerance,
    site_columns,
    street_columns,
)
from optimizer.deliverables.layers import MapLayers, RunOutputs, map_layers
from optimizer.pipeline import PlanRun, run_plan
from optimizer.sweep import SweepResult, run_sweep
from tests.browser import Browser, find_chromium
from tests.town import write_town

CRS = "EPSG:4548"


def _layers(blocks: gpd.GeoDataFrame, streets: np.ndarray | None = None) -> MapLayers:
    empty = gpd.GeoDataFrame(geometry=[], crs=CRS)
    existing = gpd.GeoDataFrame(
        {"facility_id": ["E1"], "name": ["店"], "type": ["convenience"], "capacity": [40.0]},
        geometry=[shapely.Point(5.4, 5.6)],
        crs=CRS,
    )
    return MapLayers(blocks, empty, existing, empty, streets, "euclidean")


# --------------------------------------------------------------------------- data (fast)


def test_block_outlines_are_simplified_rounded_and_one_per_block() -> None:
    # a square with a 0.2 m kink (dropped by simplification), and a multipolygon whose larger
    # part is kept
    kinked = shapely.Polygon([(0, 0), (500, 0.2), (1000, 0), (1000, 1000), (0, 1000)])
    multi = shapely.MultiPolygon(
        [shapely.box(2000, 0, 2010, 10), shapely.box(3000.4, 0, 3100.6, 100)]
    )
    blocks = gpd.GeoDataFrame(
        {"block_id": ["A", "B"], "name": ["一", None], "area_type": ["new", "old"]},
        geometry=[kinked, multi],
        crs=CRS,
    )
    cols = block_columns(_layers(blocks))
    assert cols["block_id"] == ["A", "B"] and cols["name"] == ["一", ""]
    assert simplify_tolerance(np.array([0, 0, 3100.6, 1000])) == pytest.approx(3100.6 / 3000)
    assert sorted(zip(cols["xs"][0], cols["ys"][0], strict=True)) == sorted(
        [(0, 0), (1000, 0), (1000, 1000), (0, 1000), (0, 0)]
    )
    assert set(cols["xs"][1]) == {3000, 3101} and set(cols["ys"][1]) == {0, 100}
    assert all(isinstance(v, int) for v in cols["xs"][1])
    # points stay points, rounded to the metre
    points = blocks.set_geometry(shapely.points([[1.4, 2.6], [10.5, 7.2]]))
    cols = block_columns(_layers(points))
    assert "xs" not in cols and cols["x"].tolist() == [1, 10] and cols["y"].tolist() == [3, 7]


def _coverage(covered: list[bool], shares: list[float], target: list[float]) -> pd.DataFrame:
    n = len(covered)
    return pd.DataFrame(
        {
            "block_id": ["A", "B", "C", "D", "E"][:n],
            "facility_type": "elder_care",
            "target_population": target,
            "covered_before": False,
            "covered_after": covered,
            "walk_m": [120.4, np.nan, 260.0, np.nan, np.nan][:n],
            "served_by": ["S1", None, "S2", None, None][:n],
            "coverable": [True, True, True, False, True][:n],
            "served_share_before": 0.0,
            "served_share_after": shares,
        }
    )


def test_coverage_states_codes_and_blocks_over_scenarios() -> None:
    one = _coverage(
        [True, False, False, False, False], [1.0, 0.4, 0.0, 0.0, 0.0], [10, 20, 30, 5, 0]
    )
    two = _coverage([True, True, True, False, False], [1.0, 1.0, 1.0, 0.0, 0.0], [10, 20, 30, 5, 0])
    plans = [ScenarioPlan("a", pd.DataFrame(), one), ScenarioPlan("b", pd.DataFrame(), two)]
    # blocks in another order than the coverage table; a type not planned is left out
    cols = coverage_columns(plans, ["E", "D", "C", "B", "A"], ["elder_care"])
    assert cols["block"].tolist() == [4, 3, 2, 1, 0] * 2
    assert cols["scenario"].tolist() == [0] * 5 + [1] * 5
    after = [STATES[c] for c in cols["after"]]
    assert after[:5] == ["covered", "partly", "not", "unreachable", "no_target"]
    assert after[5:] == ["covered", "covered", "covered", "unreachable", "no_target"]
    assert {STATES[c] for c in cols["before"]} == {"not", "unreachable", "no_target"}
    assert cols["walk"].tolist()[:3] == [120.0, -1.0, 260.0]
    assert cols["served_by"][:3] == ["S1", "", "S2"]
    # residents served, as the page sums them: target x served share
    served = cols["target"] * cols["share"]
    assert served[:5].sum() == pytest.approx(18.0) and served[5:].sum() == pytest.approx(60.0)


def test_site_rows_of_every_scenario_with_their_points_and_words() -> None:
    cl = pd.DataFrame(
        {
            "rank": [1, 2],
            "year": [2026, np.nan],
            "site_id": ["007", "S9"],
            "site_name": ["七号", None],
            "facility_type": ["elder_care", "nursery"],
            "floor_area_m2": [300.0, 120.0],
            "capacity": [30.0, 12.0],
            "cost": [5e5, 2e5],
            "newly_covered": [100.0, 0.0],
            "cost_per_resident": [5000.0, np.nan],
            "reason": ["only site", "co-located"],
            "essential": [True, False],
            "status": ["proposed", "committed"],
        }
    )
    xy = pd.DataFrame({"x": [10.4, 99.0], "y": [20.6, 98.0]}, index=["007", "S9"])
    plans = [ScenarioPlan("a", cl, pd.DataFrame()), ScenarioPlan("b", cl.iloc[:1], pd.DataFrame())]
    cols = site_columns(plans, xy, {"elder_care": "养老"})
    assert cols["scenario"].tolist() == [0, 0, 1]
    assert cols["site_id"] == ["007", "S9", "007"]
    assert cols["x"].tolist() == [10.0, 99.0, 10.0] and cols["y"].tolist() == [21.0, 98.0, 21.0]
    assert cols["type_name"] == ["养老", "nursery", "养老"]
    assert cols["year_text"] == ["2026", "", "2026"]
    assert cols["essential"] == ["✓", "", "✓"]
    assert cols["status"] == ["proposed", "committed", "proposed"]
    assert np.isnan(cols["cost_per_resident"][1]) and cols["site_name"][1] == ""


def test_streets_as_rounded_segments_and_scenario_totals() -> None:
    seg = np.array([[[0.4, 0.4], [10.6, 0.0]], [[5.2, 5.2], [5.4, 5.3]]])
    cols = street_columns(_layers(gpd.GeoDataFrame(geometry=[], crs=CRS), seg))
    assert cols is not None  # the second segment is shorter than a metre: gone
    assert [cols[k].tolist() for k in ("x0", "y0", "x1", "y1")] == [[0], [0], [11], [0]]
    assert cols["x0"].dtype == np.int32
    assert street_columns(_layers(gpd.GeoDataFrame(geometry=[], crs=CRS))) is None
    summary = {
        "budgets": {"2026": {"budget": 1.5e6}, "2027": {"budget": 1e6}},
        "totals": {
            "cost": 2.41e6,
            "sites_opened": 4,
            "facilities_built": 7,
            "coverage_pct_after": 88.1,
            "per_type": {"elder_care": {"covered_after_pct": 87.5}},
        },
    }
    row = plan_totals(summary)
    assert row == {
        "budget": 2.5e6,
        "cost_used": 2.41e6,
        "sites": 4,
        "facilities": 7,
        "coverage_pct": 88.1,
        "coverage_pct:elder_care": 87.5,
    }
    plans = [ScenarioPlan("p", pd.DataFrame(), pd.DataFrame(), row | {"walk": 300})]
    cols = scenario_columns(plans, ["elder_care", "nursery"], ["walk"])
    assert cols["label"] == ["p"] and cols["cost_used"].tolist() == [2.41e6]
    assert np.isnan(cols["coverage_pct:nursery"][0]) and cols["set:walk"] == ["300"]


# --------------------------------------------------------------------------- town pages


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanRun, Path]:
    """The town planned and written once (English), with its output folder."""
    folder = tmp_path_factory.mktemp("town")
    run = run_plan(write_town(folder), out_dir=folder / "out", lang="en")
    assert run.out_dir is not None
    return run, run.out_dir


def test_plan_page_is_self_contained_with_named_models(tmp_path: Path) -> None:
    run = run_plan(write_town(tmp_path), write=False)  # the deliverables: below, only the page
    outputs = RunOutputs.from_plan(
        run.scenario, run.inputs, run.plan, run.summary, engine=run.engine
    )
    layers = map_layers(outputs)
    html = render_explore(outputs, layers, "en")
    assert '<html lang="en">' in html
    assert not re.search(r"<link\s[^>]*href", html, re.I)  # no style sheet to fetch
    assert not re.search(r"""<script[^>]*\ssrc\s*=""", html, re.I)  # all script inline
    names = set(re.findall(r'"name":"([^"]+)"', _document(html)))
    for name in ("sites", "site_filter", "table", "type_filter", "totals", "details", "map"):
        assert name in NAMES and name in names, name
    # Chinese labels from the report's table, and the reasons in Chinese as the report has them
    zh = render_explore(outputs, layers, "zh")
    assert '<html lang="zh-CN">' in zh
    for text in ("选址理由", "每新增服务一人投资", "关键站点", "规划前", "规划后", "未覆盖"):
        assert text in _document(zh), text
    assert "only candidate site" in _document(html) and "only candidate site" not in _document(zh)


def _document(html: str) -> str:
    """The page's Bokeh document as JSON text (non-ASCII written as is)."""
    found = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert found is not None
    return json.dumps(json.loads(found.group(1)), ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- browser


def _chromium() -> str:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("SITING_SKIP_BROWSER") == "1":
            pytest.skip("SITING_SKIP_BROWSER=1 and no Chromium on this machine")
        pytest.fail(
            "Chromium not found: install the Debian package `chromium` (bash .ci/run does), "
            "set SITING_CHROMIUM to its executable, or set SITING_SKIP_BROWSER=1 on a machine "
            "that cannot install it"
        )
    return executable


M = "Bokeh.documents[0].get_model_by_name"
VISIBLE_SITES = f"""(() => {{
  const s = {M}('sites'), f = {M}('site_filter');
  return s.data.site_id.map((id, i) => [i, id, s.data.facility_type[i], s.data.cost[i]])
    .filter((r) => f.booleans[r[0]]);
}})()"""
SELECTED = f"{M}('sites').selected.indices.slice().sort((a, b) => a - b)"


def _wait(browser: Browser, expression: str, timeout: float = 10.0) -> Any:
    """Poll until ``expression`` is truthy (Bokeh re-renders after the event loop turns)."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _open(browser: Browser, path: Path) -> None:
    browser.open(path.resolve().as_uri())
    assert _wait(browser, f"{M}('totals') && {M}('totals').text.includes('data-k')")
    assert browser.problems() == []
    assert browser.requests() == [path.resolve().as_uri()]  # nothing but the file itself


def _click_site(browser: Browser, row: int) -> None:
    """A real mouse click on the map at the site of construction-list row ``row``."""
    where = browser.evaluate(f"""(() => {{
      const view = Bokeh.index.find_one({M}('map')), s = {M}('sites');
      const box = view.el.getBoundingClientRect();
      return [box.left + view.frame.x_scale.compute(s.data.x[{row}]),
              box.top + view.frame.y_scale.compute(s.data.y[{row}])];
    }})()""")
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": where[0], "y": where[1], "button": "left", "clickCount": 1},
        )


def _blank(png: bytes) -> bool:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    spread = float(np.mean(ImageStat.Stat(image).stddev))
    colours = len(image.getcolors(maxcolors=1 << 20) or [])
    return spread < 20 or colours < 50


@pytest.mark.browser
def test_plan_page_in_headless_chromium(town: tuple[PlanRun, Path], tmp_path: Path) -> None:
    run, out = town
    manifest = json.loads((out / ".siting-manifest.json").read_text(encoding="utf-8"))
    assert "explore.html" in json.dumps(manifest)  # written by the run, listed as its output
    cl = run.plan.construction_list
    with Browser(_chromium(), width=1280, height=1300) as browser:
        _open(browser, out / "explore.html")
        rows = browser.evaluate(VISIBLE_SITES)
        assert [r[1] for r in rows] == cl["site_id"].astype(str).tolist()
        totals = browser.evaluate(f"{M}('totals').text")
        assert f">{int(run.summary['totals']['sites_opened'])}<" in totals
        # a click on a site on the map selects every row of that site, and lists them
        several = cl["site_id"].astype(str).value_counts()
        site = str(several.index[0])
        assert several.iloc[0] >= 2, "the town should have a site with two types"
        first_row = int(np.flatnonzero(cl["site_id"].astype(str) == site)[0])
        _click_site(browser, first_row)
        expected = np.flatnonzero(cl["site_id"].astype(str) == site).tolist()
        assert _wait(browser, f"{SELECTED}.length === {len(expected)}"), browser.evaluate(SELECTED)
        assert browser.evaluate(SELECTED) == expected
        details = browser.evaluate(f"{M}('details').text")
        assert details.count(f'data-site="{site}"') == len(expected)
        # a row selected in the table: the same (the table and the map share one source)
        other = int(np.flatnonzero(cl["site_id"].astype(str) != site)[0])
        other_site = str(cl["site_id"].iloc[other])
        browser.evaluate(f"{M}('sites').selected.indices = [{other}]")
        expected = np.flatnonzero(cl["site_id"].astype(str) == other_site).tolist()
        assert _wait(browser, f"{SELECTED}.length === {len(expected)}")
        assert browser.evaluate(SELECTED) == expected
        # filtering the table by type leaves only that type on the map and in the table
        browser.evaluate(f"{M}('type_filter').value = 'convenience'")
        rows = browser.evaluate(VISIBLE_SITES)
        assert rows and {r[2] for r in rows} == {"convenience"}
        assert len(rows) == int(cl["facility_type"].eq("convenience").sum())
        shown = browser.evaluate(f"""(() => {{
          const fig = {M}('map'), s = {M}('sites');
          const r = fig.renderers.find((r) => r.data_source === s);
          return Array.from(r.view.indices.ones()).map((i) => s.data.facility_type[i]);
        }})()""")
        assert shown and set(shown) == {"convenience"}
        # a click on a block: who serves it, and the walk
        block = browser.evaluate(f"{M}('blocks').data.block_id.indexOf('B01')")
        browser.evaluate(f"{M}('blocks').selected.indices = [{block}]")
        text = _wait(browser, f"{M}('block_details').text")
        served = run.plan.coverage[run.plan.coverage["block_id"] == "B01"]
        for by in served["served_by"].dropna():
            assert f">{by}<" in text
        page = browser.screenshot({"x": 0, "y": 0, "width": 1280, "height": 1000})
        assert browser.problems() == []
    (tmp_path / "explore.png").write_bytes(page)
    assert not _blank(page)


SAMPLE = Path(__file__).resolve().parents[1] / "scenarios" / "sample-city.yaml"


def _isolated_row(xy: np.ndarray, ids: pd.Series, candidates: np.ndarray) -> int:
    """The candidate row whose site lies farthest from every other site, among those in the
    middle of the map (away from the legend and the edges): where a click on the map hits
    that site's marker alone (markers of sites a few metres apart overlap)."""
    other = ids.to_numpy()[None, :] != ids.to_numpy()[:, None]
    gap = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    nearest = np.where(other, gap, np.inf).min(axis=1)
    low, high = np.quantile(xy, 0.2, axis=0), np.quantile(xy, 0.8, axis=0)
    inside = np.all((xy >= low) & (xy <= high), axis=1)
    rows = np.flatnonzero(candidates & inside)
    rows = rows if len(rows) else np.flatnonzero(candidates)
    return int(rows[np.argmax(nearest[rows])])


@pytest.mark.browser
def test_sample_city_page_in_headless_chromium(tmp_path: Path) -> None:
    # the sample city in Chinese: the page opens offline, a click on each type's first site
    # selects exactly that site's rows, and a type filter leaves only that type
    run = run_plan(SAMPLE, out_dir=tmp_path / "sample", time_limit_s=60, lang="zh")
    assert run.out_dir is not None
    cl = run.plan.construction_list
    ids = cl["site_id"].astype(str)
    with Browser(_chromium(), width=1280, height=1300) as browser:
        _open(browser, run.out_dir / "explore.html")
        assert [r[1] for r in browser.evaluate(VISIBLE_SITES)] == ids.tolist()
        sites_xy = f"['x', 'y'].map((k) => Array.from({M}('sites').data[k]))"
        xy = np.array(browser.evaluate(sites_xy), dtype=float).T
        for facility_type in sorted(cl["facility_type"].unique()):
            row = _isolated_row(xy, ids, cl["facility_type"].eq(facility_type).to_numpy())
            expected = np.flatnonzero(ids == ids.iloc[row]).tolist()
            browser.evaluate(f"{M}('sites').selected.indices = []")
            _click_site(browser, row)
            if not _wait(browser, f"{SELECTED}.length > 0", timeout=20.0):
                _click_site(browser, row)  # a click that came while the page re-rendered
            _wait(browser, f"{SELECTED}.length === {len(expected)}")
            picked = [str(ids.iloc[i]) for i in browser.evaluate(SELECTED)]
            assert browser.evaluate(SELECTED) == expected, (facility_type, ids.iloc[row], picked)
        chosen = str(cl["facility_type"].value_counts().index[0])
        browser.evaluate(f"{M}('type_filter').value = '{chosen}'")
        rows = browser.evaluate(VISIBLE_SITES)
        assert len(rows) == int(cl["facility_type"].eq(chosen).sum())
        assert {r[2] for r in rows} == {chosen}
        page = browser.screenshot({"x": 0, "y": 0, "width": 1280, "height": 1000})
        assert browser.problems() == []
    assert not _blank(page)


BUDGETS = [1e6, 1.5e6, 2e6, 2.5e6]


@pytest.fixture(scope="module")
def town_sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    folder = tmp_path_factory.mktemp("sweep")
    return run_sweep(
        write_town(folder), BUDGETS, out_dir=folder / "sweep", lang="en", mode="sequential"
    )


@pytest.mark.browser
def test_sweep_page_switches_scenarios_with_the_slider(town_sweep: SweepResult) -> None:
    out = town_sweep.out_dir
    csv = pd.read_csv(out / "comparison.csv", encoding="utf-8-sig")
    assert csv["ok"].all() and len(csv) == 4
    with Browser(_chromium(), width=1280, height=1700) as browser:
        _open(browser, out / "explore.html")
        assert browser.evaluate(f"{M}('budget').value") == 3  # the largest budget first
        for step, row in csv.iterrows():
            browser.evaluate(f"{M}('budget').value = {step}")
            label = str(row["scenario"])
            assert _wait(browser, f"{M}('totals').text.includes('data-scenario=\"{label}\"')")
            totals = browser.evaluate(f"{M}('totals').text")
            assert f'data-k="sites">{int(row["sites"])}<' in totals
            assert f'data-k="cost_used">{row["cost_used"]:,.0f} yuan<' in totals
            assert f'data-k="coverage_pct">{row["coverage_pct"]:.1f}%<' in totals
            # the list is that budget's construction list, whose costs add up to it
            cl = pd.read_csv(out / label / "construction_list.csv", encoding="utf-8-sig")
            rows = browser.evaluate(VISIBLE_SITES)
            assert [r[1] for r in rows] == cl["site_id"].astype(str).tolist()
            assert sum(r[3] for r in rows) == pytest.approx(row["cost_used"])
            assert browser.evaluate(f"{M}('marker').indices") == [step]
        # what the extra money buys, from the first budget to the last
        browser.evaluate(f"{M}('extra_from').value = 'b1M'")
        browser.evaluate(f"{M}('extra_to').value = 'b2.5M'")
        text = _wait(browser, f"{M}('extra').text")
        first = pd.read_csv(out / "b1M" / "construction_list.csv", encoding="utf-8-sig")
        last = pd.read_csv(out / "b2.5M" / "construction_list.csv", encoding="utf-8-sig")
        added = set(last["site_id"]) - set(first["site_id"])
        assert f'data-added="{len(added)}"' in text
        for t in ("elder_care", "convenience"):
            gained = csv[f"covered:{t}"].iloc[-1] - csv[f"covered:{t}"].iloc[0]
            assert f'data-type="{t}">{gained:,.0f}<' in text
        page = browser.screenshot()
        assert browser.problems() == []
    assert not _blank(page)
