"""Independent checks of classic location solutions (LSCP, MCLP, p-median, p-center, backup).

Each check reads only the problem's input arrays (coverage matrix, distance pairs, weights,
costs, capacities, p, budget, required / forbidden sites) and the solution (open sites and the
assignment); it never reads the MILP or trusts the solver. It recomputes feasibility and the
objective, and compares the objective with what the solver reported and with its proven bound:

* minimisation: ``bound - tol <= recomputed <= reported + tol``
* maximisation: ``reported - tol <= recomputed <= bound + tol``

(the solution cannot be worse than claimed, nor better than proved possible; with a proven
optimum both sides meet, so the recomputed objective must equal the reported one).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from optimizer.errors import VerificationError, preview_ids
from optimizer.models.common import binary_csr
from optimizer.models.covering.backup import BackupData
from optimizer.models.covering.mclp import MclpData
from optimizer.models.pcenter import PCenterData
from optimizer.models.pmedian.model import PMedianData
from optimizer.verify_report import VerifyReport

OBJ_RTOL = 1e-6
OBJ_ATOL = 1e-6


def verify_lscp(
    reach: sp.spmatrix,
    cost: np.ndarray,
    selected: np.ndarray,
    *,
    required: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
    reported: float | None = None,
    bound: float | None = None,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Every demand row is covered by a selected site; cost recomputed from ``cost``."""
    rep = VerifyReport()
    sel = _selection(rep, selected, reach.shape[1], required, forbidden)
    count = _cover_count(reach, sel)
    _check_all_covered(rep, count, "every demand point is covered by a selected site")
    rep.recomputed_cost = float(np.asarray(cost, dtype=float)[sel].sum())
    return _finish(rep, "min", reported, bound, raise_on_failure)


def verify_mclp(
    data: MclpData,
    selected: np.ndarray,
    *,
    reported: float | None = None,
    bound: float | None = None,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Facility count and budget respected; covered weight recomputed from the coverage."""
    rep = VerifyReport()
    sel = _selection(rep, selected, data.coverage.shape[1], data.required, data.forbidden)
    if data.p is not None:
        _check_count(rep, int(sel.sum()), data.p, data.p_exact)
    if data.budget is not None:
        spent = float(data.cost[sel].sum())
        rep.checks.append(f"cost of the selected sites within the budget {data.budget:g}")
        if spent > data.budget * (1 + 1e-9) + 1e-9:
            rep.failures.append(f"selected sites cost {spent:g} > budget {data.budget:g}")
    covered = _cover_count(data.coverage, sel) > 0
    rep.recomputed_cost = float(np.asarray(data.weight)[covered].sum())
    return _finish(rep, "max", reported, bound, raise_on_failure)


def verify_backup(
    data: BackupData,
    selected: np.ndarray,
    *,
    reported: float | None = None,
    bound: float | None = None,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Everyone covered once, facility count kept; twice-covered weight recomputed."""
    rep = VerifyReport()
    sel = _selection(rep, selected, data.coverage.shape[1], data.required, data.forbidden)
    _check_count(rep, int(sel.sum()), data.p, data.p_exact)
    count = _cover_count(data.coverage, sel)
    _check_all_covered(rep, count, "every demand point is covered at least once")
    rep.recomputed_cost = float(np.asarray(data.weight)[count >= 2].sum())
    return _finish(rep, "max", reported, bound, raise_on_failure)


def verify_pmedian(
    data: PMedianData,
    selected: np.ndarray,
    assignment: np.ndarray,
    *,
    reported: float | None = None,
    bound: float | None = None,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Count, assignments to open sites over allowed pairs, capacities; cost recomputed."""
    rep = VerifyReport()
    pairs = data.pairs
    dist = _check_open_and_assigned(
        rep,
        data,
        selected,
        assignment,
        may_leave=data.unserved_penalty is not None,
        max_distance=data.max_distance,
    )
    a = np.asarray(assignment, dtype=np.int64)
    served = a >= 0
    if data.capacity is not None:
        rep.checks.append("the demand assigned to each site is within its capacity")
        load = np.bincount(a[served], weights=data.demand[served], minlength=pairs.n_sites)
        over = np.flatnonzero(load > data.capacity * (1 + 1e-9) + 1e-9)
        if over.size:
            rep.failures.append(f"capacity exceeded at sites {preview_ids(over)}")
    total = float(np.sum(data.weight[served] * dist[served]))
    unserved_weight = float(np.sum(data.weight[~served]))
    if unserved_weight > 0 and data.unserved_penalty is not None:
        total += unserved_weight * data.unserved_penalty
    rep.recomputed_cost = total
    return _finish(rep, "min", reported, bound, raise_on_failure)


def verify_pcenter(
    data: PCenterData,
    selected: np.ndarray,
    assignment: np.ndarray,
    *,
    reported: float | None = None,
    bound: float | None = None,
    raise_on_failure: bool = True,
) -> VerifyReport:
    """Count and assignments checked; the largest weighted distance recomputed."""
    rep = VerifyReport()
    dist = _check_open_and_assigned(rep, data, selected, assignment, may_leave=False)
    wd = np.asarray(data.weight, dtype=float) * dist
    rep.recomputed_cost = float(np.max(wd, initial=0.0)) if np.all(np.isfinite(wd)) else math.inf
    return _finish(rep, "min", reported, bound, raise_on_failure)


# --------------------------------------------------------------------------- pieces


def _mask(rep: VerifyReport, selected: np.ndarray, n_sites: int) -> np.ndarray:
    sel = np.asarray(selected)
    if sel.dtype != bool:
        mask = np.zeros(n_sites, dtype=bool)
        mask[sel.astype(np.int64)] = True
        sel = mask
    if sel.shape != (n_sites,):
        rep.failures.append(f"the selection has {sel.size} entries for {n_sites} sites")
        return np.zeros(n_sites, dtype=bool)
    return sel


def _selection(
    rep: VerifyReport,
    selected: np.ndarray,
    n_sites: int,
    required: np.ndarray | None,
    forbidden: np.ndarray | None,
) -> np.ndarray:
    """The selection as a site mask, with the required / forbidden sites checked."""
    sel = _mask(rep, selected, n_sites)
    _check_site_rules(rep, sel, required, forbidden)
    return sel


def _check_all_covered(rep: VerifyReport, count: np.ndarray, check: str) -> None:
    """Every demand point is covered: ``count`` (selected sites covering each) is nowhere 0."""
    rep.checks.append(check)
    missed = np.flatnonzero(count == 0)
    if missed.size:
        rep.failures.append(f"{missed.size} demand points uncovered: {preview_ids(missed)}")


def _check_open_and_assigned(
    rep: VerifyReport,
    data: PMedianData | PCenterData,
    selected: np.ndarray,
    assignment: np.ndarray,
    *,
    may_leave: bool,
    max_distance: float | None = None,
) -> np.ndarray:
    """Site rules, the count ``p`` and the assignment over allowed pairs to open sites; the
    distance of each point's assignment."""
    pairs = data.pairs
    sel = _selection(rep, selected, pairs.n_sites, data.required, data.forbidden)
    _check_count(rep, int(sel.sum()), data.p, True)
    return _check_assignment(
        rep,
        pairs.rows,
        pairs.cols,
        pairs.dist,
        pairs.n_sites,
        sel,
        assignment,
        may_leave=may_leave,
        max_distance=max_distance,
    )


def _cover_count(coverage: sp.spmatrix, sel: np.ndarray) -> np.ndarray:
    return np.asarray(binary_csr(coverage) @ sel.astype(np.int64)).ravel()


def _check_site_rules(
    rep: VerifyReport, sel: np.ndarray, required: np.ndarray | None, forbidden: np.ndarray | None
) -> None:
    rep.checks.append("required sites selected, forbidden sites not")
    if required is not None and len(required):
        missing = np.asarray(required)[~sel[np.asarray(required)]]
        if missing.size:
            rep.failures.append(f"required sites not selected: {preview_ids(missing)}")
    if forbidden is not None and len(forbidden):
        used = np.asarray(forbidden)[sel[np.asarray(forbidden)]]
        if used.size:
            rep.failures.append(f"forbidden sites selected: {preview_ids(used)}")


def _check_count(rep: VerifyReport, count: int, p: int, exact: bool) -> None:
    rep.checks.append(f"{'exactly' if exact else 'at most'} {p} sites selected")
    if count > p or (exact and count != p):
        rep.failures.append(f"{count} sites selected, expected {'' if exact else '<= '}{p}")


def _check_assignment(
    rep: VerifyReport,
    rows: np.ndarray,
    cols: np.ndarray,
    dist: np.ndarray,
    n_sites: int,
    sel: np.ndarray,
    assignment: np.ndarray,
    *,
    may_leave: bool,
    max_distance: float | None = None,
) -> np.ndarray:
    """Distance of each point to its assigned site (nan where unassigned), checking that the
    site is open and the pair allowed (and within ``max_distance``)."""
    a = np.asarray(assignment, dtype=np.int64)
    n = a.size
    out = np.full(n, np.nan)
    rep.checks.append("every demand point is assigned to a selected site over an allowed pair")
    if not may_leave and np.any(a < 0):
        rep.failures.append(f"demand points left unassigned: {preview_ids(np.flatnonzero(a < 0))}")
    on = np.flatnonzero(a >= 0)
    if on.size and a[on].max() >= n_sites:
        rep.failures.append("an assignment names a site index out of range")
        return out
    closed = on[~sel[a[on]]]
    if closed.size:
        rep.failures.append(f"demand points assigned to closed sites: {preview_ids(closed)}")
    key = np.asarray(rows, dtype=np.int64) * n_sites + np.asarray(cols, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    want = on * n_sites + a[on]
    pos = np.searchsorted(key_sorted, want)
    pos_c = np.minimum(pos, max(key_sorted.size - 1, 0))
    found = (pos < key_sorted.size) & (key_sorted[pos_c] == want) if key_sorted.size else pos < 0
    if (~found).any():
        rep.failures.append(
            f"demand points assigned over a pair that is not allowed: {preview_ids(on[~found])}"
        )
    out[on[found]] = np.asarray(dist, dtype=float)[order[pos_c[found]]]
    if max_distance is not None:
        far = on[found][out[on[found]] > max_distance]
        if far.size:
            rep.failures.append(f"assignments beyond {max_distance:g}: {preview_ids(far)}")
    return out


def _check_objective(
    rep: VerifyReport, sense: str, reported: float | None, bound: float | None
) -> None:
    value = rep.recomputed_cost
    tol = OBJ_ATOL + OBJ_RTOL * (abs(value) if math.isfinite(value) else 0.0)
    sign = 1.0 if sense == "min" else -1.0  # compare as a minimisation

    def beats(a: float, b: float) -> bool:
        return sign * a < sign * b - tol

    if reported is not None and math.isfinite(reported):
        rep.checks.append("objective recomputed from the inputs is no worse than reported")
        if not math.isfinite(value) or beats(reported, value):
            rep.failures.append(
                f"recomputed objective {value:.10g} is worse than reported {reported:.10g}"
            )
    if bound is not None and math.isfinite(bound):
        rep.checks.append("objective recomputed from the inputs respects the proven bound")
        if beats(value, bound):
            rep.failures.append(
                f"recomputed objective {value:.10g} beats the proven bound {bound:.10g}"
            )


def _finish(
    rep: VerifyReport,
    sense: str,
    reported: float | None,
    bound: float | None,
    raise_on_failure: bool,
) -> VerifyReport:
    """The last step of every check: the recomputed objective against the reported one and
    the bound (``sense`` ``min`` or ``max``), then the report, or an error if it failed."""
    _check_objective(rep, sense, reported, bound)
    if rep.failures and raise_on_failure:
        raise VerificationError("the solution failed verification: " + "; ".join(rep.failures))
    return rep
