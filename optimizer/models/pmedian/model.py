r"""The p-median problem (Hakimi, 1964; ReVelle & Swain, 1970), uncapacitated and capacitated.

Formulation
-----------
Demand points :math:`i` with weights :math:`w_i` (objective) and demands :math:`q_i` (capacity
use, by default :math:`q = w`), candidate sites :math:`j` with capacities :math:`Q_j`;
:math:`P` is the set of allowed pairs :math:`(i, j)` with distances :math:`d_{ij}` — every pair by
default, or only those within a distance cap.

.. math::

    \min \; & \sum_{(i,j) \in P} w_i\, d_{ij}\, x_{ij} + \sum_i w_i\, \bar d\, u_i \\
    \text{s.t.}\; & \sum_{j:(i,j) \in P} x_{ij} + u_i = 1 && \forall i && \text{(assign)} \\
    & x_{ij} \le y_j && \forall (i,j) \in P && \text{(open before serving)} \\
    & \sum_j y_j = p && && \text{(facility count)} \\
    & \sum_{i:(i,j) \in P} q_i\, x_{ij} \le Q_j\, y_j && \forall j
        && \text{(capacity; capacitated model only)} \\
    & y_j = 1 \ (j \in R), \quad y_j = 0 \ (j \in F) && && \text{(required / forbidden sites)} \\
    & y \in \{0, 1\}^m, \quad x, u \ge 0

The unserved variables :math:`u_i` exist only when a penalty distance :math:`\bar d` is given
(with a distance cap, a demand point may then stay unserved at cost :math:`w_i \bar d`);
without it every point must be assigned within the cap.

* Uncapacitated: the disaggregated links :math:`x_{ij} \le y_j` give the strong formulation,
  whose LP relaxation is usually integral or nearly so. :math:`x` and :math:`u` stay continuous
  (for integral :math:`y` an optimal assignment sends each point to its nearest open site).
* Capacitated with single sourcing: :math:`x` and :math:`u` are binary; the capacity row of a
  site is written only when the demand of its allowed pairs can exceed :math:`Q_j` (otherwise
  it can never bind); the links are kept, as they tighten the relaxation.

``build_model(..., integral=True)`` makes every variable binary (for CP-SAT).

Variables are ``[y (sites) | x (pairs) | u (demand, optional)]``; every constraint block is
assembled from coordinate arrays in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.milp import MILP, RowBuilder
from optimizer.models.common import (
    IndexLike,
    Pairs,
    add_count_row,
    allowed_pairs,
    check_count,
    nearest_open,
    opened_sites,
    pair_distance,
    site_bounds,
    site_rules,
)


@dataclass(frozen=True)
class PMedianData:
    """Arrays of a p-median problem.

    Attributes
    ----------
    pairs : Pairs
        Allowed assignment pairs with their distances (already within ``max_distance``).
    weight : ndarray (n_demand,)
        Objective weight of each demand point.
    demand : ndarray (n_demand,)
        Capacity used by each demand point (capacitated model).
    p : int
        Number of facilities (``sum y = p``).
    capacity : ndarray (n_sites,) or None
        Site capacities; ``None`` for the uncapacitated model.
    unserved_penalty : float or None
        Distance charged (times the weight) for a demand point left unserved; ``None`` makes
        service compulsory.
    max_distance : float or None
        The distance cap the pairs were filtered with (for the record).
    required, forbidden : ndarray of int
        Site indices fixed open / closed.
    """

    pairs: Pairs
    weight: np.ndarray
    demand: np.ndarray
    p: int
    capacity: np.ndarray | None
    unserved_penalty: float | None
    max_distance: float | None
    required: np.ndarray
    forbidden: np.ndarray

    @property
    def n_demand(self) -> int:
        return self.pairs.n_demand

    @property
    def n_sites(self) -> int:
        return self.pairs.n_sites

    @property
    def capacitated(self) -> bool:
        return self.capacity is not None

    @classmethod
    def from_arrays(
        cls,
        distance: np.ndarray | Sequence[Sequence[float]] | Pairs,
        p: int,
        weight: Sequence[float] | np.ndarray | None = None,
        *,
        demand: Sequence[float] | np.ndarray | None = None,
        capacity: Sequence[float] | np.ndarray | float | None = None,
        max_distance: float | None = None,
        unserved_penalty: float | None = None,
        required: IndexLike | None = None,
        forbidden: IndexLike | None = None,
    ) -> PMedianData:
        """Check and store the arrays.

        Parameters
        ----------
        distance : (n_demand, n_sites) array or Pairs
            Distances; in a dense array ``inf``/``nan`` marks a pair that is not allowed.
        p : int
            Number of facilities.
        weight : array, optional
            Objective weights (default 1).
        demand : array, optional
            Capacity use of each point (default: ``weight``).
        capacity : array or float, optional
            Site capacities; given, the model is capacitated with single sourcing.
        max_distance : float, optional
            Keep only pairs with ``distance <= max_distance``.
        unserved_penalty : float, optional
            Allow a point to stay unserved at ``weight * unserved_penalty``.
        required, forbidden : arrays of int, optional
            Sites fixed open / closed.

        Raises
        ------
        ValueError
            On inconsistent shapes, negative values or a count that cannot be met.
        """
        pairs = allowed_pairs(distance, max_distance)
        n, m = pairs.shape
        w = np.ones(n) if weight is None else np.asarray(weight, dtype=float).ravel()
        q = w.copy() if demand is None else np.asarray(demand, dtype=float).ravel()
        if w.shape != (n,) or q.shape != (n,):
            raise ValueError("weight and demand must have one entry per demand point")
        cap = None
        if capacity is not None:
            cap = np.broadcast_to(np.asarray(capacity, dtype=float), (m,)).copy()
        for name, arr in (("weight", w), ("demand", q), ("capacity", cap)):
            if arr is not None and (np.any(~np.isfinite(arr)) or np.any(arr < 0)):
                raise ValueError(f"{name} must be finite and non-negative")
        if unserved_penalty is not None and not (
            np.isfinite(unserved_penalty) and unserved_penalty >= 0
        ):
            raise ValueError("unserved_penalty must be finite and non-negative")
        req, forb = site_rules(m, required, forbidden)
        check_count(p, m, req, forb)
        return cls(
            pairs=pairs,
            weight=w,
            demand=q,
            p=int(p),
            capacity=cap,
            unserved_penalty=None if unserved_penalty is None else float(unserved_penalty),
            max_distance=None if max_distance is None else float(max_distance),
            required=req,
            forbidden=forb,
        )


@dataclass(frozen=True)
class PMedianSolution:
    """Opened sites, the site serving each demand point (``-1``: unserved), and the cost."""

    selected: np.ndarray
    assignment: np.ndarray
    objective: float


def column_count(data: PMedianData) -> int:
    """Columns of :func:`build_model`'s MILP: ``y`` per site, ``x`` per pair, ``u`` per
    point when service is optional."""
    with_u = data.unserved_penalty is not None
    return data.n_sites + data.pairs.size + (data.n_demand if with_u else 0)


def nonzero_count(data: PMedianData) -> int:
    """Nonzeros of :func:`build_model`'s MILP without capacities: each pair in its assignment
    row and its link row (two), each point's ``u``, the count row."""
    with_u = data.unserved_penalty is not None
    return 3 * data.pairs.size + data.n_sites + (data.n_demand if with_u else 0)


def build_model(data: PMedianData, integral: bool = False, name: str = "pmedian") -> MILP:
    """Compile the p-median problem into one :class:`MILP` (see the module docstring)."""
    pairs = data.pairs
    m, n, k = data.n_sites, data.n_demand, pairs.size
    with_u = data.unserved_penalty is not None
    x0, u0 = m, m + k
    n_var = column_count(data)
    kk = np.arange(k, dtype=np.int64)
    ii = np.arange(n, dtype=np.int64)
    rows = RowBuilder(n_var)

    # assign: sum_j x_ij (+ u_i) = 1
    r, c = pairs.rows, x0 + kk
    if with_u:
        r, c = np.r_[r, ii], np.r_[c, u0 + ii]
    rows.add(r, c, np.ones(r.size), n, 1.0, 1.0)
    # link: x_ij - y_j <= 0
    link_vals = np.r_[np.ones(k), -np.ones(k)]
    rows.add(np.r_[kk, kk], np.r_[x0 + kk, pairs.cols], link_vals, k, -np.inf, 0.0)
    # count: sum_j y_j = p
    add_count_row(rows, m, data.p)
    # capacity: sum_i q_i x_ij - Q_j y_j <= 0, only where it can bind
    if data.capacity is not None:
        use = data.demand[pairs.rows]
        load = np.bincount(pairs.cols, weights=use, minlength=m)
        tight = np.flatnonzero(load > data.capacity + 1e-9)
        row_of = np.full(m, -1, dtype=np.int64)
        row_of[tight] = np.arange(tight.size)
        sel = np.flatnonzero(row_of[pairs.cols] >= 0)
        rows.add(
            np.r_[row_of[pairs.cols[sel]], row_of[tight]],
            np.r_[x0 + sel, tight],
            np.r_[use[sel], -data.capacity[tight]],
            tight.size,
            -np.inf,
            0.0,
        )
    a, lower, upper = rows.build()

    y_lo, y_up = site_bounds(m, data.required, data.forbidden)
    x_up = y_up[pairs.cols]  # no service from a forbidden site
    cost = np.r_[np.zeros(m), data.weight[pairs.rows] * pairs.dist]
    binary_assign = integral or data.capacitated
    integrality = np.r_[np.ones(m, dtype=bool), np.full(k, binary_assign)]
    blocks = {"open": slice(0, m), "assign": slice(x0, x0 + k)}
    if with_u:
        assert data.unserved_penalty is not None
        cost = np.r_[cost, data.weight * data.unserved_penalty]
        x_up = np.r_[x_up, np.ones(n)]
        integrality = np.r_[integrality, np.full(n, binary_assign)]
        blocks["unserved"] = slice(u0, u0 + n)
    return MILP(
        c=cost,
        A=a,
        row_lower=lower,
        row_upper=upper,
        col_lower=np.r_[y_lo, np.zeros(n_var - m)],
        col_upper=np.r_[y_up, x_up],
        integrality=integrality,
        sense="min",
        blocks=blocks,
        name=name,
    )


def decode(data: PMedianData, milp: MILP, x: np.ndarray) -> PMedianSolution:
    """Opened sites and assignments from ``x``.

    Capacitated: the assignment is read from the binary ``x``. Uncapacitated: each point goes
    to its nearest open site (or stays unserved where the penalty is cheaper), which is never
    worse than the solver's own assignment.
    """
    x = np.asarray(x)
    selected = opened_sites(milp, x)
    if data.capacitated:
        assignment = np.full(data.n_demand, -1, dtype=np.int64)
        on = np.flatnonzero(x[milp.blocks["assign"]] > 0.5)
        assignment[data.pairs.rows[on]] = data.pairs.cols[on]
    else:
        assignment = nearest_open(data.pairs, selected)
        if data.unserved_penalty is not None:
            d = assignment_distance(data, assignment)
            assignment[d > data.unserved_penalty] = -1
    return PMedianSolution(selected, assignment, solution_cost(data, assignment))


def assignment_distance(data: PMedianData, assignment: np.ndarray) -> np.ndarray:
    """Distance from each demand point to its site; ``nan`` where unassigned or not allowed."""
    out = np.full(data.n_demand, np.nan)
    on = np.flatnonzero(assignment >= 0)
    out[on] = pair_distance(data.pairs, on, assignment[on])
    return out


def solution_cost(data: PMedianData, assignment: np.ndarray) -> float:
    """Weighted distance of the assignment plus the penalty of unserved points."""
    d = assignment_distance(data, assignment)
    served = assignment >= 0
    total = float(np.sum(data.weight[served] * d[served]))
    unserved_weight = float(np.sum(data.weight[~served]))
    if unserved_weight > 0:
        penalty = np.inf if data.unserved_penalty is None else data.unserved_penalty
        total += unserved_weight * penalty
    return total
