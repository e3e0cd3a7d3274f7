r"""Multi-type location set covering with shared sites (the LSCP family).

Formulation
-----------
Sites :math:`s`, facility types :math:`t`, blocks :math:`b`. :math:`E_t` are the sites eligible
for type :math:`t`; :math:`N_t(b) \subseteq E_t` those within the walking limit of block
:math:`b`; :math:`B_t` the blocks that must be covered (target residents, not served by an
existing facility, reachable by some site).

.. math::

    \min \; & \sum_s f_s\, y_s + \sum_t \sum_{s \in E_t} g_{ts}\, x_{ts} \\
    \text{s.t.}\; & \sum_{s \in N_t(b)} x_{ts} \ge 1 && \forall t,\ b \in B_t
        && \text{(cover)} \\
    & x_{ts} \le y_s && \forall t,\ s \in E_t && \text{(open before building)} \\
    & \sum_t a_t\, x_{ts} \le F_s\, y_s && \forall s \text{ where the types could overflow}
        && \text{(floor area)} \\
    & x, y \in \{0, 1\}

:math:`f_s` is the site's fixed cost (paid once, however many types it hosts), :math:`g_{ts}` the
fit-out cost of type :math:`t` at :math:`s`, :math:`a_t` the floor area of one facility and
:math:`F_s` the site's floor area. With one type, no fixed costs and no floor rows this is the
classic location set covering problem (Toregas et al., 1971) with site costs.

Every constraint block is assembled from coordinate arrays in one step; there is no Python
loop over rows or variables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.backends import Backend, Result, SolveOptions, Status
from optimizer.instance import PlanningInstance
from optimizer.milp import MILP, RowBuilder


@dataclass(frozen=True)
class CoveringData:
    """Arrays of a multi-type covering problem.

    Attributes
    ----------
    type_keys : list of str
    fixed_cost, floor_area : ndarray (n_sites,)
    eligible : list of bool ndarray (n_sites,), one per type
    fitout_cost : list of ndarray (n_sites,), one per type
    area : list of float, floor area of one facility per type
    cover : list of csr_matrix (n_rows_t x n_sites), one per type: row r lists the sites that
        cover demand row r; only eligible sites appear.
    cover_rows : list of int ndarray, the block index of each demand row (for decoding).
    """

    type_keys: list[str]
    fixed_cost: np.ndarray
    floor_area: np.ndarray
    eligible: list[np.ndarray]
    fitout_cost: list[np.ndarray]
    area: list[float]
    cover: list[sp.csr_matrix]
    cover_rows: list[np.ndarray]

    @property
    def n_sites(self) -> int:
        return int(self.fixed_cost.shape[0])

    @classmethod
    def from_instance(cls, instance: PlanningInstance) -> CoveringData:
        """Cover every coverable, unserved block of every type of the instance."""
        keys, eligible, fitout, area, cover, cover_rows = [], [], [], [], [], []
        for key, t in instance.types.items():
            rows = np.flatnonzero(t.coverable)
            reach = t.reach.filter(row_mask=t.coverable).reach_matrix().tocsr()[rows]
            keys.append(key)
            eligible.append(t.eligible)
            fitout.append(t.fitout_cost)
            area.append(t.ftype.build_area_m2)
            cover.append(reach)
            cover_rows.append(rows)
        return cls(
            type_keys=keys,
            fixed_cost=instance.fixed_cost,
            floor_area=instance.floor_area,
            eligible=eligible,
            fitout_cost=fitout,
            area=area,
            cover=cover,
            cover_rows=cover_rows,
        )

    @classmethod
    def from_arrays(
        cls,
        reach: sp.spmatrix,
        cost: Sequence[float] | np.ndarray,
        fixed_cost: Sequence[float] | np.ndarray | None = None,
    ) -> CoveringData:
        """The classic single-type LSCP: cover every row of ``reach`` (demand x sites, nonzero
        where a site covers a demand point) at least cost. Rows nobody covers make it infeasible.
        """
        reach = sp.csr_matrix(reach)
        n_rows, n_sites = reach.shape
        cost_arr = np.asarray(cost, dtype=float)
        fixed = np.zeros(n_sites) if fixed_cost is None else np.asarray(fixed_cost, dtype=float)
        reach = sp.csr_matrix(
            (np.ones(reach.nnz, dtype=np.int8), reach.indices, reach.indptr), shape=reach.shape
        )
        return cls(
            type_keys=["cover"],
            fixed_cost=fixed,
            floor_area=np.full(n_sites, np.inf),
            eligible=[np.ones(n_sites, dtype=bool)],
            fitout_cost=[cost_arr],
            area=[0.0],
            cover=[reach],
            cover_rows=[np.arange(n_rows)],
        )


@dataclass(frozen=True)
class CoveringSolution:
    """Which sites open and which types each hosts."""

    opened: np.ndarray
    built: dict[str, np.ndarray]
    cost: float


def build_model(
    data: CoveringData,
    name: str = "covering",
    shortfall_weight: list[np.ndarray] | None = None,
    cost_weight: float = 1.0,
    max_shortfall: float | None = None,
) -> MILP:
    """Compile the covering problem into one :class:`MILP`.

    Variables are ``[y | x_t1 | x_t2 ... | u_t1 | u_t2 ...]``. Without ``shortfall_weight``
    every cover row is hard. With it, each cover row ``r`` of type ``t`` gets a slack
    ``u_r in {0, 1}`` (``sum x + u >= 1``) whose objective coefficient is
    ``shortfall_weight[t][r]``; site costs are scaled by ``cost_weight`` (0 gives the
    maximal-coverage phase), and ``max_shortfall`` adds ``sum w u <= max_shortfall`` (the
    second, least-cost phase).
    """
    n_s = data.n_sites
    site_idx = [np.flatnonzero(e) for e in data.eligible]
    sizes = [len(ix) for ix in site_idx]
    offsets = n_s + np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_rows_t = [c.shape[0] for c in data.cover]
    slack_offsets = offsets[-1] + np.concatenate([[0], np.cumsum(n_rows_t)]).astype(np.int64)
    with_slack = shortfall_weight is not None
    n = int(slack_offsets[-1] if with_slack else offsets[-1])

    # position of each (type, site) variable, -1 where the site is not eligible
    col_of = []
    for ix, off in zip(site_idx, offsets[:-1], strict=True):
        pos = np.full(n_s, -1, dtype=np.int64)
        pos[ix] = off + np.arange(len(ix))
        col_of.append(pos)

    rows = RowBuilder(n)
    add = rows.add

    # cover: sum of x over covering sites (+ slack) >= 1
    for t, (cover, pos) in enumerate(zip(data.cover, col_of, strict=True)):
        coo = cover.tocoo()
        if (pos[coo.col] < 0).any():
            raise ValueError("a cover row lists a site that is not eligible for its type")
        r, c, v = coo.row.astype(np.int64), pos[coo.col], np.ones(coo.nnz)
        if with_slack:
            k = np.arange(cover.shape[0], dtype=np.int64)
            r, c, v = np.r_[r, k], np.r_[c, slack_offsets[t] + k], np.r_[v, np.ones(k.size)]
        add(r, c, v, cover.shape[0], 1.0, np.inf)

    # link: x_ts - y_s <= 0
    for ix, pos in zip(site_idx, col_of, strict=True):
        k = np.arange(len(ix), dtype=np.int64)
        add(
            np.r_[k, k],
            np.r_[pos[ix], ix],
            np.r_[np.ones(k.size), -np.ones(k.size)],
            k.size,
            -np.inf,
            0.0,
        )

    # floor area: only where the eligible types together could exceed the site
    demand_area = sum((e * a for e, a in zip(data.eligible, data.area, strict=True)), np.zeros(n_s))
    tight = np.flatnonzero(demand_area > data.floor_area + 1e-9)
    if tight.size:
        row_of = np.full(n_s, -1, dtype=np.int64)
        row_of[tight] = np.arange(tight.size)
        r_parts, c_parts, v_parts = [row_of[tight]], [tight], [-data.floor_area[tight]]
        for pos, a in zip(col_of, data.area, strict=True):
            s = tight[pos[tight] >= 0]
            r_parts.append(row_of[s])
            c_parts.append(pos[s])
            v_parts.append(np.full(s.size, a))
        add(
            np.concatenate(r_parts),
            np.concatenate(c_parts),
            np.concatenate(v_parts),
            tight.size,
            -np.inf,
            0.0,
        )

    site_cost = np.concatenate(
        [data.fixed_cost] + [g[ix] for g, ix in zip(data.fitout_cost, site_idx, strict=True)]
    )
    c_obj = cost_weight * site_cost
    if with_slack:
        assert shortfall_weight is not None
        w = np.concatenate([np.asarray(x, dtype=float) for x in shortfall_weight])
        # phase 1 minimises the shortfall; phase 2 only bounds it and minimises cost
        c_obj = np.r_[c_obj, w if max_shortfall is None else np.zeros(w.size)]
        if max_shortfall is not None:
            k = np.arange(w.size, dtype=np.int64)
            add(
                np.zeros(w.size, dtype=np.int64), slack_offsets[0] + k, w, 1, -np.inf, max_shortfall
            )

    A, row_lower, row_upper = rows.build()
    blocks = {"open": slice(0, n_s)}
    for key, a, b in zip(data.type_keys, offsets[:-1], offsets[1:], strict=True):
        blocks[f"build:{key}"] = slice(int(a), int(b))
    if with_slack:
        for key, a, b in zip(data.type_keys, slack_offsets[:-1], slack_offsets[1:], strict=True):
            blocks[f"short:{key}"] = slice(int(a), int(b))
    return MILP(
        c=c_obj,
        A=A,
        row_lower=row_lower,
        row_upper=row_upper,
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        sense="min",
        blocks=blocks,
        name=name,
    )


def decode(data: CoveringData, milp: MILP, x: np.ndarray) -> CoveringSolution:
    """Read opened sites and built (type, site) pairs from a solver's ``x``."""
    chosen = np.asarray(x) > 0.5
    built = {}
    for key, elig in zip(data.type_keys, data.eligible, strict=True):
        b = np.zeros(data.n_sites, dtype=bool)
        b[np.flatnonzero(elig)] = chosen[milp.blocks[f"build:{key}"]]
        built[key] = b
    opened = chosen[milp.blocks["open"]] | np.logical_or.reduce(list(built.values()))
    return CoveringSolution(opened=opened, built=built, cost=solution_cost(data, opened, built))


def solution_cost(data: CoveringData, opened: np.ndarray, built: dict[str, np.ndarray]) -> float:
    """Fixed costs of opened sites plus fit-out of every built facility."""
    total = float(data.fixed_cost[opened].sum())
    for key, g in zip(data.type_keys, data.fitout_cost, strict=True):
        total += float(g[built[key]].sum())
    return total


@dataclass
class CoveringOutcome:
    """A solved covering problem.

    ``left_uncovered`` maps each type to the block indices of cover rows that the plan leaves
    uncovered (non-empty only when covering every row at once is infeasible: then the plan
    first maximises weighted coverage, then minimises cost at that coverage).
    """

    result: Result
    milp: MILP
    solution: CoveringSolution
    left_uncovered: dict[str, np.ndarray]
    phases: list[Result]


def solve(
    data: CoveringData,
    backend: Backend,
    options: SolveOptions,
    shortfall_weight: list[np.ndarray] | None = None,
    name: str = "covering",
) -> CoveringOutcome:
    """Cover every row at least cost; if that is infeasible, solve lexicographically.

    Phase 1 maximises covered weight (minimises ``sum w u``); phase 2 minimises cost subject to
    the phase-1 shortfall. Build and solve times add up over the phases; the status is the
    weaker of the phases' (a FEASIBLE phase makes the answer FEASIBLE).
    """
    t0 = time.perf_counter()
    milp = build_model(data, name=name)
    build_s = time.perf_counter() - t0
    result = backend.solve(milp, options).replace(build_s=build_s)
    phases = [result]
    if result.status is Status.INFEASIBLE and shortfall_weight is not None:
        t0 = time.perf_counter()
        m1 = build_model(
            data, name=f"{name}:max-coverage", shortfall_weight=shortfall_weight, cost_weight=0.0
        )
        b1 = time.perf_counter() - t0
        r1 = backend.solve(m1, options).replace(build_s=b1)
        phases.append(r1)
        if not r1.status.has_solution:
            return CoveringOutcome(r1, m1, _empty_solution(data), {}, phases)
        best = float(r1.objective)
        t0 = time.perf_counter()
        milp = build_model(
            data,
            name=f"{name}:least-cost",
            shortfall_weight=shortfall_weight,
            max_shortfall=best * (1 + 1e-9) + 1e-9,
        )
        b2 = time.perf_counter() - t0
        r2 = backend.solve(milp, options).replace(build_s=b2)
        phases.append(r2)
        result = r2
        if r1.status is not Status.OPTIMAL and r2.status is Status.OPTIMAL:
            result = result.replace(
                status=Status.FEASIBLE, message="coverage phase stopped before proving optimality"
            )
    result = result.replace(
        build_s=sum(p.build_s for p in phases), solve_s=sum(p.solve_s for p in phases)
    )
    if not result.status.has_solution or result.x is None:
        return CoveringOutcome(result, milp, _empty_solution(data), {}, phases)
    solution = decode(data, milp, result.x)
    left = {
        key: rows[np.asarray(result.x)[milp.blocks[f"short:{key}"]] > 0.5]
        for key, rows in zip(data.type_keys, data.cover_rows, strict=True)
        if f"short:{key}" in milp.blocks
    }
    return CoveringOutcome(result, milp, solution, left, phases)


def _empty_solution(data: CoveringData) -> CoveringSolution:
    none = np.zeros(data.n_sites, dtype=bool)
    return CoveringSolution(none, {k: none.copy() for k in data.type_keys}, 0.0)


def coverage_points(instance: PlanningInstance, data: CoveringData) -> list[np.ndarray]:
    """Weight of each cover row: its target residents as a percentage of the type's total."""
    weights = []
    for key, rows in zip(data.type_keys, data.cover_rows, strict=True):
        t = instance.types[key]
        total = float(t.target.sum())
        weights.append(100.0 * t.target[rows] / total if total > 0 else np.zeros(rows.size))
    return weights
