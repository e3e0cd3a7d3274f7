"""Pieces shared by the classic location models (MCLP, p-median, p-center, backup coverage).

* :class:`Pairs` — the allowed demand x site pairs with their distances, as sorted COO arrays
  (a dense matrix is never needed: a pair that is absent is not allowed);
* :func:`site_rules` and :func:`site_bounds` — required (existing) and forbidden sites, turned
  into fixed bounds of the site variables;
* :func:`binary_csr` — the one way a reach / coverage matrix becomes 0/1 CSR;
* :func:`allowed_pairs`, :func:`demand_weights` — the checked inputs of the assignment models;
* :func:`add_count_row`, :func:`covering_milp`, :func:`opened_sites`, :func:`cover_count` —
  the facility count row, the covering models' MILP and the reading of a solution.

Everything is vectorised; nothing loops over rows or variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.milp import MILP, RowBuilder

IndexLike = Sequence[int] | np.ndarray


def binary_csr(matrix: sp.spmatrix | np.ndarray, dtype: type = np.int32) -> sp.csr_matrix:
    """0/1 CSR (``dtype``, sorted indices, no explicit zeros, no duplicates) of a reach matrix:
    nonzero (or true) where a site reaches a demand row.

    ``int32`` by default: the containment products of the reductions (``A A^T``) count
    intersections that ``int8`` could not hold; data classes that only store the matrix pass
    ``np.int8``.
    """
    a = sp.csr_matrix(matrix)
    a.sum_duplicates()  # before the zeros go: entries that cancel are not a pair
    a.eliminate_zeros()
    out = sp.csr_matrix(
        (np.ones(a.nnz, dtype=dtype), a.indices.copy(), a.indptr.copy()), shape=a.shape
    )
    out.has_sorted_indices = True
    return out


@dataclass(frozen=True)
class Pairs:
    """Allowed demand x site pairs, sorted by demand then site.

    Attributes
    ----------
    rows, cols : ndarray of int64 (k,)
        Demand index and site index of each pair.
    dist : ndarray of float (k,)
        Distance of each pair (finite, non-negative).
    n_demand, n_sites : int
        Shape of the full demand x site matrix.
    """

    rows: np.ndarray
    cols: np.ndarray
    dist: np.ndarray
    n_demand: int
    n_sites: int

    @classmethod
    def from_coo(
        cls,
        rows: IndexLike,
        cols: IndexLike,
        dist: Sequence[float] | np.ndarray,
        shape: tuple[int, int],
    ) -> Pairs:
        """Pairs from triplets; raises ValueError on bad indices, distances or duplicates."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        d = np.asarray(dist, dtype=float).ravel()
        n_demand, n_sites = int(shape[0]), int(shape[1])
        if not (r.size == c.size == d.size):
            raise ValueError("rows, cols and dist must have the same length")
        if r.size and (r.min() < 0 or r.max() >= n_demand or c.min() < 0 or c.max() >= n_sites):
            raise ValueError(f"pair index outside the {n_demand} x {n_sites} matrix")
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise ValueError("distances must be finite and non-negative")
        order = np.lexsort((c, r))
        r, c, d = r[order], c[order], d[order]
        if r.size > 1 and np.any((np.diff(r) == 0) & (np.diff(c) == 0)):
            raise ValueError("a demand x site pair is listed twice")
        return cls(r, c, d, n_demand, n_sites)

    @classmethod
    def from_dense(cls, matrix: np.ndarray | Sequence[Sequence[float]]) -> Pairs:
        """All finite entries of a dense demand x site matrix (``inf``/``nan`` = not allowed)."""
        a = np.asarray(matrix, dtype=float)
        if a.ndim != 2:
            raise ValueError("a distance matrix must be two-dimensional")
        r, c = np.nonzero(np.isfinite(a))
        return cls.from_coo(r, c, a[r, c], a.shape)

    @classmethod
    def from_any(cls, distance: np.ndarray | Sequence[Sequence[float]] | Pairs) -> Pairs:
        """Accept a :class:`Pairs` as it is, anything else as a dense matrix."""
        return distance if isinstance(distance, Pairs) else cls.from_dense(distance)

    @property
    def size(self) -> int:
        return int(self.rows.size)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_demand, self.n_sites)

    def subset(self, keep: np.ndarray) -> Pairs:
        """The pairs where ``keep`` (bool, one per pair) is true; the order is kept."""
        return Pairs(self.rows[keep], self.cols[keep], self.dist[keep], *self.shape)

    def within(self, radius: float) -> Pairs:
        """The pairs with ``dist <= radius``."""
        return self.subset(self.dist <= radius)

    def reach_matrix(self) -> sp.csr_matrix:
        """0/1 CSR matrix (demand x site) with a one at every pair."""
        ones = np.ones(self.size, dtype=np.int8)
        return sp.csr_matrix((ones, (self.rows, self.cols)), shape=self.shape)

    def demand_without_pair(self) -> np.ndarray:
        """Indices of demand points that have no allowed pair."""
        has = np.zeros(self.n_demand, dtype=bool)
        has[self.rows] = True
        return np.flatnonzero(~has)


def index_array(values: IndexLike | None, n: int, name: str) -> np.ndarray:
    """Sorted unique int64 indices in ``0..n-1``; raises ValueError otherwise."""
    arr = np.unique(np.asarray([] if values is None else values, dtype=np.int64).ravel())
    if arr.size and (arr[0] < 0 or arr[-1] >= n):
        raise ValueError(f"{name} holds an index outside 0..{n - 1}")
    return arr


def site_rules(
    n_sites: int, required: IndexLike | None, forbidden: IndexLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(required, forbidden)`` site index arrays; a site cannot be both."""
    req = index_array(required, n_sites, "required")
    forb = index_array(forbidden, n_sites, "forbidden")
    both = np.intersect1d(req, forb)
    if both.size:
        raise ValueError(f"sites both required and forbidden: {both.tolist()}")
    return req, forb


def check_count(p: int | None, n_sites: int, required: np.ndarray, forbidden: np.ndarray) -> None:
    """A facility count must fit between the required sites and the allowed ones."""
    if p is None:
        return
    if p < 0 or p != int(p):
        raise ValueError(f"p must be a non-negative integer, got {p}")
    if p < required.size:
        raise ValueError(f"p = {p} is smaller than the {required.size} required sites")
    if p > n_sites - forbidden.size:
        raise ValueError(f"p = {p} exceeds the {n_sites - forbidden.size} sites allowed")


def site_bounds(
    n_sites: int, required: np.ndarray, forbidden: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the 0/1 site variables: required sites fixed at 1, forbidden at 0."""
    lower, upper = np.zeros(n_sites), np.ones(n_sites)
    lower[required] = 1.0
    upper[forbidden] = 0.0
    return lower, upper


def allowed_pairs(
    distance: np.ndarray | Sequence[Sequence[float]] | Pairs, max_distance: float | None
) -> Pairs:
    """The allowed pairs of ``distance`` (a dense matrix marks a forbidden pair with inf or nan),
    only those within ``max_distance`` when it is given."""
    pairs = Pairs.from_any(distance)
    return pairs if max_distance is None else pairs.within(float(max_distance))


def demand_weights(weight: Sequence[float] | np.ndarray | None, n_demand: int) -> np.ndarray:
    """Demand weights as floats (1 each when ``weight`` is None).

    Raises
    ------
    ValueError
        Unless there is one finite, non-negative weight per demand point.
    """
    w = np.ones(n_demand) if weight is None else np.asarray(weight, dtype=float).ravel()
    if w.shape != (n_demand,):
        raise ValueError("weight must have one entry per demand point")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    return w


def add_count_row(rows: RowBuilder, n_sites: int, p: int, exact: bool = True) -> None:
    """The facility count row over the site variables (the first ``n_sites`` columns):
    ``sum y = p``, or ``sum y <= p`` when not ``exact``."""
    lower = float(p) if exact else -np.inf
    sites = np.arange(n_sites, dtype=np.int64)
    rows.add(np.zeros(n_sites, dtype=np.int64), sites, np.ones(n_sites), 1, lower, float(p))


def covering_milp(
    rows: RowBuilder,
    weight: np.ndarray,
    required: np.ndarray,
    forbidden: np.ndarray,
    *,
    integral: bool,
    demand_block: str,
    name: str,
) -> MILP:
    """A covering model's MILP: maximise ``weight`` over variables ``[y (sites) | one 0..1
    variable per demand point]`` under ``rows``.

    ``y`` is binary with the required / forbidden sites fixed; the demand variables (block
    ``demand_block``) are binary only when ``integral``.
    """
    n = weight.size
    m = rows.n_cols - n
    a, lower, upper = rows.build()
    y_lo, y_up = site_bounds(m, required, forbidden)
    return MILP(
        c=np.r_[np.zeros(m), weight],
        A=a,
        row_lower=lower,
        row_upper=upper,
        col_lower=np.r_[y_lo, np.zeros(n)],
        col_upper=np.r_[y_up, np.ones(n)],
        integrality=np.r_[np.ones(m, dtype=bool), np.full(n, integral)],
        sense="max",
        blocks={"open": slice(0, m), demand_block: slice(m, m + n)},
        name=name,
    )


def opened_sites(milp: MILP, x: np.ndarray) -> np.ndarray:
    """The sites a solution ``x`` of ``milp`` opens: its ``open`` block as a boolean mask."""
    return np.asarray(x)[milp.blocks["open"]] > 0.5


def cover_count(coverage: sp.csr_matrix, selected: np.ndarray) -> np.ndarray:
    """How many of the ``selected`` sites cover each demand row of ``coverage``."""
    return np.asarray(coverage @ selected.astype(np.int64)).ravel()


def nearest_open(pairs: Pairs, opened: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """For each demand point, the open site of least (weighted) distance among its pairs.

    Ties go to the lowest site index; ``-1`` where no pair reaches an open site.
    """
    keep = np.flatnonzero(opened[pairs.cols])
    rows, cols, dist = pairs.rows[keep], pairs.cols[keep], pairs.dist[keep]
    if weight is not None:
        dist = dist * weight[rows]
    order = np.lexsort((cols, dist, rows))
    rows, cols = rows[order], cols[order]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
    out = np.full(pairs.n_demand, -1, dtype=np.int64)
    out[rows[first]] = cols[first]
    return out


def pair_distance(pairs: Pairs, demand: np.ndarray, site: np.ndarray) -> np.ndarray:
    """Distance of each ``(demand[k], site[k])``; ``nan`` where the pair is not allowed."""
    key = pairs.rows * pairs.n_sites + pairs.cols  # sorted, since pairs are sorted
    want = np.asarray(demand, dtype=np.int64) * pairs.n_sites + np.asarray(site, dtype=np.int64)
    pos = np.searchsorted(key, want)
    pos_c = np.minimum(pos, max(key.size - 1, 0))
    found = (pos < key.size) & (key[pos_c] == want) if key.size else np.zeros(want.size, bool)
    out = np.full(want.size, np.nan)
    out[found] = pairs.dist[pos_c[found]]
    return out
