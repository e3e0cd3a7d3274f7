r"""A primal heuristic for the planning model: greedy construction, then local search.

The MIP of :mod:`optimizer.models.planning.model` maximising coverage under budgets starts
from nothing and, stopped after a few seconds, can hold a plan five times worse than the
optimum. This heuristic gives it (and the decomposition) a plan within about 2 % of the best
known in about a second (``benchmarks/results/planning_anytime.md``).

Construction
------------
Facilities are added one at a time. At each step every candidate ``(type, site, year)`` is
scored at once from whole arrays (a sparse site-by-block reach matrix per type): its size
covers the still-unserved need within reach (between the type's size limits, the site's floor
area left and the column bounds), shrunk to the budget left in its year when needed; it pays
the site's fixed cost unless the site is already converted (then it must use that year); its
gain is the priority-weighted coverage points it adds in its year and every later year, the
unserved need within reach being served in proportion to its capacity (a feasible share). The
candidate with the most points per yuan (``points / cost ** alpha``, a few ``alpha`` tried
while time allows) is built, until none fits the budgets or gains; scores are recomputed
lazily (see :func:`_greedy_fill`).
Columns fixed to 1 by the model's bounds (committed sites) are built first; columns fixed to 0
are never used.

Exact plan
----------
The chosen conversions and builds are fixed in the model and one LP (a small MIP for types
whose demand may not be split or sizes are standard) gives the best sizes and assignment for
them: a feasible column vector of the full model, its value ``c @ x``. The LP also shows what
each site really serves and what the plan really spends, so the greedy state is rebuilt from
it.

Local search
------------
Until its time runs out, from the best exact plan: move a site (all its facilities) one year
earlier; drop a site, the one serving the fewest points per yuan first. Either move is
followed by a greedy refill with the budget it frees, and kept when the exact plan is better.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from optimizer.backends import Backend, SolveOptions
from optimizer.milp import MILP
from optimizer.models.planning.model import (
    Layout,
    PlanningData,
    cost_vector,
    coverage_weight,
    period_of_columns,
)

log = logging.getLogger(__name__)

FEASIBILITY_TOL = 1e-6
"""A plan whose largest row or bound violation exceeds this is not returned."""

COST_EXPONENTS = (0.85, 1.0, 0.7)
"""The greedy runs once per exponent ``alpha`` of its score ``points / cost ** alpha`` while
its time lasts, and keeps the best exact plan: below 1 the score leans to larger facilities
(fewer fixed costs), and which lean is best depends on the district (on the sample city,
0.85 beat 1.0 by 0.3 %)."""

MIN_GAIN = 1e-9
"""A candidate adding fewer coverage points than this is not built."""

IMPROVEMENT_RTOL = 1e-9
"""A local-search move is kept when it improves the exact plan by more than this share."""

GREEDY_SHARE = 0.8
"""Under a hard time limit, the greedy stops adding facilities after this share of it, so
that the exact plan of what it built has the rest."""

LP_MIN_S = 0.05
"""Time allowed to each fixed-build LP at least."""


@dataclass(frozen=True)
class HeuristicPlan:
    """A feasible plan found by the heuristic.

    Attributes
    ----------
    x : ndarray
        A column vector of the full model, feasible within :data:`FEASIBILITY_TOL`.
    value : float
        ``c @ x`` for the objective the heuristic was asked to serve.
    greedy_value : float
        ``c @ x`` of the greedy construction's exact plan (before the local search).
    facilities : int
    moves, tried : int
        Improving local-search moves made, and moves tried.
    seconds : float
    """

    x: np.ndarray
    value: float
    greedy_value: float
    facilities: int
    moves: int
    tried: int
    seconds: float


@dataclass(frozen=True)
class _Type:
    """One type's arrays for scoring: reach (n_e, n_blocks), weight, bounds per (year, site)."""

    reach: sp.csr_matrix
    weight: float
    need: np.ndarray
    target: np.ndarray
    unit: float
    min_area: float
    cap_area: np.ndarray  # (K, n_e): min(max size, floor area, column bound)
    low_area: np.ndarray  # (K, n_e): column lower bound of the area
    may_build: np.ndarray  # (K, n_e) bool: the build column's upper bound allows it
    must_build: np.ndarray  # (K, n_e) bool: fixed to 1 by its lower bound
    site: np.ndarray  # (n_e,) global site
    rate: np.ndarray  # (n_e,) fit-out per m2


@dataclass(frozen=True)
class _Facility:
    """A facility of type ``t`` at local site ``e`` built in year ``k`` (``t`` = -1: a site
    ``e`` converted without a facility, as forced by the bounds)."""

    t: int
    e: int
    k: int
    area: float


@dataclass(frozen=True)
class _Context:
    """What every step of the heuristic shares: the problem, its arrays and the LP solver."""

    data: PlanningData
    lay: Layout
    milp: MILP
    c: np.ndarray
    backend: Backend
    options: SolveOptions
    types: list[_Type]
    may_open: np.ndarray  # (K, S) bool
    must_open: np.ndarray  # (K, S) bool
    limits: np.ndarray  # (K,) budget limits (cumulative with carry-over), inf without budgets
    cost: np.ndarray  # cost of every column
    period: np.ndarray  # year of every column (-1: none)
    greedy_end: float  # perf_counter time by which the greedy stops adding
    hard_end: float  # perf_counter time by which the heuristic ends
    decision: np.ndarray  # bool per column: a conversion, build or area
    binary: np.ndarray  # bool per column: a conversion or build (fixed in the exact plan)


@dataclass
class _State:
    """A plan under construction: its facilities and what they use up.

    ``residual[t]`` is the unserved share of each block's need per year ``(K, B)``; ``blocked``
    marks sites the greedy may not use (a site just dropped).
    """

    facilities: list[_Facility]
    open_k: np.ndarray
    floor_left: np.ndarray
    spend: np.ndarray
    built: list[np.ndarray]
    residual: list[np.ndarray]
    blocked: np.ndarray


def heuristic_plan(
    data: PlanningData,
    milp: MILP,
    c: np.ndarray,
    backend: Backend,
    options: SolveOptions,
    time_s: float | None = None,
    hard_s: float | None = None,
) -> HeuristicPlan | None:
    """A feasible plan of ``milp`` (a :func:`~optimizer.models.planning.model.build_model`
    model of ``data``) built for coverage, its sizes and assignment best for ``c`` (maximised).

    ``time_s`` bounds the local search and the greedy's reruns (the first greedy construction
    and its LPs always run: about a second on a district). ``hard_s`` bounds everything: the
    greedy then stops adding facilities after :data:`GREEDY_SHARE` of it (the plan so far is
    feasible) and the LPs get what is left. None when no plan is found this way (e.g.
    coverage targets or full-cover rows the greedy plan misses, or forced columns that break
    a budget).
    """
    t0 = time.perf_counter()
    hard_end = t0 + (hard_s if hard_s is not None else math.inf)
    end = min(t0 + (time_s if time_s is not None else math.inf), hard_end)
    greedy_end = t0 + (GREEDY_SHARE * hard_s if hard_s is not None else math.inf)
    ctx = _context(data, milp, c, backend, options, greedy_end, hard_end)
    x0 = _exact_plan(ctx, _fixed_facilities(ctx))
    if x0 is None:
        log.info("planning heuristic: the forced builds alone have no feasible plan")
        return None
    x = _best_greedy(ctx, x0, end)
    if x is None:
        log.info("planning heuristic: the greedy plan has no feasible assignment")
        return None
    greedy_value = float(c @ x)
    x, moves, tried = _local_search(ctx, x, end)
    seconds = time.perf_counter() - t0
    n_fac = len(_facilities_of(ctx, x))
    log.info(
        "planning heuristic: %d facilities, greedy %.6g, local search %.6g "
        "(%d of %d moves kept), %.2f s",
        n_fac,
        greedy_value,
        float(c @ x),
        moves,
        tried,
        seconds,
    )
    return HeuristicPlan(x, float(c @ x), greedy_value, n_fac, moves, tried, seconds)


# --------------------------------------------------------------------------- context


def _context(
    data: PlanningData,
    milp: MILP,
    c: np.ndarray,
    backend: Backend,
    options: SolveOptions,
    greedy_end: float = math.inf,
    hard_end: float = math.inf,
) -> _Context:
    """The scoring arrays of every type and the model's bounds, budgets and costs."""
    lay = Layout.of(data)
    K, S = data.n_periods, data.n_sites
    lo, up = milp.col_lower, milp.col_upper
    types = []
    for i, t in enumerate(data.types):
        xs = slice(lay.x0[i], lay.x0[i] + K * t.n_e)
        as_ = slice(lay.a0[i], lay.a0[i] + K * t.n_e)
        reach = sp.csr_matrix(
            (np.ones(t.n_p), (t.pair_site, t.pair_block)), shape=(t.n_e, data.n_blocks)
        )
        reach.data[:] = 1.0  # a repeated pair counts once
        cap = np.minimum(t.max_area, data.floor_area[t.sites])[None, :]
        types.append(
            _Type(
                reach=reach,
                weight=coverage_weight(t),
                need=t.need,
                target=t.target,
                unit=t.area_per_unit,
                min_area=t.min_area,
                cap_area=np.minimum(cap, up[as_].reshape(K, t.n_e)),
                low_area=lo[as_].reshape(K, t.n_e),
                may_build=up[xs].reshape(K, t.n_e) > 0.5,
                must_build=lo[xs].reshape(K, t.n_e) > 0.5,
                site=t.sites,
                rate=t.rate[t.sites],
            )
        )
    if data.budgets is None:
        limits = np.full(K, np.inf)
    else:
        b = np.asarray(data.budgets, dtype=float)
        limits = np.cumsum(b) if data.carry_over else b
    return _Context(
        data=data,
        lay=lay,
        milp=milp,
        c=c,
        backend=backend,
        options=options,
        types=types,
        may_open=(up[: K * S] > 0.5).reshape(K, S),
        must_open=(lo[: K * S] > 0.5).reshape(K, S),
        limits=limits,
        cost=cost_vector(data, lay),
        period=period_of_columns(data, lay),
        greedy_end=greedy_end,
        hard_end=hard_end,
        decision=_columns(data, lay, ("open", "build:", "area:")),
        binary=_columns(data, lay, ("open", "build:")),
    )


def _columns(data: PlanningData, lay: Layout, prefixes: tuple[str, ...]) -> np.ndarray:
    """A mask of the columns in the blocks whose names start with one of ``prefixes``."""
    mask = np.zeros(lay.n, dtype=bool)
    for name, sl in lay.blocks(data).items():
        if name.startswith(prefixes):
            mask[sl] = True
    return mask


def _fixed_facilities(ctx: _Context) -> list[_Facility]:
    """The builds the model's bounds force (committed sites); their sizes are left to the LP."""
    out = []
    for i, ta in enumerate(ctx.types):
        ks, es = np.nonzero(ta.must_build)
        out += [_Facility(i, e, k, 0.0) for k, e in zip(ks.tolist(), es.tolist(), strict=True)]
    ks, ss = np.nonzero(ctx.must_open)
    out += [_Facility(-1, s, k, 0.0) for k, s in zip(ks.tolist(), ss.tolist(), strict=True)]
    return out


def _facilities_of(ctx: _Context, x: np.ndarray) -> list[_Facility]:
    """The builds of a column vector, with their areas (converted sites without a facility
    as ``t = -1``)."""
    data, lay = ctx.data, ctx.lay
    K, S = data.n_periods, data.n_sites
    out: list[_Facility] = []
    hosts = np.zeros((K, S), dtype=bool)
    for i, t in enumerate(data.types):
        xb = x[lay.x0[i] : lay.x0[i] + K * t.n_e].reshape(K, t.n_e) > 0.5
        ab = x[lay.a0[i] : lay.a0[i] + K * t.n_e].reshape(K, t.n_e)
        ks, es = np.nonzero(xb)
        hosts[ks, t.sites[es]] = True
        out += [
            _Facility(i, e, k, float(ab[k, e]))
            for k, e in zip(ks.tolist(), es.tolist(), strict=True)
        ]
    y = x[: K * S].reshape(K, S) > 0.5
    ks, ss = np.nonzero(y & ~hosts)
    out += [_Facility(-1, s, k, 0.0) for k, s in zip(ks.tolist(), ss.tolist(), strict=True)]
    return out


# --------------------------------------------------------------------------- state


def _state_from_x(ctx: _Context, x: np.ndarray, drop: int = -1, earlier: int = -1) -> _State:
    """The greedy state of an exact plan ``x``: what it spends, the floor area it leaves and
    who is still unserved. ``drop`` removes a site (its facilities, their costs and service)
    and blocks it; ``earlier`` moves a site's conversion one year back."""
    data, lay = ctx.data, ctx.lay
    K, S, B = data.n_periods, data.n_sites, data.n_blocks
    moved = x.copy()
    if drop >= 0 or earlier >= 0:
        site_cols = _site_columns(ctx, drop if drop >= 0 else earlier)
        if drop >= 0:
            moved[site_cols] = 0.0
        else:
            moved = _shift_earlier(ctx, moved, site_cols)
    spend = np.bincount(
        ctx.period[ctx.period >= 0], (ctx.cost * moved)[ctx.period >= 0], minlength=K
    )
    open_y = moved[: K * S].reshape(K, S) > 0.5
    open_k = np.where(open_y.any(axis=0), open_y.argmax(axis=0), -1)
    floor_left = data.floor_area.astype(float).copy()
    built, residual = [], []
    for i, t in enumerate(data.types):
        ab = moved[lay.a0[i] : lay.a0[i] + K * t.n_e].reshape(K, t.n_e)
        xb = moved[lay.x0[i] : lay.x0[i] + K * t.n_e].reshape(K, t.n_e) > 0.5
        np.subtract.at(floor_left, t.sites, np.where(xb, ab, 0.0).sum(axis=0))
        built.append(np.asarray(xb.any(axis=0), dtype=bool))
        z = moved[lay.z0[i] : lay.z0[i] + K * t.n_p].reshape(K, t.n_p)
        q = moved[lay.q0[i] : lay.q0[i] + K * t.n_q].reshape(K, t.n_q)
        served = np.zeros((K, B))
        for k in range(K):
            served[k] = np.bincount(t.pair_block, z[k], minlength=B) + np.bincount(
                t.ex_block, q[k], minlength=B
            )
        residual.append(np.clip(1.0 - served, 0.0, 1.0))
    blocked = np.zeros(S, dtype=bool)
    if drop >= 0:
        blocked[drop] = True
    return _State(_facilities_of(ctx, moved), open_k, floor_left, spend, built, residual, blocked)


def _site_columns(ctx: _Context, s: int) -> np.ndarray:
    """Every column of site ``s``: its conversions, builds, areas and the service of its
    facilities."""
    data, lay = ctx.data, ctx.lay
    K = data.n_periods
    cols = [lay.y(np.arange(K), np.full(K, s))]
    for i, t in enumerate(data.types):
        e = np.flatnonzero(t.sites == s)
        if e.size == 0:
            continue
        p = np.flatnonzero(t.pair_site == e[0])
        for k in range(K):
            cols += [
                lay.x0[i] + k * t.n_e + e,
                lay.a0[i] + k * t.n_e + e,
                lay.z0[i] + k * t.n_p + p,
            ]
    return np.concatenate(cols).astype(np.int64)


def _shift_earlier(ctx: _Context, x: np.ndarray, site_cols: np.ndarray) -> np.ndarray:
    """``x`` with a site's columns moved one year back (its service in its first year kept
    for the later years; the new first year starts unserved by it, the LP fills it)."""
    out = x.copy()
    K = ctx.data.n_periods
    per = ctx.period[site_cols]
    # columns are period-major within each block: year k's column is year k-1's + block width
    for k in range(1, K):
        now = site_cols[per == k]
        before = site_cols[per == k - 1]
        if now.size != before.size:
            continue
        move = ctx.decision[now]  # conversions, builds and areas move; service stays
        out[before[move]] = x[now[move]]
        out[now[move]] = 0.0
    return out


def _room(ctx: _Context, spend: np.ndarray) -> np.ndarray:
    """Budget left for a new cost in each year (with carry-over: the least room of the
    cumulative limits from that year on)."""
    if not ctx.data.carry_over:
        return ctx.limits - spend
    left = ctx.limits - np.cumsum(spend)
    return np.minimum.accumulate(left[::-1])[::-1]


def _apply(ctx: _Context, state: _State, f: _Facility) -> None:
    """Add facility ``f``: pay for it, take its floor area, serve the unserved need within
    reach in proportion to its capacity."""
    ta = ctx.types[f.t]
    s = int(ta.site[f.e])
    if state.open_k[s] < 0:
        state.open_k[s] = f.k
        state.spend[f.k] += ctx.data.fixed_cost[s]
    state.spend[f.k] += ta.rate[f.e] * f.area
    state.floor_left[s] -= f.area
    state.built[f.t][f.e] = True
    row = ta.reach.indices[ta.reach.indptr[f.e] : ta.reach.indptr[f.e + 1]]
    res = state.residual[f.t]
    units = f.area / ta.unit
    for k in range(f.k, ctx.data.n_periods):
        total = float((res[k, row] * ta.need[row]).sum())
        if total > 0:
            res[k, row] *= 1.0 - min(1.0, units / total)
    state.facilities.append(f)


# --------------------------------------------------------------------------- greedy


def _greedy_fill(ctx: _Context, state: _State, alpha: float = 1.0) -> _State:
    """Add the candidate of most coverage points per yuan (``points / cost ** alpha``)
    until none fits or gains.

    Lazy: each type's best score is kept from the step it was computed in. A step changes
    only the built type's unserved need; for the other types it only shrinks the budget and
    the floor area left, which lowers their scores, except at the site just converted (its
    fixed cost is paid): those types, and the built one, are scored again at once; the rest
    keep their old best as an upper bound and are scored again only when on top.
    """
    n = len(ctx.types)
    best: list[tuple[float, _Facility] | None] = [None] * n
    must = np.ones(n, dtype=bool)  # scored again before the next choice
    fresh = np.zeros(n, dtype=bool)  # scored in the current state
    while time.perf_counter() < ctx.greedy_end:
        room = _room(ctx, state.spend)
        for i in np.flatnonzero(must):
            best[i] = _score_type(ctx, state, ctx.types[i], int(i), room, alpha)
            fresh[i] = True
        while True:
            top = int(np.argmax([-math.inf if b is None else b[0] for b in best]))
            chosen = best[top]
            if chosen is None or fresh[top]:
                break
            best[top] = _score_type(ctx, state, ctx.types[top], top, room, alpha)
            fresh[top] = True
        if chosen is None:
            return state
        f = chosen[1]
        site = int(ctx.types[f.t].site[f.e])
        newly_open = state.open_k[site] < 0
        _apply(ctx, state, f)
        fresh[:] = False
        must[:] = False
        must[f.t] = True
        if newly_open:
            must |= np.array([bool((ta.site == site).any()) for ta in ctx.types])
    log.info("planning heuristic: the greedy stopped at its time limit")
    return state


def _score_type(
    ctx: _Context, state: _State, ta: _Type, i: int, room: np.ndarray, alpha: float
) -> tuple[float, _Facility] | None:
    """Every candidate ``(year, site)`` of one type scored at once; the best and its ratio."""
    K = ctx.data.n_periods
    res = state.residual[i]
    open_k = state.open_k[ta.site]
    fixed = np.where(open_k < 0, ctx.data.fixed_cost[ta.site], 0.0)
    left_need = (ta.reach @ (res * ta.need).T).T  # (K, n_e): unserved need within reach
    left_value = ta.weight * (ta.reach @ (res * ta.target).T).T
    periods = np.arange(K)[:, None]
    # a converted site's facilities share its year
    same_year = np.where(open_k < 0, ctx.may_open[:, ta.site], periods == open_k[None, :])
    cap = np.minimum(ta.cap_area, state.floor_left[ta.site][None, :])
    area = np.clip(left_need * ta.unit, np.maximum(ta.min_area, ta.low_area), cap)
    afford = (room[:, None] - fixed[None, :]) / np.maximum(ta.rate, 1e-12)[None, :]
    area = np.minimum(area, np.where(ta.rate[None, :] > 0, afford, np.inf))
    ok = (
        ta.may_build
        & ~state.built[i][None, :]
        & ~state.blocked[ta.site][None, :]
        & same_year
        & (area >= np.maximum(ta.min_area, ta.low_area) - 1e-9)
        & (fixed[None, :] <= room[:, None])
    )
    if not ok.any():
        return None
    units = area / ta.unit
    gain = np.zeros((K, ta.site.size))
    for k in range(K):  # the years from k on, each served in proportion to the capacity
        for k2 in range(k, K):
            gain[k] += np.minimum(1.0, units[k] / np.maximum(left_need[k2], 1e-12)) * left_value[k2]
    cost = fixed[None, :] + ta.rate[None, :] * area
    ratio = np.where(ok & (gain > MIN_GAIN), gain / np.maximum(cost, 1.0) ** alpha, -np.inf)
    k, e = divmod(int(np.argmax(ratio)), ta.site.size)
    if not np.isfinite(ratio[k, e]):
        return None
    return float(ratio[k, e]), _Facility(i, e, k, float(area[k, e]))


def _best_greedy(ctx: _Context, x0: np.ndarray, end: float) -> np.ndarray | None:
    """The best exact plan of the greedy runs (:data:`COST_EXPONENTS`; the first always runs,
    the others while the time lasts), each starting from the forced builds' plan ``x0``."""
    best: np.ndarray | None = None
    for n, alpha in enumerate(COST_EXPONENTS):
        if n > 0 and time.perf_counter() >= end:
            break
        state = _greedy_fill(ctx, _state_from_x(ctx, x0), alpha)
        x = _exact_plan(ctx, state.facilities)
        if x is not None and (best is None or float(ctx.c @ x) > float(ctx.c @ best)):
            best = x
    return best


# --------------------------------------------------------------------------- local search


def _local_search(ctx: _Context, x: np.ndarray, end: float) -> tuple[np.ndarray, int, int]:
    """First-improvement search over "a year earlier" and "drop and refill" moves, each
    judged by its exact plan, until a whole pass improves nothing or the time is up."""
    value = float(ctx.c @ x)
    moves = tried = 0
    while time.perf_counter() < end:
        improved = False
        for state in _moves(ctx, x):
            if time.perf_counter() >= end:
                break
            tried += 1
            trial = _exact_plan(ctx, _greedy_fill(ctx, state).facilities)
            if trial is None:
                continue
            v = float(ctx.c @ trial)
            if v > value + IMPROVEMENT_RTOL * max(1.0, abs(value)):
                x, value, improved = trial, v, True
                moves += 1
                break
        if not improved:
            break
    return x, moves, tried


def _moves(ctx: _Context, x: np.ndarray) -> Iterator[_State]:
    """The neighbours of ``x``: each site a year earlier (the best served first, where the
    bounds allow and the budget of the earlier year holds), then each site dropped (the
    fewest points per yuan first). Sites holding a forced column never move."""
    order = _sites_by_ratio(ctx, x)
    K, S = ctx.data.n_periods, ctx.data.n_sites
    open_y = x[: K * S].reshape(K, S) > 0.5
    open_k = np.where(open_y.any(axis=0), open_y.argmax(axis=0), -1)
    for s in order[::-1]:
        k = int(open_k[s])
        if k <= 0 or not ctx.may_open[k - 1, s] or not _may_move(ctx, s, k - 1, x):
            continue
        state = _state_from_x(ctx, x, earlier=s)
        if np.all(_room(ctx, state.spend) >= -1e-6):
            yield state
    for s in order:
        yield _state_from_x(ctx, x, drop=s)


def _may_move(ctx: _Context, s: int, k: int, x: np.ndarray) -> bool:
    """Whether every facility at site ``s`` may be built in year ``k`` (its column bound)."""
    lay = ctx.lay
    K = ctx.data.n_periods
    for i, ta in enumerate(ctx.types):
        e = np.flatnonzero(ta.site == s)
        if e.size == 0:
            continue
        t = ctx.data.types[i]
        xb = x[lay.x0[i] : lay.x0[i] + K * t.n_e].reshape(K, t.n_e)[:, e[0]]
        if (xb > 0.5).any() and not ta.may_build[k, e[0]]:
            return False
    return True


def _sites_by_ratio(ctx: _Context, x: np.ndarray) -> list[int]:
    """The plan's sites that hold no forced column, fewest coverage points per yuan first
    (points: what its facilities serve in the exact plan)."""
    points, spent, opened, forced = _site_points(ctx, x)
    sites = np.flatnonzero(opened & ~forced)
    ratio = points[sites] / np.maximum(spent[sites], 1.0)
    return [int(s) for s in sites[np.argsort(ratio, kind="stable")]]


def _site_points(
    ctx: _Context, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per site: the coverage points its facilities serve over the years, what it costs,
    whether it is converted and whether it holds a forced column."""
    data, lay = ctx.data, ctx.lay
    K, S = data.n_periods, data.n_sites
    points = np.zeros(S)
    forced = np.asarray(ctx.must_open.any(axis=0), dtype=bool)
    opened = np.asarray((x[: K * S].reshape(K, S) > 0.5).any(axis=0), dtype=bool)
    spent = np.where(opened, data.fixed_cost, 0.0).astype(float)
    for i, t in enumerate(data.types):
        ta = ctx.types[i]
        z = x[lay.z0[i] : lay.z0[i] + K * t.n_p].reshape(K, t.n_p).sum(axis=0)
        np.add.at(points, t.sites[t.pair_site], ta.weight * t.target[t.pair_block] * z)
        ab = x[lay.a0[i] : lay.a0[i] + K * t.n_e].reshape(K, t.n_e).sum(axis=0)
        np.add.at(spent, t.sites, ta.rate * ab)
        forced[t.sites[ta.must_build.any(axis=0)]] = True
    return points, spent, opened, forced


# --------------------------------------------------------------------------- exact plan


def _exact_plan(
    ctx: _Context, facilities: list[_Facility], c: np.ndarray | None = None
) -> np.ndarray | None:
    """The best sizes and assignment for ``facilities`` (conversions and builds fixed, the
    rest free within the model) for ``c`` (default: the heuristic's objective): a feasible
    column vector of the model, or None."""
    data, lay, milp = ctx.data, ctx.lay, ctx.milp
    fix = np.zeros(lay.n)
    for f in facilities:
        if f.t < 0:
            fix[f.k * lay.n_sites + f.e] = 1.0  # the conversion column y_sk
            continue
        t = data.types[f.t]
        fix[f.k * lay.n_sites + int(t.sites[f.e])] = 1.0
        fix[lay.x0[f.t] + f.k * t.n_e + f.e] = 1.0
    decision = ctx.binary
    lo, up = milp.col_lower.copy(), milp.col_upper.copy()
    lo[decision] = np.maximum(lo[decision], fix[decision])
    up[decision] = np.minimum(up[decision], fix[decision])
    if np.any(lo > up + 1e-12):
        return None  # a forced column the plan does not hold, or a build its bound forbids
    m = replace(
        milp,
        c=ctx.c if c is None else c,
        sense="max",
        col_lower=lo,
        col_upper=up,
        name=f"{milp.name}:heur",
    )
    left = ctx.hard_end - time.perf_counter()
    limit = ctx.options.time_limit_s if math.isinf(left) else max(LP_MIN_S, left)
    res = ctx.backend.solve(
        m, replace(ctx.options, time_limit_s=limit, mip_gap=1e-6, warm_start=None)
    )
    if res.x is None:
        return None
    x = np.asarray(res.x, dtype=float).copy()
    x[decision] = fix[decision]
    worst = milp.max_violation(x)
    if worst > FEASIBILITY_TOL:
        log.debug("planning heuristic: a fixed-build plan violates the model by %.3g", worst)
        return None
    return x
