"""Budget sweeps (``siting sweep``): monotone coverage with warm starts, a real local Dask
cluster against the sequential run, resume, failures, command-line checks."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from optimizer import pipeline
from optimizer.cli import main
from optimizer.sweep import (
    SweepResult,
    _apply_budget,
    money_tag,
    parse_budget_range,
    parse_budgets,
    parse_setting,
    run_sweep,
    scenario_label,
    segments,
)
from tests.town import write_town

# 8 total budgets of the town (its own: 1.5 + 1.0 million over 2026-2027, split 60/40)
BUDGETS = [0.5e6 * i for i in range(1, 9)]
LABELS = ["b500k", "b1M", "b1.5M", "b2M", "b2.5M", "b3M", "b3.5M", "b4M"]
VOLATILE = ["solve_s", "reused"]  # times, and whether a row was reused by a rerun


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_town(tmp_path_factory.mktemp("town"))


@pytest.fixture(scope="module")
def sequential(town: Path) -> SweepResult:
    return run_sweep(town, BUDGETS, out_dir=town.parent / "seq", lang="en", mode="sequential")


@pytest.mark.slow
def test_budget_sweep_is_monotone_and_warm_started(sequential: SweepResult) -> None:
    df = sequential.comparison
    assert df["scenario"].tolist() == LABELS
    assert df["ok"].all() and set(df["status"]) == {"OPTIMAL"}
    assert sequential.exit_code == 0 and not sequential.failed and not sequential.violations
    # priority-weighted coverage (points, summed over the plan years) never falls
    assert (np.diff(df["coverage_points"].to_numpy(float)) >= -1e-9).all()
    assert df["monotone"].all()
    assert (df["cost_used"] <= df["budget"] + 1e-6).all()
    # two runs of four budgets (the cut depends on the number of budgets only): each budget
    # starts from the one before it, the first of each run starts cold
    starts = ["-", "b500k", "b1M", "b1.5M", "-", "b2.5M", "b3M", "b3.5M"]
    assert df["warm_start_from"].fillna("-").tolist() == starts
    assert sequential.summary["tasks"] == [LABELS[:4], LABELS[4:]]
    # marginal residents per extra 10,000 yuan against the previous budget
    covered = df["covered"].to_numpy(float)
    assert np.isnan(df["marginal_per_10k"].iloc[0])
    assert df["marginal_per_10k"].iloc[1:].to_numpy(float) == pytest.approx(np.diff(covered) / 50.0)
    per_type = df[["covered:elder_care", "covered:convenience"]].sum(axis=1)
    assert covered == pytest.approx(per_type.to_numpy(float))
    # each scenario: a full plan folder, its phased budget split 60/40 like the scenario's
    out = sequential.out_dir
    for label, budget in zip(LABELS, BUDGETS, strict=True):
        summary = json.loads((out / label / "summary.json").read_text(encoding="utf-8"))
        assert summary["sweep"]["label"] == label
        assert summary["budgets"]["2026"]["budget"] == pytest.approx(0.6 * budget)
        assert summary["budgets"]["2027"]["budget"] == pytest.approx(0.4 * budget)
        assert summary["objective_kind"] == "max_coverage"
        for name in ("report.html", "plan.xlsx", "plan.gpkg", "coverage.csv", "solution.npz"):
            assert (out / label / name).is_file()
    # the sweep's own outputs: comparison.csv, sweep.xlsx with its sheet, report with curve
    csv = pd.read_csv(out / "comparison.csv", encoding="utf-8-sig")
    assert csv["covered"].tolist() == pytest.approx(covered.tolist())
    assert "comparison" in openpyxl.load_workbook(out / "sweep.xlsx", read_only=True).sheetnames
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="comparison"' in html and "chart-coverage-budget" in html
    assert (out / "maps" / "coverage_budget.png").stat().st_size > 1000
    # every scenario run is in the run catalogue beside the sweep folder
    with sqlite3.connect(out.parent / "runs.sqlite") as con:
        dirs = {Path(r[0]).name for r in con.execute("SELECT out_dir FROM runs")}
    assert set(LABELS) <= dirs


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_sequential_result(
    town: Path, sequential: SweepResult
) -> None:
    # a real distributed.LocalCluster: two worker processes, one thread each
    dask = run_sweep(
        town, BUDGETS, out_dir=town.parent / "dask", lang="en", mode="local", workers=2
    )
    assert dask.summary["mode"] == "local cluster" and dask.summary["workers"] == 2
    pd.testing.assert_frame_equal(
        dask.comparison.drop(columns=VOLATILE), sequential.comparison.drop(columns=VOLATILE)
    )
    for label in LABELS:
        a = pd.read_csv(dask.out_dir / label / "construction_list.csv", encoding="utf-8-sig")
        b = pd.read_csv(sequential.out_dir / label / "construction_list.csv", encoding="utf-8-sig")
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_an_existing_scheduler_runs_the_sweep(town: Path, sequential: SweepResult) -> None:
    # --cluster ADDRESS: a scheduler started elsewhere (here a LocalCluster of one process)
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        remote = run_sweep(
            town, BUDGETS[:2], out_dir=town.parent / "remote", lang="en", cluster=address
        )
    assert remote.summary["mode"] == address
    first_two = sequential.comparison.iloc[:2].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        remote.comparison.drop(columns=VOLATILE), first_two.drop(columns=VOLATILE)
    )


@pytest.mark.slow
def test_a_rerun_reuses_finished_scenarios(
    sequential: SweepResult, town: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = sequential.out_dir
    shutil.rmtree(out / "b2M")  # as if the sweep had stopped before it
    kept = [label for label in LABELS if label != "b2M"]
    stamps = {label: (out / label / "summary.json").stat().st_mtime_ns for label in kept}
    with caplog.at_level(logging.INFO, logger="optimizer"):
        again = run_sweep(town, BUDGETS, out_dir=out, lang="en", mode="sequential")
    assert "reused 7 finished scenarios" in caplog.text
    assert again.reused == kept
    for label in again.reused:
        assert (out / label / "summary.json").stat().st_mtime_ns == stamps[label]
    # b2M ran again, warm-started from b1.5M's saved plan, to the same answer
    assert again.comparison.set_index("scenario").loc["b2M", "warm_start_from"] == "b1.5M"
    pd.testing.assert_frame_equal(
        again.comparison.drop(columns=VOLATILE), sequential.comparison.drop(columns=VOLATILE)
    )


@pytest.mark.slow
def test_coverage_that_falls_is_re_solved_warm_or_reported(
    sequential: SweepResult, town: Path
) -> None:
    # pretend b2.5M (the first of its task, solved without a start) and b1M (warm-started
    # from b500k) covered less than the budget before them
    out = sequential.out_dir
    for label, value in (("b2.5M", 400.0), ("b1M", 90.0)):
        path = out / label / "summary.json"
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary["objectives"]["coverage"] = value
        path.write_text(json.dumps(summary), encoding="utf-8")
    again = run_sweep(town, BUDGETS, out_dir=out, lang="en", mode="sequential")
    assert len(again.reused) == 8
    # b2.5M is solved again from b2M's plan and reaches its optimum again
    assert again.resolved == ["b2.5M"]
    df = again.comparison.set_index("scenario")
    before = sequential.comparison.set_index("scenario")
    assert df.loc["b2.5M", "warm_start_from"] == "b2M"
    assert df.loc["b2.5M", "coverage_points"] == pytest.approx(
        before.loc["b2.5M", "coverage_points"], rel=1e-9
    )
    # a warm-started scenario that still falls short is reported, not hidden
    assert [v["scenario"] for v in again.violations] == ["b1M"]
    assert not df.loc["b1M", "monotone"] and again.summary["monotone"] is False


@pytest.mark.slow
def test_an_interrupted_sweep_leaves_whole_folders_and_resumes(
    town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = town.parent / "interrupted"
    budgets = [1e6, 2e6]
    real = pipeline.write_deliverables
    calls = []

    def stop_on_second(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "write_deliverables", stop_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(town, budgets, out_dir=out, lang="en", mode="sequential", chain_size=1)
    monkeypatch.undo()
    # one task finished (the two run in Dask's order), the other left nothing visible behind;
    # no sweep table was written
    done = [label for label in ("b1M", "b2M") if (out / label / "summary.json").is_file()]
    assert len(done) == 1
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == set(done)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    again = run_sweep(town, budgets, out_dir=out, lang="en", mode="sequential", chain_size=1)
    assert again.reused == done and again.comparison["ok"].all()


@pytest.mark.slow
def test_a_failed_scenario_is_reported_and_the_others_kept(town: Path) -> None:
    # a 90 % coverage target by 2027 cannot be met with 0.5 million yuan
    res = run_sweep(
        town,
        [0.5e6, 3e6],
        [("model.coverage_targets.2027", [0.9])],
        out_dir=town.parent / "fail",
        lang="en",
        mode="sequential",
    )
    df = res.comparison.set_index("scenario")
    bad, good = "b500k_coverage_targets.2027-0.9", "b3M_coverage_targets.2027-0.9"
    assert df.loc[bad, "status"] == "INFEASIBLE" and not df.loc[bad, "ok"]
    assert "the cheapest plan reaching it costs 1,790,000 yuan" in df.loc[bad, "error"]
    assert df.loc[good, "ok"] and df.loc[good, "status"] == "OPTIMAL"
    assert df.loc[good, "coverage_pct:elder_care"] >= 90.0
    assert res.failed == [bad] and res.exit_code == 3
    assert not (res.out_dir / bad).exists() and (res.out_dir / good / "summary.json").is_file()
    csv = pd.read_csv(res.out_dir / "comparison.csv", encoding="utf-8-sig")
    assert csv["status"].tolist() == ["INFEASIBLE", "OPTIMAL"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budgets", "1e6,abc"], "not a number: 'abc'"),
        (["--budgets", "1e6,1e6"], "a budget is repeated"),
        (["--budgets", "-5"], "positive number of yuan"),
        (["--budget-range", "5e6:1e6:1e6"], "need 0 < START <= STOP"),
        (["--budget-range", "1e6:2e6"], "expected START:STOP:STEP"),
        (["--set", "catalog.elder_care.walk_limit_m"], "expected KEY=V1,V2"),
        (["--budgets", "1e6", "--set", "model.budgets=1,2"], "not --set model.budgets"),
        ([], "nothing to sweep"),
        (["--budgets", "1e6", "--workers", "0"], "--workers"),
        (["--budgets", "1e6", "--chain-size", "0"], "--chain-size"),
        (
            ["--budgets", "1e6", "--set", "catalog.elder_care.walk_limit_m=300,abc"],
            "catalog.elder_care.walk_limit_m=abc",
        ),
        (["--budgets", "1e6", "--set", "model.objectiv=max_coverage"], "'objectiv' was unexpected"),
    ],
)
def test_command_line_errors_are_clear(
    town: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mode = [] if "--workers" in args else ["--sequential"]
    code = main(["sweep", str(town), *mode, "--out", str(town.parent / "x"), *args])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert message in err


def test_parsing_labels_and_the_cut_into_tasks() -> None:
    assert parse_budgets("40e6, 60_000_000") == [40e6, 60e6]
    assert parse_budget_range("40e6:110e6:10e6") == [v * 1e6 for v in range(40, 111, 10)]
    assert parse_budget_range("1:2:0.5") == [1.0, 1.5, 2.0]
    assert parse_setting("catalog.elder_care.walk_limit_m=300,500") == (
        "catalog.elder_care.walk_limit_m",
        [300, 500],
    )
    assert parse_setting("model.priorities={nursery: 1, elder_care: 2},{nursery: 2}") == (
        "model.priorities",
        [{"nursery": 1, "elder_care": 2}, {"nursery": 2}],
    )
    assert [money_tag(v) for v in (60e6, 2.5e6, 750e3, 1234.5)] == ["60M", "2.5M", "750k", "1234"]
    assert scenario_label(60e6, [("catalog.elder_care.walk_limit_m", 500)]) == (
        "b60M_elder_care.walk_limit_m-500"
    )
    # phased: the total is split in the scenario's proportions; unphased: one number
    data = {"model": {"budgets": {2026: 60e6, 2027: 80e6, 2028: 80e6}}}
    _apply_budget(data, 110e6, objective_set=False)
    assert data["model"] == {
        "budgets": {2026: 30e6, 2027: 40e6, 2028: 40e6},
        "objective": "max_coverage",
    }
    flat: dict = {"model": {"objective": "min_cost_cover"}}
    _apply_budget(flat, 5e6, objective_set=True)
    assert flat["model"] == {"objective": "min_cost_cover", "budgets": 5e6}
    # the cut depends on the chain's length only
    from optimizer.sweep import SweepScenario

    grid = [SweepScenario(f"s{i}", "k", float(i), (), 0, i, {}) for i in range(10)]
    assert [len(s) for s in segments(grid, 4)] == [4, 3, 3]
    assert [len(s) for s in segments(grid, 10)] == [10]
