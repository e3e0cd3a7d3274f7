"""Standard sizes (catalog size steps and classes) and cost per resident served: the model
builds standard sizes only, ``max_cost_per_resident`` holds and binds, and the construction
list, report and workbook flag the expensive rows.

Numbers (tests/helpers.py): every block has 1,000 residents, 361 households and 200 residents
aged 60+; elder care needs 72.2 m2 per block, is built at 350-750 m2 in 50 m2 steps; a store
needs 50 m2 per 1,000 residents, is built at 50-300 m2 in 10 m2 steps; fit-out 1,000 yuan/m2.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from optimizer.catalog import load_catalog
from optimizer.errors import ScenarioError
from optimizer.models.planning import model as planning
from optimizer.pipeline import PlanRun, planning_data, run_plan
from optimizer.plan import FLAG_PERCENTILE
from optimizer.verify import verify_plan
from tests.helpers import SIMPLE_CATALOG, blocks_frame, sites_frame, write_scenario

# --------------------------------------------------------------------------- catalog


def test_every_builtin_type_states_its_standard_sizes_and_their_source() -> None:
    for key, t in load_catalog().items():
        assert t.has_standard_sizes, key
        field = "size_classes_m2" if t.size_classes_m2 else "size_step_m2"
        assert t.sources.get(field), f"{key}: {field} must cite its source"
        sizes = t.standard_sizes()
        assert sizes.size and sizes.min() >= t.min_area_m2 and sizes.max() <= t.max_area_m2
        assert t.is_standard(np.array([t.build_area_m2]))[0], key
    assert load_catalog()["kindergarten"].size_classes_m2 == (1800.0, 2700.0, 3600.0)


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"build_area_m2": 375}, "build_area_m2 375 is not a standard size"),
        ({"size_classes_m2": [350, 800]}, "every size class must lie within"),
        ({"size_step_m2": 1000}, "no multiple of 1000 m2 lies within"),
        ({"size_step_m2": -5}, "size_step_m2"),
        ({"max_cost_per_resident": 0}, "max_cost_per_resident"),
    ],
)
def test_bad_size_and_cost_overrides_are_reported(patch: dict[str, object], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        load_catalog({"elder_care": patch})


def test_a_scenario_may_switch_standard_sizes_off() -> None:
    t = load_catalog({"elder_care": {"size_step_m2": None}})["elder_care"]
    assert not t.has_standard_sizes
    assert t.is_standard(np.array([371.3]))[0]


# --------------------------------------------------------------------------- standard sizes


def _assert_standard(run: PlanRun) -> None:
    cl = run.plan.construction_list
    for key, rows in cl.groupby("facility_type"):
        t = run.scenario.catalog[str(key)]
        area = rows["floor_area_m2"].to_numpy(float)
        assert t.is_standard(area).all(), (key, area)
        assert rows["capacity"].to_numpy(float) == pytest.approx(area / t.area_per_unit_m2)
    assert run.verify.passed, run.verify.failures


def test_sizes_are_multiples_of_the_step(tmp_path: Path) -> None:
    # 7 blocks at one place: elder care needs 505.4 m2 -> one facility of 550 m2 (not 505.4);
    # stores need 350 m2 > 300 m2 -> two stores adding up to 350 m2 in 10 m2 steps; two sites
    # open (one type per site once): 200k + 550k + 350k
    blocks = blocks_frame([0] * 7)
    sites = sites_frame([0, 0, 0], floor=[1000, 1000, 1000], fixed=[100_000] * 3)
    run = run_plan(write_scenario(tmp_path, blocks, sites), write=False)
    cl = run.plan.construction_list
    _assert_standard(run)
    assert run.result.objective == pytest.approx(1_100_000)
    assert cl.loc[cl["facility_type"] == "elder_care", "floor_area_m2"].tolist() == [550.0]
    stores = cl.loc[cl["facility_type"] == "convenience", "floor_area_m2"]
    assert len(stores) == 2 and stores.sum() == pytest.approx(350)
    assert any("multiples of 50 m2" in c for c in run.verify.checks)


def test_sizes_are_among_the_classes(tmp_path: Path) -> None:
    # 12 blocks need 866.4 m2 of elder care; with classes 350/500/750 the cheapest pair is
    # 500 + 500 (350 + 500 is too small, 350 + 750 dearer): 200k + 1,000k
    blocks = blocks_frame([0] * 12)
    sites = sites_frame([0, 0], floor=[1000, 1000], fixed=[100_000, 100_000])
    catalog = {**SIMPLE_CATALOG, "elder_care": {**SIMPLE_CATALOG["elder_care"]}}
    catalog["elder_care"]["size_classes_m2"] = [350, 500, 750]
    path = write_scenario(tmp_path, blocks, sites, facility_types=["elder_care"], catalog=catalog)
    run = run_plan(path, write=False)
    _assert_standard(run)
    assert run.result.objective == pytest.approx(1_200_000)
    assert sorted(run.plan.construction_list["floor_area_m2"]) == [500.0, 500.0]


def test_a_class_larger_than_the_site_is_not_built(tmp_path: Path) -> None:
    # 6 blocks need 433.2 m2; with classes 350/750 only 750 would serve them all, but the only
    # site has 600 m2: the plan builds 350 m2 and serves 350 / 72.2 blocks' worth of the 60+
    blocks = blocks_frame([0] * 6)
    sites = sites_frame([0], floor=[600], fixed=[100_000])
    catalog = {"elder_care": {**SIMPLE_CATALOG["elder_care"], "size_classes_m2": [350, 750]}}
    model = {"objective": "max_coverage", "budgets": {2026: 2_000_000}}
    path = write_scenario(
        tmp_path, blocks, sites, facility_types=["elder_care"], catalog=catalog, model=model
    )
    run = run_plan(path, write=False)
    _assert_standard(run)
    cl = run.plan.construction_list
    assert cl["floor_area_m2"].tolist() == [350.0]
    assert cl["newly_covered"].iloc[0] == pytest.approx(350 / 72.2 * 200, abs=0.1)


def test_verification_rejects_a_size_that_is_not_standard(tmp_path: Path) -> None:
    blocks = blocks_frame([0] * 7)
    sites = sites_frame([0, 0, 0], floor=[1000, 1000, 1000], fixed=[100_000] * 3)
    run = run_plan(write_scenario(tmp_path, blocks, sites), write=False)
    assert run.solution is not None
    data = planning_data(run.instance, run.scenario.model)
    area = dict(run.solution.area)
    area["elder_care"] = np.where(run.solution.built["elder_care"], 560.0, 0.0)
    report = verify_plan(
        run.instance, data, replace(run.solution, area=area), raise_on_failure=False
    )
    assert any("not standard (multiples of 50 m²)" in f for f in report.failures)


# --------------------------------------------------------------------------- cost per resident


def _two_clusters(tmp_path: Path, **elder_care: object) -> Path:
    # Cluster A: 2 blocks at x = 0 (400 aged 60+); cluster B: 1 block at x = 5000 (200).
    # A facility costs 100k + 350 m2 x 1,000 = 450k: 1,125 yuan per resident at A, 2,250 at B.
    blocks = blocks_frame([0, 0, 5000])
    sites = sites_frame([0, 5000], floor=[400, 400], fixed=[100_000, 100_000])
    catalog = {"elder_care": {**SIMPLE_CATALOG["elder_care"], **elder_care}}
    return write_scenario(
        tmp_path,
        blocks,
        sites,
        facility_types=["elder_care"],
        catalog=catalog,
        model={"objective": "max_coverage", "budgets": {2026: 2_000_000}},
    )


def test_cost_per_resident_column(tmp_path: Path) -> None:
    run = run_plan(_two_clusters(tmp_path), write=False)
    cl = run.plan.construction_list.set_index("site_id")
    assert cl.loc["S1", "cost_per_resident"] == pytest.approx(450_000 / 400)
    assert cl.loc["S2", "cost_per_resident"] == pytest.approx(450_000 / 200)


def test_max_cost_per_resident_binds(tmp_path: Path) -> None:
    free = run_plan(_two_clusters(tmp_path / "free"), write=False)
    assert sorted(free.plan.construction_list["site_id"]) == ["S1", "S2"]
    capped = run_plan(_two_clusters(tmp_path / "cap", max_cost_per_resident=2000), write=False)
    cl = capped.plan.construction_list
    assert cl["site_id"].tolist() == ["S1"]  # S2 would cost 2,250 per resident
    assert (cl["cost"] <= 2000 * cl["newly_covered"] + 1e-6).all()
    assert capped.verify.passed
    assert any("at most 2,000 yuan per target resident" in c for c in capped.verify.checks)
    # at 2,250 the limit no longer binds: both sites again
    loose = run_plan(_two_clusters(tmp_path / "loose", max_cost_per_resident=2250), write=False)
    assert sorted(loose.plan.construction_list["site_id"]) == ["S1", "S2"]


def test_verification_catches_a_facility_over_the_limit(tmp_path: Path) -> None:
    free = run_plan(_two_clusters(tmp_path / "free"), write=False)
    capped = run_plan(_two_clusters(tmp_path / "cap", max_cost_per_resident=2000), write=False)
    assert free.solution is not None
    data = planning_data(capped.instance, capped.scenario.model)
    report = verify_plan(capped.instance, data, free.solution, raise_on_failure=False)
    assert any("cost per resident served above 2,000 at S2" in f for f in report.failures)


def _flag_rule_holds(run: PlanRun) -> None:
    """Every row above its type's threshold, or serving no one new, is flagged; no other."""
    cl = run.plan.construction_list
    limit = cl["facility_type"].map(run.plan.cost_thresholds).astype(float)
    cpr = cl["cost_per_resident"].astype(float)
    expected = (cpr > limit) | cpr.isna()
    assert cl["cost_flag"].tolist() == expected.tolist()


def test_the_expensive_row_is_flagged_at_the_percentile(tmp_path: Path) -> None:
    run = run_plan(_two_clusters(tmp_path), write=False)
    cl = run.plan.construction_list.set_index("site_id")
    threshold = np.percentile([1125.0, 2250.0], FLAG_PERCENTILE)
    assert run.plan.cost_thresholds["elder_care"] == pytest.approx(threshold)
    assert cl["cost_flag"].to_dict() == {"S1": False, "S2": True}
    _flag_rule_holds(run)


@pytest.mark.parametrize(("flag", "flagged"), [(1000, ["S1", "S2"]), (3000, [])])
def test_a_catalog_threshold_sets_the_flags(
    tmp_path: Path, flag: float, flagged: list[str]
) -> None:
    run = run_plan(_two_clusters(tmp_path, cost_per_resident_flag=flag), write=False)
    cl = run.plan.construction_list
    assert sorted(cl.loc[cl["cost_flag"], "site_id"]) == flagged
    _flag_rule_holds(run)


@pytest.mark.slow
def test_report_and_workbook_show_the_flags(tmp_path: Path) -> None:
    run = run_plan(_two_clusters(tmp_path), out_dir=tmp_path / "out", lang="en")
    out = tmp_path / "out"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('class="badge warn cost-flag"') == 1
    assert "Cost per resident" in html and "2,250" in html
    csv = pd.read_csv(out / "construction_list.csv")
    assert csv["cost_flag"].tolist() == run.plan.construction_list["cost_flag"].tolist()
    ws = load_workbook(out / "plan.xlsx")["construction_list"]
    header = [c.value for c in ws[1]]
    col = header.index("cost_per_resident") + 1
    flagged = [ws.cell(row=r, column=col).fill.fgColor.rgb for r in range(2, ws.max_row + 1)]
    shaded = [str(c).endswith("FFF1D6") for c in flagged]
    assert shaded == csv["cost_flag"].tolist()
    assert run.summary["cost_flags"]["flagged"] == 1


def test_a_start_with_exact_need_sizes_is_raised_to_standard_sizes(tmp_path: Path) -> None:
    # a heuristic's plan sized to the exact need (505.4 m2 of elder care) warm-starts the
    # standard-size model as a feasible vector: encode raises it to 550 m2
    blocks = blocks_frame([0] * 7)
    sites = sites_frame([0, 0, 0], floor=[1000, 1000, 1000], fixed=[100_000] * 3)
    run = run_plan(write_scenario(tmp_path, blocks, sites), write=False)
    assert run.solution is not None
    data = planning_data(run.instance, run.scenario.model)
    area = dict(run.solution.area)
    area["elder_care"] = np.where(run.solution.built["elder_care"], 505.4, 0.0)
    x = planning.encode(data, replace(run.solution, area=area))
    assert x is not None
    milp = planning.build_model(data, must_cover=True)
    assert milp.max_violation(x) <= 1e-6
    assert planning.decode(data, milp, x).area["elder_care"].max() == pytest.approx(550.0)
