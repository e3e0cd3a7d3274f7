"""Budget sweeps (``siting sweep``): monotone coverage with warm starts, the cut into tasks, a
real local Dask cluster against the sequential run, progress lines, the one run deadline,
head counts in the comparison, resume, failures, command-line checks."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from distributed import LocalCluster

from optimizer import pipeline, plan, sweep
from optimizer.catalog import load_catalog
from optimizer.cli import main
from optimizer.deadline import Deadline
from optimizer.sweep import (
    SweepResult,
    SweepScenario,
    _apply_budget,
    distinct_residents_covered,
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


def _groups() -> dict[str, str]:
    return {k: ft.target_group for k, ft in load_catalog().items()}


def _distinct_by_loop(coverage: pd.DataFrame, groups: dict[str, str]) -> float:
    """The head count, block by block (a second reading of the definition)."""
    total = 0.0
    for _, block in coverage[coverage["target_population"] > 0].groupby("block_id"):
        if not block["covered_after"].astype(bool).all():
            continue
        types, people = block["facility_type"].map(groups), block["target_population"]
        by_group = dict(zip(types, people, strict=True))
        total += by_group.get("population", sum(by_group.values()))
    return total


@pytest.mark.slow
def test_budget_sweep_is_monotone_and_cut_for_the_workers(
    sequential: SweepResult, town: Path
) -> None:
    df = sequential.comparison
    assert df["scenario"].tolist() == LABELS
    assert df["ok"].all() and set(df["status"]) == {"OPTIMAL"}
    assert sequential.exit_code == 0 and not sequential.failed and not sequential.violations
    # priority-weighted coverage (points, summed over the plan years) never falls
    assert (np.diff(df["coverage_points"].to_numpy(float)) >= -1e-9).all()
    assert df["monotone"].all()
    assert (df["cost_used"] <= df["budget"] + 1e-6).all()
    # 8 budgets, one chain: at least min(8, TASK_TARGET) tasks whatever the workers, so
    # each budget is its own task (solved without a start)
    assert sequential.summary["tasks"] == [[label] for label in LABELS]
    assert df["warm_start_from"].isna().all()
    # per type: target residents served; their sum over types is services, not people
    per_type = df[["covered:elder_care", "covered:convenience"]].sum(axis=1)
    services = df["services_covered"].to_numpy(float)
    assert services == pytest.approx(per_type.to_numpy(float))
    assert "covered" not in df.columns
    assert np.isnan(df["marginal_services_per_10k"].iloc[0])
    assert df["marginal_services_per_10k"].iloc[1:].to_numpy(float) == pytest.approx(
        np.diff(services) / 50.0
    )
    # the head count: residents of blocks every type covers in full, each counted once
    out = sequential.out_dir
    groups = _groups()
    for label, distinct in zip(LABELS, df["distinct_residents_covered"], strict=True):
        cov = pd.read_csv(out / label / "coverage.csv", encoding="utf-8-sig")
        assert distinct == pytest.approx(_distinct_by_loop(cov, groups))
        assert distinct <= cov.groupby("block_id")["target_population"].max().sum()
        # served shares and covered flags agree (one rounding for both)
        for when in ("before", "after"):
            shown_full = cov[f"served_share_{when}"] >= 1.0
            assert cov[f"covered_{when}"].astype(bool).tolist() == shown_full.tolist()
    assert df["distinct_residents_covered"].iloc[-1] > df["distinct_residents_covered"].iloc[0]
    # each scenario: a full plan folder, its phased budget split 60/40 like the scenario's
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
    assert csv["services_covered"].tolist() == pytest.approx(services.tolist())
    assert csv["distinct_residents_covered"].tolist() == pytest.approx(
        df["distinct_residents_covered"].tolist()
    )
    assert "comparison" in openpyxl.load_workbook(out / "sweep.xlsx", read_only=True).sheetnames
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="comparison"' in html and "chart-coverage-budget" in html
    assert (out / "maps" / "coverage_budget.png").stat().st_size > 1000
    # every scenario run is in the run catalogue beside the sweep folder
    with sqlite3.connect(out.parent / "runs.sqlite") as con:
        dirs = {Path(r[0]).name for r in con.execute("SELECT out_dir FROM runs")}
    assert set(LABELS) <= dirs


@pytest.mark.slow
def test_fewer_tasks_warm_start_each_budget_from_the_one_before(
    town: Path, sequential: SweepResult
) -> None:
    # task_target=1: chains cut only by chain_size (4), each budget starts from the plan before
    warm = run_sweep(
        town, BUDGETS, out_dir=town.parent / "warm", lang="en", mode="sequential", task_target=1
    )
    assert warm.summary["tasks"] == [LABELS[:4], LABELS[4:]]
    starts = ["-", "b500k", "b1M", "b1.5M", "-", "b2.5M", "b3M", "b3.5M"]
    assert warm.comparison["warm_start_from"].fillna("-").tolist() == starts
    # the same optima as the cold-started one-budget tasks
    assert warm.comparison["coverage_points"].tolist() == pytest.approx(
        sequential.comparison["coverage_points"].tolist(), rel=1e-7
    )
    assert not warm.violations


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_sequential_result(
    town: Path, sequential: SweepResult, caplog: pytest.LogCaptureFixture
) -> None:
    # a real distributed.LocalCluster: two worker processes, one thread each
    with caplog.at_level(logging.INFO, logger="optimizer"):
        dask = run_sweep(
            town, BUDGETS, out_dir=town.parent / "dask", lang="en", mode="local", workers=2
        )
    assert dask.summary["mode"] == "local cluster" and dask.summary["workers"] == 2
    assert dask.summary["tasks"] == sequential.summary["tasks"]  # the workers change nothing
    # one progress line per scenario as it finishes, counted up to 8
    done = [r.getMessage() for r in caplog.records if " done: " in r.getMessage()]
    assert [m.split(" done: ")[0] for m in done] == [f"{i}/8" for i in range(1, 9)]
    assert sorted(m.split(" done: ")[1].split()[0] for m in done) == sorted(LABELS)
    assert all("OPTIMAL, coverage " in m for m in done)
    pd.testing.assert_frame_equal(
        dask.comparison.drop(columns=VOLATILE), sequential.comparison.drop(columns=VOLATILE)
    )
    for label in LABELS:
        a = pd.read_csv(dask.out_dir / label / "construction_list.csv", encoding="utf-8-sig")
        b = pd.read_csv(sequential.out_dir / label / "construction_list.csv", encoding="utf-8-sig")
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_an_existing_scheduler_runs_the_sweep(
    town: Path, sequential: SweepResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --cluster ADDRESS: a scheduler started elsewhere (here a LocalCluster of one process);
    # two budgets in one task (task_target=1): the first is announced by a Dask event while
    # the worker still plans the second
    events: list[Any] = []
    real_event = sweep.SweepProgress.event

    def event(self: sweep.SweepProgress, message: Any) -> None:
        events.append(message)
        real_event(self, message)

    monkeypatch.setattr(sweep.SweepProgress, "event", event)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        remote = run_sweep(
            town,
            BUDGETS[:2],
            out_dir=town.parent / "remote",
            lang="en",
            cluster=address,
            task_target=1,
        )
    assert remote.summary["mode"] == address
    assert remote.summary["tasks"] == [LABELS[:2]]
    assert events and events[0][1]["label"] == "b500k" and events[0][1]["status"] == "OPTIMAL"
    first_two = sequential.comparison.iloc[:2].reset_index(drop=True)
    volatile = [*VOLATILE, "warm_start_from"]
    pd.testing.assert_frame_equal(
        remote.comparison.drop(columns=volatile), first_two.drop(columns=volatile)
    )


@pytest.mark.slow
def test_a_rerun_reuses_finished_scenarios(
    sequential: SweepResult, town: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = sequential.out_dir
    shutil.rmtree(out / "b2M")  # as if the sweep had stopped before it
    kept = [label for label in LABELS if label != "b2M"]
    stamps = {label: (out / label / "summary.json").stat().st_mtime_ns for label in kept}
    # task_target=1 puts b2M in one task with b500k-b1.5M (finished: only b2M runs)
    with caplog.at_level(logging.INFO, logger="optimizer"):
        again = run_sweep(town, BUDGETS, out_dir=out, lang="en", mode="sequential", task_target=1)
    assert "reused 7 finished scenarios" in caplog.text
    assert "1/1 done: b2M OPTIMAL" in caplog.text
    assert again.reused == kept
    for label in again.reused:
        assert (out / label / "summary.json").stat().st_mtime_ns == stamps[label]
    # b2M ran again, warm-started from b1.5M's saved plan, to the same answer
    assert again.comparison.set_index("scenario").loc["b2M", "warm_start_from"] == "b1.5M"
    volatile = [*VOLATILE, "warm_start_from"]
    pd.testing.assert_frame_equal(
        again.comparison.drop(columns=volatile), sequential.comparison.drop(columns=volatile)
    )


@pytest.mark.slow
def test_coverage_that_falls_is_re_solved_warm_or_reported(
    sequential: SweepResult, town: Path
) -> None:
    # pretend b2.5M (solved without a start) and b1M (as if warm-started from b500k) covered
    # less than the budget before them
    out = sequential.out_dir
    for label, value in (("b2.5M", 400.0), ("b1M", 90.0)):
        path = out / label / "summary.json"
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary["objectives"]["coverage"] = value
        if label == "b1M":
            summary["sweep"]["warm_start_from"] = "b500k"
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


def _grid(chains: int, budgets: int) -> list[SweepScenario]:
    return [
        SweepScenario(f"c{c}s{i}", "k", float(i), (), c, i, {})
        for c in range(chains)
        for i in range(budgets)
    ]


def test_the_cut_into_tasks_gives_the_workers_work_and_ignores_them() -> None:
    def sizes(chains: int, budgets: int, chain_size: int = 4, target: int = 8) -> list[int]:
        return [len(seg) for seg in segments(_grid(chains, budgets), chain_size, target)]

    # three budgets: three tasks (before: one task of three, and two workers added nothing)
    assert sizes(1, 3) == [1, 1, 1]
    # at least min(budgets, 8) tasks, as even as possible, none longer than chain_size
    assert sizes(1, 10) == [2, 2, 1, 1, 1, 1, 1, 1]
    assert sizes(1, 16) == [2] * 8
    assert sizes(1, 40) == [4] * 10
    assert sizes(2, 3) == [1] * 6  # 2 chains of 3: 6 scenarios, 6 tasks
    assert sizes(2, 10) == [3, 3, 2, 2] * 2  # 8 tasks over two chains
    assert sizes(4, 16) == [4] * 16  # chain_size caps the runs
    # without the target, the cut follows chain_size alone
    assert sizes(1, 10, target=1) == [4, 3, 3]
    assert sizes(1, 10, chain_size=10, target=1) == [10]
    # each task holds consecutive budgets of one chain, in ascending order
    for seg in segments(_grid(3, 7), 4):
        assert len({s.chain for s in seg}) == 1
        steps = [s.step for s in seg]
        assert steps == list(range(steps[0], steps[0] + len(seg)))
    assert sorted(s.label for seg in segments(_grid(3, 7), 4) for s in seg) == sorted(
        s.label for s in _grid(3, 7)
    )


def test_distinct_residents_are_counted_once_per_block_covered_by_every_type() -> None:
    groups = {"elder_care": "pop_60_plus", "nursery": "pop_0_2", "convenience": "population"}
    rows = [
        # B1: everyone targeted (convenience) and every type covers it -> its 1,000 residents
        ("B1", "elder_care", 200.0, True),
        ("B1", "nursery", 30.0, True),
        ("B1", "convenience", 1000.0, True),
        # B2: the nursery does not cover it -> no one counts
        ("B2", "elder_care", 150.0, True),
        ("B2", "nursery", 20.0, False),
        ("B2", "convenience", 900.0, True),
        # B3: no type targets everyone here: the age bands add up (180 + 0 nursery target)
        ("B3", "elder_care", 180.0, True),
        ("B3", "nursery", 0.0, False),  # no target residents: not a type the block needs
        ("B3", "convenience", 0.0, False),
        # B4: nobody to serve
        ("B4", "elder_care", 0.0, False),
    ]
    cov = pd.DataFrame(
        rows, columns=["block_id", "facility_type", "target_population", "covered_after"]
    )
    assert distinct_residents_covered(cov, groups) == 1180.0
    # two age-band types: their groups add up; two types of one group share it
    bands = pd.DataFrame(
        [
            ("B1", "elder_care", 200.0, True),
            ("B1", "nursery", 30.0, True),
            ("B1", "elder_day", 200.0, True),
        ],
        columns=cov.columns,
    )
    bands_groups = {**groups, "elder_day": "pop_60_plus"}
    assert distinct_residents_covered(bands, bands_groups) == 230.0
    # the per-type sum (what `covered` used to add up) counts B1's elderly twice
    assert bands["target_population"].sum() == 430.0
    assert distinct_residents_covered(cov.iloc[:0], groups) == 0.0


def test_covered_follows_the_shown_share() -> None:
    shares = np.array([0.5, 0.99994, 0.999951, 0.99999, 0.9999996, 1.0, 1.0 + 1e-9])
    shown = plan.rounded_share(shares)
    # a block shown served 1.0 is covered, one shown below is not (before: 0.99999 showed
    # 1.0 but was not covered)
    assert plan.is_covered(shares).tolist() == (shown >= 1.0).tolist()
    assert plan.is_covered(shares).tolist() == [False, False, True, True, True, True, True]
    assert shown.tolist()[1:4] == [0.9999, 1.0, 1.0]


@pytest.mark.slow
def test_the_essential_checks_share_each_scenario_run_deadline(
    town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the deadline a sweep scenario runs under starts before its inputs are read, and the
    # essential-site checks draw on that same deadline (not a fresh limit of their own)
    seen: dict[str, Any] = {}
    real_prepare, real_plan = sweep.prepare, sweep.plan_scenario
    real_essential = pipeline.essential_sites

    def prepare(*args: Any, **kwargs: Any) -> Any:
        seen.setdefault("prepare_at", time.monotonic())
        return real_prepare(*args, **kwargs)

    def plan_scenario(*args: Any, **kwargs: Any) -> Any:
        seen["run"] = kwargs["deadline"]
        return real_plan(*args, **kwargs)

    def essential_sites(*args: Any, **kwargs: Any) -> Any:
        seen["checks"] = args[5] if len(args) > 5 else kwargs["deadline"]
        return real_essential(*args, **kwargs)

    monkeypatch.setattr(sweep, "prepare", prepare)
    monkeypatch.setattr(sweep, "plan_scenario", plan_scenario)
    monkeypatch.setattr(pipeline, "essential_sites", essential_sites)
    res = run_sweep(
        town,
        [2e6],
        out_dir=town.parent / "deadline",
        lang="en",
        mode="sequential",
        time_limit_s=20.0,
    )
    assert res.comparison["ok"].all()
    run, checks = seen["run"], seen["checks"]
    assert isinstance(run, Deadline) and checks is run
    assert run.limit_s == 20.0 and run.start <= seen["prepare_at"]
    summary = json.loads((res.out_dir / "b2M" / "summary.json").read_text(encoding="utf-8"))
    assert summary["timings"]["limit_s"] == 20.0
