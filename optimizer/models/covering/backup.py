r"""Backup (double) coverage: BACOP1 of Hogan & ReVelle (1986).

Formulation
-----------
Demand points :math:`i` with weights :math:`w_i`; :math:`N_i` are the candidate sites within the
service radius of :math:`i`. Every demand point must be covered at least once by the
:math:`p` facilities; among such plans, maximise the weight covered at least twice.

.. math::

    \max \; & \sum_i w_i\, u_i \\
    \text{s.t.}\; & \sum_{j \in N_i} y_j - u_i \ge 1 && \forall i
        && \text{(covered once; twice where } u_i = 1) \\
    & \sum_j y_j = p \quad (\text{or} \le p) \\
    & y_j = 1 \ (j \in R), \quad y_j = 0 \ (j \in F) && && \text{(required / forbidden sites)} \\
    & y \in \{0, 1\}^m, \quad 0 \le u_i \le 1

:math:`u` may stay continuous: for integral :math:`y` the optimum sets
:math:`u_i = \min(1, \sum_{N_i} y_j - 1) \in \{0, 1\}`. ``integral=True`` makes it binary.
A demand point no site reaches makes the problem infeasible.

Variables are ``[y (sites) | u (demand)]``; the rows are built from coordinate arrays at once.
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
    demand_weights,
    opened_sites,
    site_rules,
)


@dataclass(frozen=True)
class BackupData:
    """Arrays of a backup-coverage problem (see :class:`~.mclp.MclpData`)."""

    coverage: sp.csr_matrix
    weight: np.ndarray
    p: int
    p_exact: bool
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
        p: int,
        *,
        p_exact: bool = True,
        required: IndexLike | None = None,
        forbidden: IndexLike | None = None,
    ) -> BackupData:
        """Check and store the arrays; raises ValueError on inconsistent input."""
        cov = binary_csr(coverage, np.int8)
        w = demand_weights(weight, cov.shape[0])
        req, forb = site_rules(cov.shape[1], required, forbidden)
        check_count(p, cov.shape[1], req, forb)
        return cls(cov, w, int(p), bool(p_exact), req, forb)


@dataclass(frozen=True)
class BackupSolution:
    """Opened sites, how many of them cover each demand point, and the twice-covered weight."""

    selected: np.ndarray
    cover_count: np.ndarray
    objective: float


def build_model(data: BackupData, integral: bool = False, name: str = "backup") -> MILP:
    """Compile BACOP1 into one :class:`MILP` (variables ``[y | u]``, maximise)."""
    m, n = data.n_sites, data.n_demand
    rows = RowBuilder(m + n)
    coo = data.coverage.tocoo()
    k = np.arange(n, dtype=np.int64)
    rows.add(
        np.r_[coo.row.astype(np.int64), k],
        np.r_[coo.col.astype(np.int64), m + k],
        np.r_[np.ones(coo.nnz), -np.ones(n)],
        n,
        1.0,
        np.inf,
    )
    add_count_row(rows, m, data.p, data.p_exact)
    return covering_milp(
        rows,
        data.weight,
        data.required,
        data.forbidden,
        integral=integral,
        demand_block="backup",
        name=name,
    )


def decode(data: BackupData, milp: MILP, x: np.ndarray) -> BackupSolution:
    """Opened sites from ``x``; cover counts and the objective recomputed from them."""
    selected = opened_sites(milp, x)
    count = cover_count(data.coverage, selected)
    return BackupSolution(selected, count, float(data.weight[count >= 2].sum()))
