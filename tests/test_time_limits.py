"""Issue 19: every ``siting solve`` run ends within its time limit + 2 s, measured from outside
(process start to exit: imports, reading the tables, solving, checking, writing).

Slow tier: one real command per family on a small city with a 3 s limit. Fast tier: the causes
of the overruns found, one test each (HiGHS set-up and presolve, the p-median greedy, reading
the distance table, the imports of ``siting solve``). The full study, every method on
city-scale and OR-Library instances, is ``benchmarks/bench_time_limits.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from optimizer.backends import Result, SolveOptions, SolveProgress, Status, StopReason
from optimizer.backends.highs import (
    MIP_COLUMNS_PER_S,
    PRESOLVE_NNZ_PER_S,
    HighsBackend,
    _presolve_too_slow,
    _silenced_stdout,
)
from optimizer.bench.cities import solve_tables
from optimizer.bench.generators import city_like
from optimizer.classic.registry import DEFAULT_METHOD, from_tables, solve_classic
from optimizer.deadline import Background
from optimizer.models.covering import lscp
from optimizer.models.covering import solve as cover_solve
from optimizer.models.covering.solve import ABANDON_GRACE_S
from optimizer.models.pmedian.heuristics import CostPairs, greedy
from optimizer.models.pmedian.model import PMedianData, build_model, nonzero_count

LIMIT_S = 3.0
SLACK_S = 2.0
SITING = Path(sys.executable).with_name("siting")


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("time-limits")


@pytest.mark.slow
@pytest.mark.parametrize("family", list(DEFAULT_METHOD))
def test_siting_solve_ends_within_its_limit(family: str, tables_dir: Path) -> None:
    prob = city_like(3_000, 800, seed=0)
    paths, options = solve_tables(tables_dir, "c3k", prob, 300.0, 200, family)
    out = tables_dir / f"out-{family}"
    cmd = [str(SITING), "solve", "-q", "--model", family]
    for key in ("demand", "sites", "distances"):
        cmd += [f"--{key}", str(paths[key])]
    cmd += [*options, "--time-limit", f"{LIMIT_S:g}", "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] in ("OPTIMAL", "FEASIBLE")
    assert wall <= LIMIT_S + SLACK_S, f"{family}: {wall:.2f} s for a {LIMIT_S:g} s limit"


def test_solve_tables_options_and_coverable_blocks(tmp_path: Path) -> None:
    # the tables of a tiny city: LSCP gets the reachable blocks only, p-median the caps
    prob = city_like(300, 60, seed=2)
    reach = prob.reach(300.0)
    paths, options = solve_tables(tmp_path, "t", prob, 300.0, 12, "lscp")
    demand = pd.read_parquet(paths["demand"])
    assert len(demand) == int((reach.getnnz(axis=1) > 0).sum())
    assert options == ["--cost", "cost", "--radius", "300"]
    pairs = pd.read_parquet(paths["distances"])
    assert len(pairs) == reach.nnz and pairs["distance"].max() <= 300.0
    _, pmed = solve_tables(tmp_path, "t", prob, 300.0, 12, "pmedian")
    assert pmed[-4:] == ["--max-distance", "300", "--unserved-penalty", "600"]


# -- fast: the causes of the overruns the benchmark found, one by one


def _tiny_lscp_mip() -> lscp.LscpData:
    reach = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]]))
    return lscp.LscpData.from_arrays(reach, np.ones(3))


def test_highs_does_not_start_a_mip_it_cannot_set_up_in_time() -> None:
    # HiGHS reads no clock while it sets a MIP up: a MIP with more columns than
    # MIP_COLUMNS_PER_S per second of its limit answers at once, at the time limit
    milp = lscp.build_model(_tiny_lscp_mip())
    limit = 0.5 * milp.num_vars / MIP_COLUMNS_PER_S
    res = HighsBackend().solve(milp, SolveOptions(time_limit_s=limit))
    assert res.status is Status.NO_SOLUTION and res.stop is StopReason.TIME_LIMIT
    assert "cannot be set up" in res.message
    assert HighsBackend().solve(milp, SolveOptions(time_limit_s=5.0)).status is Status.OPTIMAL


def test_highs_presolve_only_where_it_can_end_in_time() -> None:
    milp = lscp.build_model(_tiny_lscp_mip())
    short = 0.5 * milp.A.nnz / PRESOLVE_NNZ_PER_S
    assert _presolve_too_slow(milp, SolveOptions(time_limit_s=short))
    assert not _presolve_too_slow(milp, SolveOptions(time_limit_s=60.0))
    assert not _presolve_too_slow(milp, SolveOptions(time_limit_s=None))


class _NoRoomHighs(HighsBackend):
    """HiGHS as on a machine where no MIP can be set up within the limit."""

    def starts_in_time(self, n_columns: int, time_limit_s: float | None) -> bool:
        return False


def test_pmedian_warm_gives_the_heuristic_the_time_of_a_mip_that_cannot_start() -> None:
    rng = np.random.default_rng(1)
    data = PMedianData.from_arrays(rng.uniform(1, 100, size=(80, 40)), p=6)
    limit = 2.0
    out = solve_classic("pmedian-warm", data, _NoRoomHighs(), SolveOptions(time_limit_s=limit))
    assert out.result.status.has_solution and out.report.passed
    assert "MIP not started" in out.result.message
    assert out.milp is None  # not even built: the Lagrangian heuristic had the whole limit


def test_pmedian_greedy_past_its_deadline_still_opens_p_sites() -> None:
    # one greedy step is a pass over every pair; past the deadline the rest open at once
    rng = np.random.default_rng(0)
    data = PMedianData.from_arrays(rng.uniform(1, 100, size=(60, 30)), p=7)
    cp = CostPairs.from_data(data)
    late = greedy(cp, deadline=time.perf_counter() - 1.0)
    assert late.sum() == 7
    assert greedy(cp).sum() == 7


def test_distance_ids_match_as_text_whatever_their_type() -> None:
    # ids are matched as stripped text from their distinct values (fast on millions of pairs)
    demand = pd.DataFrame({"demand_id": ["1", "2"]})
    sites = pd.DataFrame({"site_id": ["a", "b"]})
    od = pd.DataFrame({"demand_id": [1, 2, 2], "site_id": [" a", "a", "b "], "distance": [1, 2, 3]})
    t = from_tables("pmedian", demand, sites, od, p=1)
    assert t.pairs.size == 3
    assert sorted(zip(t.pairs.rows.tolist(), t.pairs.cols.tolist(), strict=True)) == [
        (0, 0),
        (1, 0),
        (1, 1),
    ]


def test_siting_solve_imports_no_planning_or_geodata_modules() -> None:
    # seconds of imports under load that a solve under a time limit must not pay
    code = (
        "import sys, optimizer.cli_solve; "
        "print(sorted(m for m in ('geopandas', 'optimizer.instance', 'optimizer.inputs') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_background_call_is_left_behind_at_its_deadline() -> None:
    """A call that overstays is not waited for; one that returns in time gives its value;
    one that raises raises in the caller."""
    fast = Background(lambda: 42)
    assert fast.result(5.0) == 42 and fast.done() and fast.peek() == 42
    t0 = time.perf_counter()
    slow = Background(lambda: time.sleep(3.0))
    assert slow.result(0.2) is None and slow.peek() is None
    assert time.perf_counter() - t0 < 1.0

    def broken() -> None:
        raise RuntimeError("solver failed")

    with pytest.raises(RuntimeError, match="solver failed"):
        Background(broken).result(5.0)


@pytest.mark.parametrize("parallel", [True, False])
def test_a_mip_past_its_limit_does_not_hold_the_run(parallel: bool) -> None:
    """The covering solvers' MIP beside the search: one that never reads its clock (here a
    call that sleeps past the deadline) is left behind ABANDON_GRACE_S after it, and the run
    goes on with no MIP solution but the bound the MIP reported before."""
    searched: list[float] = []

    def stuck_mip(left: float | None, progress: SolveProgress) -> Result:
        progress.bound = 42.0
        time.sleep(4.0)
        raise AssertionError("never read")

    def search(left: float, stop: object) -> None:
        searched.append(left)
        time.sleep(left)

    t0 = time.perf_counter()
    res = cover_solve._side_by_side(stuck_mip, search, t0 + 1.0, parallel, HighsBackend())
    wall = time.perf_counter() - t0
    assert res.status is Status.NO_SOLUTION and res.stop is StopReason.TIME_LIMIT
    assert res.bound == 42.0 and not res.status.has_solution
    assert searched and wall < 1.0 + ABANDON_GRACE_S + 0.3


def test_a_highs_call_left_behind_gives_stdout_back(capfd: pytest.CaptureFixture[str]) -> None:
    """HiGHS runs with descriptor 1 sent to /dev/null (its stray debug lines); a call left
    behind at its deadline must not swallow what the run prints after it."""
    release = threading.Event()

    def stuck_highs() -> None:
        with _silenced_stdout():
            release.wait(10.0)

    job = Background(stuck_highs)
    assert job.result(0.2) is None
    HighsBackend().leave_behind()
    os.write(1, b"after the deadline\n")
    release.set()
    job.result(5.0)
    os.write(1, b"after the call\n")
    out = capfd.readouterr().out
    assert "after the deadline" in out and "after the call" in out


@pytest.mark.parametrize("penalty", [None, 50.0])
def test_pmedian_nonzero_count_matches_the_model(penalty: float | None) -> None:
    """pmedian-warm decides from this count whether the MIP's root fits its time."""
    dist = np.random.default_rng(0).random((30, 8)) * 100
    kw = {} if penalty is None else {"unserved_penalty": penalty, "max_distance": 60.0}
    data = PMedianData.from_arrays(dist, 3, **kw)  # type: ignore[arg-type]
    assert nonzero_count(data) == build_model(data).A.nnz
