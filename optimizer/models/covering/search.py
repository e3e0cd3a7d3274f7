r"""Row-weighting local search for the set covering problem (LSCP), compiled with Numba.

The search (after Gao, Weise & Li 2015, "An efficient local search heuristic with row
weighting for the unicost set covering problem", RWLS; here with site costs) walks through
infeasible selections that cost less than the best cover found, trying to cover every row:

- Every row :math:`i` has a weight :math:`w_i` (initially 1); after each step the weight of every
  uncovered row grows by one, so rows that stay uncovered pull harder.
- The *score* of an open site is minus the weight of the rows only it covers (what closing it
  loses); of a closed site, the weight of the uncovered rows it covers (what opening it gains).
  Both are kept up to date incrementally, only over the rows whose cover count passes 0 or 1.
- A step opens a site of a random uncovered row, the best by score per unit of cost among those
  allowed by *configuration checking* (a site closed by the search may open again only after
  one of its rows changed between covered and uncovered), then closes open sites, best by score
  per unit of cost and never the one just opened, until the selection costs less than the best
  cover by at least :math:`\delta` (1 with integer costs). Ties go to the site that changed
  longest ago.
- When every row is covered, sites that became redundant are closed, the cover is recorded, and
  sites are closed until it costs less again.

With unit costs this is RWLS: the selection keeps one site fewer than the best cover and a step
is a swap. One step costs the length of the rows that change state, so it runs in Numba
(``nogil``: the MIP can run beside it in another thread) in chunks of steps, between which the
Python side checks the clock and the stop condition. The first call in a fresh installation
compiles the steps (about 3 s, inside the time limit); the compiled code is cached on disk.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from optimizer.backends import Result, Status, StopReason
from optimizer.models.common import binary_csr

log = logging.getLogger(__name__)

__all__ = ["SearchResult", "cover_local_search", "mclp_swap_search"]

CHUNK_STEPS = 20_000
"""Steps per compiled call; between calls the clock and ``stop()`` are checked."""

CHUNK_S = 0.02
"""Seconds per compiled call of the MCLP rounds (their number is sized from the last call)."""

MCLP_HISTORY = 3000
"""Rounds of late acceptance in :func:`mclp_swap_search` (see there)."""

MCLP_STALL = 1000
"""Rounds without a better solution after which :func:`mclp_swap_search` turns to late
acceptance."""

Arrays = tuple[np.ndarray, ...]

# slots of the integer state vector
_RNG, _LAST, _STEP, _NUNC, _NSEL, _FOUND, _IDLE, _MAXIDLE, _LATE = range(9)


@numba.njit(cache=True, nogil=True)
def _next_random(ints: np.ndarray, bound: int) -> int:
    """xorshift64* draw in ``0 .. bound-1`` (state kept in ``ints[_RNG]``)."""
    s = ints[_RNG]
    s ^= s >> 12
    s ^= s << 25
    s ^= s >> 27
    ints[_RNG] = s
    v = (s * 2685821657736338717) >> 33
    if v < 0:
        v = -v
    return int(v % bound)


@numba.njit(cache=True, nogil=True)
def _open(k: int, net: Arrays, state: Arrays) -> None:
    """Open site ``k``: cover counts, scores, the uncovered-row and open-site lists."""
    row_ptr, row_cols, col_ptr, col_rows, cost = net
    x, cnt, score, w, conf, _, unc, unc_pos, sel, sel_pos, ints, cur = state
    for p in range(col_ptr[k], col_ptr[k + 1]):
        i = col_rows[p]
        if cnt[i] == 0:
            # i goes from uncovered to covered by k alone
            for q in range(row_ptr[i], row_ptr[i + 1]):
                j = row_cols[q]
                conf[j] = 1
                if j != k:
                    score[j] -= w[i]
            last = unc[ints[_NUNC] - 1]
            unc[unc_pos[i]] = last
            unc_pos[last] = unc_pos[i]
            unc_pos[i] = -1
            ints[_NUNC] -= 1
        elif cnt[i] == 1:
            # the site that covered i alone no longer does
            for q in range(row_ptr[i], row_ptr[i + 1]):
                j = row_cols[q]
                if x[j] == 1:
                    score[j] += w[i]
                    break
        cnt[i] += 1
    score[k] = -score[k]
    x[k] = 1
    sel_pos[k] = ints[_NSEL]
    sel[ints[_NSEL]] = k
    ints[_NSEL] += 1
    cur[0] += cost[k]


@numba.njit(cache=True, nogil=True)
def _close(k: int, net: Arrays, state: Arrays) -> None:
    """Close site ``k`` (the inverse of :func:`_open`); it may not open again until one of its
    rows changes state (configuration checking)."""
    row_ptr, row_cols, col_ptr, col_rows, cost = net
    x, cnt, score, w, conf, _, unc, unc_pos, sel, sel_pos, ints, cur = state
    x[k] = 0
    for p in range(col_ptr[k], col_ptr[k + 1]):
        i = col_rows[p]
        cnt[i] -= 1
        if cnt[i] == 0:
            for q in range(row_ptr[i], row_ptr[i + 1]):
                j = row_cols[q]
                conf[j] = 1
                if j != k:
                    score[j] += w[i]
            unc_pos[i] = ints[_NUNC]
            unc[ints[_NUNC]] = i
            ints[_NUNC] += 1
        elif cnt[i] == 1:
            for q in range(row_ptr[i], row_ptr[i + 1]):
                j = row_cols[q]
                if x[j] == 1:
                    score[j] -= w[i]
                    break
    score[k] = -score[k]
    conf[k] = 0
    last = sel[ints[_NSEL] - 1]
    sel[sel_pos[k]] = last
    sel_pos[last] = sel_pos[k]
    sel_pos[k] = -1
    ints[_NSEL] -= 1
    cur[0] -= cost[k]


@numba.njit(cache=True, nogil=True)
def _best_to_close(
    cost: np.ndarray, score: np.ndarray, stamp: np.ndarray, sel: np.ndarray, n_sel: int, keep: int
) -> int:
    """The open site (not ``keep``) with the largest score per unit of cost, oldest first."""
    best = -1
    best_v = 0.0
    for t in range(n_sel):
        j = sel[t]
        if j == keep:
            continue
        v = score[j] / cost[j]
        if best < 0 or v > best_v or (v == best_v and stamp[j] < stamp[best]):
            best, best_v = j, v
    return best


@numba.njit(cache=True, nogil=True)
def _run_steps(
    net: Arrays,
    state: Arrays,
    best_x: np.ndarray,
    best: np.ndarray,
    delta: float,
    target: float,
    n_steps: int,
) -> int:
    """Run up to ``n_steps`` steps; returns 1 when a cover at ``target`` or below was found.

    ``net`` holds the cover matrix by rows and by columns and the costs; ``state`` the arrays
    that the steps update (see :func:`cover_local_search`).
    """
    row_ptr, row_cols, _, _, cost = net
    x, _, score, w, conf, stamp, unc, _, sel, _, ints, cur = state
    eps = 1e-9 * max(1.0, abs(cur[0]))
    for _ in range(n_steps):
        ints[_STEP] += 1
        step = ints[_STEP]
        if ints[_NUNC] == 0:
            # a cover: close redundant sites, record it, then go below it
            t = 0
            while t < ints[_NSEL]:
                j = sel[t]
                if score[j] == 0:
                    _close(j, net, state)
                    stamp[j] = step
                    t = 0
                else:
                    t += 1
            if cur[0] < best[0] - eps:
                best[0] = cur[0]
                best_x[:] = x
                ints[_FOUND] += 1
                if best[0] <= target + eps:
                    return 1
            while ints[_NSEL] > 0 and cur[0] > best[0] - delta + eps:
                j = _best_to_close(cost, score, stamp, sel, ints[_NSEL], -1)
                _close(j, net, state)
                stamp[j] = step
            continue
        # open the best allowed site of a random uncovered row
        r = unc[_next_random(ints, ints[_NUNC])]
        k = -1
        k_v = 0.0
        any_k = -1
        any_v = 0.0
        for q in range(row_ptr[r], row_ptr[r + 1]):
            j = row_cols[q]
            v = score[j] / cost[j]
            if any_k < 0 or v > any_v or (v == any_v and stamp[j] < stamp[any_k]):
                any_k, any_v = j, v
            if conf[j] == 1 and (k < 0 or v > k_v or (v == k_v and stamp[j] < stamp[k])):
                k, k_v = j, v
        if k < 0:
            k = any_k
        _open(k, net, state)
        stamp[k] = step
        ints[_LAST] = k
        # close sites until the selection is cheaper than the best cover again
        while ints[_NSEL] > 1 and cur[0] > best[0] - delta + eps:
            j = _best_to_close(cost, score, stamp, sel, ints[_NSEL], k)
            _close(j, net, state)
            stamp[j] = step
        # the rows still uncovered weigh more
        for t in range(ints[_NUNC]):
            i = unc[t]
            w[i] += 1
            for q in range(row_ptr[i], row_ptr[i + 1]):
                score[row_cols[q]] += 1
    return 0


@dataclass(frozen=True)
class SearchResult:
    """What :func:`cover_local_search` / :func:`mclp_swap_search` reached.

    Attributes
    ----------
    result : Result
        The best solution's objective (cover cost / covered weight) against the bound the
        caller gave (``nan`` without one): OPTIMAL when the search reached it, else FEASIBLE;
        ``stop`` says why it ended, ``nodes`` counts the steps (LSCP) or rounds (MCLP),
        ``extra["improved"]`` the times a better solution was found, ``solve_s`` the time.
    selected : ndarray of bool
        The best solution (LSCP: an irredundant cover).
    """

    result: Result
    selected: np.ndarray


def _search_result(
    name: str,
    selected: np.ndarray,
    objective: float,
    bound: float,
    reached: bool,
    stop: StopReason,
    steps: int,
    improved: int,
    seconds: float,
    extra: dict[str, int] | None = None,
) -> SearchResult:
    """The :class:`SearchResult` of a search that ended for ``stop`` (OPTIMAL when it reached
    the caller's bound)."""
    result = Result(
        Status.OPTIMAL if reached else Status.FEASIBLE,
        objective,
        bound if math.isfinite(bound) else math.nan,
        None,
        name,
        solve_s=seconds,
        nodes=steps,
        extra={"improved": improved, **(extra or {})},
        stop=StopReason.OPTIMAL if reached else stop,
    )
    return SearchResult(result, selected)


def _why_stopped(deadline: float, stop: Callable[[], bool] | None, limit_hit: bool) -> StopReason:
    """Why a search loop ended short of its target."""
    if limit_hit:
        return StopReason.ITERATION_LIMIT
    if time.perf_counter() >= deadline:
        return StopReason.TIME_LIMIT
    if stop is not None and stop():
        return StopReason.INTERRUPTED
    return StopReason.ITERATION_LIMIT


def _network(reach: sp.spmatrix, start: np.ndarray) -> tuple[Arrays, sp.csr_matrix, np.ndarray]:
    """Row and column adjacency (``row_ptr, row_cols, col_ptr, col_rows``) of the 0/1
    ``reach``, the matrix itself and how many open sites of ``start`` cover each row."""
    a = binary_csr(reach)
    at = a.T.tocsr()
    arrays = (
        a.indptr.astype(np.int64),
        a.indices.astype(np.int64),
        at.indptr.astype(np.int64),
        at.indices.astype(np.int64),
    )
    cnt = np.asarray(a @ np.asarray(start, dtype=np.int64)).ravel().astype(np.int64)
    return arrays, a, cnt


def _index_lists(m: int, start: np.ndarray, uncovered: np.ndarray, seed: int) -> Arrays:
    """The uncovered rows and the open sites as lists with positions (``unc, unc_pos, sel,
    sel_pos``), and the integer slots with the seeded generator and both list lengths."""
    n = start.size
    unc = np.zeros(m, dtype=np.int64)
    unc_pos = np.full(m, -1, dtype=np.int64)
    unc[: uncovered.size] = uncovered
    unc_pos[uncovered] = np.arange(uncovered.size)
    opened = np.flatnonzero(start)
    sel = np.zeros(n, dtype=np.int64)
    sel_pos = np.full(n, -1, dtype=np.int64)
    sel[: opened.size] = opened
    sel_pos[opened] = np.arange(opened.size)
    ints = np.zeros(9, dtype=np.int64)
    ints[_RNG] = (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & 0x7FFFFFFFFFFFFFFF or 1
    ints[_NUNC] = uncovered.size
    ints[_NSEL] = opened.size
    return unc, unc_pos, sel, sel_pos, ints


def cover_local_search(
    reach: sp.spmatrix,
    cost: np.ndarray,
    start: np.ndarray,
    *,
    time_limit_s: float,
    seed: int = 0,
    lower: float = -math.inf,
    stop: Callable[[], bool] | None = None,
    max_steps: int | None = None,
) -> SearchResult:
    """Improve the cover ``start`` by the row-weighting local search (module docstring).

    Parameters
    ----------
    reach : sparse (m x n)
        Nonzero where a site covers a row; every row must be coverable.
    cost : ndarray (n,)
        Positive site costs.
    start : ndarray of bool (n,)
        A cover.
    time_limit_s : float
    seed : int
    lower : float
        A known lower bound: the search ends when it finds a cover of that cost.
    stop : callable, optional
        Polled between chunks of steps; the search ends when it returns True.
    max_steps : int, optional
        Ends the search after about this many steps (for reproducible runs).

    Returns
    -------
    SearchResult
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    x0 = np.asarray(start, dtype=bool)
    (row_ptr, row_cols, col_ptr, col_rows), a, cnt = _network(reach, x0)
    m, n = a.shape
    c = np.asarray(cost, dtype=np.float64)
    if np.any(c <= 0):
        raise ValueError("cover_local_search needs positive costs")
    if np.any(cnt == 0):
        raise ValueError("start is not a cover")
    integral = bool(np.all(c == np.round(c)))
    delta = 1.0 if integral else 1e-6 * float(c.min())

    w = np.ones(m, dtype=np.int64)
    x = x0.astype(np.int8)
    # score: open sites lose the rows only they cover; closed sites gain nothing (all covered)
    only = (cnt == 1).astype(np.int64)
    score = -np.asarray(a.T @ only).ravel().astype(np.int64)
    score[~x0] = 0
    conf = np.ones(n, dtype=np.int8)
    stamp = np.zeros(n, dtype=np.int64)
    unc, unc_pos, sel, sel_pos, ints = _index_lists(m, x0, np.zeros(0, dtype=np.int64), seed)
    ints[_LAST] = -1
    cur = np.array([float(c[x0].sum())])
    # the first cover recorded is ``start`` itself, made irredundant, so ``best`` starts above
    best = np.array([math.inf])
    best_x = x.copy()
    target = lower if math.isfinite(lower) else -math.inf
    if integral and math.isfinite(target):
        target = math.ceil(target - 1e-6)

    net = (row_ptr, row_cols, col_ptr, col_rows, c)
    state = (x, cnt, score, w, conf, stamp, unc, unc_pos, sel, sel_pos, ints, cur)
    reached = 0
    while True:
        chunk = CHUNK_STEPS
        if max_steps is not None:
            chunk = min(chunk, max_steps - int(ints[_STEP]))
            if chunk <= 0:
                break
        reached = _run_steps(net, state, best_x, best, delta, target, chunk)
        if reached or time.perf_counter() >= deadline or (stop is not None and stop()):
            break
    selected = best_x.astype(bool)
    steps, improved = int(ints[_STEP]), int(ints[_FOUND]) - 1
    objective = float(c[selected].sum())
    seconds = time.perf_counter() - t0
    log.info(
        "cover local search: %d x %d, cover %.10g from %.10g, %d steps (%d improving), %.2f s",
        *(m, n, objective, float(c[x0].sum()), steps, improved, seconds),
    )
    why = _why_stopped(deadline, stop, max_steps is not None and steps >= max_steps)
    return _search_result(
        "rwls", selected, objective, target, bool(reached), why, steps, improved, seconds
    )


# --------------------------------------------------------------------------- MCLP


@numba.njit(cache=True, nogil=True)
def _best_swap(
    net: Arrays, state: Arrays, work: Arrays, tag: int, room: float
) -> tuple[int, int, float]:
    """The best swap (open ``j``, close ``k``) by covered weight, with its change, among the
    swaps whose change of cost fits in ``room`` (the budget left; ``inf`` without a budget).

    Only closed sites of uncovered rows can gain, so those are the candidates ``j``; for
    each, ``ov[k]`` collects the weight of the rows covered by ``k`` alone that ``j`` also
    covers, and the best ``k`` is the open site with the largest ``score[k] + ov[k]`` (minus
    what closing it loses): either the best-scored open site that ``j`` does not touch or one
    it touches. Sites with ``tabu == tag`` are not opened.
    """
    ov, seen, tabu, touched, sole = work[0], work[1], work[2], work[4], work[7]
    col_ptr, col_rows = net[2], net[3]
    row_ptr, row_cols, cost = net[0], net[1], net[4]
    cnt, score, w = state[1], state[2], state[3]
    unc, sel, ints = state[6], state[8], state[10]
    opened = sel[: ints[_NSEL]]
    # the open site of each row covered once, from the open sites' columns (p columns, far
    # cheaper than finding it again for every candidate)
    for s in opened:
        for p in range(col_ptr[s], col_ptr[s + 1]):
            if cnt[col_rows[p]] == 1:
                sole[col_rows[p]] = s
    order = opened[np.argsort(-score[opened], kind="mergesort")]
    ints[_LAST] += 1
    scan = ints[_LAST]
    best_j, best_k, best_d = -1, -1, 0.0
    for t in range(ints[_NUNC]):
        r = unc[t]
        for q in range(row_ptr[r], row_ptr[r + 1]):
            j = row_cols[q]
            if seen[j] == scan or tabu[j] == tag:
                continue
            seen[j] = scan
            g = score[j]
            if g <= best_d:  # score[k] + ov[k] <= 0: j cannot beat the best swap
                continue
            n_t = 0
            for p in range(col_ptr[j], col_ptr[j + 1]):
                i = col_rows[p]
                if cnt[i] == 1:
                    s = sole[i]
                    if ov[s] == 0.0:
                        touched[n_t] = s
                        n_t += 1
                    ov[s] += w[i]
            k, kv = -1, -np.inf
            for s in order:
                if ov[s] == 0.0 and cost[j] - cost[s] <= room:
                    k, kv = s, score[s]
                    break
            for u in range(n_t):
                s = touched[u]
                if score[s] + ov[s] > kv and cost[j] - cost[s] <= room:
                    k, kv = s, score[s] + ov[s]
                ov[s] = 0.0
            if k >= 0 and g + kv > best_d:
                best_j, best_k, best_d = j, k, g + kv
    return best_j, best_k, best_d


@numba.njit(cache=True, nogil=True)
def _pair_delta(j: int, k: int, net: Arrays, state: Arrays, mark: np.ndarray) -> float:
    """Change of the covered weight when ``j`` opens and ``k`` closes."""
    col_ptr, col_rows = net[2], net[3]
    cnt, score, w, ints = state[1], state[2], state[3], state[10]
    ints[_LAST] += 1
    tag = ints[_LAST]
    for p in range(col_ptr[k], col_ptr[k + 1]):
        mark[col_rows[p]] = tag
    back = 0.0
    for p in range(col_ptr[j], col_ptr[j + 1]):
        i = col_rows[p]
        if cnt[i] == 1 and mark[i] == tag:
            back += w[i]
    return score[j] + score[k] + back


@numba.njit(cache=True, nogil=True)
def _kick_out(j: int, net: Arrays, state: Arrays, budget: float) -> int:
    """A random open site that shares a row with ``j`` and whose swap with ``j`` keeps the
    budget (-1 if none): the kick then moves a site to a neighbouring place."""
    row_ptr, row_cols, col_ptr, col_rows, cost = net
    x, cnt, ints, spent = state[0], state[1], state[10], state[11]
    k, n_seen = -1, 0
    for p in range(col_ptr[j], col_ptr[j + 1]):
        i = col_rows[p]
        if cnt[i] == 0:
            continue
        for q in range(row_ptr[i], row_ptr[i + 1]):
            s = row_cols[q]
            if x[s] == 1 and spent[0] + cost[j] - cost[s] <= budget:
                n_seen += 1  # reservoir sampling over the (repeated) neighbours
                if _next_random(ints, n_seen) == 0:
                    k = s
    return k


@numba.njit(cache=True, nogil=True)
def _mclp_rounds(
    net: Arrays,
    state: Arrays,
    best_x: np.ndarray,
    value: np.ndarray,
    work: Arrays,
    n_rounds: int,
    max_kick: int,
    eps: float,
    budget: float,
    history: np.ndarray,
    stall: int,
    local: bool,
) -> None:
    """Iterated swap local search: ``n_rounds`` rounds of kick, descent, accept or undo
    (``max_kick = 0``: descent only).

    ``value`` holds the current covered weight, the anchor's (the solution the rounds start
    from), the best and the start's (where late acceptance's ``history`` begins, after
    ``stall`` rounds without a better solution); ``work`` the scratch arrays and the undo
    log. No swap takes the cost of the open sites (``state[11]``) above ``budget``.
    """
    x, unc, sel, ints, spent = state[0], state[6], state[8], state[10], state[11]
    row_ptr, row_cols, cost = net[0], net[1], net[4]
    slack = 1e-9 * max(1.0, abs(budget)) if budget < np.inf else 0.0
    score = state[2]
    tabu, mark, log_in, log_out = work[2], work[3], work[5], work[6]
    for _ in range(n_rounds):
        ints[_STEP] += 1
        tag = ints[_STEP]
        n_log = 0
        # kick: close random open sites, each replaced by the best site of a random uncovered
        # row; the closed ones may not reopen during this round's descent
        n_kick = 1 + _next_random(ints, max_kick) if max_kick > 0 else 0
        for _k in range(n_kick):
            if ints[_NUNC] == 0 or ints[_NSEL] == 0:
                break
            r = unc[_next_random(ints, ints[_NUNC])]
            j, jv = -1, -np.inf
            for q in range(row_ptr[r], row_ptr[r + 1]):
                s = row_cols[q]
                if x[s] == 0 and tabu[s] != tag and score[s] > jv:
                    j, jv = s, score[s]
            if j < 0:
                continue
            k = _kick_out(j, net, state, budget + slack) if local else -1
            if k < 0:
                k = sel[_next_random(ints, ints[_NSEL])]
            if cost[j] - cost[k] > budget - spent[0] + slack:
                continue
            value[0] += _pair_delta(j, k, net, state, mark)
            _open(j, net, state)
            _close(k, net, state)
            tabu[k] = tag
            log_in[n_log], log_out[n_log] = j, k
            n_log += 1
        # descent: best improving swaps
        while n_log < log_in.size:
            j, k, d = _best_swap(net, state, work, tag, budget - spent[0] + slack)
            if j < 0 or d <= eps:
                break
            value[0] += d
            _open(j, net, state)
            _close(k, net, state)
            log_in[n_log], log_out[n_log] = j, k
            n_log += 1
        if value[0] > value[2] + eps:
            value[2] = value[0]
            best_x[:] = x
            ints[_FOUND] += 1
            ints[_IDLE] = 0
        else:
            ints[_IDLE] += 1
            ints[_MAXIDLE] = max(ints[_MAXIDLE], ints[_IDLE])
        n_hist = history.size
        if n_hist > 0 and ints[_LATE] == 0 and ints[_IDLE] >= stall:
            # stuck: from now on late acceptance, its history starting at the floor
            ints[_LATE] = 1
            history[:] = value[3]
        late = ints[_LATE] == 1 and value[0] >= history[tag % n_hist] - eps
        if value[0] >= value[1] - eps or late:
            value[1] = value[0]  # a better or equal solution: the rounds go on from it
        else:
            for t in range(n_log - 1, -1, -1):  # undo the round
                _open(log_out[t], net, state)
                _close(log_in[t], net, state)
            value[0] = value[1]
        if ints[_LATE] == 1:
            history[tag % n_hist] = value[1]


def mclp_swap_search(
    reach: sp.spmatrix,
    weight: np.ndarray,
    start: np.ndarray,
    *,
    time_limit_s: float,
    seed: int = 0,
    upper: float = math.inf,
    stop: Callable[[], bool] | None = None,
    max_rounds: int | None = None,
    max_kick: int = 2,
    history: int = MCLP_HISTORY,
    stall: int = MCLP_STALL,
    local: bool = True,
    cost: np.ndarray | None = None,
    budget: float | None = None,
) -> SearchResult:
    """Improve the MCLP solution ``start`` (count kept) by an iterated swap local search.

    Each round makes one to ``max_kick`` kicks: open the site with the most uncovered weight
    of a random uncovered row and close an open site that shares a row with it (``local``;
    a random open site when none does or ``local`` is off); then best-improvement swaps (the
    closed sites may not reopen in this round) until none improves. The round is kept when
    it covers at least as much as before it, else undone. After ``stall`` rounds without a
    better solution the search turns to late acceptance (Burke & Bykov 2017): a round is
    also kept when it covers at least what the current solution covered ``history`` rounds
    before, the history starting at the start's value, so the walk can leave a deep local
    optimum (the best solution is kept apart). ``max_kick = 0`` with ``max_rounds = 1`` is
    one plain descent to a swap-local optimum. Swaps are evaluated with the
    fast-interchange accounting (Whitaker; Resende & Werneck): the score of a closed site is
    the uncovered weight it covers, of an open one minus the weight only it covers; the
    open site of each row covered once is listed once per scan of the candidates. Under a
    ``budget`` a swap is made only when the open sites still cost no more than it.

    Measured on the peers' random 5,000 x 1,000 at 800 m, p = 50 (``r5k``; search alone
    from the greedy + descent start, 230,525; load 2-3): listing the sole sites once made a
    round 5x faster (682 rounds in 5 s before, 3,452 after, same trajectory). Accepting only
    better-or-equal rounds stalled: 25 s, seeds 0-4, ``max_kick`` 2 reached 234,109 /
    235,100 / 235,427 / 234,869 / 236,473 (seed 0 never left its first optimum in 23,000
    rounds), ``max_kick`` 4 235,950 / 235,445 / 235,549 / 234,902 / 236,473. Late
    acceptance from the start, 15 s: history 1,000 reached 235,475-236,473, history 3,000
    235,909-236,473. Late acceptance from the start cost the city MCLP (20,000 x 5,000 at
    300 m, p = 800, 60 s) 0.19 % against 0.09 % without it, hence the ``stall`` rounds of
    plain acceptance first; the local kicks lifted that city run from 1,168,919 to 1,169,053
    (``benchmarks/results/mclp_r5k.md`` has the whole runs).

    Parameters
    ----------
    reach : sparse (m x n)
        Nonzero where a site covers a row.
    weight : ndarray (m,)
        Nonnegative row weights.
    start : ndarray of bool (n,)
        The sites open at the start; their number is kept (and their cost within ``budget``).
    time_limit_s : float
    seed : int
    upper : float
        A known upper bound: the search ends when it covers that much.
    stop : callable, optional
        Polled between chunks of rounds; the search ends when it returns True.
    max_rounds : int, optional
        Ends the search after about this many rounds (for reproducible runs).
    max_kick : int
        The most kicks per round.
    history : int
        Length of the late-acceptance history (0: better-or-equal rounds only).
    stall : int
        Rounds without a better solution before late acceptance begins.
    local : bool
        Kicks close a neighbour of the site they open (else a random open site).
    cost : ndarray (n,), optional
        Site costs (needed with ``budget``).
    budget : float, optional
        The most the open sites may cost.

    Returns
    -------
    SearchResult
        The covered weight against ``upper``; ``nodes`` counts the rounds.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    w = np.asarray(weight, dtype=np.float64)
    if np.any(w < 0):
        raise ValueError("mclp_swap_search needs nonnegative weights")
    x0 = np.asarray(start, dtype=bool)
    (row_ptr, row_cols, col_ptr, col_rows), a, cnt = _network(reach, x0)
    m, n = a.shape
    c = np.zeros(n) if cost is None else np.asarray(cost, dtype=np.float64)
    if budget is not None and cost is None:
        raise ValueError("a budget needs site costs")
    gain = np.asarray(a.T @ np.where(cnt == 0, w, 0.0)).ravel()
    loss = np.asarray(a.T @ np.where(cnt == 1, w, 0.0)).ravel()
    score = np.where(x0, -loss, gain)
    # rows no site covers never matter: they stay out of the uncovered list
    uncovered = np.flatnonzero((cnt == 0) & (np.diff(row_ptr) > 0) & (w > 0))
    unc, unc_pos, sel, sel_pos, ints = _index_lists(m, x0, uncovered, seed)
    n_open = int(ints[_NSEL])
    x = x0.astype(np.int8)
    start_value = float(w[cnt > 0].sum())
    value = np.array([start_value, start_value, start_value, start_value])
    best_x = x.copy()
    net = (row_ptr, row_cols, col_ptr, col_rows, c)
    state = (
        x,
        cnt,
        score,
        w,
        np.ones(n, dtype=np.int8),
        np.zeros(n, dtype=np.int64),
        unc,
        unc_pos,
        sel,
        sel_pos,
        ints,
        np.array([float(c[x0].sum())]),  # the cost of the open sites
    )
    cap = 4 * n + 16  # undo log: a round's swaps
    # scratch: overlap per site, scan / round / row marks (ints[_LAST] and the round number are
    # the tags), sites touched by a candidate, the undo log
    work = (
        np.zeros(n),
        np.full(n, -1, dtype=np.int64),
        np.full(n, -1, dtype=np.int64),
        np.full(m, -1, dtype=np.int64),
        np.zeros(n + 1, dtype=np.int64),
        np.zeros(cap, dtype=np.int64),
        np.zeros(cap, dtype=np.int64),
        np.zeros(m, dtype=np.int64),
    )
    eps = 1e-9 * max(1.0, float(w.sum()))
    limit = math.inf if budget is None else float(budget)
    hist = np.full(max(0, history), start_value)
    chunk = 1
    while value[2] < upper - eps and n_open > 0:
        rounds = chunk
        if max_rounds is not None:
            rounds = min(rounds, max_rounds - int(ints[_STEP]))
            if rounds <= 0:
                break
        if ints[_NUNC] == 0:
            break
        t1 = time.perf_counter()
        _mclp_rounds(
            net,
            state,
            best_x,
            value,
            work,
            rounds,
            max(0, max_kick),
            eps,
            limit,
            hist,
            stall,
            local,
        )
        now = time.perf_counter()
        if now >= deadline or (stop is not None and stop()):
            break
        # rounds cost from microseconds to milliseconds: size the next call to about
        # CHUNK_S and never past the deadline
        per_round = max((now - t1) / rounds, 1e-7)
        chunk = max(1, int(min(CHUNK_S, deadline - now) / per_round))
    selected = best_x.astype(bool)
    covered = np.asarray(a @ selected.astype(np.int64)).ravel() > 0
    steps, improved = int(ints[_STEP]), int(ints[_FOUND])
    objective = float(w[covered].sum())
    seconds = time.perf_counter() - t0
    log.info(
        "mclp swap search: %d x %d, %d open, covered %.10g from %.10g, %d rounds (%d improving), "
        "%.2f s",
        *(m, n, n_open, objective, start_value, steps, improved, seconds),
    )
    reached = objective >= upper - eps
    # every row covered, or no site open: nothing is left to gain by swaps
    done = ints[_NUNC] == 0 or n_open == 0
    limit_hit = max_rounds is not None and steps >= max_rounds
    why = StopReason.ITERATION_LIMIT if done else _why_stopped(deadline, stop, limit_hit)
    return _search_result(
        "swap-search",
        selected,
        objective,
        upper,
        reached,
        why,
        steps,
        improved,
        seconds,
        {"longest_idle": int(ints[_MAXIDLE]), "late_acceptance": int(ints[_LATE])},
    )
