"""One deadline per run, and a headline that is the weakest phase's.

The run's time limit bounds every solve of the run together (plan phases, re-assignment,
baseline, essential-site checks), not each solve separately; and a run in which any phase
stopped early is FEASIBLE, named after that phase, with that phase's gap.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from optimizer import pipeline
from optimizer.backends import Result, SolveOptions, Status, StopReason
from optimizer.backends.highs import HighsBackend
from optimizer.deadline import Deadline
from optimizer.milp import MILP
from optimizer.pipeline import run_plan
from tests.helpers import blocks_frame, sites_frame, write_scenario

LIMIT_S = 2.0
MARGIN_S = 1.5  # reading the small inputs, building models, ranking: well under a second


class SlowHighs(HighsBackend):
    """HiGHS that, like a solver on a hard model, uses every second it is given."""

    calls: int = 0

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        t0 = time.monotonic()
        res = super().solve(milp, options)
        type(self).calls += 1
        if options.time_limit_s is not None:
            time.sleep(max(0.0, options.time_limit_s - (time.monotonic() - t0)))
        return res


class CostPhaseStopsEarly(HighsBackend):
    """HiGHS whose second objective (cost) stops at the time limit 35 % from its bound, and
    (``walk_too``) whose walk re-assignment stops with no bound at all."""

    def __init__(self, walk_too: bool = False) -> None:
        super().__init__()
        self.walk_too = walk_too

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        res = super().solve(milp, options)
        if milp.name.endswith(":cost") and res.x is not None:
            return res.replace(
                status=Status.FEASIBLE, bound=0.65 * res.objective, stop=StopReason.TIME_LIMIT
            )
        if self.walk_too and milp.name.endswith(":assign-walk") and res.x is not None:
            return res.replace(status=Status.FEASIBLE, bound=math.nan, stop=StopReason.TIME_LIMIT)
        return res


def _phased_city(tmp_path: Path, **solver: object) -> Path:
    # Two neighbourhoods whose blocks several candidate sites reach (so the essential-site
    # checks have candidates), two plan years, most coverage then least cost.
    blocks = blocks_frame([0, 0, 150, 150, 300, 300, 3000, 3000, 3150])
    sites = sites_frame(
        [0, 150, 300, 3000, 3150, 3300],
        floor=[800] * 6,
        fixed=[100_000, 120_000, 90_000, 100_000, 110_000, 95_000],
    )
    return write_scenario(
        tmp_path,
        blocks,
        sites,
        model={
            "objective": "max_coverage",
            "secondary": "cost",
            "budgets": {2026: 900_000, 2027: 900_000},
            "essential_checks": 3,
        },
        solver={"name": "highs", "time_limit_s": 30, **solver},
    )


def test_the_time_limit_bounds_the_whole_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every solve takes all the time it is given: with the limit per solve, the plan's phases,
    # the re-assignment, the baseline and three essential checks would take 10 x 2 s.
    monkeypatch.setattr(pipeline, "get_backend", lambda name: SlowHighs())
    SlowHighs.calls = 0
    t0 = time.monotonic()
    run = run_plan(_phased_city(tmp_path), time_limit_s=LIMIT_S, write=False)
    elapsed = time.monotonic() - t0
    assert elapsed <= LIMIT_S + MARGIN_S
    assert SlowHighs.calls >= 4  # the plan's phases and the baseline each got some time
    timings = run.summary["timings"]
    assert timings["limit_s"] == LIMIT_S
    assert timings["elapsed_s"] <= LIMIT_S + 0.5
    phases = timings["phases_s"]
    assert phases["plan:coverage"] > phases.get("plan:cost", 0.0)  # the primary gets most
    assert sum(v for k, v in phases.items() if k != "inputs") <= LIMIT_S + 0.5
    # checks with no time left are skipped, and the summary says so
    checks = run.summary["essential_checks"]
    skipped = [c for c in checks if c["status"] == "SKIPPED"]
    if skipped:
        assert any("essential-site checks were skipped" in n for n in run.summary["notes"])


def test_without_a_limit_every_check_runs(tmp_path: Path) -> None:
    run = run_plan(_phased_city(tmp_path), write=False)
    assert run.summary["status"] == "OPTIMAL" and run.summary["gap"] == 0
    assert run.summary["headline"].startswith("OPTIMAL")
    checks = run.summary["essential_checks"]
    assert checks and all(c["status"] != "SKIPPED" for c in checks)
    assert run.summary["timings"]["limit_s"] == 30


@pytest.mark.parametrize("walk_too", [False, True])
def test_a_later_phase_stopped_early_makes_the_run_feasible_with_its_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, walk_too: bool
) -> None:
    # with the walk re-assignment unproven too, the cost phase still names the headline: it
    # decides what is built and what it costs
    monkeypatch.setattr(pipeline, "get_backend", lambda name: CostPhaseStopsEarly(walk_too))
    run = run_plan(_phased_city(tmp_path), write=False)
    s = run.summary
    phases = {p["objective"]: p for p in s["phases"]}
    assert phases["coverage"]["status"] == "OPTIMAL" and phases["coverage"]["gap"] == 0
    # the headline is the cost phase's, never the proven coverage phase's 0 %
    assert s["status"] == "FEASIBLE"
    assert s["gap"] == pytest.approx(0.35)
    assert s["headline"] == "FEASIBLE: cost phase stopped at the time limit with gap 35.0%"
    assert s["weakest_phase"]["phase"] == "cost"
    assert run.result.status is Status.FEASIBLE


def test_the_deadline_shares_what_is_left() -> None:
    deadline = Deadline(10.0)
    part = deadline.sub(0.5)
    assert part.limit_s is not None and 4.9 <= part.limit_s <= 5.0
    capped = deadline.cap(30.0)
    assert capped is not None and capped <= 10.0
    assert deadline.cap(1.0) == 1.0
    part.spent("x", 1.5)
    assert deadline.phases == {"x": 1.5}  # a part records into the run's table
    unlimited = Deadline(None).sub(0.5)
    assert unlimited.limit_s is None and unlimited.cap(None) is None
    share = deadline.cap(None, 0.1)
    assert share is not None and share <= 1.0
