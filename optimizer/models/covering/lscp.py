r"""Location set covering problem (LSCP; Toregas, Swain, ReVelle & Bergman, 1971).

Formulation
-----------
Demand rows :math:`i`, candidate sites :math:`j` with costs :math:`c_j \ge 0`; :math:`N_i` are
the sites that reach row :math:`i` (the nonzeros of row :math:`i` of the reach matrix).

.. math::

    \min \; & \sum_j c_j\, y_j \\
    \text{s.t.}\; & \sum_{j \in N_i} y_j \ge 1 && \forall i && \text{(cover)} \\
    & \sum_j y_j \le p && && \text{(optional: at most } p \text{ sites)} \\
    & y_j = 1 \ (j \in R), \quad y_j = 0 \ (j \in F)
        && && \text{(required / forbidden sites)} \\
    & y \in \{0, 1\}^m

A row with no site makes the problem infeasible. The count row (``max_open``) turns the model
into the feasibility question of the p-center binary search (:mod:`optimizer.models.pcenter`):
can ``p`` sites cover every row?

Variables are ``[y (sites)]``; the cover rows are the reach matrix itself, the count row one
row of ones: the model is assembled from whole arrays, with no loop over rows or sites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.milp import MILP
from optimizer.models.common import IndexLike, binary_csr, site_bounds, site_rules

__all__ = ["LscpData", "LscpSolution", "build_model", "decode"]


@dataclass(frozen=True)
class LscpData:
    """Arrays of a location set covering problem.

    Attributes
    ----------
    reach : csr_matrix (n_demand x n_sites), 0/1
        One where a site reaches (covers) a demand row.
    cost : ndarray (n_sites,)
        Site costs (finite, non-negative).
    required, forbidden : ndarray of int
        Site indices fixed open / closed.
    """

    reach: sp.csr_matrix
    cost: np.ndarray
    required: np.ndarray
    forbidden: np.ndarray

    @property
    def n_demand(self) -> int:
        return int(self.reach.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.reach.shape[1])

    @classmethod
    def from_arrays(
        cls,
        reach: sp.spmatrix | np.ndarray,
        cost: Sequence[float] | np.ndarray | None = None,
        *,
        required: IndexLike | None = None,
        forbidden: IndexLike | None = None,
    ) -> LscpData:
        """Cover every row of ``reach`` (demand x sites, nonzero = covers) at least cost
        (unit costs by default); raises ValueError on inconsistent input."""
        a = binary_csr(reach, np.int8)
        n_sites = a.shape[1]
        c = np.ones(n_sites) if cost is None else np.asarray(cost, dtype=float).ravel()
        if c.shape != (n_sites,) or np.any(~np.isfinite(c)) or np.any(c < 0):
            raise ValueError("cost must hold one finite, non-negative value per site")
        req, forb = site_rules(n_sites, required, forbidden)
        return cls(a, c, req, forb)


@dataclass(frozen=True)
class LscpSolution:
    """Opened sites, how many of them cover each row, and their cost."""

    selected: np.ndarray
    cover_count: np.ndarray
    objective: float


def build_model(data: LscpData, name: str = "lscp", max_open: int | None = None) -> MILP:
    """Compile the LSCP into one :class:`MILP` (variables ``[y]``, minimise).

    ``max_open`` appends the count row ``sum y <= max_open``.
    """
    m, n = data.reach.shape
    a: sp.csr_matrix = data.reach
    lower, upper = np.ones(m), np.full(m, np.inf)
    if max_open is not None:
        a = sp.vstack([a, sp.csr_matrix(np.ones((1, n)))], format="csr")
        lower, upper = np.r_[lower, -np.inf], np.r_[upper, float(max_open)]
    y_lo, y_up = site_bounds(n, data.required, data.forbidden)
    return MILP(
        c=data.cost.copy(),
        A=a,
        row_lower=lower,
        row_upper=upper,
        col_lower=y_lo,
        col_upper=y_up,
        integrality=np.ones(n, dtype=bool),
        sense="min",
        blocks={"open": slice(0, n)},
        name=name,
    )


def decode(data: LscpData, milp: MILP, x: np.ndarray) -> LscpSolution:
    """Opened sites from ``x``; cover counts and cost recomputed from them."""
    return solution_of(data, np.asarray(x)[milp.blocks["open"]] > 0.5)


def solution_of(data: LscpData, selected: np.ndarray) -> LscpSolution:
    """Cover counts and cost of the sites ``selected`` (bool mask)."""
    sel = np.asarray(selected, dtype=bool)
    count = np.asarray(data.reach @ sel.astype(np.int64)).ravel()
    return LscpSolution(sel, count, float(data.cost[sel].sum()))
