r"""Lagrangian decomposition of the planning model over its budget rows.

A city's walking areas fall apart into many small pieces: a block, the candidate sites and
existing facilities within its walking limits, their other blocks, and so on. Only the annual
budget rows tie the pieces together. Relaxing them with multipliers :math:`\lambda_k \ge 0`,

.. math::

    L(\lambda) = \max_{x \in X} \; (c - \lambda^\top R)\, x + \lambda^\top B
    \;=\; \lambda^\top B + \sum_j \max_{x_j \in X_j} (c_j - \lambda^\top R_j)\, x_j ,

where :math:`R x \le B` are the budget rows and :math:`X_j` the other constraints of piece
:math:`j`, gives an upper bound for every :math:`\lambda`, computed piece by piece as small
exact MIPs. It keeps each piece's integrality (which sites open, which facility sizes), so it
is far tighter than the LP relaxation, whose weakness on overlapping walking areas (two
half-open sites each serving half of every block they reach) leaves maximal-covering models
with a gap of several per cent. The multipliers start at the LP's budget duals and follow
subgradient steps.

Plans: every evaluated :math:`\lambda` gives each piece a plan (its value and its spending per
year); together with "build nothing" they form a menu per piece, and a small multiple-choice
knapsack (one plan per piece, spending within the budgets) picks the best combination. Any
choice is a feasible plan of the whole model, so the answer comes with a certified gap
:math:`(\min L - \text{plan}) / \text{plan}`.

Used for ``max_coverage`` with budgets and no coverage targets (targets tie the pieces too);
see :func:`applicable`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from optimizer.backends import Backend, Result, SolveOptions, Status, StopReason
from optimizer.milp import MILP, RowBuilder
from optimizer.models.planning.model import (
    Layout,
    PlanningData,
    build_model,
)

log = logging.getLogger(__name__)

MIN_BINARIES = 2_000
"""Below this many binary columns ``method: auto`` uses the plain MIP (it closes small models
itself). District-sized models go to the decomposition: on the sample city (about 5,000
binaries) the MIP warm-started from the heuristic's plan (476.9 points) did not improve it in
5 s or 25 s, while the decomposition reached 484.5-484.9 after its first iterations
(``benchmarks/results/planning_anytime.md``)."""

PIECE_GAP = 1e-4
"""Relative gap at which each batch of pieces stops (a tenth of the run's, at most this)."""

BATCH_SITES = 25
"""Pieces are solved in batches of about this many candidate sites (fewer solver calls)."""

MIN_STEP = 1e-3
"""The subgradient stops when its step factor falls below this (the dual has stalled)."""

CHOOSE_RESERVE_S = 1.5
"""Seconds an iteration leaves for the menu knapsack (at most :data:`CHOOSE_RESERVE_SHARE` of
the limit). On a loaded machine an iteration may not fit the time left (9-14 s each on the
sample city at load 6-7): the batches it did solve still join the menu, the others keep the
best plan's part, and the knapsack picks from it, instead of the iteration's work being lost."""

CHOOSE_RESERVE_SHARE = 0.1


@dataclass(frozen=True)
class Pieces:
    """Independent pieces of a planning model and how they are batched.

    Attributes
    ----------
    col_piece : ndarray of int (n_columns,)
        Piece of every model column (-1: a column no piece holds, always 0).
    n_pieces : int
    batches : list of ndarray
        Piece ids solved together in one call.
    site_piece, block_piece : ndarray of int
        Piece of every site and block (-1: none).
    """

    col_piece: np.ndarray
    n_pieces: int
    batches: list[np.ndarray]
    site_piece: np.ndarray
    block_piece: np.ndarray


def applicable(data: PlanningData, must_cover: bool) -> bool:
    """Whether the decomposition fits: budgets (the rows it relaxes), no coverage targets and
    no full-cover rows (both tie the pieces together). ``method: auto`` also asks for at least
    :data:`MIN_BINARIES` binary columns."""
    return (
        data.budgets is not None
        and (data.targets is None or bool(np.isnan(data.targets).all()))
        and not must_cover
    )


def find_pieces(data: PlanningData, batch_sites: int = BATCH_SITES) -> Pieces:
    """Connected pieces of the graph of blocks, candidate sites and existing facilities
    (joined by every pair within a walking limit), and batches of them."""
    B, S = data.n_blocks, data.n_sites
    n_ex = max([int(t.ex_index.max(initial=-1)) + 1 for t in data.types] + [0])
    rows, cols = [], []
    for t in data.types:
        rows += [t.pair_block, t.ex_block]
        cols += [B + t.sites[t.pair_site], B + S + t.ex_index[t.ex_fac]]
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    n = B + S + n_ex
    graph = sp.coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    # keep the pieces that hold a column (a pair); number them 0..P-1
    used = np.unique(label[r]) if r.size else np.zeros(0, dtype=np.int64)
    renum = np.full(n, -1, dtype=np.int64)
    renum[used] = np.arange(used.size)
    block_piece = np.where(np.isin(label[:B], used), renum[label[:B]], -1)
    site_piece = np.where(np.isin(label[B : B + S], used), renum[label[B : B + S]], -1)

    lay = Layout.of(data)
    K = lay.n_periods
    col_piece = np.full(lay.n, -1, dtype=np.int64)
    col_piece[: S * K] = np.tile(site_piece, K)
    for i, t in enumerate(data.types):
        sp_e = site_piece[t.sites]
        col_piece[lay.x0[i] : lay.x0[i] + K * t.n_e] = np.tile(sp_e, K)
        col_piece[lay.a0[i] : lay.a0[i] + K * t.n_e] = np.tile(sp_e, K)
        col_piece[lay.z0[i] : lay.z0[i] + K * t.n_p] = np.tile(block_piece[t.pair_block], K)
        col_piece[lay.q0[i] : lay.q0[i] + K * t.n_q] = np.tile(block_piece[t.ex_block], K)
        w = t.size_width  # standard-size columns go with their site
        col_piece[lay.s0[i] : lay.s0[i] + K * t.n_e * w] = np.tile(np.repeat(sp_e, w), K)

    sizes = np.bincount(site_piece[site_piece >= 0], minlength=used.size) + 1
    order = np.argsort(-sizes, kind="stable")
    batches: list[np.ndarray] = []
    current: list[int] = []
    load = 0
    for j in order:
        if current and load + sizes[j] > batch_sites:
            batches.append(np.asarray(current))
            current, load = [], 0
        current.append(int(j))
        load += int(sizes[j])
    if current:
        batches.append(np.asarray(current))
    return Pieces(col_piece, int(used.size), batches, site_piece, block_piece)


def restrict(
    data: PlanningData, sites: np.ndarray, blocks: np.ndarray
) -> tuple[PlanningData, np.ndarray]:
    """The planning data of some sites and blocks (no budgets, no targets), and the column of
    the full model behind every column of the restricted one.

    ``sites`` and ``blocks`` must be sorted and closed under the pairs (whole pieces).
    """
    lay = Layout.of(data)
    K = lay.n_periods
    sites = np.asarray(sites, dtype=np.int64)
    blocks = np.asarray(blocks, dtype=np.int64)
    periods = np.arange(K)[:, None]
    col_parts = [(periods * data.n_sites + sites[None, :]).ravel()]
    types = []
    for i, t in enumerate(data.types):
        e_idx = np.flatnonzero(np.isin(t.sites, sites))
        e_map = np.full(t.n_e, -1, dtype=np.int64)
        e_map[e_idx] = np.arange(e_idx.size)
        p_idx = np.flatnonzero(e_map[t.pair_site] >= 0)
        q_idx = np.flatnonzero(np.isin(t.ex_block, blocks))
        f_idx, ex_fac = np.unique(t.ex_fac[q_idx], return_inverse=True)
        types.append(
            replace(
                t,
                rate=t.rate[sites],
                sites=np.searchsorted(sites, t.sites[e_idx]),
                target=t.target[blocks],
                need=t.need[blocks],
                pair_block=np.searchsorted(blocks, t.pair_block[p_idx]),
                pair_site=e_map[t.pair_site[p_idx]],
                pair_dist=t.pair_dist[p_idx],
                ex_block=np.searchsorted(blocks, t.ex_block[q_idx]),
                ex_fac=ex_fac.astype(np.int64),
                ex_dist=t.ex_dist[q_idx],
                ex_capacity=t.ex_capacity[f_idx],
                ex_index=t.ex_index[f_idx],
            )
        )
        for start, n, idx in (
            (lay.x0[i], t.n_e, e_idx),
            (lay.a0[i], t.n_e, e_idx),
            (lay.z0[i], t.n_p, p_idx),
            (lay.q0[i], t.n_q, q_idx),
        ):
            col_parts.append((start + periods * n + idx[None, :]).ravel())
    for i, t in enumerate(data.types):  # standard-size columns come after every other column
        w = t.size_width
        e_idx = np.flatnonzero(np.isin(t.sites, sites))
        slot = (periods * t.n_e + e_idx[None, :]).ravel()
        col_parts.append((lay.s0[i] + slot[:, None] * w + np.arange(w)[None, :]).ravel())
    sub = PlanningData(
        fixed_cost=data.fixed_cost[sites],
        floor_area=data.floor_area[sites],
        first_period=data.first_period[sites],
        types=types,
        n_blocks=int(blocks.size),
        years=data.years,
        budgets=None,
        carry_over=data.carry_over,
        targets=None,
        committed=None if data.committed is None else data.committed.subset(sites),
    )
    return sub, np.concatenate(col_parts)


@dataclass
class _Batch:
    milp: MILP
    cols: np.ndarray  # full-model column of each batch column


def _batches(data: PlanningData, pieces: Pieces) -> list[_Batch]:
    out = []
    for ids in pieces.batches:
        sites = np.flatnonzero(np.isin(pieces.site_piece, ids))
        blocks = np.flatnonzero(np.isin(pieces.block_piece, ids))
        sub, cols = restrict(data, sites, blocks)
        out.append(_Batch(build_model(sub, must_cover=False, name="piece"), cols))
    return out


def budget_rows(data: PlanningData, milp: MILP) -> tuple[sp.csr_matrix, np.ndarray]:
    """The budget rows of a model built by :func:`build_model` (its last rows) and limits."""
    assert data.budgets is not None
    K = data.n_periods
    limits = np.cumsum(data.budgets) if data.carry_over else np.asarray(data.budgets, float)
    R = milp.A[milp.num_rows - K :]
    if not np.allclose(milp.row_upper[-K:], limits):
        raise AssertionError("the model's last rows are not its budget rows")
    return sp.csr_matrix(R), limits


@dataclass
class _Menu:
    """Plans per piece from every evaluated multiplier: values and spending."""

    col_piece: np.ndarray  # piece of every full-model column (-1: none)
    xs: list[np.ndarray]  # full-model vectors
    values: list[np.ndarray]  # (n_pieces,) per evaluation
    spends: list[np.ndarray]  # (n_pieces, n_rows) per evaluation


def solve_decomposed(
    data: PlanningData,
    milp: MILP,
    c: np.ndarray,
    backend: Backend,
    options: SolveOptions,
    pieces: Pieces | None = None,
    start: np.ndarray | None = None,
) -> Result:
    """Maximise ``c @ x`` over ``milp`` (a :func:`build_model` model with budget rows) by
    Lagrangian decomposition; see the module docstring.

    ``options.time_limit_s`` bounds the whole decomposition (LP, pieces, knapsacks and the
    final MIP): the caller gives it its share of the run's deadline.

    Returns a normalised :class:`Result` (status OPTIMAL when the certified gap is within
    ``options.mip_gap``, FEASIBLE when the time limit ends it first), with ``extra`` telling
    the pieces, iterations, the LP bound and the Lagrangian bound. A feasible ``start`` (e.g. a
    smaller budget's plan in a sweep, or the primal heuristic's,
    :mod:`optimizer.models.planning.heuristic`) joins the menu and is the plan to beat from
    the start, so the answer is never worse than it, even when the time ends before the first
    iteration.
    """
    t_start = time.perf_counter()
    limit = options.time_limit_s if options.time_limit_s is not None else math.inf
    deadline = t_start + limit
    pieces = pieces or find_pieces(data)
    R, limits = budget_rows(data, milp)
    batches = _batches(data, pieces)
    log.info(
        "decomposition: %d pieces in %d batches (largest %d sites)",
        pieces.n_pieces,
        len(batches),
        int(np.bincount(pieces.site_piece[pieces.site_piece >= 0]).max(initial=0)),
    )
    lp_bound, lam = _lp_multipliers(milp, c, R, backend, options)
    menu = _Menu(pieces.col_piece, [], [], [])
    best_bound, best_value, best_x = lp_bound, -math.inf, None
    start_value = math.nan
    if start is not None and milp.max_violation(start) <= 1e-6:
        best_x = np.asarray(start, dtype=float)
        best_value = start_value = float(c @ best_x)
        _add_to_menu(menu, best_x, pieces, c, R)
    else:
        # "build nothing" gives every piece a plan within any budget, so the knapsack always
        # has a choice; a feasible start already does that
        empty = _evaluate(batches, pieces, c, None, milp, R, backend, options, deadline)
        if empty is not None:
            _add_to_menu(menu, empty[1], pieces, c, R)
    theta, stale, iterations, cut_short = 0.5, 0, 0, False
    reserve = min(CHOOSE_RESERVE_S, CHOOSE_RESERVE_SHARE * limit)
    while time.perf_counter() < deadline:
        got = _evaluate(
            batches, pieces, c, lam, milp, R, backend, options, deadline, best_x, reserve
        )
        if got is None:
            break
        bound_sum, x = got
        _add_to_menu(menu, x, pieces, c, R)
        plan = _choose(menu, limits, backend, options, deadline)
        if plan is not None and plan[0] > best_value:
            best_value, best_x = plan
        if not math.isfinite(bound_sum):
            log.info(
                "decomposition: iteration %d cut short by the time limit, plan %.6g",
                iterations + 1,
                best_value,
            )
            cut_short = True
            break  # part of the batches solved: no bound from them, no time for more
        iterations += 1
        value_l = bound_sum + float(lam @ limits)
        if not math.isfinite(best_bound) or value_l < best_bound - 1e-12 * abs(best_bound):
            best_bound, stale = value_l, 0
        else:
            stale += 1
            if stale >= 2:
                theta, stale = theta / 2, 0
        log.info(
            "decomposition: iteration %d, L = %.6g, plan %.6g, gap %.3g%%, %.1f s",
            iterations,
            value_l,
            best_value,
            100 * _gap(best_value, best_bound),
            time.perf_counter() - t_start,
        )
        if _gap(best_value, best_bound) <= options.mip_gap:
            break
        if theta < MIN_STEP:
            break  # the dual has stalled: what is left is its duality gap
        g = limits - R @ x
        norm = float(g @ g)
        if norm <= 0:
            break
        step = theta * max(value_l - max(best_value, 0.0), 1e-9 * abs(value_l)) / norm
        # a step never more than halves or doubles a multiplier: the dual is flat in places
        # and a full Polyak step overshoots into plans that spend far from the budgets
        new = np.maximum(0.0, lam - step * g)
        lam = np.where(lam > 0, np.clip(new, lam / 2, lam * 2), new)

    lagrangian_bound = best_bound
    if not cut_short and best_x is not None and _gap(best_value, best_bound) > options.mip_gap:
        # what the dual leaves (its duality gap: a few pieces' worth, large on small models)
        # goes to the MIP, warm-started from the best plan, for the time that remains
        left = deadline - time.perf_counter()
        if left > 1.0:
            m = replace(milp, c=c, sense="max")
            mip = backend.solve(m, replace(options, time_limit_s=left, warm_start=best_x))
            if mip.x is not None and mip.objective > best_value:
                best_value, best_x = float(mip.objective), np.asarray(mip.x)
            if math.isfinite(mip.bound):
                best_bound = min(best_bound, mip.bound)
            log.info(
                "decomposition: MIP for the rest %s, plan %.6g, bound %.6g",
                mip.status.value,
                best_value,
                best_bound,
            )
    solve_s = time.perf_counter() - t_start
    extra: dict[str, object] = {
        "method": "lagrangian decomposition",
        "pieces": pieces.n_pieces,
        "batches": len(batches),
        "iterations": iterations,
        "lp_bound": lp_bound,
        "lagrangian_bound": lagrangian_bound,
        "start_value": start_value,
    }
    if best_x is None:
        return Result(
            Status.NO_SOLUTION,
            math.nan,
            best_bound,
            None,
            backend.name,
            solve_s=solve_s,
            extra=extra,
            stop=StopReason.TIME_LIMIT if time.perf_counter() >= deadline else StopReason.ERROR,
        )
    gap = _gap(best_value, best_bound)
    status = Status.OPTIMAL if gap <= options.mip_gap else Status.FEASIBLE
    if status is Status.OPTIMAL:
        stop = StopReason.OPTIMAL if gap <= 1e-9 else StopReason.GAP_REACHED
    else:  # the time ran out, or the dual stalled with no time left for the final MIP
        stop = StopReason.TIME_LIMIT
    return Result(
        status=status,
        objective=best_value,
        bound=best_bound,
        x=best_x,
        solver=f"{backend.name}+decomposition",
        solve_s=solve_s,
        message=f"Lagrangian decomposition, {iterations} iterations",
        extra=extra,
        stop=stop,
    )


def _lp_multipliers(
    milp: MILP, c: np.ndarray, R: sp.csr_matrix, backend: Backend, options: SolveOptions
) -> tuple[float, np.ndarray]:
    """The LP relaxation's bound and its budget duals (the first multipliers)."""
    n_rows = R.shape[0]
    lp_model = replace(milp, c=c, sense="max", integrality=np.zeros_like(milp.integrality))
    # the LP gets the step's whole time at most: a run's deadline is never overrun
    lp = backend.solve(lp_model, replace(options, warm_start=None))
    lp_bound = lp.objective if lp.status is Status.OPTIMAL else math.inf
    if lp.row_dual is not None:
        lam = np.abs(lp.row_dual[milp.num_rows - n_rows :])
    else:  # no duals: the LP plan's coverage per yuan
        spend = float(R.sum(axis=0).A1 @ (lp.x if lp.x is not None else np.zeros(milp.num_vars)))
        lam = np.full(n_rows, max(lp_bound, 0.0) / max(spend, 1.0) / n_rows)
    log.info("decomposition: LP bound %.6g in %.1f s", lp_bound, lp.solve_s)
    return lp_bound, lam


def _gap(value: float, bound: float) -> float:
    if not (math.isfinite(value) and math.isfinite(bound)):
        return math.inf
    return max(0.0, bound - value) / max(abs(value), 1e-9)


def _evaluate(
    batches: list[_Batch],
    pieces: Pieces,
    c: np.ndarray,
    lam: np.ndarray | None,
    milp: MILP,
    R: sp.csr_matrix,
    backend: Backend,
    options: SolveOptions,
    deadline: float,
    fill: np.ndarray | None = None,
    reserve: float = 0.0,
) -> tuple[float, np.ndarray] | None:
    """Solve every batch at multipliers ``lam`` (``None``: build nothing); the sum of their
    bounds and the assembled full-model vector, or None when time runs out.

    With a feasible plan ``fill``, a batch that no longer fits before ``deadline - reserve``
    keeps ``fill``'s part and the sum is NaN (no bound): the pieces solved still give the
    menu new plans (each piece's part of ``fill`` is a plan for that piece)."""
    price = c - (R.T @ lam if lam is not None else 0.0)
    x = np.zeros(milp.num_vars) if fill is None else np.array(fill, dtype=float)
    total = 0.0
    for solved, b in enumerate(batches):
        left = deadline - time.perf_counter() - (reserve if fill is not None else 0.0)
        if left <= 0:
            return (math.nan, x) if fill is not None and solved > 0 else None
        m = replace(b.milp, c=price[b.cols], sense="max")
        if lam is None:  # nothing built (but what is committed): only existing facilities serve
            up = m.col_upper.copy()
            up[_decision_columns(m) & (m.col_lower == 0)] = 0.0
            m = replace(m, col_upper=up)
        res = backend.solve(
            m, replace(options, time_limit_s=left, mip_gap=min(options.mip_gap / 10, PIECE_GAP))
        )
        if res.x is None or not math.isfinite(res.bound):
            return (math.nan, x) if fill is not None and solved > 0 else None
        x[b.cols] = res.x
        total += res.bound
    return total, x


def _decision_columns(m: MILP) -> np.ndarray:
    mask = np.zeros(m.num_vars, dtype=bool)
    for key, sl in m.blocks.items():
        if key == "open" or key.startswith(("build:", "area:")):
            mask[sl] = True
    return mask


def _add_to_menu(
    menu: _Menu, x: np.ndarray, pieces: Pieces, c: np.ndarray, R: sp.csr_matrix
) -> None:
    P = pieces.n_pieces
    held = pieces.col_piece >= 0
    cp = pieces.col_piece[held]
    values = np.bincount(cp, weights=(c * x)[held], minlength=P)
    Rx = R.multiply(x[None, :]).tocsc()[:, np.flatnonzero(held)]
    spends = np.zeros((P, R.shape[0]))
    coo = Rx.tocoo()
    np.add.at(spends, (cp[coo.col], coo.row), coo.data)
    menu.xs.append(x)
    menu.values.append(values)
    menu.spends.append(spends)


def _choose(
    menu: _Menu,
    limits: np.ndarray,
    backend: Backend,
    options: SolveOptions,
    deadline: float,
) -> tuple[float, np.ndarray] | None:
    """One plan per piece from the menu, within the budgets, of most value (a small MIP).

    A piece often keeps its plan from one multiplier to the next: a repeated plan is offered
    once (its later copies are fixed to 0), so the knapsack stays as small as the choices.
    """
    E = len(menu.xs)
    P = menu.values[0].size
    V = np.stack(menu.values, axis=1)  # (P, E)
    Sp = np.stack(menu.spends, axis=2)  # (P, rows, E)
    n = P * E
    col = np.arange(n)
    piece_of, eval_of = col // E, col % E
    per_col = Sp[piece_of, :, eval_of]  # (n, rows): spending of each column's plan
    _, first = np.unique(np.column_stack([piece_of, V.ravel(), per_col]), axis=0, return_index=True)
    offered = np.zeros(n)
    offered[first] = 1.0
    rows = RowBuilder(n)
    rows.add(piece_of, col, np.ones(n), P, 1.0, 1.0)
    n_rows = limits.size
    rr, cc = np.nonzero(per_col.T)
    rows.add(rr, cc, per_col.T[rr, cc], n_rows, -np.inf, limits * (1 + 1e-12))
    A, lo, up = rows.build()
    knap = MILP(
        c=V.ravel(),
        A=A,
        row_lower=lo,
        row_upper=up,
        col_lower=np.zeros(n),
        col_upper=offered,
        integrality=np.ones(n, dtype=bool),
        sense="max",
        name="menu",
    )
    left = deadline - time.perf_counter()
    if left <= 0.5:
        return None
    res = backend.solve(
        knap, replace(options, time_limit_s=min(left, 30.0), mip_gap=1e-6, warm_start=None)
    )
    if res.x is None:
        return None
    pick = res.x.reshape(P, E).argmax(axis=1)
    held = menu.col_piece >= 0
    source = np.full(menu.col_piece.size, -1)
    source[held] = pick[menu.col_piece[held]]
    x = np.zeros_like(menu.xs[0])
    for e in range(E):
        mask = source == e
        x[mask] = menu.xs[e][mask]
    value = float(V[np.arange(P), pick].sum())
    return value, x
