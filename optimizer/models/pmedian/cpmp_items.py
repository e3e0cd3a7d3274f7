"""The capacitated p-median's pairs grouped by site: the knapsack items of its relaxations.

Shared by the Lagrangian branch-and-bound (:mod:`optimizer.models.pmedian.capacitated`) and
the column generation with subset-row cuts (:mod:`optimizer.models.pmedian.cpmp_price`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.models.pmedian.model import PMedianData

__all__ = ["KNAPSACK_UNITS", "SiteItems", "unit_scale"]

KNAPSACK_UNITS = 4000
"""Capacity units of the largest knapsack when demands must be scaled (non-integer data)."""


@dataclass(frozen=True)
class SiteItems:
    """The pairs grouped by site: the knapsack items of the relaxation.

    Attributes
    ----------
    indptr : ndarray (m+1,)
        Items of site ``j`` are ``indptr[j]:indptr[j+1]``.
    rows : ndarray (k,)
        Demand point of each item.
    cost : ndarray (k,)
        ``weight * distance``.
    units : ndarray of int64 (k,)
        Demand in integer capacity units (rounded down).
    pair : ndarray (k,)
        Index of each item in ``data.pairs``.
    cap_units : ndarray of int64 (m,)
        Capacity in units (rounded up; 0 for forbidden sites).
    allowed, required : ndarray of bool (m,)
        Sites that may open; sites fixed open.
    fallback : ndarray (n,) or None
        Cost of leaving a point unserved (None: service is compulsory).
    p : int
    integral : bool
        All costs are integers (bounds may be rounded up).
    n_demand : int
    forced : ndarray of bool (k,) or None
        Items every open knapsack must hold (a tree node's fixed assignments).
    """

    indptr: np.ndarray
    rows: np.ndarray
    cost: np.ndarray
    units: np.ndarray
    pair: np.ndarray
    cap_units: np.ndarray
    allowed: np.ndarray
    required: np.ndarray
    fallback: np.ndarray | None
    p: int
    integral: bool
    n_demand: int
    forced: np.ndarray | None = None

    @property
    def n_sites(self) -> int:
        return int(self.cap_units.size)

    @classmethod
    def from_data(cls, data: PMedianData) -> SiteItems:
        """Items of capacitated ``data``; raises ValueError for uncapacitated data."""
        if data.capacity is None:
            raise ValueError("the capacitated p-median needs site capacities")
        pairs, m = data.pairs, data.n_sites
        allowed = np.ones(m, dtype=bool)
        allowed[data.forbidden] = False
        required = np.zeros(m, dtype=bool)
        required[data.required] = True
        scale = unit_scale(data.demand, data.capacity)
        order = np.flatnonzero(allowed[pairs.cols])
        order = order[np.lexsort((pairs.rows[order], pairs.cols[order]))]
        cols = pairs.cols[order]
        rows = pairs.rows[order]
        cost = data.weight[rows] * pairs.dist[order]
        units = np.floor(data.demand[rows] * scale + 1e-9 * (scale == 1.0)).astype(np.int64)
        cap_units = np.where(allowed, np.ceil(data.capacity * scale - 1e-9), 0).astype(np.int64)
        indptr = np.searchsorted(cols, np.arange(m + 1)).astype(np.int64)
        fallback = None
        if data.unserved_penalty is not None:
            fallback = data.weight * data.unserved_penalty
        all_costs = cost if fallback is None else np.r_[cost, fallback]
        integral = bool(np.all(all_costs == np.round(all_costs)))
        return cls(
            indptr,
            rows,
            cost,
            units,
            order,
            cap_units,
            allowed,
            required,
            fallback,
            data.p,
            integral,
            data.n_demand,
        )


def unit_scale(demand: np.ndarray, capacity: np.ndarray) -> float:
    """1 for integer demands and capacities of moderate size; otherwise the factor that maps
    the largest capacity to :data:`KNAPSACK_UNITS` units."""
    top = float(capacity.max(initial=0.0))
    integer = np.all(demand == np.round(demand)) and np.all(capacity == np.round(capacity))
    if integer and top <= 4 * KNAPSACK_UNITS:
        return 1.0
    return KNAPSACK_UNITS / top if top > 0 else 1.0
