"""How a planning problem is solved: lexicographic phases, then re-assignment, on one deadline.

:func:`solve` compiles the model (:mod:`optimizer.models.planning.model`), solves its
objectives one after the other (each later one at no loss in the earlier ones), the first
phase by one MIP or by the Lagrangian decomposition
(:mod:`optimizer.models.planning.decomposition`), and finally re-assigns blocks with the build
decisions fixed (coverage kept, walks shortest, existing facilities first).

Anytime: a first phase that maximises (coverage) starts from the primal heuristic's plan
(:mod:`optimizer.models.planning.heuristic`): the MIP takes it as its warm start, the
decomposition as the plan to beat, and the phase's answer is never worse than it. On
``scenarios/sample-city-phased.yaml`` the MIP alone held 97.9 points after 5 s where the best
plan known is about 484; the heuristic gives about 476 in a second, the decomposition about 484
once its first iteration is done (``benchmarks/results/planning_anytime.md``).

Time: every step draws on one :class:`~optimizer.deadline.Deadline`. The first phase gets most
of what is left, each later step a share of what is left when it starts
(:data:`STEP_WEIGHTS`), so a step that finishes early leaves its time to the next. A later step
with no time left is skipped (the earlier plan stays) and says so.

Status: the run is only as proven as its weakest step. :attr:`PlanningOutcome.headline` is the
weakest step's result, named, so a plan whose cost phase stopped at 35 % is reported as
FEASIBLE with 35 %, never with the 0 % of a phase that was proven.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from optimizer.backends import Backend, Result, SolveOptions, Status, StopReason
from optimizer.deadline import Deadline
from optimizer.messages import Message, message
from optimizer.milp import MILP
from optimizer.models.planning import decomposition, heuristic
from optimizer.models.planning.model import (
    LEX_RTOL,
    OBJECTIVE_SENSE,
    Layout,
    Method,
    Objective,
    PlanningData,
    PlanningSolution,
    build_model,
    decode,
    fixed_builds,
    objective,
    tiebreak_weight,
    with_objective,
    with_row,
)
from optimizer.result import gap_percent, weakest

log = logging.getLogger(__name__)

STEP_WEIGHTS = {"primary": 16.0, "objective": 3.0, "assign": 1.0}
"""Relative time of the steps of one solve: the first phase, each later objective, each
re-assignment step. A step gets ``weight / sum of the weights of the steps left`` of the time
left when it starts."""

MIN_STEP_S = 0.05
"""A later step with less time than this left is skipped (the earlier plan is kept)."""

REASSIGN_STEPS: tuple[Objective, ...] = ("coverage", "walk")

HEURISTIC_SHARE = 0.05
"""Share of the first phase's time the primal heuristic's reruns and local search may use
(:mod:`optimizer.models.planning.heuristic`); its first greedy construction always runs (about
a second on a district, up to :data:`HEURISTIC_HARD_SHARE`). The rest goes to the MIP or the
decomposition, started from its plan: on the sample city a decomposition iteration gains more
(476.7 -> 481.8-484.5 points) than the reruns and swaps (about +0.5), so they get little."""

HEURISTIC_HARD_SHARE = 0.9
"""Share of the first phase's time after which the heuristic stops whatever it is doing (on
a loaded machine its greedy construction alone may take that long)."""

MIN_DECOMPOSITION_S = 10.0
"""``method: auto`` gives a first phase with less time than this to the MIP, even on a
district-sized model: the decomposition needs its LP and one round of pieces (5-15 s on the
sample city, by load) to beat the heuristic's plan, while the warm-started MIP keeps that plan
and proves a far tighter bound in the same seconds (486.1 against the LP's 501.8 at 5 s)."""

MIN_HEURISTIC_S = 0.2
"""A first phase with less time than this starts without the heuristic."""


@dataclass
class PlanningOutcome:
    """A solved planning problem.

    Attributes
    ----------
    result : Result
        The first (primary) phase's result: its objective, bound and gap describe the primary
        objective; its status is FEASIBLE when any later step was not proven.
    milp : MILP
        The compiled model (constraints; cost objective).
    solution : PlanningSolution or None
        The decoded plan (None when the first phase found none).
    phases : list of (name, Result)
        Every step run or skipped: the objectives, then ``assign-coverage``, ``assign-walk``.
    objectives : dict
        The value each phase reached.
    weakest : str
        The step that sets the headline: of the steps not proven, an objective's phase before
        a re-assignment step, then the largest gap ("" when every step was proven).
    notes : list of str
        Steps skipped for lack of time.
    """

    result: Result
    milp: MILP
    solution: PlanningSolution | None
    phases: list[tuple[str, Result]] = field(default_factory=list)
    objectives: dict[str, float] = field(default_factory=dict)
    fell_back: bool = False
    weakest: str = ""
    notes: list[Message | str] = field(default_factory=list)

    @property
    def build_s(self) -> float:
        return float(sum(r.build_s for _, r in self.phases))

    @property
    def solve_s(self) -> float:
        return float(sum(r.solve_s for _, r in self.phases))

    @property
    def headline(self) -> Result:
        """The whole solve's answer: the weakest step's result (the primary's when every step
        was proven), with the run's status and a message naming the step."""
        if not self.weakest:
            return self.result.replace(message=headline_text(self.result, ""))
        res = dict(self.phases)[self.weakest]
        return res.replace(status=self.result.status, message=headline_text(res, self.weakest))


def solve(
    data: PlanningData,
    objectives: list[Objective],
    backend: Backend,
    options: SolveOptions,
    must_cover: bool = False,
    name: str = "planning",
    reassign: bool = True,
    tiebreak: Objective | None = None,
    start: np.ndarray | None = None,
    method: Method = "auto",
    deadline: Deadline | None = None,
    label: str = "plan",
) -> PlanningOutcome:
    """Solve lexicographically over ``objectives``; then, with the build decisions fixed,
    re-assign blocks (coverage kept, walk minimised, existing facilities first).

    ``tiebreak`` adds a second objective to the first phase at a weight too small to trade
    against the primary one (:func:`~optimizer.models.planning.model.tiebreak_weight`), so
    that among plans of equal primary value the solver prefers the cheaper (or
    earlier-covering) one without a second MIP. ``start`` (a column vector, see
    :func:`~optimizer.models.planning.model.encode`) warm-starts the first phase.

    ``method`` chooses how the first phase is solved when it maximises coverage under
    budgets: ``mip`` (one MIP), ``decomposition`` (Lagrangian decomposition over the budget
    rows), or ``auto``: the decomposition where it applies from district-sized models on
    (:data:`~optimizer.models.planning.decomposition.MIN_BINARIES`) when the phase has
    :data:`MIN_DECOMPOSITION_S` or more, else the MIP. Either is
    started from the primal heuristic's plan; ``result.solver`` then ends in ``+heuristic``
    and ``result.extra`` holds the method and the heuristic's value and time.

    ``deadline`` bounds the whole solve (default: ``options.time_limit_s`` from now); each
    step's time is recorded in it as ``<label>:<step>``.
    """
    deadline = deadline if deadline is not None else Deadline(options.time_limit_s)
    t0 = time.perf_counter()
    base = build_model(data, must_cover=must_cover, name=name)
    build_s = time.perf_counter() - t0
    deadline.spent(f"{label}:build", build_s)
    lay = Layout.of(data)
    weights = _step_weights(len(objectives), reassign)
    phases: list[tuple[str, Result]] = []
    achieved: dict[str, float] = {}
    notes: list[Message | str] = []
    model = base
    x_best: np.ndarray | None = None
    for i, kind in enumerate(objectives):
        share = weights[i] / sum(weights[i:])
        step_options = _step_options(options, deadline, share)
        if i > 0 and _no_time(step_options):
            phases.append((kind, _skipped(kind, notes)))
            continue
        c = objective(data, kind, lay)
        c_solve = _with_tiebreak(data, lay, c, kind, tiebreak) if i == 0 else c
        m = with_objective(model, c_solve, OBJECTIVE_SENSE[kind], f"{name}:{kind}")
        warm = start if x_best is None else x_best
        heur = None
        if i == 0 and OBJECTIVE_SENSE[kind] == "max":
            with deadline.timed(f"{label}:{kind}"):  # the heuristic is part of the phase
                heur = _run_heuristic(data, base, c_solve, backend, step_options)
            warm = _better_start(base, c_solve, start, heur)
            step_options = _less_time(step_options, heur)
        with deadline.timed(f"{label}:{kind}"):
            if i == 0 and _decompose(
                method, kind, data, base, must_cover, step_options.time_limit_s
            ):
                res = decomposition.solve_decomposed(
                    data, base, c_solve, backend, step_options, start=warm
                )
            else:
                res = backend.solve(m, replace(step_options, warm_start=warm))
        if i == 0:
            res = _with_heuristic(res, heur, c_solve)
        res = res.replace(build_s=build_s if i == 0 else 0.0)
        if i == 0 and tiebreak is not None and tiebreak != kind and res.x is not None:
            res = _strip_tiebreak(res, kind, float(c @ np.asarray(res.x)))
        phases.append((kind, res))
        if not res.status.has_solution or res.x is None:
            if i == 0:
                return PlanningOutcome(res, m, None, phases, achieved, notes=notes)
            break  # keep the earlier phase's plan
        x_best = np.asarray(res.x)
        value = float(c @ x_best)
        achieved[kind] = value
        slack = LEX_RTOL * max(1.0, abs(value))
        lo, up = (
            (value - slack, np.inf) if OBJECTIVE_SENSE[kind] == "max" else (-np.inf, value + slack)
        )
        model = with_row(model, c, lo, up)
    assert x_best is not None
    if reassign:
        steps = _Steps(data, lay, backend, options, deadline, name, label, phases, achieved, notes)
        x_best = _reassign(steps, model, x_best, weights[len(objectives) :])
    result, weak = _run_status(phases)
    return PlanningOutcome(
        result, base, decode(data, base, x_best), phases, achieved, weakest=weak, notes=notes
    )


def _step_weights(n_objectives: int, reassign: bool) -> list[float]:
    """The time weight of every step of a solve, in order (see :data:`STEP_WEIGHTS`)."""
    weights = [STEP_WEIGHTS["primary"]] + [STEP_WEIGHTS["objective"]] * (n_objectives - 1)
    return weights + [STEP_WEIGHTS["assign"]] * (len(REASSIGN_STEPS) if reassign else 0)


def _step_options(options: SolveOptions, deadline: Deadline, share: float) -> SolveOptions:
    """``options`` with the step's time: its share of what is left, never past the deadline."""
    return replace(options, time_limit_s=deadline.cap(options.time_limit_s, share))


def _no_time(options: SolveOptions) -> bool:
    return options.time_limit_s is not None and options.time_limit_s < MIN_STEP_S


def _skipped(step: str, notes: list[Message | str]) -> Result:
    """The result of a later step skipped for lack of time (the earlier plan is kept)."""
    note = message("note_step_skipped", phase=step)
    notes.append(note)
    log.warning(note.en)
    return Result(
        Status.NO_SOLUTION,
        math.nan,
        math.nan,
        None,
        "skipped",
        stop=StopReason.TIME_LIMIT,
        message="skipped: no time left",
    )


def _with_tiebreak(
    data: PlanningData, lay: Layout, c: np.ndarray, kind: Objective, tiebreak: Objective | None
) -> np.ndarray:
    """The first phase's objective plus the tie-break at its small weight."""
    if tiebreak is None or tiebreak == kind:
        return c
    c2 = objective(data, tiebreak, lay)
    sign = 1.0 if OBJECTIVE_SENSE[kind] == OBJECTIVE_SENSE[tiebreak] else -1.0
    return c + sign * tiebreak_weight(data, kind, tiebreak) * c2


def _run_status(phases: list[tuple[str, Result]]) -> tuple[Result, str]:
    """The primary result with the run's status (the weakest step's), and the weakest step.

    A later step that ended without a plan of its own (time limit, skipped) leaves the earlier
    plan in place: the run is then FEASIBLE with that step's gap unknown.
    """
    statuses = [_effective_status(i, r) for i, (_, r) in enumerate(phases)]
    status = weakest(statuses)
    primary = phases[0][1]
    unproven = [i for i, s in enumerate(statuses) if s is not Status.OPTIMAL]
    if not unproven:
        return primary, ""
    # the objectives' phases decide what is built and what it costs: one of them stopped early
    # names the headline before a re-assignment step does (that only moves who walks where)
    worst = max(
        unproven,
        key=lambda i: (not phases[i][0].startswith("assign-"), _gap_or_inf(phases[i][1]), -i),
    )
    name = phases[worst][0]
    message = headline_text(phases[worst][1], name)
    # the stop reason follows the status: the run stopped where its weakest step stopped
    stop = phases[worst][1].stop if primary.stop is StopReason.OPTIMAL else primary.stop
    return primary.replace(status=status, message=message, stop=stop), name


def _effective_status(index: int, result: Result) -> Status:
    """A step's status as it bears on the plan: a later step without a plan is FEASIBLE."""
    if index > 0 and not result.status.has_solution:
        return Status.FEASIBLE
    return result.status


def _gap_or_inf(result: Result) -> float:
    gap = result.gap
    return gap if math.isfinite(gap) else math.inf


def headline_text(result: Result, step: str) -> str:
    """The run's status in words: ``OPTIMAL, gap 0.00 %`` or ``FEASIBLE: cost phase stopped
    at the time limit with gap 35.2 %``."""
    if not step:
        gap = result.gap
        gap_text = f"gap {gap_percent(gap)}"
        return f"{result.status.value}, {gap_text}"
    what = f"{step} phase" if not step.startswith("assign-") else f"re-assignment ({step[7:]})"
    if result.solver == "skipped":
        return f"FEASIBLE: {what} skipped, no time left (the earlier phase's plan is kept)"
    how = _stop_words(result)
    if not result.status.has_solution:
        return f"FEASIBLE: {what} {how} without a better plan (gap unknown)"
    gap = result.gap
    gap_text = (
        f"with gap {gap_percent(gap)}" if math.isfinite(gap) else "with no bound (gap unknown)"
    )
    return f"FEASIBLE: {what} {how} {gap_text}"


def _stop_words(result: Result) -> str:
    stop = result.stop
    if stop is StopReason.TIME_LIMIT or (stop is None and result.status is not Status.OPTIMAL):
        return "stopped at the time limit"
    if stop is StopReason.GAP_REACHED:
        return "stopped at the requested gap"
    if stop is StopReason.ITERATION_LIMIT:
        return "stopped at an iteration limit"
    if stop is StopReason.INTERRUPTED:
        return "was interrupted"
    return f"ended ({result.stop_text or result.status.value})"


def _run_heuristic(
    data: PlanningData, base: MILP, c: np.ndarray, backend: Backend, options: SolveOptions
) -> heuristic.HeuristicPlan | None:
    """The primal heuristic's plan for a first phase that maximises (coverage), or None."""
    limit = options.time_limit_s
    if limit is not None and limit < MIN_HEURISTIC_S:
        return None
    plan = heuristic.heuristic_plan(
        data,
        base,
        c,
        backend,
        options,
        time_s=None if limit is None else HEURISTIC_SHARE * limit,
        hard_s=None if limit is None else HEURISTIC_HARD_SHARE * limit,
    )
    if plan is None:
        log.info("the planning heuristic found no plan; the first phase starts without one")
    return plan


def _better_start(
    base: MILP, c: np.ndarray, start: np.ndarray | None, heur: heuristic.HeuristicPlan | None
) -> np.ndarray | None:
    """The better of a given start (e.g. a sweep's previous plan, when it is feasible) and
    the heuristic's plan, by ``c``."""
    if heur is None:
        return start
    if start is None or base.max_violation(np.asarray(start, dtype=float)) > 1e-6:
        return heur.x
    return start if float(c @ np.asarray(start, dtype=float)) > heur.value else heur.x


def _less_time(options: SolveOptions, heur: heuristic.HeuristicPlan | None) -> SolveOptions:
    """The first phase's options less the time the heuristic took."""
    if heur is None or options.time_limit_s is None:
        return options
    return replace(options, time_limit_s=max(0.0, options.time_limit_s - heur.seconds))


def _with_heuristic(res: Result, heur: heuristic.HeuristicPlan | None, c: np.ndarray) -> Result:
    """The first phase's result, never worse than the heuristic's plan, saying how it was
    found: ``solver`` gains ``+heuristic`` and ``extra`` the method and the heuristic's
    value, time and moves."""
    if heur is None:
        return res
    extra = dict(res.extra)
    extra.setdefault("method", "mip")
    extra.update(
        {
            "heuristic_value": heur.value,
            "heuristic_greedy_value": heur.greedy_value,
            "heuristic_s": round(heur.seconds, 4),
            "heuristic_moves": heur.moves,
        }
    )
    res = res.replace(solver=f"{res.solver}+heuristic", extra=extra)
    worse = res.x is None or float(c @ np.asarray(res.x)) < heur.value - 1e-9 * max(
        1.0, abs(heur.value)
    )
    if not worse:
        return res
    # the solver lost the start (it may reject one at its own tolerances): the plan is kept
    log.info("the first phase ended below the heuristic's plan; the heuristic's plan is kept")
    bound = res.bound if math.isfinite(res.bound) else math.inf
    return res.replace(
        status=Status.FEASIBLE,
        objective=heur.value,
        bound=max(bound, heur.value),
        x=heur.x,
        stop=res.stop if res.stop is not None else StopReason.TIME_LIMIT,
    )


def _decompose(
    method: Method,
    kind: Objective,
    data: PlanningData,
    base: MILP,
    must_cover: bool,
    time_s: float | None = None,
) -> bool:
    """Whether the first phase goes to the decomposition (see :func:`solve`).

    ``auto`` asks for a district-sized model and :data:`MIN_DECOMPOSITION_S` of time at
    least (``time_s``, the phase's; None: unlimited)."""
    if method == "mip" or kind != "coverage":
        return False
    fits = decomposition.applicable(data, must_cover)
    if method == "decomposition" and not fits:
        log.warning(
            "solver.method decomposition needs budgets, no coverage targets and no full "
            "cover; solving this phase as one MIP"
        )
    if method == "auto":
        enough_time = time_s is None or time_s >= MIN_DECOMPOSITION_S
        return fits and enough_time and int(base.integrality.sum()) >= decomposition.MIN_BINARIES
    return fits


def _strip_tiebreak(result: Result, primary: Objective, value: float) -> Result:
    """Report the primary objective alone.

    The solver's bound is for primary + tie-break; the tie-break is worth at most one unit
    (:func:`~optimizer.models.planning.model.tiebreak_weight`: 1 yuan, or 1e-4 coverage
    points), so the reported bound is exact to within that unit. It is capped at the primary
    value so the gap is never negative.
    """
    bound = result.bound
    if np.isfinite(bound):
        bound = min(bound, value) if OBJECTIVE_SENSE[primary] == "min" else max(bound, value)
    return result.replace(objective=value, bound=bound)


@dataclass
class _Steps:
    """What every step of one solve shares: the problem, the solver, the clock and the log of
    steps run so far."""

    data: PlanningData
    lay: Layout
    backend: Backend
    options: SolveOptions
    deadline: Deadline
    name: str
    label: str
    phases: list[tuple[str, Result]]
    achieved: dict[str, float]
    notes: list[Message | str]


def _reassign(run: _Steps, model: MILP, x: np.ndarray, weights: list[float]) -> np.ndarray:
    """With builds fixed: most coverage, then the shortest walks with existing facilities first.

    Only the assignment moves, so the plan's cost is unchanged and its coverage can only grow.
    A step with no time left is skipped and the assignment so far kept.
    """
    fixed = fixed_builds(model, x)
    x_cur = x
    for j, kind in enumerate(REASSIGN_STEPS):
        step = f"assign-{kind}"
        step_options = _step_options(run.options, run.deadline, weights[j] / sum(weights[j:]))
        if _no_time(step_options):
            run.phases.append((step, _skipped(step, run.notes)))
            continue
        c = objective(run.data, kind, run.lay)
        m = with_objective(fixed, c, OBJECTIVE_SENSE[kind], f"{run.name}:{step}")
        with run.deadline.timed(f"{run.label}:{step}"):
            res = run.backend.solve(m, replace(step_options, warm_start=x_cur))
        run.phases.append((step, res))
        if not res.status.has_solution or res.x is None:
            log.warning(
                "re-assignment (%s) ended %s; keeping the solver's assignment",
                kind,
                res.status.value,
            )
            return x_cur
        x_cur = np.asarray(res.x)
        value = float(c @ x_cur)
        run.achieved[step] = value
        if kind == "coverage":
            slack = LEX_RTOL * max(1.0, abs(value))
            fixed = with_row(fixed, c, value - slack, np.inf)
    return x_cur
