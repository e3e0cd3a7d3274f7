"""The one answer type of every solver, algorithm and phase: status, objective, bound, gap, why
it stopped and how long it took.

Every backend and every algorithm of this project (heuristics, Lagrangian bounds, searches,
decompositions, exact trees) answers with a :class:`Result`. A result is immutable: a later step
that knows more (a better bound, a second phase) makes a new one with :meth:`Result.replace`.
The gap is computed here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field

import numpy as np


class Status(enum.Enum):
    """Outcome of a solve. FEASIBLE (a limit was hit) is never reported as OPTIMAL."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    UNBOUNDED = "UNBOUNDED"
    NO_SOLUTION = "NO_SOLUTION"
    ERROR = "ERROR"

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class StopReason(enum.Enum):
    """Why a solve or an algorithm stopped, kept apart from its :class:`Status`."""

    OPTIMAL = "optimal"
    """Proven optimal (the bound meets the objective)."""
    GAP_REACHED = "gap reached"
    """Stopped at the requested relative gap (``mip_gap`` > 0)."""
    TIME_LIMIT = "time limit"
    """The time limit (the run's deadline) was reached."""
    ITERATION_LIMIT = "iteration limit"
    """An iteration, node or step limit was reached."""
    INTERRUPTED = "interrupted"
    """Interrupted by the user or a callback."""
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_BOUND = "no bound"
    """A heuristic that gives a plan but no proof (no bound to compare with)."""
    ERROR = "error"


# Status ranks for "the weakest phase": a run is only as proven as its least proven phase.
_WEAKNESS = {
    Status.OPTIMAL: 0,
    Status.FEASIBLE: 1,
    Status.NO_SOLUTION: 2,
    Status.INFEASIBLE: 3,
    Status.UNBOUNDED: 4,
    Status.ERROR: 5,
}


def weakest(statuses: list[Status]) -> Status:
    """The least proven of several statuses (OPTIMAL only when every one is OPTIMAL)."""
    return max(statuses, key=_WEAKNESS.__getitem__) if statuses else Status.NO_SOLUTION


def relative_gap(objective: float, bound: float) -> float:
    """Relative optimality gap ``|objective - bound| / max(|objective|, 1e-9)``.

    0 when both sides agree to 1e-9 relative; ``inf`` when either side is unknown.
    """
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    diff = abs(objective - bound)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-9)


@dataclass(frozen=True)
class Result:
    """A normalised, immutable answer.

    Attributes
    ----------
    status : Status
        OPTIMAL only when proven (to ``mip_gap``); a limit hit with a solution is FEASIBLE.
    objective, bound : float
        The solution's objective and the best proven bound (``nan``/``inf`` when unknown).
    x : ndarray or None
        The solution vector in the model's column order (None without a solution).
    solver : str
        What produced it (``"highs"``, ``"highs+lagrangian+rwls"``, ...).
    build_s, solve_s : float
        Model build time and solve time, measured separately.
    stop : StopReason or None
        Why it stopped; None where the producer did not say.
    nodes : int or None
        Branch-and-bound nodes (or search steps) where known.
    message : str
        A short human note (e.g. "proven by the Lagrangian bound").
    extra : dict
        Producer-specific figures (phase times, iterations, bounds of sub-steps).
    row_dual : ndarray or None
        Row duals of a solved LP (backends with the ``duals`` capability).
    """

    status: Status
    objective: float
    bound: float
    x: np.ndarray | None
    solver: str
    build_s: float = 0.0
    solve_s: float = 0.0
    nodes: int | None = None
    message: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    row_dual: np.ndarray | None = None
    stop: StopReason | None = None

    @property
    def gap(self) -> float:
        """Relative gap between objective and bound (see :func:`relative_gap`)."""
        return relative_gap(self.objective, self.bound)

    @property
    def proven_optimal(self) -> bool:
        """True when the status is OPTIMAL."""
        return self.status is Status.OPTIMAL

    def replace(self, **changes: object) -> Result:
        """A copy with ``changes`` applied (results are never changed in place)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def stop_text(self) -> str:
        """The stop reason as text (empty when unknown)."""
        return self.stop.value if self.stop is not None else ""


def gap_percent(gap: float) -> str:
    """A gap as a percentage that never reads 0 % unless it is 0 (an unproven plan's tiny gap
    shows as "< 0.01%"); ``inf``/``nan`` read "unknown"."""
    if not math.isfinite(gap):
        return "unknown"
    if gap == 0.0:
        return "0%"
    if gap < 1e-4:
        return "< 0.01%"
    return f"{gap:.2%}" if gap < 0.1 else f"{gap:.1%}"
