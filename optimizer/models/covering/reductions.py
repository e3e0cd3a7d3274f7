r"""Exact problem reductions for the covering models (LSCP and MCLP).

Each reduction returns a smaller problem and the map back: a solution of the reduced problem
lifts (:meth:`ReducedLscp.lift`, :meth:`ReducedMclp.lift`) to a solution of the original
problem with the objective ``offset + reduced objective`` (LSCP: exactly; MCLP: at least, a
site added to fill the count may cover more), and an optimum of the reduced problem lifts to
an optimum of the original.

LSCP (:func:`reduce_lscp`), applied until nothing changes:

* forbidden sites removed; required and zero-cost sites opened (*fixed*); the rows they cover
  dropped;
* a row with a single remaining site forces that site open (*singleton rows*);
* identical rows merged (*duplicate rows*: hashed CSR rows, the candidates then compared
  exactly);
* a row whose site set contains another row's set dropped (*implied rows*: covering the smaller
  row covers it);
* a site covering no remaining row dropped (*empty sites*);
* a site dropped when the cheapest other sites covering each of its rows cost less in total
  (*cheaper replacement*, strict: no optimal solution uses it; Beasley 1987);
* a site whose row set is contained in another's at no lower cost dropped (*dominated sites*;
  exact ties broken by keeping the lower index, so a dominated site always has an undominated
  dominator).

The containment tests (:func:`contained_pairs`, for rows on :math:`A`, for sites on :math:`A^T`)
intersect sorted index lists, compiled; a test whose work exceeds ``max_work`` is skipped and
the log says so. They are what makes large-radius covers small: a 20,000 x 5,000 city at 800 m
was 16,138 x 4,995 after duplicate rows alone (the former sparse-product test exceeded its cap)
and is 6,081 x 3,578 with them.
:func:`lscp_components` splits what is left into independent problems (connected components of
the bipartite row-site graph).

MCLP (:func:`reduce_mclp`):

* forbidden sites removed; required sites opened (the count and the budget shrink by them); rows
  they cover, rows of zero weight and rows no site covers dropped (their weight is the offset
  or lost for every solution alike);
* identical rows merged, their weights summed;
* sites covering nothing dropped; a site whose row set is contained in another's dropped (under
  a budget only when it costs no less; exact ties keep the lower index). Site dropping is
  skipped when an exact count and a budget hold together (a filler site might not fit the
  budget); otherwise the reduced count becomes ``<=`` and :meth:`ReducedMclp.lift` fills an
  exact count with the cheapest unused sites.

Every rule logs how many rows and sites it removed (``log`` attribute and the module logger).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from optimizer.models.common import IndexLike, binary_csr, site_rules

log = logging.getLogger(__name__)

__all__ = [
    "ReducedLscp",
    "ReducedMclp",
    "contained_pairs",
    "duplicate_rows",
    "lscp_components",
    "reduce_lscp",
    "reduce_mclp",
]

MAX_WORK = 500_000_000
"""Default cap on the entries one containment test compares (:func:`contained_pairs`; about
a second: 4e8 per second were measured on the 2-core CI machine)."""


# --------------------------------------------------------------------------- helpers


def _row_lengths(a: sp.csr_matrix) -> np.ndarray:
    return np.diff(a.indptr).astype(np.int64)


def duplicate_rows(a: sp.csr_matrix) -> np.ndarray:
    """For each row, the index of the first row with the same set of columns (itself if none).

    Rows are hashed (two independent random 64-bit sums of their columns, and their length);
    rows that share a hash are then compared exactly, so a hash collision cannot merge two
    different rows.
    """
    a = binary_csr(a)
    n_rows = a.shape[0]
    rep = np.arange(n_rows, dtype=np.int64)
    if n_rows < 2:
        return rep
    rng = np.random.default_rng(12345)
    keys = rng.integers(0, 2**62, size=(2, a.shape[1]), dtype=np.int64).astype(np.uint64)
    h = np.empty((3, n_rows), dtype=np.uint64)
    for k in range(2):  # two hash functions: row sums of random keys (uint64 wraps around)
        cs = np.r_[np.uint64(0), np.cumsum(keys[k][a.indices], dtype=np.uint64)]
        h[k] = cs[a.indptr[1:]] - cs[a.indptr[:-1]]
    h[2] = _row_lengths(a).astype(np.uint64)
    order = np.lexsort(h)  # stable: equal hashes stay in index order, lowest first
    hs = h[:, order]
    same = np.all(hs[:, 1:] == hs[:, :-1], axis=0)
    if not same.any():
        return rep
    start = np.r_[True, ~same]
    first = order[np.maximum.accumulate(np.where(start, np.arange(n_rows), 0))]
    cand, lead = order[~start], first[~start]
    # exact check of each candidate against the lowest row of its hash group
    diff = sp.csr_matrix(a[cand] - a[lead])
    diff.eliminate_zeros()
    equal = _row_lengths(diff) == 0
    rep[cand[equal]] = lead[equal]
    return rep


def contained_pairs(
    x: sp.csr_matrix, max_work: int = MAX_WORK
) -> tuple[np.ndarray, np.ndarray] | None:
    """Pairs ``(a, b)``, ``a != b``, where the column set of row ``a`` of ``x`` is contained
    in that of row ``b`` (empty rows left out).

    The rows containing row ``a`` are the rows in the row list of every column of ``a``; the
    lists are intersected, each time with the list of a column that a remaining candidate
    lacks (compiled, :func:`_superset_lists`). On a 20,000 x 5,000 city at 1,000 m this
    compared 7.7e7 entries in 0.18 s where the sparse product :math:`x x^T` took 8.3e8
    multiply-adds and 2.1 s.

    Returns None (and logs) when the work exceeds ``max_work``.
    """
    x = binary_csr(x)
    x.sort_indices()
    xt = x.T.tocsr()
    xt.sort_indices()
    col_len = _row_lengths(xt)
    subs, sups, work = _superset_lists(
        x.indptr.astype(np.int64),
        x.indices.astype(np.int64),
        xt.indptr.astype(np.int64),
        xt.indices.astype(np.int64),
        col_len,
        int(max_work),
    )
    if work > max_work:
        log.info(
            "containment test skipped: %d x %d with %d nonzeros needs more than %.3g list "
            "entries merged",
            x.shape[0],
            x.shape[1],
            x.nnz,
            max_work,
        )
        return None
    return subs, sups


_FEW = 8
"""Candidates left at which :func:`_superset_lists` checks each one whole."""


@numba.njit(cache=True)
def _first_missing(small: np.ndarray, big: np.ndarray) -> int:
    """The first entry of sorted ``small`` not in sorted ``big``; -1 if there is none."""
    v = 0
    for u in range(small.size):
        while v < big.size and big[v] < small[u]:
            v += 1
        if v == big.size or big[v] != small[u]:
            return small[u]
        v += 1
    return -1


@numba.njit(cache=True)
def _intersect(cand: np.ndarray, n: int, other: np.ndarray, out: np.ndarray) -> tuple[int, int]:
    """``cand[:n]`` and sorted ``other`` intersected into ``out``: its length and the work
    (a merge, or a binary search per candidate when they are few against a long list)."""
    k = 0
    if n * 16 < other.size:
        for u in range(n):
            pos = np.searchsorted(other, cand[u])
            if pos < other.size and other[pos] == cand[u]:
                out[k] = cand[u]
                k += 1
        return k, n * 16
    u, v = 0, 0
    while u < n and v < other.size:
        if cand[u] < other[v]:
            u += 1
        elif cand[u] > other[v]:
            v += 1
        else:
            out[k] = cand[u]
            k += 1
            u += 1
            v += 1
    return k, n + other.size


@numba.njit(cache=True)
def _superset_lists(
    indptr: np.ndarray,
    indices: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    col_len: np.ndarray,
    max_work: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """For each non-empty row ``a``: the other rows holding all its columns. The candidates
    start as the row list of ``a``'s rarest column; then a candidate ``b`` is taken, a column
    of ``a`` that ``b`` lacks found, and the candidates intersected with that column's list
    (which drops ``b`` and, on covering data, the rows around it); a ``b`` lacking none is a
    superset. A few candidates left are checked whole. Returns the pairs and the work done
    (entries compared); stops once the work passes ``max_work``."""
    m = indptr.size - 1
    longest = 1
    for j in range(col_len.size):
        longest = max(longest, col_len[j])
    cand = np.empty(longest, dtype=np.int64)
    nxt = np.empty(longest, dtype=np.int64)
    subs = np.empty(1024, dtype=np.int64)
    sups = np.empty(1024, dtype=np.int64)
    k = 0
    work = 0
    for a in range(m):
        lo, hi = indptr[a], indptr[a + 1]
        if hi == lo:
            continue
        cols = indices[lo:hi]
        j = cols[np.argmin(col_len[cols])]
        n = col_len[j]
        cand[:n] = t_indices[t_indptr[j] : t_indptr[j + 1]]
        work += n
        pick = 0
        while n - pick > _FEW and work <= max_work:
            b = cand[pick]
            if b == a:
                pick += 1
                continue
            row_b = indices[indptr[b] : indptr[b + 1]]
            work += cols.size + row_b.size
            j = _first_missing(cols, row_b)
            if j < 0:  # b is a superset: kept, the search goes on past it
                pick += 1
                continue
            n, done = _intersect(cand, n, t_indices[t_indptr[j] : t_indptr[j + 1]], nxt)
            cand, nxt = nxt, cand
            work += done
            pick = 0
        if work > max_work:
            break
        for u in range(n):
            b = cand[u]
            if b == a or indptr[b + 1] - indptr[b] < cols.size:
                continue
            work += cols.size + indptr[b + 1] - indptr[b]
            if _first_missing(cols, indices[indptr[b] : indptr[b + 1]]) >= 0:
                continue
            if k == subs.size:
                subs = np.concatenate((subs, np.empty(subs.size, dtype=np.int64)))
                sups = np.concatenate((sups, np.empty(sups.size, dtype=np.int64)))
            subs[k] = a
            sups[k] = b
            k += 1
    return subs[:k], sups[:k], work


def _bipartite_labels(a: sp.csr_matrix) -> tuple[int, np.ndarray, np.ndarray]:
    m = a.shape[0]
    graph = sp.bmat([[None, a], [a.T, None]], format="csr")
    k, labels = connected_components(graph, directed=False)
    return int(k), labels[:m], labels[m:]


@dataclass
class _Log:
    removed: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add(self, rule: str, rows: int, sites: int) -> None:
        if rows or sites:
            r0, s0 = self.removed.get(rule, (0, 0))
            self.removed[rule] = (r0 + rows, s0 + sites)


def _start(
    matrix: sp.spmatrix | np.ndarray,
    cost: np.ndarray,
    required: IndexLike | None,
    forbidden: IndexLike | None,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Log]:
    """What both reductions start from: the 0/1 matrix, the costs, the required sites, the
    masks of sites fixed open (the required ones) and allowed (not forbidden), and the log
    with the forbidden sites removed."""
    a = binary_csr(matrix)
    n = a.shape[1]
    c = np.asarray(cost, dtype=float).ravel()
    req, forb = site_rules(n, required, forbidden)
    fixed = np.zeros(n, dtype=bool)
    fixed[req] = True
    allowed = np.ones(n, dtype=bool)
    allowed[forb] = False
    rec = _Log()
    rec.add("forbidden sites", 0, int(forb.size))
    return a, c, req, fixed, allowed, rec


@dataclass(frozen=True)
class _Reduced:
    """What a reduced LSCP and a reduced MCLP share: the rows and sites kept, the sites fixed
    open, and what each rule removed.

    Attributes
    ----------
    rows : ndarray of int (m',)
        The original row each remaining row stands for (one of each merged group).
    cols : ndarray of int (n',)
        The original index of each remaining site.
    fixed : ndarray of int
        Original sites that every lifted solution opens.
    offset : float
        What they contribute (LSCP: their cost; MCLP: the weight they cover).
    shape : tuple of int
        The original (rows, sites).
    removed : dict
        Rule name -> (rows removed, sites removed).
    seconds : float
        Time spent reducing.
    """

    rows: np.ndarray
    cols: np.ndarray
    fixed: np.ndarray
    offset: float
    shape: tuple[int, int]
    removed: dict[str, tuple[int, int]]
    seconds: float

    offset_means: ClassVar[str] = "cost"
    """How :meth:`summary` names the offset."""

    @property
    def n_rows(self) -> int:
        return int(self.rows.size)

    @property
    def n_sites(self) -> int:
        return int(self.cols.size)

    def lift(self, selected: np.ndarray) -> np.ndarray:
        """Original-site mask (bool, length ``shape[1]``) of a reduced selection (bool mask of
        length ``n_sites`` or indices), with the fixed sites open."""
        out = np.zeros(self.shape[1], dtype=bool)
        out[self.fixed] = True
        sel = np.asarray(selected)
        out[self.cols[sel if sel.dtype == bool else sel.astype(np.int64)]] = True
        return out

    def summary(self) -> str:
        parts = [f"{r} rows / {s} sites by {k}" for k, (r, s) in self.removed.items()]
        return (
            f"{self.shape[0]} x {self.shape[1]} -> {self.n_rows} x {self.n_sites}, "
            f"{self.fixed.size} sites fixed open ({self.offset_means} {self.offset:g}); "
            + ("; ".join(parts) or "nothing removed")
        )


# --------------------------------------------------------------------------- LSCP


@dataclass(frozen=True)
class ReducedLscp(_Reduced):
    """An LSCP after :func:`reduce_lscp` (the fields of :class:`_Reduced`, the offset being
    the cost of the sites fixed open: required, zero-cost, forced).

    Attributes
    ----------
    reach : csr_matrix (m' x n'), 0/1
        The remaining rows (one per merged group) over the remaining sites.
    cost : ndarray (n',)
        Costs of the remaining sites.
    """

    reach: sp.csr_matrix
    cost: np.ndarray


class InfeasibleCover(ValueError):
    """Some row has no allowed site: no cover exists."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        super().__init__(
            f"{rows.size} demand rows have no allowed site (e.g. {rows[:5].tolist()}): "
            "the covering problem is infeasible"
        )


def reduce_lscp(
    reach: sp.spmatrix | np.ndarray,
    cost: np.ndarray,
    required: IndexLike | None = None,
    forbidden: IndexLike | None = None,
    *,
    max_work: int = MAX_WORK,
    max_rounds: int = 20,
) -> ReducedLscp:
    """Apply the LSCP reductions until none applies (see the module docstring).

    Parameters
    ----------
    reach : sparse or dense (m x n)
        Nonzero where a site covers a row.
    cost : ndarray (n,)
        Non-negative site costs.
    required, forbidden : index arrays, optional
        Sites that must / must not open.
    max_work : int
        Cap on the multiply-adds of one containment product (skipped beyond it).
    max_rounds : int
        Passes over the rules at most.

    Raises
    ------
    InfeasibleCover
        When a row has no allowed site.
    """
    t0 = time.perf_counter()
    a, c, _, fixed, allowed, rec = _start(reach, cost, required, forbidden)
    m, n = a.shape
    free = allowed & (c == 0) & ~fixed
    fixed |= free
    rec.add("zero-cost sites opened", 0, int(free.sum()))

    rix = np.arange(m, dtype=np.int64)  # original row of each current row
    cix = np.flatnonzero(allowed & ~fixed)  # original site of each current column
    cur = a[:, cix]
    covered = np.asarray(a @ fixed.astype(np.int32)).ravel() > 0
    rec.add("rows covered by fixed sites", int(covered.sum()), 0)
    rix, cur = rix[~covered], cur[~covered]

    def keep_rows(keep: np.ndarray, rule: str) -> None:
        nonlocal rix, cur
        rec.add(rule, int((~keep).sum()), 0)
        rix, cur = rix[keep], cur[keep]

    def keep_cols(keep: np.ndarray, rule: str) -> None:
        nonlocal cix, cur
        rec.add(rule, 0, int((~keep).sum()))
        cix, cur = cix[keep], cur[:, keep]

    def force_singletons() -> None:
        nonlocal rix, cur
        while True:
            length = _row_lengths(cur)
            if np.any(length == 0):
                raise InfeasibleCover(rix[length == 0])
            single = length == 1
            if not single.any():
                return
            force = np.zeros(cix.size, dtype=bool)
            force[cur.indices[cur.indptr[:-1][single]]] = True
            fixed[cix[force]] = True
            hit = np.asarray(cur @ force.astype(np.int32)).ravel() > 0
            keep_rows(~hit, "rows covered by sites forced open")
            keep_cols(~force, "sites forced open by singleton rows")

    for _ in range(max_rounds):
        size = (cur.shape, cur.nnz)
        force_singletons()
        # identical rows
        rep = duplicate_rows(cur)
        dup = rep != np.arange(rep.size)
        if dup.any():
            keep_rows(~dup, "duplicate rows merged")
        # implied rows (superset of another row)
        pairs = contained_pairs(cur, max_work)
        if pairs is not None and pairs[0].size:
            drop = np.zeros(cur.shape[0], dtype=bool)
            drop[pairs[1]] = True
            keep_rows(~drop, "implied rows (superset of another row)")
        # sites covering nothing
        col_len = np.asarray(cur.sum(axis=0)).ravel()
        if np.any(col_len == 0):
            keep_cols(col_len > 0, "empty sites")
        # cheaper replacement (strict)
        worse = _replaceable_columns(cur, c[cix])
        if worse.any():
            keep_cols(~worse, "sites costing more than a replacement")
        # dominated sites
        dom = _dominated_columns(cur, c[cix], max_work)
        if dom.any():
            keep_cols(~dom, "dominated sites")
        if (cur.shape, cur.nnz) == size:
            break
    fixed_idx = np.flatnonzero(fixed)
    out = ReducedLscp(
        reach=binary_csr(cur),
        cost=c[cix],
        rows=rix,
        cols=cix,
        fixed=fixed_idx,
        offset=float(c[fixed_idx].sum()),
        shape=(m, n),
        removed=rec.removed,
        seconds=time.perf_counter() - t0,
    )
    log.info("lscp reductions (%.2f s): %s", out.seconds, out.summary())
    return out


def _replaceable_columns(a: sp.csr_matrix, c: np.ndarray) -> np.ndarray:
    """Sites that cost strictly more than the cheapest other site of each of their rows."""
    if a.nnz == 0:
        return np.zeros(a.shape[1], dtype=bool)
    vals = c[a.indices]
    starts = a.indptr[:-1]
    min1 = np.minimum.reduceat(vals, starts)
    row_of = np.repeat(np.arange(a.shape[0]), _row_lengths(a))
    at_min = vals == min1[row_of]
    # the first position of each row's minimum
    pos = np.flatnonzero(at_min)
    first = pos[np.r_[True, row_of[pos][1:] != row_of[pos][:-1]]]
    vals2 = vals.copy()
    vals2[first] = np.inf
    min2 = np.minimum.reduceat(vals2, starts)
    arg = a.indices[first]
    total = np.asarray(a.T @ min1).ravel()
    np.add.at(total, arg, min2 - min1)
    tol = 1e-9 * np.maximum(1.0, np.abs(c))
    return c > total + tol


def _dominated_columns(a: sp.csr_matrix, c: np.ndarray | None, max_work: int) -> np.ndarray:
    """Sites whose (non-empty) row set lies in another's, at no lower cost when costs ``c``
    are given (the LSCP; the MCLP under a budget); exact ties keep the lower index."""
    out = np.zeros(a.shape[1], dtype=bool)
    pairs = contained_pairs(a.T.tocsr(), max_work)
    if pairs is None or pairs[0].size == 0:
        return out
    sub, sup = pairs
    length = np.asarray(a.sum(axis=0)).ravel()
    tie = (length[sub] < length[sup]) | (sub > sup)
    if c is None:
        out[sub[tie]] = True
        return out
    tol = 1e-12 * np.maximum(1.0, np.abs(c[sub]))
    cheaper = c[sub] > c[sup] + tol
    same = np.abs(c[sub] - c[sup]) <= tol
    out[sub[cheaper | (same & tie)]] = True
    return out


def lscp_components(red: ReducedLscp) -> list[tuple[np.ndarray, np.ndarray]]:
    """Independent parts of a reduced LSCP: ``(rows, sites)`` index arrays into ``red.reach``,
    largest first (every remaining site covers a row, so each part has rows and sites)."""
    if red.n_rows == 0:
        return []
    k, lr, lc = _bipartite_labels(red.reach)
    if k == 1:
        return [(np.arange(red.n_rows), np.arange(red.n_sites))]
    r_order = np.argsort(lr, kind="stable")
    c_order = np.argsort(lc, kind="stable")
    r_split = np.searchsorted(lr[r_order], np.arange(1, k))
    c_split = np.searchsorted(lc[c_order], np.arange(1, k))
    parts = list(zip(np.split(r_order, r_split), np.split(c_order, c_split), strict=True))
    parts = [(r, s) for r, s in parts if r.size]
    parts.sort(key=lambda rs: -(rs[0].size + rs[1].size))
    return parts


# --------------------------------------------------------------------------- MCLP


@dataclass(frozen=True)
class ReducedMclp(_Reduced):
    """An MCLP after :func:`reduce_mclp` (the fields of :class:`_Reduced`; the fixed sites
    are the required ones, the offset the weight they cover).

    Attributes
    ----------
    coverage : csr_matrix (m' x n'), 0/1
    weight : ndarray (m',)
        Summed weights of the merged rows.
    cost : ndarray (n',)
    p : int or None
        Facilities still to choose (the original ``p`` less the required sites).
    p_exact : bool
        Whether the reduced count is exact (false once sites were dropped: ``lift`` fills).
    budget : float or None
        The budget left after the required sites.
    fill_from : ndarray of int
        Allowed original sites outside ``cols`` and ``fixed``, cheapest first (fillers).
    target_count : int or None
        The exact number of sites a lifted solution must open (None when not exact).
    """

    coverage: sp.csr_matrix
    weight: np.ndarray
    cost: np.ndarray
    p: int | None
    p_exact: bool
    budget: float | None
    fill_from: np.ndarray
    target_count: int | None

    offset_means: ClassVar[str] = "covering"

    def lift(self, selected: np.ndarray) -> np.ndarray:
        """Original-site mask of a reduced selection; an exact count is filled with unused
        sites (remaining ones first, then ``fill_from``), cheapest first."""
        out = super().lift(selected)
        if self.target_count is not None:
            short = self.target_count - int(out.sum())
            if short > 0:
                unused = self.cols[np.argsort(self.cost, kind="stable")]
                pool = np.r_[unused[~out[unused]], self.fill_from]
                out[pool[:short]] = True
        return out


def reduce_mclp(
    coverage: sp.spmatrix | np.ndarray,
    weight: np.ndarray,
    cost: np.ndarray,
    p: int | None,
    *,
    p_exact: bool = True,
    budget: float | None = None,
    required: IndexLike | None = None,
    forbidden: IndexLike | None = None,
    max_work: int = MAX_WORK,
) -> ReducedMclp:
    """Apply the MCLP reductions (see the module docstring)."""
    t0 = time.perf_counter()
    a, c, req, fixed, allowed, rec = _start(coverage, cost, required, forbidden)
    m, n = a.shape
    w = np.asarray(weight, dtype=float).ravel()
    p_left = None if p is None else int(p) - int(req.size)
    b_left = None if budget is None else float(budget) - float(c[req].sum())

    covered = np.asarray(a @ fixed.astype(np.int32)).ravel() > 0
    offset = float(w[covered].sum())
    rec.add("rows covered by required sites", int(covered.sum()), 0)
    cix = np.flatnonzero(allowed & ~fixed)
    cur = a[:, cix]
    reachable = _row_lengths(cur) > 0
    keep = ~covered & reachable & (w > 0)
    rec.add("rows no site covers", int((~covered & ~reachable).sum()), 0)
    rec.add("rows of zero weight", int((~covered & reachable & (w <= 0)).sum()), 0)
    rix = np.flatnonzero(keep)
    cur, wr = cur[keep], w[keep]

    # identical rows: merge, summing weights
    rep = duplicate_rows(cur)
    first = rep == np.arange(rep.size)
    if not first.all():
        merged = np.bincount(rep, weights=wr, minlength=rep.size)
        rec.add("duplicate rows merged", int((~first).sum()), 0)
        rix, cur, wr = rix[first], cur[first], merged[first]

    can_drop = not (p_exact and p is not None and budget is not None)
    if can_drop:
        col_len = np.asarray(cur.sum(axis=0)).ravel()
        drop = col_len == 0
        rec.add("sites covering nothing", 0, int(drop.sum()))
        dom = _dominated_columns(cur, None if budget is None else c[cix], max_work) & ~drop
        rec.add("dominated sites", 0, int(dom.sum()))
        keep_c = ~(drop | dom)
        cix, cur = cix[keep_c], cur[:, keep_c]
    else:
        log.info("mclp: site dropping skipped (exact count together with a budget)")
    exact = p_exact and p is not None
    dropped = np.setdiff1d(np.flatnonzero(allowed & ~fixed), cix)
    fill = dropped[np.argsort(c[dropped], kind="stable")]
    out = ReducedMclp(
        coverage=binary_csr(cur),
        weight=wr,
        cost=c[cix],
        p=p_left,
        p_exact=bool(exact and dropped.size == 0),
        budget=b_left,
        rows=rix,
        cols=cix,
        fixed=np.flatnonzero(fixed),
        offset=offset,
        fill_from=fill,
        target_count=int(p) if exact and p is not None else None,
        shape=(m, n),
        removed=rec.removed,
        seconds=time.perf_counter() - t0,
    )
    log.info("mclp reductions (%.2f s): %s", out.seconds, out.summary())
    return out
