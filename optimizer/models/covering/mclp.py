r"""Maximal covering location problem (MCLP; Church & ReVelle, 1974).

Formulation
-----------
Demand points :math:`i` with weights :math:`w_i`, candidate sites :math:`j` with costs
:math:`c_j`; :math:`N_i` are the sites within the service radius of :math:`i` (the rows of the
coverage matrix).

.. math::

    \max \; & \sum_i w_i\, z_i \\
    \text{s.t.}\; & z_i \le \sum_{j \in N_i} y_j && \forall i && \text{(covered only if reached)} \\
    & \sum_j y_j = p \quad (\text{or} \le p) && && \text{(facility count, optional)} \\
    & \sum_j c_j\, y_j \le B && && \text{(budget, optional)} \\
    & y_j = 1 \ (j \in R), \quad y_j = 0 \ (j \in F) && && \text{(required / forbidden sites)} \\
    & y \in \{0, 1\}^m, \quad 0 \le z_i \le 1

At least one of the count and the budget must be given. :math:`z` may stay continuous: for
integral :math:`y` the maximisation puts each :math:`z_i` at :math:`\min(1, \sum_{N_i} y_j)
\in \{0, 1\}`. ``build_model(..., integral=True)`` makes :math:`z` binary as well (for solvers
that need a pure integer program, such as CP-SAT).

Variables are ``[y (sites) | z (demand)]``; every constraint block is assembled from coordinate
arrays in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.milp import MILP, RowBuilder
from optimizer.models.common import (
    IndexLike,
    add_count_row,
    binary_csr,
    check_count,
    cover_count,
    covering_milp,
    opened_sites,
    site_rules,
)


@dataclass(frozen=True)
class MclpData:
    """Arrays of a maximal covering problem.

    Attributes
    ----------
    coverage : csr_matrix (n_demand x n_sites), 0/1
        Nonzero where a site covers a demand point.
    weight : ndarray (n_demand,)
        Demand weights (non-negative).
    cost : ndarray (n_sites,)
        Site costs (used by the budget row).
    p : int or None
        Number of facilities; ``None`` for no count row.
    p_exact : bool
        ``sum y = p`` when true, ``sum y <= p`` otherwise.
    budget : float or None
        Budget on ``sum c_j y_j``; ``None`` for no budget row.
    required, forbidden : ndarray of int
        Site indices fixed open / closed.
    """

    coverage: sp.csr_matrix
    weight: np.ndarray
    cost: np.ndarray
    p: int | None
    p_exact: bool
    budget: float | None
    required: np.ndarray
    forbidden: np.ndarray

    @property
    def n_demand(self) -> int:
        return int(self.coverage.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.coverage.shape[1])

    @classmethod
    def from_arrays(
        cls,
        coverage: sp.spmatrix | np.ndarray,
        weight: Sequence[float] | np.ndarray,
        p: int | None = None,
        *,
        cost: Sequence[float] | np.ndarray | None = None,
        budget: float | None = None,
        p_exact: bool = True,
        required: IndexLike | None = None,
        forbidden: IndexLike | None = None,
    ) -> MclpData:
        """Check and store the arrays; raises ValueError on inconsistent input."""
        cov = binary_csr(coverage, np.int8)
        n_demand, n_sites = cov.shape
        w = np.asarray(weight, dtype=float).ravel()
        c = np.zeros(n_sites) if cost is None else np.asarray(cost, dtype=float).ravel()
        if w.shape != (n_demand,) or c.shape != (n_sites,):
            raise ValueError("weight must have one entry per demand row, cost one per site")
        if np.any(~np.isfinite(w)) or np.any(w < 0) or np.any(~np.isfinite(c)) or np.any(c < 0):
            raise ValueError("weights and costs must be finite and non-negative")
        if p is None and budget is None:
            raise ValueError("MCLP needs a facility count p, a budget, or both")
        if budget is not None and cost is None:
            raise ValueError("a budget needs site costs")
        req, forb = site_rules(n_sites, required, forbidden)
        check_count(p, n_sites, req, forb)
        return cls(
            coverage=cov,
            weight=w,
            cost=c,
            p=None if p is None else int(p),
            p_exact=bool(p_exact),
            budget=None if budget is None else float(budget),
            required=req,
            forbidden=forb,
        )


@dataclass(frozen=True)
class MclpSolution:
    """Opened sites and which demand points they cover."""

    selected: np.ndarray
    covered: np.ndarray
    cover_count: np.ndarray
    objective: float


def build_model(data: MclpData, integral: bool = False, name: str = "mclp") -> MILP:
    """Compile the MCLP into one :class:`MILP` (variables ``[y | z]``, maximise)."""
    m, n = data.n_sites, data.n_demand
    rows = RowBuilder(m + n)
    coo = data.coverage.tocoo()
    k = np.arange(n, dtype=np.int64)
    # z_i - sum_{j in N_i} y_j <= 0
    rows.add(
        np.r_[k, coo.row.astype(np.int64)],
        np.r_[m + k, coo.col.astype(np.int64)],
        np.r_[np.ones(n), -np.ones(coo.nnz)],
        n,
        -np.inf,
        0.0,
    )
    if data.p is not None:
        add_count_row(rows, m, data.p, data.p_exact)
    if data.budget is not None:
        sites = np.arange(m, dtype=np.int64)
        rows.add(np.zeros(m, dtype=np.int64), sites, data.cost, 1, -np.inf, data.budget)
    return covering_milp(
        rows,
        data.weight,
        data.required,
        data.forbidden,
        integral=integral,
        demand_block="covered",
        name=name,
    )


def decode(data: MclpData, milp: MILP, x: np.ndarray) -> MclpSolution:
    """Opened sites from ``x``; coverage recomputed from them (never below the solver's ``z``)."""
    selected = opened_sites(milp, x)
    count = cover_count(data.coverage, selected)
    covered = count > 0
    return MclpSolution(selected, covered, count, float(data.weight[covered].sum()))
