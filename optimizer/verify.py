"""Independent checks of a plan: feasibility and cost recomputed from the instance's inputs.

Nothing here reads the MILP or trusts the solver: coverage is recomputed from the block-site
walking distances and each type's limit, costs from the site table and the catalog.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import partial

import numpy as np

from optimizer.errors import VerificationError, preview_ids
from optimizer.instance import PlanningInstance
from optimizer.messages import message
from optimizer.models.planning.model import (
    PlanningData,
    PlanningSolution,
    TypeData,
    decided_size,
    served_share,
)
from optimizer.verify_report import VerifyReport

log = logging.getLogger(__name__)

COST_RTOL = 1e-6


TOL = 1e-6


def verify_plan(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    reported_cost: float | None = None,
    must_cover: bool = False,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Check a plan against the instance's inputs, not against the model's rows.

    Checks: facilities stand on converted sites that allow their type, in the site's year and
    not before it is available; sizes within the catalog's bounds; the types on a site fit in
    its floor area; every served share goes to a facility within the type's walking limit that
    is built by that year; no facility serves more than its capacity (need recomputed from the
    blocks and the standards); no block is served more than once; each year's spending within
    its budget; coverage targets met; with ``must_cover``, every reachable block served in full
    in the last year; the reported cost equals the cost recomputed from the site table.

    Whatever the plan, the result is a verdict: a check that crashes (an input shape nobody
    foresaw) is reported as a failed check naming it, never as an exception.

    Raises
    ------
    VerificationError
        If any check fails and ``raise_on_failure``.
    """
    rep = VerifyReport()
    _run_check(rep, "site years", lambda: _check_site_years(instance, data, sol, rep))
    for t in data.types:
        _run_check(rep, f"{t.key}: placement", partial(_check_placement, instance, sol, t, rep))
        _run_check(rep, f"{t.key}: service", partial(_check_service, instance, data, sol, t, rep))
        _run_check(
            rep,
            f"{t.key}: standard sizes",
            partial(_check_standard_sizes, data, instance, sol, t, rep),
        )
        _run_check(
            rep,
            f"{t.key}: cost per resident",
            partial(_check_cost_per_resident, instance, data, sol, t, rep),
        )
    _run_check(rep, "floor area", lambda: _check_floor_area(instance, data, sol, rep))
    _run_check(rep, "commitments", lambda: _check_commitments(instance, data, sol, rep))
    spent: list[np.ndarray] = []
    _run_check(rep, "spending", lambda: spent.append(_spending(instance, data, sol)))
    if spent:
        _run_check(rep, "budgets", lambda: _check_budgets(data, spent[0], rep))
        # builds committed before the plan years count in the plan's cost, in no year's budget
        rep.recomputed_cost = float(
            spent[0].sum() + _spending(instance, data, sol, prior=True).sum()
        )
    _run_check(
        rep, "coverage rules", lambda: _check_coverage_rules(instance, data, sol, must_cover, rep)
    )
    if reported_cost is not None:
        rep.checked(message("check_cost"))
        if not math.isclose(rep.recomputed_cost, reported_cost, rel_tol=COST_RTOL, abs_tol=1e-3):
            rep.failures.append(
                f"reported cost {reported_cost:,.2f} differs from recomputed "
                f"{rep.recomputed_cost:,.2f}"
            )
    if rep.failures and raise_on_failure:
        raise VerificationError("the plan failed verification: " + "; ".join(rep.failures))
    return rep


def _run_check(rep: VerifyReport, name: str, check: Callable[[], None]) -> None:
    """Run one check; a crash inside it becomes a failed check that names it."""
    try:
        check()
    except Exception as exc:  # a crashing check is a failed check, never a crashed run
        log.debug("verification check %r crashed", name, exc_info=True)
        rep.failures.append(f"the check '{name}' could not run ({type(exc).__name__}: {exc})")


def _sum_at(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``weights`` per ``index`` over ``n`` slots, always as floats.

    ``np.bincount`` returns integers when there is nothing to count (no candidate pair of a
    type, say), and adding floats to those in place fails.
    """
    return np.bincount(index, weights=weights, minlength=n).astype(float, copy=False)


def _check_placement(
    instance: PlanningInstance, sol: PlanningSolution, t: TypeData, rep: VerifyReport
) -> None:
    """Facilities of one type on converted sites that allow it, sized within its bounds."""
    ids = instance.site_ids
    ta = instance.types[t.key]
    f = ta.ftype
    b, area = sol.built[t.key], sol.area[t.key]
    rep.checked(message("check_placement", type=t.key))
    bad = b & ~(sol.opened & ta.eligible)
    if bad.any():
        rep.failures.append(
            f"{t.key} on sites not converted or not allowed: {preview_ids(ids[bad])}"
        )
    rep.checked(message("check_sizes", type=t.key, low=f.min_area_m2, high=f.max_area_m2))
    small = b & ((area < f.min_area_m2 - TOL) | (area > f.max_area_m2 + TOL))
    if small.any():
        rep.failures.append(f"{t.key} facility size out of bounds at {preview_ids(ids[small])}")


def _check_standard_sizes(
    data: PlanningData,
    instance: PlanningInstance,
    sol: PlanningSolution,
    t: TypeData,
    rep: VerifyReport,
) -> None:
    """Every facility of a type with standard sizes (catalog) is one of them; a committed
    facility whose size was decided before the plan is exempt."""
    f = instance.types[t.key].ftype
    if not f.has_standard_sizes:
        return
    if f.size_classes_m2:
        classes = ", ".join(f"{a:g}" for a in f.size_classes_m2)
        rep.checked(message("check_size_classes", type=t.key, classes=classes))
    else:
        rep.checked(message("check_size_step", type=t.key, step=f"{f.size_step_m2:g}"))
    exempt = np.zeros(instance.n_sites, dtype=bool)
    exempt[t.sites] = decided_size(data, t)
    b = sol.built[t.key] & ~exempt
    odd = b & ~f.is_standard(sol.area[t.key])
    if odd.any():
        rep.failures.append(
            f"{t.key}: sizes that are not standard ({f.size_rule()}) at "
            f"{preview_ids(instance.site_ids[odd])}"
        )


def _check_cost_per_resident(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    t: TypeData,
    rep: VerifyReport,
) -> None:
    """With a catalog ``max_cost_per_resident``: each new facility's fit-out plus its site's
    opening cost is at most the limit times the target residents it serves in its build year
    (the model's row, recomputed from the site table and the blocks)."""
    f = instance.types[t.key].ftype
    limit = f.max_cost_per_resident
    if limit is None:
        return
    rep.checked(message("check_cost_per_resident", type=t.key, limit=limit))
    b = sol.built[t.key].copy()
    if data.committed is not None:  # decided before the plan: no row in the model
        b &= ~data.committed.committed
    if not b.any():
        return
    site = t.sites[t.pair_site]
    period = sol.open_period[site]
    z = sol.serve[t.key][np.maximum(period, 0), np.arange(t.n_p)]
    residents = _sum_at(
        site, np.where(period >= 0, z, 0.0) * t.target[t.pair_block], instance.n_sites
    )
    cost = instance.types[t.key].fitout_rate * sol.area[t.key] + instance.fixed_cost
    over = b & (cost > limit * residents * (1 + 1e-6) + 1.0)
    if over.any():
        rep.failures.append(
            f"{t.key}: cost per resident served above {limit:,.0f} at "
            f"{preview_ids(instance.site_ids[over])}"
        )


def _check_floor_area(
    instance: PlanningInstance, data: PlanningData, sol: PlanningSolution, rep: VerifyReport
) -> None:
    rep.checked(message("check_floor_area"))
    used_area = np.zeros(instance.n_sites)
    for t in data.types:
        used_area += np.where(sol.built[t.key], sol.area[t.key], 0.0)
    over = used_area > instance.floor_area * (1 + TOL) + TOL
    if over.any():
        rep.failures.append(f"floor area exceeded at sites {preview_ids(instance.site_ids[over])}")


def _spending(
    instance: PlanningInstance, data: PlanningData, sol: PlanningSolution, prior: bool = False
) -> np.ndarray:
    """Each period's spending recomputed from the site table and the catalog; sites committed
    before the first plan year were paid from earlier budgets and are left out (``prior``:
    those sites alone)."""
    period = sol.open_period
    before = data.committed.prior if data.committed is not None else np.zeros(sol.opened.shape)
    counted = before.astype(bool) if prior else ~before.astype(bool)
    opened = sol.opened & counted
    spent = np.zeros(data.n_periods)
    np.add.at(spent, period[opened], instance.fixed_cost[opened])
    for t in data.types:
        b, area = sol.built[t.key] & counted, sol.area[t.key]
        np.add.at(spent, period[b], instance.types[t.key].fitout_rate[b] * area[b])
    return spent


def _check_commitments(
    instance: PlanningInstance, data: PlanningData, sol: PlanningSolution, rep: VerifyReport
) -> None:
    """Committed sites converted in their committed year with exactly their committed types,
    at their committed sizes; excluded sites unused."""
    com = data.committed
    if com is None:
        return
    ids = instance.site_ids
    if com.committed.any():
        rep.checked(message("check_committed"))
        moved = com.committed & (sol.open_period != com.period)
        if moved.any():
            rep.failures.append(
                f"committed sites not converted in their committed year: {preview_ids(ids[moved])}"
            )
        for t in data.types:
            b, want = sol.built[t.key], com.built[t.key]
            wrong = com.committed & (b != want)
            if wrong.any():
                rep.failures.append(
                    f"{t.key}: committed sites built otherwise than committed: "
                    f"{preview_ids(ids[wrong])}"
                )
            size = com.area[t.key]
            resized = want & b & ~np.isnan(size)
            resized &= ~np.isclose(sol.area[t.key], np.nan_to_num(size), rtol=1e-6, atol=1e-3)
            if resized.any():
                rep.failures.append(
                    f"{t.key}: committed sizes changed at {preview_ids(ids[resized])}"
                )
    if com.excluded.any():
        rep.checked(message("check_excluded"))
        used = com.excluded & sol.opened
        for t in data.types:
            used |= com.excluded & sol.built[t.key]
        if used.any():
            rep.failures.append(f"excluded sites used: {preview_ids(ids[used])}")


def _check_site_years(
    instance: PlanningInstance, data: PlanningData, sol: PlanningSolution, rep: VerifyReport
) -> None:
    if not data.years:
        return
    rep.checked(message("check_site_years"))
    opened = sol.opened
    year = np.asarray(data.years)[np.maximum(sol.open_period, 0)]
    avail = np.asarray(instance.site_years, dtype=float)
    early = opened & (year < np.nan_to_num(avail, nan=-np.inf))
    if early.any():
        rep.failures.append(
            f"sites converted before available: {preview_ids(instance.site_ids[early])}"
        )


def _check_service(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    t: TypeData,
    rep: VerifyReport,
) -> None:
    """Walking limits, built-by-year, capacities and single service of one type."""
    ta = instance.types[t.key]
    f = ta.ftype
    need = ta.need  # recomputed from the blocks by the demand module
    site = t.sites[t.pair_site]
    rep.checked(message("check_service", type=t.key, limit=f.walk_limit_m))
    for k in range(data.n_periods):
        z, zq = sol.serve[t.key][k], sol.serve_existing[t.key][k]
        used = z > TOL
        far = used & (t.pair_dist > f.walk_limit_m + 1e-6)
        unbuilt = used & ~(
            sol.built[t.key][site] & (sol.open_period[site] <= k) & (sol.open_period[site] >= 0)
        )
        far_ex = (zq > TOL) & (t.ex_dist > f.walk_limit_m + 1e-6)
        if far.any() or far_ex.any():
            rep.failures.append(f"{t.key}: blocks served beyond the walking limit in period {k}")
        if unbuilt.any():
            rep.failures.append(
                f"{t.key}: blocks served by facilities not built by period {k}: "
                f"{preview_ids(instance.site_ids[np.unique(site[unbuilt])])}"
            )
        load = _sum_at(site, need[t.pair_block] * z, instance.n_sites)
        cap = np.where(sol.built[t.key], sol.area[t.key] / f.area_per_unit_m2, 0.0)
        over = load > cap * (1 + 1e-6) + 1e-6
        if over.any():
            rep.failures.append(
                f"{t.key}: capacity exceeded in period {k} at "
                f"{preview_ids(instance.site_ids[over])}"
            )
        ex_load = _sum_at(t.ex_index[t.ex_fac], need[t.ex_block] * zq, instance.existing_ids.size)
        ex_over = ex_load > instance.existing_capacity * (1 + 1e-6) + 1e-6
        if ex_over.any():
            rep.failures.append(
                f"{t.key}: existing capacity exceeded in period {k} at "
                f"{preview_ids(instance.existing_ids[ex_over])}"
            )
        per_block = _sum_at(t.pair_block, z, instance.n_blocks)
        per_block += _sum_at(t.ex_block, zq, instance.n_blocks)
        twice = per_block > 1 + 1e-6
        if twice.any():
            rep.failures.append(
                f"{t.key}: blocks served more than once: {preview_ids(instance.block_ids[twice])}"
            )


def _check_budgets(data: PlanningData, spent: np.ndarray, rep: VerifyReport) -> None:
    if data.budgets is None:
        return
    rep.checked(message("check_budgets_carry" if data.carry_over else "check_budgets"))
    use = np.cumsum(spent) if data.carry_over else spent
    cap = np.cumsum(data.budgets) if data.carry_over else data.budgets
    over = use > cap * (1 + 1e-7) + 1.0
    for k in np.flatnonzero(over):
        label = data.years[k] if data.years else k
        rep.failures.append(f"spending {use[k]:,.0f} over the {label} budget {cap[k]:,.0f}")


def _check_coverage_rules(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    must_cover: bool,
    rep: VerifyReport,
) -> None:
    share = served_share(data, sol)
    for i, t in enumerate(data.types):
        if must_cover:
            rep.checked(message("check_full_service", type=t.key))
            short = t.reachable & (share[t.key][-1] < 1 - 1e-6)
            if short.any():
                rep.failures.append(
                    f"{t.key}: {int(short.sum())} reachable blocks not served in full: "
                    f"{preview_ids(instance.block_ids[short])}"
                )
        if data.targets is None:
            continue
        for k in np.flatnonzero(~np.isnan(data.targets[:, i])):
            goal = data.targets[k, i] * t.coverable_target
            got = float(t.target @ share[t.key][k])
            rep.checked(message("check_target", type=t.key, period=int(k)))
            if got < goal * (1 - 1e-6) - 1e-6:
                rep.failures.append(f"{t.key}: period {k} serves {got:,.0f} < target {goal:,.0f}")
