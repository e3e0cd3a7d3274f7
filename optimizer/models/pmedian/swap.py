r"""Compiled swap (interchange) search for the uncapacitated p-median problem.

The fast interchange of Resende & Werneck (2007, "A fast swap-based local search procedure for
location problems"), kept up to date incrementally. For every demand point :math:`i` the state
holds its best and second-best open cost :math:`d_1, d_2` and sites :math:`\phi_1, \phi_2`
(the fallback cost acts as an always-open option, site ``-1``); for every site

.. math::

    \text{gain}(s) = \sum_i \max(0, d_1(i) - c_{is}), \qquad
    \text{loss}(r) = \sum_{i: \phi_1(i) = r} (d_2(i) - d_1(i)),

and the profit of opening :math:`s` and closing :math:`r` is
:math:`\text{gain}(s) - \text{loss}(r) + \text{extra}(s, r)` with

.. math::

    \text{extra}(s, r) = \sum_{i: \phi_1(i) = r,\ c_{is} < d_2(i)}
        (d_2(i) - \max(c_{is}, d_1(i))) \ge 0 .

- *Evaluation*: ``extra(s, .)`` comes from one pass over site :math:`s`'s points, so the best
  partner of :math:`s` costs the length of its column; since no swap with :math:`s` gains more
  than :math:`\text{gain}(s)`, sites are tried in decreasing gain and the pass stops at the first
  whose gain cannot beat the best profit found (best improvement).
- *Update*: a swap changes :math:`d_1, d_2, \phi` only for the points of :math:`s` with
  :math:`c_{is} < d_2(i)` and the points with :math:`\phi_1` or :math:`\phi_2 = r`: their
  contributions to gain and loss are taken out, their two best sites re-read from their
  cost-sorted pairs, and put back. Nothing else is recomputed.

:func:`iterated_swap_search` perturbs the best selection found (a few open sites moved to
closed sites near points they reach) and descends again, keeping a descent's result when it
is better: an iterated local search in the sense of Lourenço, Martin & Stützle (2003). Both run
in Numba (``nogil``) in bounded chunks, between which the Python side reads the clock. The first
call in a fresh installation compiles them (measured with an empty cache: 4.2 s for the
descent, 4.3 s more for the iterated search), inside the time limit; the compiled code is cached
on disk.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["Incumbent", "SwapIndex", "SwapState", "iterated_swap_search", "swap_search"]

SWAPS_PER_CALL = 64
"""Swaps per compiled call of :func:`swap_search` between readings of the clock."""

KICK_MOVES = 2
"""Sites moved by one perturbation: a single move from a swap local optimum is one swap, which
the next descent (trying every swap of the sites it touched) can simply undo."""

_TOL = 1e-9
"""Relative profit below which a swap does not count as an improvement."""


@dataclass(frozen=True)
class SwapIndex:
    """The pairs of a p-median instance laid out for the swap search.

    Attributes
    ----------
    row_ptr : ndarray of int64 (n + 1,)
        First pair of each point in ``row_site`` / ``row_cost`` (pairs sorted by cost within a
        point, ties by site; pairs no cheaper than the point's fallback dropped).
    row_site, row_cost : ndarray
        Site and weighted cost of each pair, in that order.
    col_ptr : ndarray of int64 (m + 1,)
        First pair of each site in ``col_point`` / ``col_cost``.
    col_point, col_cost : ndarray
        Point and weighted cost of each pair, grouped by site.
    fallback : ndarray (n,)
        Cost of a point no open site serves (a penalty, or a big-M).
    allowed, required : ndarray of bool (m,)
        Sites that may open; sites that must.
    penalised : bool
        Whether a point may go unserved (its fallback is a real cost, not a big-M).
    """

    row_ptr: np.ndarray
    row_site: np.ndarray
    row_cost: np.ndarray
    col_ptr: np.ndarray
    col_point: np.ndarray
    col_cost: np.ndarray
    fallback: np.ndarray
    allowed: np.ndarray
    required: np.ndarray
    penalised: bool

    @classmethod
    def from_pairs(
        cls,
        rows: np.ndarray,
        cols: np.ndarray,
        cost: np.ndarray,
        fallback: np.ndarray,
        allowed: np.ndarray,
        required: np.ndarray,
        penalised: bool,
    ) -> SwapIndex:
        """Lay out pairs ``(rows[k], cols[k])`` of cost ``cost[k]`` (any order)."""
        n, m = int(fallback.size), int(allowed.size)
        useful = cost < fallback[rows]
        rows, cols, cost = rows[useful], cols[useful], cost[useful]
        order = np.lexsort((cols, cost, rows))
        row_site = cols[order].astype(np.int64)
        row_cost = cost[order].astype(np.float64)
        row_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=row_ptr[1:])
        by_site = np.argsort(row_site, kind="stable")
        col_point = np.repeat(np.arange(n, dtype=np.int64), np.diff(row_ptr))[by_site]
        col_ptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_site, minlength=m), out=col_ptr[1:])
        return cls(
            row_ptr,
            row_site,
            row_cost,
            col_ptr,
            col_point,
            row_cost[by_site],
            np.asarray(fallback, dtype=np.float64),
            np.asarray(allowed, dtype=np.bool_),
            np.asarray(required, dtype=np.bool_),
            bool(penalised),
        )

    @property
    def n_demand(self) -> int:
        return int(self.fallback.size)

    @property
    def n_sites(self) -> int:
        return int(self.allowed.size)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays the compiled functions take, in their order."""
        return (
            self.row_ptr,
            self.row_site,
            self.row_cost,
            self.col_ptr,
            self.col_point,
            self.col_cost,
            self.fallback,
            self.allowed,
            self.required,
        )


@dataclass
class SwapState:
    """A selection with its per-point best two and per-site gain and loss (module docstring).

    Attributes
    ----------
    opened : ndarray of bool (m,)
    d1, d2 : ndarray (n,)
    phi1, phi2 : ndarray of int64 (n,)
        ``-1``: the fallback.
    gain, loss : ndarray (m,)
    """

    opened: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    phi1: np.ndarray
    phi2: np.ndarray
    gain: np.ndarray
    loss: np.ndarray

    @classmethod
    def start(cls, index: SwapIndex, opened: np.ndarray) -> SwapState:
        """The state of ``opened`` (copied)."""
        n, m = index.n_demand, index.n_sites
        state = cls(
            np.array(opened, dtype=np.bool_),
            np.empty(n),
            np.empty(n),
            np.empty(n, dtype=np.int64),
            np.empty(n, dtype=np.int64),
            np.zeros(m),
            np.zeros(m),
        )
        _reset(index.arrays(), state.arrays())
        return state

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.opened, self.d1, self.d2, self.phi1, self.phi2, self.gain, self.loss)

    @property
    def objective(self) -> float:
        """The sum of the points' costs, big-M fallbacks included (what the search lowers)."""
        return float(self.d1.sum())

    def price(self, index: SwapIndex) -> float:
        """The selection's cost: :attr:`objective`, or ``inf`` where a point that must be
        served is not."""
        if not index.penalised and bool(np.any(self.phi1 < 0)):
            return math.inf
        return self.objective


# --- compiled kernels ------------------------------------------------------------------------
# Every kernel takes ``ix`` (SwapIndex.arrays), ``st`` (SwapState.arrays) and ``work`` (the
# scratch arrays of _work, read by the slots below), then its own arguments.

Arrays = tuple[np.ndarray, ...]

_EXTRA, _TOUCHED, _MARK, _AFFECTED, _STAMP, _DIRTY, _DIRTY_LIST, _N_DIRTY = range(8)


@numba.njit(cache=True, nogil=True)
def _best_two(i: int, ix: Arrays, st: Arrays) -> None:
    """Re-read point ``i``'s two cheapest open sites from its sorted pairs."""
    row_ptr, row_site, row_cost, fallback = ix[0], ix[1], ix[2], ix[6]
    opened, d1, d2, phi1, phi2 = st[0], st[1], st[2], st[3], st[4]
    d1[i] = fallback[i]
    d2[i] = fallback[i]
    phi1[i] = -1
    phi2[i] = -1
    found = 0
    for q in range(row_ptr[i], row_ptr[i + 1]):
        j = row_site[q]
        if opened[j]:
            if found == 0:
                d1[i] = row_cost[q]
                phi1[i] = j
                found = 1
            else:
                d2[i] = row_cost[q]
                phi2[i] = j
                return


@numba.njit(cache=True, nogil=True)
def _account(i: int, sign: float, ix: Arrays, st: Arrays) -> None:
    """Add (``sign`` 1) or take out (-1) point ``i``'s share of gain and loss."""
    row_ptr, row_site, row_cost = ix[0], ix[1], ix[2]
    d1, d2, phi1, gain, loss = st[1], st[2], st[3], st[5], st[6]
    for q in range(row_ptr[i], row_ptr[i + 1]):
        c = row_cost[q]
        if c >= d1[i]:
            break
        gain[row_site[q]] += sign * (d1[i] - c)
    if phi1[i] >= 0:
        loss[phi1[i]] += sign * (d2[i] - d1[i])


@numba.njit(cache=True, nogil=True)
def _reset(ix: Arrays, st: Arrays) -> None:
    """Recompute the whole state of the selection ``st[0]``."""
    st[5][:] = 0.0
    st[6][:] = 0.0
    for i in range(ix[6].size):
        _best_two(i, ix, st)
        _account(i, 1.0, ix, st)


@numba.njit(cache=True, nogil=True)
def _best_swap(ix: Arrays, st: Arrays, work: Arrays, only_dirty: bool) -> tuple[int, int, float]:
    """The swap of largest profit: (site in, site out, profit); (-1, -1, 0) when none.

    Every closed site is tried, in decreasing gain, unless ``only_dirty``: then only the sites
    whose gain or extra changed since the dirty list was last cleared."""
    col_ptr, col_point, col_cost, allowed, required = ix[3], ix[4], ix[5], ix[7], ix[8]
    opened, d1, d2, phi1, gain, loss = st[0], st[1], st[2], st[3], st[5], st[6]
    extra, touched = work[_EXTRA], work[_TOUCHED]
    r0 = -1
    for r in range(allowed.size):
        if opened[r] and not required[r] and (r0 < 0 or loss[r] < loss[r0]):
            r0 = r
    if r0 < 0:
        return -1, -1, 0.0
    order = work[_DIRTY_LIST][: work[_N_DIRTY][0]] if only_dirty else np.argsort(-gain)
    best_s, best_r, best = -1, -1, 0.0
    for t in range(order.size):
        s = order[t]
        if gain[s] <= best:
            if only_dirty:
                continue
            break  # sorted: no swap opening a later site gains more than its gain
        if opened[s] or not allowed[s]:
            continue
        nt = 0
        for q in range(col_ptr[s], col_ptr[s + 1]):
            i = col_point[q]
            r = phi1[i]
            c = col_cost[q]
            if r >= 0 and c < d2[i]:
                if extra[r] == 0.0:
                    touched[nt] = r
                    nt += 1
                extra[r] += d2[i] - max(c, d1[i])
        value = gain[s] - loss[r0]
        out = r0
        for k in range(nt):
            r = touched[k]
            if not required[r]:
                v = gain[s] - loss[r] + extra[r]
                if v > value:
                    value, out = v, r
            extra[r] = 0.0
        if value > best:
            best_s, best_r, best = s, out, value
    return best_s, best_r, best


@numba.njit(cache=True, nogil=True)
def _mark_dirty(i: int, limit: float, ix: Arrays, work: Arrays) -> None:
    """Put the sites of point ``i`` cheaper than ``limit`` on the dirty list."""
    row_ptr, row_site, row_cost = ix[0], ix[1], ix[2]
    dirty, dirty_list, n_dirty = work[_DIRTY], work[_DIRTY_LIST], work[_N_DIRTY]
    for q in range(row_ptr[i], row_ptr[i + 1]):
        if row_cost[q] >= limit:
            break
        j = row_site[q]
        if not dirty[j]:
            dirty[j] = True
            dirty_list[n_dirty[0]] = j
            n_dirty[0] += 1


@numba.njit(cache=True, nogil=True)
def _clear_dirty(work: Arrays) -> None:
    dirty, dirty_list, n_dirty = work[_DIRTY], work[_DIRTY_LIST], work[_N_DIRTY]
    for k in range(n_dirty[0]):
        dirty[dirty_list[k]] = False
    n_dirty[0] = 0


@numba.njit(cache=True, nogil=True)
def _swap(ix: Arrays, st: Arrays, work: Arrays, s: int, r: int) -> float:
    """Open ``s`` and close ``r``, updating only the points whose two best sites change (their
    sites go on the dirty list); the change of the objective."""
    col_ptr, col_point, col_cost = ix[3], ix[4], ix[5]
    opened, d1, d2, phi1, phi2 = st[0], st[1], st[2], st[3], st[4]
    mark, affected, stamp = work[_MARK], work[_AFFECTED], work[_STAMP]
    stamp[0] += 1
    tag = stamp[0]
    na = 0
    for q in range(col_ptr[s], col_ptr[s + 1]):
        i = col_point[q]
        if col_cost[q] < d2[i] and mark[i] != tag:
            mark[i] = tag
            affected[na] = i
            na += 1
    for q in range(col_ptr[r], col_ptr[r + 1]):
        i = col_point[q]
        if (phi1[i] == r or phi2[i] == r) and mark[i] != tag:
            mark[i] = tag
            affected[na] = i
            na += 1
    before = 0.0
    for k in range(na):
        i = affected[k]
        before += d1[i]
        _mark_dirty(i, d2[i], ix, work)
        _account(i, -1.0, ix, st)
    opened[s] = True
    opened[r] = False
    after = 0.0
    for k in range(na):
        i = affected[k]
        _best_two(i, ix, st)
        _account(i, 1.0, ix, st)
        _mark_dirty(i, d2[i], ix, work)
        after += d1[i]
    return after - before


@numba.njit(cache=True, nogil=True)
def _descend(
    ix: Arrays, st: Arrays, work: Arrays, max_swaps: int, scale: float
) -> tuple[int, bool]:
    """Make up to ``max_swaps`` best-improving swaps over every site; (swaps made, no improving
    swap left)."""
    done = 0
    while done < max_swaps:
        s, r, profit = _best_swap(ix, st, work, False)
        _clear_dirty(work)
        if s < 0 or profit <= _TOL * scale:
            return done, True
        if _swap(ix, st, work, s, r) > -_TOL * scale:
            # rounding drift in gain / loss: undo, and call it an optimum
            _swap(ix, st, work, r, s)
            return done, True
        done += 1
    return done, False


def _work(index: SwapIndex) -> tuple[np.ndarray, ...]:
    """Scratch arrays of the kernels: extra, touched, mark, affected, stamp, dirty flags,
    dirty list, dirty count."""
    m, n = index.n_sites, index.n_demand
    return (
        np.zeros(m),
        np.empty(m, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.zeros(m, dtype=np.bool_),
        np.empty(m, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
    )


def swap_search(
    index: SwapIndex,
    opened: np.ndarray,
    deadline: float | None = None,
    max_swaps: int | None = None,
) -> tuple[SwapState, int, bool]:
    """Best-improvement swap descent from ``opened``.

    Returns
    -------
    state : SwapState
        The selection reached (a local optimum unless a limit stopped the descent).
    swaps : int
        Improving swaps made.
    local_optimum : bool
        Whether no improving swap is left.
    """
    state = SwapState.start(index, opened)
    work = _work(index)
    swaps = 0
    while True:
        if deadline is not None and time.perf_counter() >= deadline:
            return state, swaps, False
        chunk = SWAPS_PER_CALL if max_swaps is None else min(SWAPS_PER_CALL, max_swaps - swaps)
        if chunk <= 0:
            return state, swaps, False
        scale = max(1.0, abs(state.objective))
        done, optimum = _descend(index.arrays(), state.arrays(), work, chunk, scale)
        swaps += done
        if optimum:
            return state, swaps, True


@numba.njit(cache=True, nogil=True)
def _logged_swap(ix: Arrays, st: Arrays, work: Arrays, log: Arrays, s: int, r: int) -> float:
    """:func:`_swap`, written to ``log`` (sites in, sites out, count) so it can be undone."""
    log_s, log_r, n_log = log
    log_s[n_log[0]] = s
    log_r[n_log[0]] = r
    n_log[0] += 1
    return _swap(ix, st, work, s, r)


@numba.njit(cache=True, nogil=True)
def _kick(ix: Arrays, st: Arrays, work: Arrays, log: Arrays, moves: int) -> float:
    """Move ``moves`` random open sites, each to one of the 16 cheapest sites of a random point
    it reaches; the change of the objective."""
    row_ptr, row_site, col_ptr, col_point, allowed, required = (
        ix[0], ix[1], ix[3], ix[4], ix[7], ix[8]
    )  # fmt: skip
    opened = st[0]
    change = 0.0
    for _move in range(moves):
        for _try in range(32):
            r = np.random.randint(0, allowed.size)
            if not opened[r] or required[r] or col_ptr[r + 1] == col_ptr[r]:
                continue
            i = col_point[np.random.randint(col_ptr[r], col_ptr[r + 1])]
            lo = row_ptr[i]
            s = row_site[lo + np.random.randint(0, min(row_ptr[i + 1] - lo, 16))]
            if opened[s] or not allowed[s]:
                continue
            change += _logged_swap(ix, st, work, log, s, r)
            break
    return change


@numba.njit(cache=True, nogil=True)
def _ils_rounds(
    ix: Arrays,
    st: Arrays,
    work: Arrays,
    log: Arrays,
    kicks: int,
    moves: int,
    best_opened: np.ndarray,
    best_obj: np.ndarray,
) -> int:
    """``kicks`` rounds of: :func:`_kick`, descend over the sites it touched, keep the result
    when it costs no more than the best (``best_opened``, ``best_obj[0]``, updated) and
    otherwise undo every swap of the round. The state is the best's on return; the number of
    rounds that improved, or -1 when a round made more swaps than the log holds (the state is
    then not the best's)."""
    log_s, log_r, n_log = log
    improved = 0
    scale = max(1.0, abs(best_obj[0]))
    for _ in range(kicks):
        _clear_dirty(work)
        n_log[0] = 0
        change = _kick(ix, st, work, log, moves)
        while True:
            s, r, profit = _best_swap(ix, st, work, True)
            _clear_dirty(work)
            if s < 0 or profit <= _TOL * scale:
                break
            if n_log[0] == log_s.size:
                return -1
            change += _logged_swap(ix, st, work, log, s, r)
        if change < -_TOL * scale:
            best_obj[0] += change
            best_opened[:] = st[0]
            improved += 1
        elif change <= _TOL * scale:
            best_opened[:] = st[0]  # as good: wander along the plateau
        else:
            for t in range(n_log[0] - 1, -1, -1):
                _swap(ix, st, work, log_r[t], log_s[t])
    return improved


@numba.njit(cache=True, nogil=True)
def _seed(seed: int) -> None:
    np.random.seed(seed)


ILS_LOG = 4096
"""Swaps one perturbation round may make (kick and descent) and still be undone."""

ILS_CHUNK_S = 0.02
"""Seconds per compiled call of the perturbation rounds (their number is sized from the last
call); between calls the stop flag and the shared incumbent are read."""

ILS_RESET_S = 1.0
"""Seconds after which the state is recomputed from the best selection, so that rounding drift
in the incremental gains and losses cannot build up (a recomputation is one pass over the
pairs: 14-23 ms on a city of 100,000 points and 1.1 million pairs, as long as a call)."""


class Incumbent:
    """The best selection found so far by searches that run at once (thread-safe).

    Parameters
    ----------
    opened : ndarray of bool
        A first selection.
    value : float
        Its cost.
    """

    def __init__(self, opened: np.ndarray, value: float) -> None:
        self._lock = threading.Lock()
        self._opened = np.array(opened, dtype=bool)
        self._value = float(value)

    def offer(self, opened: np.ndarray, value: float) -> bool:
        """Keep ``opened`` (copied) if it costs less than the best; whether it was kept."""
        with self._lock:
            if not value < self._value - _TOL * max(1.0, abs(self._value)):
                return False
            self._opened, self._value = np.array(opened, dtype=bool), float(value)
            return True

    def best(self) -> tuple[np.ndarray, float]:
        """The best selection (a copy) and its cost."""
        with self._lock:
            return self._opened.copy(), self._value

    @property
    def value(self) -> float:
        return self._value


def iterated_swap_search(
    index: SwapIndex,
    opened: np.ndarray,
    deadline: float,
    *,
    seed: int = 0,
    max_kicks: int | None = None,
    stop: Callable[[], bool] | None = None,
    incumbent: Incumbent | None = None,
) -> tuple[np.ndarray, float, int, int]:
    """Iterated swap search from ``opened`` until ``deadline`` (module docstring).

    Parameters
    ----------
    index : SwapIndex
        The instance.
    opened : ndarray of bool
        Start (``p`` sites, required ones included).
    deadline : float
        ``time.perf_counter()`` value at which to stop.
    seed : int
        Seed of the perturbations (the result is deterministic given the seed and the number
        of rounds).
    max_kicks : int, optional
        Stop after this many perturbation rounds.
    stop : callable, optional
        Read between compiled calls (every :data:`ILS_CHUNK_S` seconds); True ends the search.
    incumbent : Incumbent, optional
        Shared with searches running beside this one: every better selection found is offered
        to it (at its :meth:`SwapState.price`), and the search moves to its best when that is
        better than its own.

    Returns
    -------
    opened : ndarray of bool
        The best selection found (a swap local optimum unless the deadline came first).
    objective : float
        Its cost.
    kicks : int
        Perturbation rounds tried.
    improvements : int
        Rounds that ended below the best.
    """
    state, _, optimum = swap_search(index, opened, deadline)
    best = state.opened.copy()
    kicks = improvements = 0
    if incumbent is not None:
        incumbent.offer(best, state.price(index))
    if not optimum:
        return best, state.objective, kicks, improvements
    _seed(seed)
    work = _work(index)
    log = (np.empty(ILS_LOG, np.int64), np.empty(ILS_LOG, np.int64), np.zeros(1, np.int64))
    rounds = 1
    fresh = time.perf_counter()
    while time.perf_counter() < deadline and (max_kicks is None or kicks < max_kicks):
        if stop is not None and stop():
            break
        if incumbent is not None and incumbent.value < state.objective:
            best, _ = incumbent.best()
            state = SwapState.start(index, best)
        if max_kicks is not None:
            rounds = min(rounds, max_kicks - kicks)
        best_obj = np.array([state.objective])
        t = time.perf_counter()
        got = _ils_rounds(
            index.arrays(), state.arrays(), work, log, rounds, KICK_MOVES, best, best_obj
        )
        took = time.perf_counter() - t
        kicks += rounds
        improvements += max(got, 0)
        if got < 0 or t + took - fresh > ILS_RESET_S:
            state, fresh = SwapState.start(index, best), time.perf_counter()
        if got != 0 and incumbent is not None:
            incumbent.offer(best, state.price(index))
        rounds = max(1, min(4 * rounds, int(rounds * ILS_CHUNK_S / max(took, 1e-6))))
    final, _, _ = swap_search(index, best, deadline)
    if incumbent is not None:
        incumbent.offer(final.opened, final.price(index))
    return final.opened, final.objective, kicks, improvements
