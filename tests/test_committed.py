"""Committed and excluded sites, and a plan continued from last year's adopted list.

The town (tests/town.py: five corner sites, S4 and S5 available from 2027, elder care and
convenience) is planned for 2026-2028; the 2026 rows are adopted and the town re-planned for
2027-2029 with ``--continue-from``: the adopted rows come back as committed, unchanged, the
budgets hold and the plan passes verification. Further tests fix builds through the scenario
key and the table form, exclude sites, and check each kind of bad request.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from optimizer.cli import main
from optimizer.errors import ExitCode, InfeasibleError, InputError
from optimizer.pipeline import PlanRun, run_plan
from optimizer.plan import COMMITTED, PROPOSED
from tests.helpers import blocks_frame, sites_frame, write_scenario
from tests.town import write_town

BUDGETS_2026 = {2026: 800_000, 2027: 700_000, 2028: 700_000}
BUDGETS_2027 = {2027: 700_000, 2028: 700_000, 2029: 700_000}
KEEP = ["year", "site_id", "facility_type", "floor_area_m2"]


def _rewrite(path: Path, name: str, **model: Any) -> Path:
    """A copy of the scenario at ``path`` with some ``model`` keys replaced."""
    data = yaml.safe_load(path.read_text("utf-8"))
    data["model"].update(model)
    out = path.with_name(name)
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return out


def _folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _budgets_hold(run: PlanRun) -> None:
    for year, entry in run.summary["budgets"].items():
        assert entry["spent"] <= entry["budget"] + 1.0, year


def _rows(run: PlanRun, site: str) -> pd.DataFrame:
    cl = run.plan.construction_list
    return cl[cl["site_id"] == site]


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("town")
    return write_town(folder, budgets=BUDGETS_2026)


# --------------------------------------------------------------------------- two years


@pytest.mark.slow
def test_two_year_plan_continues_from_the_adopted_year(town: Path) -> None:
    """Plan 2026-2028, adopt 2026, re-plan 2027-2029 with --continue-from (the CLI)."""
    first = town.parent / "plan-2026"
    assert main(["plan", str(town), "--out", str(first), "--lang", "en", "-q"]) == 0
    listed = pd.read_csv(first / "construction_list.csv", dtype={"site_id": str})
    assert set(listed["status"]) == {PROPOSED}
    adopted = listed[listed["year"] == 2026]
    assert len(adopted) > 0 and (listed["year"] > 2026).any()
    before = _folder_digest(first)

    second_scenario = _rewrite(town, "scenario-2027.yaml", budgets=BUDGETS_2027)
    second = town.parent / "plan-2027"
    code = main(
        [
            "plan",
            str(second_scenario),
            "--out",
            str(second),
            "--continue-from",
            str(first),
            "--lang",
            "en",
            "-q",
        ]
    )
    assert code == 0
    assert _folder_digest(first) == before  # the earlier run is input, never modified

    again = pd.read_csv(second / "construction_list.csv", dtype={"site_id": str})
    committed = again[again["status"] == COMMITTED]
    proposed = again[again["status"] == PROPOSED]
    # the adopted rows come back exactly, listed first and unranked
    key = ["site_id", "facility_type"]
    pd.testing.assert_frame_equal(
        committed[KEEP].sort_values(key).reset_index(drop=True),
        adopted[KEEP].sort_values(key).reset_index(drop=True),
    )
    assert committed["rank"].isna().all()
    assert (
        again.index[again["status"] == COMMITTED].max()
        < again.index[again["status"] == PROPOSED].min()
    )
    assert proposed["rank"].tolist() == list(range(1, len(proposed) + 1))
    assert (proposed["year"] >= 2027).all()
    assert not set(proposed["site_id"]) & set(committed["site_id"])

    summary = yaml.safe_load((second / "summary.json").read_text("utf-8"))  # JSON is YAML
    assert summary["verify"]["passed"]
    assert any("committed builds kept" in c for c in summary["verify"]["checks"])
    assert set(summary["budgets"]) == {"2027", "2028", "2029"}
    for entry in summary["budgets"].values():
        assert entry["spent"] <= entry["budget"] + 1.0
    # the adopted builds were paid in 2026: in the plan's cost, in none of its budgets
    paid_before = float(adopted["cost"].sum())
    assert summary["committed"]["cost_before_plan_years"] == pytest.approx(paid_before, rel=1e-3)
    spent = sum(e["spent"] for e in summary["budgets"].values())
    assert summary["totals"]["cost"] == pytest.approx(spent + paid_before, rel=1e-3)
    assert summary["continued_from"]["adopt_through"] == 2026


@pytest.mark.slow
def test_adopt_through_a_later_year_commits_those_rows_too(town: Path) -> None:
    first = town.parent / "plan-2026-b"
    run1 = run_plan(town, out_dir=first, lang="en")
    scenario = _rewrite(town, "scenario-2028.yaml", budgets={2028: 700_000, 2029: 700_000})
    run2 = run_plan(scenario, write=False, lang="en", continue_from=first, adopt_through=2027)
    cl1, cl2 = run1.plan.construction_list, run2.plan.construction_list
    want = cl1[cl1["year"] <= 2027]
    got = cl2[cl2["status"] == COMMITTED]
    assert sorted(zip(got["site_id"], got["facility_type"], got["year"], strict=True)) == sorted(
        zip(want["site_id"], want["facility_type"], want["year"], strict=True)
    )
    assert run2.verify.passed
    _budgets_hold(run2)


# --------------------------------------------------------------------------- scenario keys


def test_committed_key_fixes_site_year_types_and_size(town: Path) -> None:
    """S4 (available 2027) committed for 2027 with elder care at 400 m2 and convenience sized
    by the model; S2, which the plan otherwise opens in 2026, excluded."""
    free = run_plan(town, write=False, lang="en")
    assert "S2" in set(free.plan.construction_list["site_id"])
    scenario = _rewrite(
        town,
        "committed-key.yaml",
        committed=[
            {
                "site": "S4",
                "types": ["elder_care", "convenience"],
                "sizes": {"elder_care": 400},
                "year": 2027,
            }
        ],
        excluded_sites=["S2"],
    )
    run = run_plan(scenario, write=False, lang="en")
    rows = _rows(run, "S4").set_index("facility_type")
    assert set(rows.index) == {"elder_care", "convenience"}
    assert (rows["status"] == COMMITTED).all() and (rows["year"] == 2027).all()
    assert rows.loc["elder_care", "floor_area_m2"] == pytest.approx(400.0)
    assert _rows(run, "S2").empty
    # the committed cost is counted in its year's budget
    spent_2027 = run.summary["budgets"]["2027"]["spent"]
    assert spent_2027 >= float(rows["cost"].sum()) - 1.0
    _budgets_hold(run)
    assert run.verify.passed
    assert "excluded sites unused" in run.verify.checks
    assert run.summary["committed"]["excluded_sites"] == ["S2"]


def test_commitments_hold_under_the_decomposition(town: Path) -> None:
    data = yaml.safe_load(town.read_text("utf-8"))
    data["solver"]["method"] = "decomposition"
    data["model"]["committed"] = [{"site": "S5", "types": ["convenience"], "year": 2027}]
    data["model"]["excluded_sites"] = ["S2"]
    path = town.with_name("decomposed.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    run = run_plan(path, write=False, lang="en")
    rows = _rows(run, "S5")
    assert rows["facility_type"].tolist() == ["convenience"]
    assert (rows["status"] == COMMITTED).all()
    assert _rows(run, "S2").empty
    assert run.verify.passed


def test_committed_and_excluded_tables(town: Path) -> None:
    folder = town.parent
    pd.DataFrame(
        {
            "site_id": ["S4", "S4"],
            "facility_type": ["elder_care", "convenience"],
            "floor_area_m2": [400.0, None],
            "year": [2027, 2027],
        }
    ).to_csv(folder / "committed.csv", index=False)
    pd.DataFrame({"site_id": ["S2"]}).to_csv(folder / "excluded.csv", index=False)
    data = yaml.safe_load(town.read_text("utf-8"))
    data["inputs"]["committed"] = "committed.csv"
    data["inputs"]["excluded_sites"] = {"path": "excluded.csv"}
    path = folder / "tables.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    run = run_plan(path, write=False, lang="en")
    rows = _rows(run, "S4").set_index("facility_type")
    assert set(rows.index) == {"elder_care", "convenience"}
    assert (rows["status"] == COMMITTED).all()
    assert rows.loc["elder_care", "floor_area_m2"] == pytest.approx(400.0)
    assert _rows(run, "S2").empty
    assert run.verify.passed


def test_unphased_commitment_without_a_year(tmp_path: Path) -> None:
    """min_cost_cover, no years: the committed site is used although a cheaper one exists."""
    blocks = blocks_frame([0, 200])
    sites = sites_frame(xs=[100, 100], floor=[500, 500], fixed=[10_000, 900_000])
    scenario = write_scenario(
        tmp_path,
        blocks,
        sites,
        model={"committed": [{"site": "S2", "types": ["elder_care", "convenience"]}]},
    )
    run = run_plan(scenario, write=False, lang="en")
    cl = run.plan.construction_list
    assert set(cl["site_id"]) == {"S2"}
    assert (cl["status"] == COMMITTED).all() and cl["rank"].isna().all()
    assert run.verify.passed


# --------------------------------------------------------------------------- bad requests


def _error_city(tmp_path: Path, **model: Any) -> Path:
    """S1 allows convenience only; S2 (200 m2) is too small for elder care and available
    from 2027; plan years 2026-2027."""
    blocks = blocks_frame([0, 300])
    sites = sites_frame(
        xs=[0, 300],
        floor=[500, 200],
        fixed=[10_000, 10_000],
        allowed_types=["convenience", ""],
        available_year=[2026, 2027],
    )
    base = {"objective": "max_coverage", "budgets": {2026: 1e6, 2027: 1e6}}
    return write_scenario(tmp_path, blocks, sites, model=base | model)


def test_bad_commitments_are_reported_together(tmp_path: Path) -> None:
    scenario = _error_city(
        tmp_path,
        committed=[
            {"site": "S9", "types": ["convenience"], "year": 2026},
            {"site": "S1", "types": ["elder_care"], "year": 2026},
            {"site": "S2", "types": ["convenience"], "sizes": {"convenience": 5000}, "year": 2026},
        ],
        excluded_sites=["S7"],
    )
    with pytest.raises(InputError) as err:
        run_plan(scenario, write=False)
    text = str(err.value)
    assert "model.committed.0.site" in text and "S9" in text and "unknown site id" in text
    assert "model.committed.1.types" in text and "not allowed at the site" in text
    assert "model.committed.2.sizes" in text and "5000" in text
    assert "model.committed.2.year" in text and "available_year 2027" in text
    assert "model.excluded_sites" in text and "S7" in text
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert main(["plan", str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 2


def test_bad_committed_table_names_the_file_and_rows(tmp_path: Path) -> None:
    scenario = _error_city(tmp_path)
    pd.DataFrame(
        {
            "site_id": ["S1", "S2"],
            "facility_type": ["convenience", "elder_care"],
            "floor_area_m2": [None, None],
            "year": [2031, 2027],
        }
    ).to_csv(tmp_path / "committed.csv", index=False)
    data = yaml.safe_load(scenario.read_text("utf-8"))
    data["inputs"]["committed"] = "committed.csv"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    with pytest.raises(InputError) as err:
        run_plan(scenario, write=False)
    text = str(err.value)
    assert "committed.csv, column 'year'" in text and "after the last plan year 2027" in text
    assert "row 2" in text
    assert "committed.csv, column 'facility_type'" in text and "row 3" in text


def test_validate_checks_commitments_without_solving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _error_city(tmp_path, committed=[{"site": "S1", "types": ["convenience"], "year": 2026}])
    assert main(["validate", str(good), "-q"]) == 0
    assert "1 committed and 0 excluded sites checked" in capsys.readouterr().out
    bad = _error_city(tmp_path, excluded_sites=["S7"])
    assert main(["validate", str(bad), "-q"]) == ExitCode.BAD_INPUT
    assert "S7" in capsys.readouterr().err


def test_phased_commitment_needs_a_year_and_a_known_type(tmp_path: Path) -> None:
    scenario = _error_city(
        tmp_path, committed=[{"site": "S1", "types": ["convenience", "nursery"]}]
    )
    with pytest.raises(InputError) as err:
        run_plan(scenario, write=False)
    text = str(err.value)
    assert "model.committed.0.types" in text and "nursery" in text
    assert "model.committed.0.year" in text


def test_committed_cost_over_a_budget_is_infeasible_before_solving(tmp_path: Path) -> None:
    scenario = _error_city(
        tmp_path,
        budgets={2026: 50_000, 2027: 1e6},
        committed=[
            {"site": "S1", "types": ["convenience"], "sizes": {"convenience": 100}, "year": 2026}
        ],
    )
    with pytest.raises(InfeasibleError) as err:
        run_plan(scenario, write=False)
    text = str(err.value)
    # fixed 10,000 + 100 m2 x 1,000 yuan
    assert "2026" in text and "110,000" in text and "50,000" in text and "S1" in text
    assert main(["plan", str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 3


@pytest.mark.slow
def test_continue_from_is_checked(tmp_path: Path, town: Path) -> None:
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    with pytest.raises(InputError, match="not a complete planning run"):
        run_plan(town, write=False, continue_from=empty)
    with pytest.raises(InputError, match="needs --continue-from"):
        run_plan(town, write=False, adopt_through=2026)
    first = tmp_path / "first"
    run_plan(town, out_dir=first, lang="en")
    before = _folder_digest(first)
    with pytest.raises(InputError, match="never modified"):
        run_plan(town, out_dir=first, continue_from=first)
    assert _folder_digest(first) == before
    # another sites table: the earlier run does not fit
    other = _error_city(tmp_path / "other")
    with pytest.raises(InputError, match="candidate sites"):
        run_plan(other, write=False, continue_from=first)
