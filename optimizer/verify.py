"""Independent checks of a plan: feasibility and cost recomputed from the instance's inputs.

Nothing here reads the MILP or trusts the solver: coverage is recomputed from the block-site
walking distances and each type's limit, costs from the site table and the catalog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from optimizer.errors import VerificationError, preview_ids
from optimizer.instance import PlanningInstance

COST_RTOL = 1e-6


@dataclass
class VerifyReport:
    """What was checked and what failed (empty ``failures`` = passed)."""

    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    recomputed_cost: float = math.nan

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "checks": self.checks,
            "failures": self.failures,
            "recomputed_cost": self.recomputed_cost,
        }


def plan_cost(
    instance: PlanningInstance, opened: np.ndarray, built: dict[str, np.ndarray]
) -> float:
    """Fixed cost of every opened site plus the fit-out of every facility built."""
    total = float(instance.fixed_cost[opened].sum())
    for key, b in built.items():
        total += float(instance.types[key].fitout_cost[b].sum())
    return total


def verify_covering_plan(
    instance: PlanningInstance,
    opened: np.ndarray,
    built: dict[str, np.ndarray],
    reported_cost: float | None = None,
    left_uncovered: dict[str, np.ndarray] | None = None,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Check a covering plan against the inputs.

    Checks: every facility sits on an opened site that is eligible for its type; the types on a
    site fit in its floor area; every coverable unserved block is within its type's walking
    limit of a built facility, except the blocks in ``left_uncovered`` (those the plan states it
    cannot cover together); the recomputed cost equals ``reported_cost``.

    Raises
    ------
    VerificationError
        If any check fails and ``raise_on_failure``.
    """
    rep = VerifyReport()
    ids = instance.site_ids
    used_area = np.zeros(instance.n_sites)
    for key, b in built.items():
        t = instance.types[key]
        rep.checks.append(f"{key}: facilities only on opened, eligible sites")
        bad = b & ~(opened & t.eligible)
        if bad.any():
            rep.failures.append(
                f"{key} built on sites that are not opened or not eligible: {preview_ids(ids[bad])}"
            )
        used_area += b * t.ftype.build_area_m2

        rep.checks.append(f"{key}: every coverable block within {t.ftype.walk_limit_m:g} m")
        pairs = t.reach
        ok = (pairs.dist <= t.ftype.walk_limit_m + 1e-9) & b[pairs.cols]
        covered = np.zeros(instance.n_blocks, dtype=bool)
        covered[pairs.rows[ok]] = True
        allowed = (left_uncovered or {}).get(key)
        missed = t.coverable & ~covered & (True if allowed is None else ~allowed)
        if missed.any():
            rep.failures.append(
                f"{key}: {int(missed.sum())} coverable blocks left uncovered: "
                f"{preview_ids(instance.block_ids[missed])}"
            )

    rep.checks.append("floor area of each site holds its facilities")
    over = used_area > instance.floor_area + 1e-6
    if over.any():
        rep.failures.append(f"floor area exceeded at sites {preview_ids(ids[over])}")

    rep.recomputed_cost = plan_cost(instance, opened, built)
    if reported_cost is not None:
        rep.checks.append("reported cost equals the cost recomputed from the inputs")
        if not math.isclose(rep.recomputed_cost, reported_cost, rel_tol=COST_RTOL, abs_tol=1e-3):
            rep.failures.append(
                f"reported cost {reported_cost:,.2f} differs from recomputed "
                f"{rep.recomputed_cost:,.2f}"
            )
    if rep.failures and raise_on_failure:
        raise VerificationError("the plan failed verification: " + "; ".join(rep.failures))
    return rep
