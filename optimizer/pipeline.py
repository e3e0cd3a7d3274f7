"""The planning run, stage by stage: scenario -> inputs -> instance -> model -> solve -> verify
-> plan -> outputs. Each stage is timed; model build and solve are measured separately.

Time: a run has one :class:`~optimizer.deadline.Deadline`, ``solver.time_limit_s`` (or
``--time-limit``) from the moment :func:`run_plan` starts, before the inputs are read. Reading
the inputs, computing distances, the plan's solve phases, the baseline and the essential-site
checks all draw on it; only writing the deliverables comes after it. The plan gets
:data:`PLAN_SHARE` of what is left when solving starts, the baseline part of the rest, and the
essential checks whatever remains, each check bounded so none overruns (checks with no time
left are skipped, and the summary says so). ``summary.json``'s ``timings`` shows the limit and
the time each phase took.

Status: the run's headline (``status``, ``gap``, ``headline`` in ``summary.json``) is the
weakest phase's: a run with any phase stopped early is FEASIBLE, naming that phase and its gap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optimizer import commitments
from optimizer.backends import Backend, Result, SolveOptions, Status, get_backend
from optimizer.deadline import Deadline
from optimizer.deliverables.write import write_deliverables
from optimizer.distances.base import DistanceEngine
from optimizer.distances.engine import make_engine
from optimizer.errors import InfeasibleError, InputError, Problem, SolverError, preview_ids
from optimizer.inputs import Inputs, file_sha256, read_inputs
from optimizer.instance import PlanningInstance, build_instance
from optimizer.messages import Message, message, phrasebook
from optimizer.models.planning import model as planning
from optimizer.models.planning import solve as planning_solve
from optimizer.models.planning.model import Objective, PlanningData, PlanningSolution
from optimizer.models.planning.solve import PlanningOutcome
from optimizer.outputs import (
    atomic_write,
    check_output_folder,
    staged_run,
    write_csv,
    write_json,
)
from optimizer.plan import FLAG_PERCENTILE, Plan, finite_or_none, make_plan
from optimizer.runs import record_run, run_parameters
from optimizer.scenario import ModelSettings, Scenario, load_scenario
from optimizer.verify import VerifyReport, verify_plan
from optimizer.version import __version__

log = logging.getLogger(__name__)

PLAN_SHARE = 0.85
"""Share of the time left at the start of solving that the plan's phases get."""
BASELINE_SHARE = 0.5
"""Share of the time left after the plan that the baseline (existing facilities) may take."""
MIN_CHECK_S = 0.5
"""An essential-site check needs at least this much time; with less left it is skipped."""
RESERVE_SHARE = 0.03
"""Share of the limit the essential checks leave unused: a solver overshoots its time limit a
little, and ranking and verifying the plan still follow."""

MODEL_MESSAGES = {
    "min_cost_cover": message("model_min_cost_cover"),
    "max_coverage": message("model_max_coverage"),
}
MODEL_LABELS = {key: msg.en for key, msg in MODEL_MESSAGES.items()}


@dataclass
class PlanRun:
    """Everything a planning run produced (kept in memory for tests, the CLI and sweeps).

    ``solution`` is the plan's decision arrays (see :func:`optimizer.models.planning.model.decode`);
    a later run on the same places can start from it (``start`` of :func:`plan_scenario`).
    """

    scenario: Scenario
    inputs: Inputs
    instance: PlanningInstance
    result: Result
    plan: Plan
    verify: VerifyReport
    summary: dict[str, Any]
    out_dir: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    solution: PlanningSolution | None = None
    engine: DistanceEngine | None = None


@dataclass
class Prepared:
    """A scenario's inputs and instance (blocks, sites, distances), reusable by every run that
    changes only the ``model`` settings (budgets, years, targets, priorities) or the solver.

    ``engine`` is the distance engine the instance was built with; the deliverables draw the
    service areas with it (its street network and snaps), never reading the network again.
    """

    inputs: Inputs
    instance: PlanningInstance
    timings: dict[str, float] = field(default_factory=dict)
    engine: DistanceEngine | None = None


SOLUTION_FILE = "solution.npz"


def default_out_dir(scenario: Scenario) -> Path:
    """``output.dir`` from the scenario, else ``reports/<scenario name>`` under the cwd."""
    return scenario.output_dir or Path("reports") / scenario.name


def scenario_files(scenario: Scenario) -> list[Path]:
    """The scenario file and every input file it reads: an output folder may hold none."""
    settings = scenario.distances
    specs = (
        scenario.blocks,
        scenario.sites,
        scenario.existing,
        settings.network,
        settings.table,
        scenario.committed_table,
        scenario.excluded_table,
    )
    return [scenario.path, *(spec.path for spec in specs if spec is not None)]


def run_plan(
    scenario_path: str | Path,
    out_dir: str | Path | None = None,
    solver: str | None = None,
    time_limit_s: float | None = None,
    write: bool = True,
    lang: str = "zh",
    continue_from: str | Path | None = None,
    adopt_through: int | None = None,
) -> PlanRun:
    """Run the planning pipeline on a scenario file and (by default) write its outputs.

    ``lang`` (``zh`` | ``en``) is the language of the report, maps and workbook.
    ``continue_from`` (an earlier run's folder, read only) commits that plan's construction
    list rows through ``adopt_through`` (default: its first plan year), so this plan starts
    where that one was adopted (:mod:`optimizer.commitments`).

    Raises
    ------
    ScenarioError, InputError
        For a bad scenario or bad input tables, before any solver runs.
    InfeasibleError, SolverError
        When no plan can be produced; the message says why.
    """
    t0 = time.perf_counter()
    started = time.monotonic()  # the run's deadline counts from here (see the module doc)
    scenario = load_scenario(scenario_path)
    cont = None
    if adopt_through is not None and continue_from is None:
        raise InputError([Problem("--adopt-through", None, "needs --continue-from RUN_DIR")])
    if continue_from is not None:
        cont = commitments.read_continuation(Path(continue_from), adopt_through)
        scenario = commitments.continue_scenario(scenario, cont)
    if write:  # a folder the run may not write into is refused before any work
        target = Path(out_dir) if out_dir is not None else default_out_dir(scenario)
        check_output_folder(target, scenario_files(scenario))
        if cont is not None:
            _refuse_same_folder(target, cont.run_dir)
    load_s = time.perf_counter() - t0
    limit = time_limit_s if time_limit_s is not None else scenario.solver.time_limit_s
    deadline = Deadline(limit, start=started)
    with deadline.timed("inputs"):
        prepared = prepare(scenario)
    prepared.timings["inputs_s"] += load_s
    if cont is not None:
        commitments.check_continuation(cont, prepared.instance)
    return plan_scenario(
        scenario,
        out_dir=out_dir,
        solver=solver,
        time_limit_s=time_limit_s,
        write=write,
        lang=lang,
        prepared=prepared,
        deadline=deadline,
        extra_summary={"continued_from": cont.summary()} if cont is not None else None,
    )


def _refuse_same_folder(target: Path, run_dir: Path) -> None:
    """The earlier run a plan continues from is input: never written over or moved."""
    if target.resolve() == run_dir.resolve():
        raise InputError(
            [
                Problem(
                    str(target),
                    None,
                    "the output folder is the run --continue-from reads: that run is input "
                    "and is never modified; give another --out",
                )
            ]
        )


def prepare(scenario: Scenario) -> Prepared:
    """Read and check the scenario's inputs and compute walking distances (the instance)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    inputs = read_inputs(scenario)
    timings["inputs_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = make_engine(scenario.distances, inputs)
    inputs.file_hashes.update(distance_source_hashes(scenario))
    instance = build_instance(inputs, scenario.catalog, engine)
    timings["distances_s"] = time.perf_counter() - t0
    _log_uncoverable(instance)
    return Prepared(inputs, instance, timings, engine)


def decided_planning_data(scenario: Scenario, instance: PlanningInstance) -> PlanningData:
    """The planning model's arrays with the scenario's committed and excluded sites, after
    checking them (site ids, types, sizes, years, and committed spending within each year's
    budget) — what ``siting plan`` solves and ``siting validate`` checks.

    Raises
    ------
    InputError
        With every problem of the committed / excluded entries, naming the key or file.
    """
    decided = commitments.commitments(commitments.gather(scenario), instance, scenario.model.years)
    data = planning.with_commitments(planning_data(instance, scenario.model), decided)
    commitments.check_committed_budgets(data, instance.site_ids)
    return data


def plan_scenario(
    scenario: Scenario,
    out_dir: str | Path | None = None,
    solver: str | None = None,
    time_limit_s: float | None = None,
    write: bool = True,
    lang: str = "zh",
    *,
    prepared: Prepared | None = None,
    start: PlanningSolution | None = None,
    extra_summary: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    catalogue: Path | None = None,
    save_solution: bool = False,
    deadline: Deadline | None = None,
) -> PlanRun:
    """Plan a loaded scenario and (by default) write its outputs to ``out_dir``.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario (e.g. from :func:`~optimizer.scenario.load_scenario`).
    out_dir, solver, time_limit_s, write, lang
        As for :func:`run_plan`.
    prepared : Prepared, optional
        The scenario's inputs and instance from :func:`prepare` (computed when not given);
        runs that differ only in their ``model`` settings may share one.
    start : PlanningSolution, optional
        A plan for the same places (e.g. the previous budget's in a sweep) that warm-starts
        the solver; ignored when it does not fit the model's layout.
    extra_summary : dict, optional
        Keys added to ``summary.json`` (a sweep records its scenario key there).
    parameters : dict, optional
        Keys added to the run's parameters in the run catalogue.
    catalogue : Path, optional
        The run catalogue to record the run in (default: beside ``out_dir``).
    save_solution : bool
        Also write ``solution.npz`` (the plan's decision arrays, see :func:`save_solution`).
    deadline : Deadline, optional
        The run's deadline (:func:`run_plan` starts it before reading the inputs); without
        one, the time limit counts from this call.

    ``summary.json`` is written last, after every other file is in place: a folder with a
    ``summary.json`` holds a complete run.
    """
    if write:  # a folder the run may not write into is refused before any work
        target = Path(out_dir) if out_dir is not None else default_out_dir(scenario)
        check_output_folder(target, scenario_files(scenario))
    prepared = prepared if prepared is not None else prepare(scenario)
    inputs, instance = prepared.inputs, prepared.instance
    timings: dict[str, float] = dict(prepared.timings)

    settings = scenario.solver
    options = SolveOptions(
        time_limit_s=time_limit_s if time_limit_s is not None else settings.time_limit_s,
        mip_gap=settings.mip_gap,
        threads=settings.threads,
        seed=settings.seed,
    )
    deadline = deadline if deadline is not None else Deadline(options.time_limit_s)
    backend = get_backend(solver or settings.name)
    data = decided_planning_data(scenario, instance)
    t0 = time.perf_counter()
    solved = solve_plan(
        data,
        scenario.model,
        backend,
        options,
        name=scenario.name,
        start=start,
        method=settings.method,
        deadline=deadline.sub(PLAN_SHARE),
    )
    timings["optimise_s"] = time.perf_counter() - t0
    outcome, result = solved.outcome, solved.outcome.result
    log.info(
        "model %s: %d variables, %d rows, %d nonzeros; built in %.3f s",
        outcome.milp.name,
        outcome.milp.num_vars,
        outcome.milp.num_rows,
        outcome.milp.A.nnz,
        outcome.build_s,
    )
    log.info(
        "solved by %s in %.2f s: %s, objective %.6g, bound %.6g, gap %.4g",
        result.solver,
        outcome.solve_s,
        result.status.value,
        result.objective,
        result.bound,
        result.gap,
    )
    _raise_without_solution(result, options)
    assert outcome.solution is not None
    sol = outcome.solution
    t0 = time.perf_counter()
    baseline = baseline_share(data, backend, options, deadline.sub(BASELINE_SHARE))
    essential, checks = essential_sites(data, solved, backend, options, scenario.model, deadline)
    timings["essential_s"] = time.perf_counter() - t0
    spent = planning.spending(data, sol)
    plan = make_plan(instance, data, sol, baseline, essential)
    report = verify_plan(
        instance,
        data,
        sol,
        reported_cost=float(plan.construction_list["cost"].sum()),
        must_cover=solved.must_cover,
    )
    summary = build_summary(scenario, inputs, instance, result, plan, report, timings)
    headline = outcome.headline
    notes, note_messages = _note_texts([*solved.notes, *outcome.notes, *_check_notes(checks)])
    phrases = phrasebook(
        [
            [MODEL_MESSAGES[scenario.model.objective]],
            *note_messages,
            *([m] for m in report.check_messages),
        ]
    )
    summary.update(
        {
            "gap": headline.gap,
            "headline": headline.message,
            "weakest_phase": _weakest_phase(outcome),
            "timings": _timing_summary(timings, deadline),
            "objective_kind": scenario.model.objective,
            "objectives": outcome.objectives,
            "build_s": round(outcome.build_s, 4),
            "solve_s": round(outcome.solve_s, 4),
            "phases": [
                {
                    "objective": k,
                    "status": r.status.value,
                    "gap": r.gap,
                    "stop": r.stop_text,
                    "solve_s": round(r.solve_s, 4),
                }
                for k, r in outcome.phases
            ],
            "notes": notes,
            "phrases": plan.phrases | phrases,
            "budgets": _budget_summary(data, spent),
            "per_year": plan.per_year.to_dict(orient="records"),
            "essential_checks": checks,
            "sites_with_several_types": int(
                (np.sum([b.astype(int) for b in sol.built.values()], axis=0) >= 2).sum()
            ),
            "warm_start": start is not None,
            "committed": _committed_summary(data, sol, instance),
        }
    )
    summary.update(extra_summary or {})
    target = Path(out_dir) if out_dir is not None else default_out_dir(scenario)
    if write:
        with staged_run(target, scenario_files(scenario)) as stage:
            write_csv(stage / "construction_list.csv", plan.construction_list)
            write_csv(stage / "coverage.csv", plan.coverage)
            if save_solution:
                write_solution(stage / SOLUTION_FILE, sol)
            write_deliverables(
                stage, scenario, inputs, plan, summary, lang=lang, engine=prepared.engine
            )
            write_json(stage / "summary.json", summary)  # last: the folder is complete
        log.info("outputs written to %s", target)
        params = run_parameters(scenario, solver, time_limit_s, lang) | (parameters or {})
        record_run(summary, target, scenario.path, params, catalogue=catalogue)
    return PlanRun(
        scenario=scenario,
        inputs=inputs,
        instance=instance,
        result=result,
        plan=plan,
        verify=report,
        summary=summary,
        out_dir=target if write else None,
        timings=timings,
        solution=sol,
        engine=prepared.engine,
    )


def write_solution(path: Path, sol: PlanningSolution) -> Path:
    """Write a plan's decision arrays as ``.npz`` (atomically), for :func:`read_solution`."""
    arrays: dict[str, np.ndarray] = {"open_period": sol.open_period}
    for name in ("built", "area", "serve", "serve_existing"):
        for key, value in getattr(sol, name).items():
            arrays[f"{name}/{key}"] = value

    def write(p: Path) -> None:
        with p.open("wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    return atomic_write(path, write)


def read_solution(path: Path) -> PlanningSolution:
    """The plan written by :func:`write_solution` (exactly: float64 arrays round-trip)."""
    parts: dict[str, dict[str, np.ndarray]] = {
        "built": {},
        "area": {},
        "serve": {},
        "serve_existing": {},
    }
    with np.load(path) as z:
        open_period = z["open_period"]
        for name in z.files:
            kind, _, key = name.partition("/")
            if key:
                parts[kind][key] = z[name]
    return PlanningSolution(
        open_period, parts["built"], parts["area"], parts["serve"], parts["serve_existing"]
    )


def distance_source_hashes(scenario: Scenario) -> dict[str, str]:
    """SHA-256 of the street network or distance table the scenario's distance mode reads."""
    settings = scenario.distances
    source = {"network": settings.network, "table": settings.table}.get(settings.mode)
    return {str(source.path): file_sha256(source.path)} if source is not None else {}


@dataclass
class SolvedPlan:
    """The outcome of :func:`solve_plan` and what it had to do to get there."""

    outcome: PlanningOutcome
    objectives: list[Objective]
    tiebreak: Objective | None
    must_cover: bool
    data: PlanningData
    notes: list[Message | str] = field(default_factory=list)


def planning_data(instance: PlanningInstance, model: ModelSettings) -> PlanningData:
    """The planning model's arrays for the scenario's years, budgets, targets and priorities."""
    years = model.years
    budgets = None
    if model.budgets is not None and years:
        budgets = np.array([model.budgets.get(y, 0.0) for y in years])
    elif model.single_budget is not None:
        budgets = np.array([model.single_budget])
    targets = None
    if model.coverage_targets and years:
        keys = list(instance.types)
        targets = np.full((len(years), len(keys)), np.nan)
        for y, per_type in model.coverage_targets.items():
            for key, share in per_type.items():
                targets[years.index(y), keys.index(key)] = share
    return planning.from_instance(
        instance,
        years=years,
        budgets=budgets,
        carry_over=model.carry_over,
        targets=targets,
        priorities=model.priorities,
    )


def _objectives(model: ModelSettings, primary: Objective) -> list[Objective]:
    second: list[Objective] = []
    if model.secondary != "none" and model.secondary != primary:
        second = [model.secondary]  # type: ignore[list-item]
    return [primary, *second]


def solve_plan(
    data: PlanningData,
    model: ModelSettings,
    backend: Backend,
    options: SolveOptions,
    name: str = "plan",
    start: PlanningSolution | None = None,
    method: planning.Method = "auto",
    deadline: Deadline | None = None,
) -> SolvedPlan:
    """Solve the scenario's objective; explain or fall back when it cannot be met.

    ``min_cost_cover`` serves every reachable block in full at least cost. If the budgets do
    not allow it, the plan serves the most within them (and says what full service costs); if
    floor areas and sizes do not allow it, the plan serves the most, then at least cost.
    Coverage targets that cannot be met raise :class:`InfeasibleError` with the cheapest cost of
    each target against its budget. ``start`` (a plan for the same places, e.g. the previous
    budget's in a sweep) warm-starts the first solve when it fits the model's layout.
    ``method`` is how coverage under budgets is solved (:func:`planning_solve.solve`).
    ``deadline`` bounds every solve here together (default: ``options.time_limit_s`` from now).
    """
    deadline = deadline if deadline is not None else Deadline(options.time_limit_s)
    phased = data.n_periods > 1
    x0 = None if start is None else planning.encode(data, start)
    if model.objective == "max_coverage":
        objs = _objectives(model, "coverage")
        out = planning_solve.solve(
            data,
            objs,
            backend,
            options,
            name=f"{name}:max_coverage",
            tiebreak="cost",
            start=x0,
            method=method,
            deadline=deadline,
        )
        if out.result.status is Status.INFEASIBLE:
            raise InfeasibleError(diagnose_targets(data, backend, options, deadline))
        return SolvedPlan(out, objs, "cost", False, data)

    objs = _objectives(model, "cost")
    tiebreak: Objective = "coverage" if phased else "walk"
    out = planning_solve.solve(
        data,
        objs,
        backend,
        options,
        must_cover=True,
        name=f"{name}:min_cost_cover",
        tiebreak=tiebreak,
        start=x0,
        deadline=deadline,
    )
    if out.result.status is not Status.INFEASIBLE:
        return SolvedPlan(out, objs, tiebreak, True, data)
    return _fall_back(data, model, backend, options, name, method, deadline)


def _fall_back(
    data: PlanningData,
    model: ModelSettings,
    backend: Backend,
    options: SolveOptions,
    name: str,
    method: planning.Method,
    deadline: Deadline,
) -> SolvedPlan:
    """``min_cost_cover`` cannot serve every block: say why, and plan the most coverage.

    The probes (targets alone, cost without budgets) each get part of the time left; the
    fallback plan gets the rest.
    """
    if data.targets is not None and not np.isnan(data.targets).all():
        probe = planning_solve.solve(
            data.with_changes(targets=None),
            ["cost"],
            backend,
            options,
            must_cover=True,
            reassign=False,
            deadline=deadline.sub(0.25),
            label="probe",
        )
        if probe.result.status is not Status.INFEASIBLE:
            raise InfeasibleError(diagnose_targets(data, backend, options, deadline))
    notes: list[Message | str] = []
    if data.budgets is not None:
        free = planning_solve.solve(
            data.with_changes(budgets=None),
            ["cost"],
            backend,
            options,
            must_cover=True,
            reassign=False,
            deadline=deadline.sub(0.25),
            label="probe",
        )
        if free.result.status.has_solution:
            short = message(
                "note_budget_short",
                cost=float(free.result.objective),
                budget=float(np.sum(data.budgets)),
            )
            notes.append(short)
            log.warning(short.en)
            objs: list[Objective] = ["coverage"]
            out = planning_solve.solve(
                data,
                objs,
                backend,
                options,
                name=f"{name}:max_coverage",
                tiebreak="cost",
                method=method,
                deadline=deadline,
            )
            return SolvedPlan(out, objs, "cost", False, data, notes)
    short = message("note_capacity_short")
    notes.append(short)
    log.warning(short.en)
    objs = ["coverage", "cost"]
    out = planning_solve.solve(
        data, objs, backend, options, name=f"{name}:max-then-cost", deadline=deadline
    )
    return SolvedPlan(out, objs, None, False, data, notes)


def diagnose_targets(
    data: PlanningData,
    backend: Backend,
    options: SolveOptions,
    deadline: Deadline | None = None,
) -> str:
    """Why the coverage targets cannot be met: each target's cheapest plan against its budget.

    Each target's probe gets an equal part of the time left on ``deadline``.
    """
    assert data.targets is not None
    deadline = deadline if deadline is not None else Deadline(options.time_limit_s)
    years = data.years or [0]
    messages = []
    targets = list(zip(*np.nonzero(~np.isnan(data.targets)), strict=True))
    for n, (k, i) in enumerate(targets):
        t = data.types[i]
        share = float(data.targets[k, i])
        only = np.full_like(data.targets, np.nan)
        only[k, i] = share
        probe = planning_solve.solve(
            data.with_changes(targets=only, budgets=None),
            ["cost"],
            backend,
            options,
            reassign=False,
            deadline=deadline.sub(1.0 / (len(targets) - n)),
            label="diagnosis",
        )
        label = f"a {years[k]} coverage target of {share:.0%} for {t.key}"
        if probe.result.status is Status.INFEASIBLE:
            messages.append(
                f"{label} cannot be met at any cost: the candidate sites available by {years[k]} "
                "do not reach or cannot hold enough capacity for that share"
            )
            continue
        if not probe.result.status.has_solution:
            messages.append(f"{label}: its cheapest plan was not found within the time limit")
            continue
        cost = float(probe.result.objective)
        if data.budgets is not None:
            budget = float(np.sum(data.budgets[: k + 1]))
            if cost > budget * (1 + 1e-9):
                messages.append(
                    f"{label} cannot be met: the cheapest plan reaching it costs {cost:,.0f} "
                    f"yuan, the budget through {years[k]} is {budget:,.0f}"
                )
    if not messages:
        messages.append(
            "each coverage target can be met on its own within the budgets through its year, "
            "but not all of them together within the annual budgets"
        )
    return "; ".join(messages)


def baseline_share(
    data: PlanningData,
    backend: Backend,
    options: SolveOptions,
    deadline: Deadline | None = None,
) -> dict[str, np.ndarray]:
    """Each type's served share per block with existing facilities only (capacity-aware).

    Serving nobody is a feasible answer, so the solve starts from it: it has a plan even when
    ``deadline`` leaves it almost no time (its coverage then understates the baseline).
    """
    none = data.with_changes(
        committed=None,  # existing facilities only: nothing committed is built yet
        first_period=np.full(data.n_sites, 1),
        years=None,
        budgets=None,
        targets=None,
    )
    out = planning_solve.solve(
        none,
        ["coverage", "walk"],
        backend,
        options,
        reassign=False,
        start=np.zeros(planning.Layout.of(none).n),
        deadline=deadline,
        label="baseline",
    )
    if out.solution is None:
        raise SolverError(
            f"the baseline (existing facilities only) failed: {out.result.status.value}"
        )
    if not out.result.proven_optimal:
        log.warning("the baseline (existing facilities only) %s", out.headline.message)
    return {k: v[0] for k, v in planning.served_share(none, out.solution).items()}


def essential_sites(
    data: PlanningData,
    solved: SolvedPlan,
    backend: Backend,
    options: SolveOptions,
    model: ModelSettings,
    deadline: Deadline | None = None,
) -> tuple[dict[int, Message], list[dict[str, Any]]]:
    """Which chosen sites the plan cannot do without, and what doing without them costs.

    A site that is the only one within reach of blocks it serves is essential outright. The
    ``model.essential_checks`` costliest other sites are each forbidden in turn and the plan
    re-solved (same objective and limits): a site is essential when the re-solved plan is
    worse by more than both solutions' optimality gaps allow, or when no plan exists without
    it. The checks share what is left of ``deadline`` (less :data:`RESERVE_SHARE` of the
    limit), each an equal part of it, so none overruns; a check with less than
    :data:`MIN_CHECK_S` left is skipped (``status`` ``SKIPPED``), and one that finds no plan
    in its time proves nothing.
    """
    deadline = deadline if deadline is not None else Deadline(options.time_limit_s)
    out = solved.outcome
    assert out.solution is not None
    sol = out.solution
    notes = _sole_site_notes(data, sol)
    primary = solved.objectives[0]
    base_value = out.objectives.get(primary, float("nan"))
    cost = data.fixed_cost.copy()
    for t in data.types:
        cost += np.where(sol.built[t.key], t.rate * sol.area[t.key], 0.0)
    decided = data.committed.committed if data.committed is not None else np.zeros(0, bool)
    # a committed site is decided: the plan cannot do without it, so it is not re-solved
    candidates = [
        int(s)
        for s in np.argsort(-cost)
        if sol.opened[s] and int(s) not in notes and not (decided.size and decided[s])
    ]
    chosen = candidates[: model.essential_checks]
    K = data.n_periods
    gap = max(out.result.gap if np.isfinite(out.result.gap) else 0.0, options.mip_gap)
    checks: list[dict[str, Any]] = []
    reserve = RESERVE_SHARE * deadline.limit_s if deadline.limit_s is not None else 0.0
    for n, s in enumerate(chosen):
        share = 1.0 / (len(chosen) - n)
        left = deadline.remaining(share, reserve)
        if left is not None and left < MIN_CHECK_S:
            checks.append({"site": s, "status": "SKIPPED", "delta": None, "essential": False})
            continue
        first = data.first_period.copy()
        first[s] = K
        probe = planning_solve.solve(
            data.with_changes(first_period=first),
            [primary],
            backend,
            options,
            must_cover=solved.must_cover,
            reassign=False,
            tiebreak=solved.tiebreak,
            deadline=deadline.sub(share, reserve),
            label="essential",
        )
        entry: dict[str, Any] = {"site": s, "status": probe.result.status.value, "delta": None}
        if probe.result.status is Status.INFEASIBLE:
            notes[s] = message("essential_infeasible")
        elif probe.result.status.has_solution:
            value = float(probe.objectives.get(primary, np.nan))
            worse = value - base_value if primary == "cost" else base_value - value
            probe_gap = probe.result.gap if np.isfinite(probe.result.gap) else 1.0
            entry["delta"] = worse
            if worse > (gap + probe_gap) * max(abs(base_value), 1.0) + 1e-6:
                code = "essential_cost" if primary == "cost" else "essential_points"
                notes[s] = message(code, worse=float(worse))
        entry["essential"] = s in notes
        checks.append(entry)
    return notes, checks


def _sole_site_notes(data: PlanningData, sol: PlanningSolution) -> dict[int, Message]:
    """Chosen sites that are the only candidate reaching some block they serve."""
    notes: dict[int, Message] = {}
    for t in data.types:
        served = sol.serve[t.key][-1] > 1e-9
        counts = np.bincount(t.pair_block, minlength=data.n_blocks)
        sole = served & (counts[t.pair_block] == 1)
        for s in np.unique(t.sites[t.pair_site[sole]]):
            notes[int(s)] = message("essential_sole")
    return notes


def _check_notes(checks: list[dict[str, Any]]) -> list[Message]:
    """A note for essential-site checks skipped or left open for lack of time."""
    skipped = [c["site"] for c in checks if c["status"] == "SKIPPED"]
    open_ = [c["site"] for c in checks if c["status"] == Status.NO_SOLUTION.value]
    notes = []
    if skipped:
        notes.append(message("note_checks_skipped", skipped=len(skipped), total=len(checks)))
    if open_:
        notes.append(message("note_checks_open", n=len(open_)))
    for note in notes:
        log.warning(note.en)
    return notes


def _note_texts(notes: list[Message | str]) -> tuple[list[str], list[list[Message]]]:
    """The notes in English for ``summary.json``, and those that are messages (the report
    translates them through ``summary["phrases"]``; a plain text stays as it is)."""
    texts = [n.en if isinstance(n, Message) else n for n in notes]
    return texts, [[n] for n in notes if isinstance(n, Message)]


def _weakest_phase(outcome: PlanningOutcome) -> dict[str, Any] | None:
    """The phase that sets the run's headline (None when every phase was proven)."""
    if not outcome.weakest:
        return None
    res = dict(outcome.phases)[outcome.weakest]
    return {
        "phase": outcome.weakest,
        "status": res.status.value,
        "stop": res.stop_text,
        "objective": res.objective,
        "bound": res.bound,
        "gap": res.gap,
    }


def _timing_summary(timings: dict[str, float], deadline: Deadline) -> dict[str, Any]:
    """The stage timings, the run's time limit and the time each solve phase took."""
    out: dict[str, Any] = {k: round(v, 4) for k, v in timings.items()}
    out.update(deadline.summary())
    return out


def _committed_summary(
    data: PlanningData, sol: PlanningSolution, instance: PlanningInstance
) -> dict[str, Any] | None:
    """Committed sites, their facilities and cost (before the plan years: paid earlier), and
    the excluded sites."""
    com = data.committed
    if com is None:
        return None
    sites = np.flatnonzero(com.committed)
    fit = sum(np.where(sol.built[t.key], t.rate * sol.area[t.key], 0.0) for t in data.types)
    site_cost = data.fixed_cost + np.asarray(fit)
    return {
        "sites": [str(s) for s in instance.site_ids[sites]],
        "facilities": int(sum(int(b[sites].sum()) for b in com.built.values())),
        "cost": round(float(site_cost[sites].sum()), 2),
        "cost_before_plan_years": round(planning.prior_cost(data, sol), 2),
        "excluded_sites": [str(s) for s in instance.site_ids[com.excluded]],
    }


def _budget_summary(data: PlanningData, spent: np.ndarray) -> dict[str, Any] | None:
    if data.budgets is None:
        return None
    years: list[Any] = list(data.years) if data.years else ["plan"]
    return {
        str(y): {"budget": float(b), "spent": round(float(s), 2)}
        for y, b, s in zip(years, data.budgets, spent, strict=True)
    }


def _log_uncoverable(instance: PlanningInstance) -> None:
    for key, t in instance.types.items():
        bad = t.uncoverable
        if bad.any():
            log.warning(
                "%s: %d blocks (%s %s) have no candidate site within %g m and stay uncovered: %s",
                key,
                int(bad.sum()),
                f"{t.target[bad].sum():,.0f}",
                t.ftype.target_label,
                t.ftype.walk_limit_m,
                preview_ids(instance.block_ids[bad]),
            )


def _raise_without_solution(result: Result, options: SolveOptions) -> None:
    if result.status.has_solution:
        return
    if result.status is Status.INFEASIBLE:
        raise InfeasibleError(
            "no plan satisfies the constraints (every coverable block covered within the "
            "sites' floor areas); check allowed_types and floor areas of the candidate sites"
        )
    if result.status is Status.NO_SOLUTION:
        raise SolverError(
            f"the solver found no plan within {options.time_limit_s} s; raise "
            "solver.time_limit_s in the scenario or pass --time-limit"
        )
    raise SolverError(f"the solver failed: {result.status.value} {result.message}")


def build_summary(
    scenario: Scenario,
    inputs: Inputs,
    instance: PlanningInstance,
    result: Result,
    plan: Plan,
    report: VerifyReport,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The ``summary.json`` contract of DESIGN.md, plus details planners and analysts use."""
    per_type = {row["facility_type"]: row for row in plan.per_type.to_dict(orient="records")}
    cl = plan.construction_list
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "model": MODEL_LABELS[scenario.model.objective],
        "solver": result.solver,
        "status": result.status.value,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "build_s": round(result.build_s, 4),
        "solve_s": round(result.solve_s, 4),
        "nodes": result.nodes,
        "distance_mode": instance.distance_mode,
        "distance_note": instance.distance_note,
        "detour_factor": scenario.distances.detour_factor
        if instance.distance_mode == "euclidean"
        else None,
        "totals": {
            "cost": float(cl["cost"].sum()),
            "sites_opened": int(cl["site_id"].nunique()),
            "facilities_built": len(cl),
            "coverage_pct_before": plan.baseline_coverage_pct,
            "coverage_pct_after": float(cl["cumulative_coverage_pct"].iloc[-1])
            if len(cl)
            else plan.baseline_coverage_pct,
            "per_type": per_type,
        },
        "uncoverable_blocks": {
            key: [str(b) for b in instance.block_ids[t.uncoverable]]
            for key, t in instance.types.items()
        },
        "standards": {
            key: {
                "walk_limit_m": t.ftype.walk_limit_m,
                "target_group": t.ftype.target_group,
                "build_area_m2": t.ftype.build_area_m2,
                "capacity": t.ftype.build_capacity,
                "capacity_unit": t.ftype.capacity_unit,
            }
            for key, t in instance.types.items()
        },
        "cost_flags": {  # construction-list rows flagged for their cost per resident
            "percentile": FLAG_PERCENTILE,
            "thresholds": {k: finite_or_none(v) for k, v in plan.cost_thresholds.items()},
            "flagged": int(cl["cost_flag"].sum()) if "cost_flag" in cl else 0,
        },
        "verify": report.as_dict(),
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "counts": {
            "blocks": instance.n_blocks,
            "sites": instance.n_sites,
            "existing": int(np.asarray(instance.existing_ids).size),
        },
        "inputs": inputs.file_hashes,
        "crs": inputs.crs.to_string(),
        "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
