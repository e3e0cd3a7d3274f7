r"""The planning model: several facility types at once, shared sites, capacities from the age
structure, annual budgets and years.

Formulation
-----------
Plan years :math:`k = 1..K`, candidate sites :math:`s`, facility types :math:`t`, blocks
:math:`b`. :math:`E_t` are the sites eligible for type :math:`t` (allowed and large enough);
:math:`P_t` the pairs :math:`p = (b, s)`, :math:`s \in E_t`, within the type's walking limit;
:math:`Q_t` the pairs :math:`(b, e)` with an existing facility :math:`e` of the type within the
limit. Data: fixed cost :math:`f_s` (paid once, in the year the site is converted), fit-out
:math:`g_{ts}` per m², floor area :math:`F_s`, facility size bounds :math:`m_t \le M_t` (m²),
floor area per unit of capacity :math:`u_t`, capacity need :math:`n_{tb}` and target residents
:math:`T_{tb}` of each block (from its age structure and the standards), existing capacity
:math:`C_e`, budgets :math:`B_k`.

Variables: :math:`y_{sk} \in \{0,1\}` (site converted in year :math:`k`; fixed to 0 before its
available year), :math:`x_{tsk} \in \{0,1\}` (a facility of type :math:`t` built there that
year), :math:`a_{tsk} \ge 0` (its floor area) and :math:`z_{tpk} \in [0, 1]` (the share of block
:math:`b`'s need served through pair :math:`p` in year :math:`k`; binary for types whose demand
may not be split).

.. math::

    & \textstyle\sum_k y_{sk} \le 1,\quad x_{tsk} \le y_{sk}
        && \text{one conversion per site; its facilities share its year} \\
    & m_t\, x_{tsk} \le a_{tsk} \le \min(M_t, F_s)\, x_{tsk}
        && \text{facility size} \\
    & \textstyle\sum_t a_{tsk} \le F_s\, y_{sk}
        && \text{floor area (sites where types could overflow)} \\
    & \textstyle\sum_{p=(b,s)} n_{tb} z_{tpk} \le u_t^{-1} \sum_{k' \le k} a_{tsk'}
        && \text{capacity of new facilities} \\
    & \textstyle\sum_{p=(b,e)} n_{tb} z_{tpk} \le C_e
        && \text{capacity of existing facilities} \\
    & \textstyle\sum_{p \ni b} z_{tpk} \le 1,\quad
      z_{tpk} \le \sum_{k' \le k} x_{tsk'}
        && \text{served once, only by what is built} \\
    & \textstyle\sum_s f_s y_{sk} + \sum_{t,s} g_{ts} a_{tsk} \le B_k
        && \text{annual budget (cumulative sums with carry-over)} \\
    & \textstyle\sum_{p} T_{tb} z_{tpk} \ge \tau_{tk}\, \bar T_t
        && \text{coverage targets} \\
    & a_{tsk} = \sigma_t\, n_{tsk},\quad n_{tsk} \in \mathbb{Z}_{\ge 0}
        && \text{standard sizes: a step } \sigma_t \\
    & a_{tsk} = \textstyle\sum_c A_{tc} w_{tskc},\quad \sum_c w_{tskc} = x_{tsk},\quad
      w_{tskc} \in \{0,1\}
        && \text{standard sizes: classes } A_{tc} \\
    & g_{ts} a_{tsk} + f_s x_{tsk} \le \rho_t \textstyle\sum_{p=(b,s)} T_{tb} z_{tpk}
        && \text{most cost per resident served}

Standard sizes (catalog ``size_step_m2`` / ``size_classes_m2``): a type with a step builds
multiples of it (an integer :math:`n_{tsk}` up to :math:`\lfloor \min(M_t, F_s) / \sigma_t
\rfloor`), a type with size classes builds exactly one of the classes that fit the site
(one binary per class, classes larger than the site fixed to 0); the size bounds
:math:`m_t x \le a \le \min(M_t, F_s) x` stay, and capacity is still :math:`a / u_t`. A type
with neither may take any size between its bounds.

Cost per resident (catalog ``max_cost_per_resident`` :math:`\rho_t`, optional): one row per
(type, eligible site, year). A facility's cost is its fit-out plus its site's *whole* opening
cost :math:`f_s` (on a shared site every type carries it in full: the split is a choice, and
counting it whole keeps the row linear and holds every construction-list row, which shows the
opening cost on one of them); the residents it serves are the target residents of the blocks it
serves in its build year, :math:`\sum_{p=(b,s)} T_{tb} z_{tpk}`. In other years :math:`a_{tsk}
= x_{tsk} = 0` and the row is void.

A block counts as *covered* in proportion to the share of its need that is served, so covered
residents are :math:`\sum_p T_{tb} z_{tpk}`; :math:`\bar T_t` are the type's target residents
that some candidate or existing facility reaches ("coverable").

Objectives (:class:`Objective`), solved lexicographically by
:mod:`optimizer.models.planning.solve`, each later one at no loss in the
earlier ones:

* ``cost``: :math:`\min \sum_{s,k} f_s y_{sk} + \sum_{t,s,k} g_{ts} a_{tsk}`;
* ``coverage``: :math:`\max \sum_k \sum_t (100\, \pi_t / T_t) \sum_p T_{tb} z_{tpk}`:
  coverage points summed over the years, where a type's points are its priority :math:`\pi_t`
  times the percentage of its target residents (:math:`T_t` in all) that are served. Summed over
  the years this counts covered resident-years, so coverage grows as early as the budgets allow;
* ``walk``: :math:`\min \sum_{t,p,k} n_{tb} (d_p + L_t [p \text{ new}]) z_{tpk}`, the walk of
  the served need, where a new facility is charged the walking limit :math:`L_t` extra so that
  existing facilities serve first.

``min_cost_cover`` requires every coverable block to be served in full in the last year
(:math:`\sum_{p \ni b} z_{tpK} \ge 1`) and minimises cost; ``max_coverage`` maximises coverage
under the budgets and then minimises cost. Every block of rows is assembled from index arrays
in one step; loops run only over facility types and year pairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from optimizer.catalog import SIZE_RTOL, standard_sizes
from optimizer.instance import PlanningInstance
from optimizer.milp import MILP, RowBuilder

log = logging.getLogger(__name__)

Method = Literal["auto", "mip", "decomposition"]
Objective = Literal["cost", "coverage", "walk"]
OBJECTIVE_SENSE: dict[str, str] = {"cost": "min", "coverage": "max", "walk": "min"}
# Later lexicographic phases keep earlier objectives within this relative slack (rounding).
LEX_RTOL = 1e-7


@dataclass(frozen=True)
class TypeData:
    """One facility type's arrays.

    Attributes
    ----------
    key : str
    priority : float
        Weight of one covered target resident in the coverage objective.
    area_per_unit, min_area, max_area : float
        m² per unit of capacity; facility size bounds (m²).
    walk_limit : float
    split : bool
        May a block's need be shared between facilities (else single sourcing).
    rate : ndarray (n_sites,)
        Fit-out cost per m² at each site.
    sites : ndarray of int (n_e,)
        Eligible sites (global indices); local index ``e`` below refers to this array.
    target, need : ndarray (n_blocks,)
        Target residents and capacity need per block.
    pair_block, pair_site, pair_dist : ndarray (n_p,)
        Block, local eligible-site index and distance of each pair within the limit.
    ex_block, ex_fac, ex_dist : ndarray (n_q,)
        Block, local existing-facility index and distance of each pair within the limit.
    ex_capacity : ndarray (n_ex,)
        Capacity of each existing facility of the type (its unit).
    ex_index : ndarray of int (n_ex,)
        Global index of each existing facility (for decoding).
    size_step : float or None
        Standard sizes: multiples of this area (None: any size within the bounds).
    size_classes : tuple of float
        Standard sizes: exactly these areas (when given, ``size_step`` is not used).
    max_cost_per_resident : float or None
        Most a facility may cost per target resident it serves (None: no limit).
    """

    key: str
    priority: float
    area_per_unit: float
    min_area: float
    max_area: float
    walk_limit: float
    split: bool
    rate: np.ndarray
    sites: np.ndarray
    target: np.ndarray
    need: np.ndarray
    pair_block: np.ndarray
    pair_site: np.ndarray
    pair_dist: np.ndarray
    ex_block: np.ndarray
    ex_fac: np.ndarray
    ex_dist: np.ndarray
    ex_capacity: np.ndarray
    ex_index: np.ndarray
    target_label: str = "target residents"
    size_step: float | None = None
    size_classes: tuple[float, ...] = ()
    max_cost_per_resident: float | None = None

    @property
    def n_e(self) -> int:
        return int(self.sites.size)

    @property
    def n_p(self) -> int:
        return int(self.pair_block.size)

    @property
    def n_q(self) -> int:
        return int(self.ex_block.size)

    @property
    def reachable(self) -> np.ndarray:
        """Blocks with target residents that some candidate or existing facility reaches."""
        hit = np.zeros(self.target.size, dtype=bool)
        hit[self.pair_block] = True
        hit[self.ex_block] = True
        return hit & (self.target > 0)

    @property
    def coverable_target(self) -> float:
        return float(self.target[self.reachable].sum())

    @property
    def size_width(self) -> int:
        """Size columns per (site, year): 1 for a step, one per class, 0 for any size."""
        if self.size_classes:
            return len(self.size_classes)
        return 1 if self.size_step is not None else 0

    def standard_area(self, area: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """The smallest standard size at least ``area`` that fits ``cap`` (else the largest
        that fits; ``area`` itself for a type without standard sizes)."""
        area = np.asarray(area, dtype=float)
        if not self.size_width:
            return area
        tol = SIZE_RTOL * np.maximum(area, 1.0)
        if self.size_classes:
            c = np.asarray(self.size_classes)
            fits = c[None, :] <= cap[:, None] * (1 + SIZE_RTOL)
            up = fits & (c[None, :] >= area[:, None] - tol[:, None])
            first_up = np.where(up.any(axis=1), up.argmax(axis=1), -1)
            largest = fits.sum(axis=1) - 1
            idx = np.where(first_up >= 0, first_up, np.maximum(largest, 0))
            return np.asarray(c[idx], dtype=float)
        step = float(self.size_step)  # type: ignore[arg-type]
        top = np.floor(cap / step + SIZE_RTOL) * step
        return np.asarray(np.minimum(np.ceil(area / step - SIZE_RTOL) * step, top), dtype=float)


@dataclass(frozen=True)
class Commitments:
    """Builds decided before this plan (fixed in the model) and sites the plan may not use.

    Attributes
    ----------
    period : ndarray of int (n_sites,)
        Plan period in which each committed site is converted (-1: not committed). A site
        committed in a year before the first plan year is converted in period 0.
    prior : ndarray of bool (n_sites,)
        Committed before the first plan year: paid from earlier budgets, so its cost is in no
        plan year's spending (it is still listed, as committed, with its cost).
    year : ndarray (n_sites,)
        The committed year of each site (NaN: none given, or not committed).
    built : dict type -> bool ndarray (n_sites,)
        The committed types of each site; a committed site hosts exactly these.
    area : dict type -> ndarray (n_sites,)
        Committed floor area (NaN: the model sizes it within the type's limits).
    excluded : ndarray of bool (n_sites,)
        Sites the plan may not use.
    """

    period: np.ndarray
    prior: np.ndarray
    year: np.ndarray
    built: dict[str, np.ndarray]
    area: dict[str, np.ndarray]
    excluded: np.ndarray

    @property
    def committed(self) -> np.ndarray:
        """Mask of committed sites."""
        return self.period >= 0

    def subset(self, sites: np.ndarray) -> Commitments:
        """The commitments of some sites (for a model restricted to them)."""
        return Commitments(
            period=self.period[sites],
            prior=self.prior[sites],
            year=self.year[sites],
            built={k: v[sites] for k, v in self.built.items()},
            area={k: v[sites] for k, v in self.area.items()},
            excluded=self.excluded[sites],
        )


@dataclass(frozen=True)
class PlanningData:
    """Arrays of one planning problem (no tables, no geometry).

    Attributes
    ----------
    fixed_cost, floor_area : ndarray (n_sites,)
    first_period : ndarray of int (n_sites,)
        First year index in which the site may be converted (``n_periods`` = never).
    types : list of TypeData
    n_blocks : int
    years : list of int or None
        Plan years (labels of the periods); None for an unphased plan (one period).
    budgets : ndarray (n_periods,) or None
        Spending limit per year.
    carry_over : bool
        Unspent budget carries over to later years (the limits apply to cumulative sums).
    targets : ndarray (n_periods, n_types)
        Coverage target per year and type as a share of coverable target residents (NaN: none).
    committed : Commitments or None
        Builds fixed before solving and excluded sites (see :func:`with_commitments`).
    """

    fixed_cost: np.ndarray
    floor_area: np.ndarray
    first_period: np.ndarray
    types: list[TypeData]
    n_blocks: int
    years: list[int] | None = None
    budgets: np.ndarray | None = None
    carry_over: bool = False
    targets: np.ndarray | None = None
    committed: Commitments | None = None

    @property
    def n_sites(self) -> int:
        return int(self.fixed_cost.size)

    @property
    def n_periods(self) -> int:
        return len(self.years) if self.years else 1

    @property
    def type_keys(self) -> list[str]:
        return [t.key for t in self.types]

    def with_changes(self, **changes: object) -> PlanningData:
        """A copy with some fields replaced (e.g. budgets removed for a diagnosis)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def from_instance(
    instance: PlanningInstance,
    years: list[int] | None = None,
    budgets: np.ndarray | None = None,
    carry_over: bool = False,
    targets: np.ndarray | None = None,
    priorities: dict[str, float] | None = None,
) -> PlanningData:
    """The planning data of an instance.

    Without ``years`` the plan has one period and every site may be used (the construction
    list then shows each site's available year). With ``years``, a site is available from the
    first plan year at or after its ``available_year``.
    """
    S = instance.n_sites
    if years:
        avail = np.asarray(instance.site_years, dtype=float)
        avail = np.where(np.isnan(avail), years[0], avail)
        first = np.searchsorted(np.asarray(years, dtype=float), avail, side="left")
    else:
        first = np.zeros(S, dtype=np.int64)
    types = []
    for key, ta in instance.types.items():
        f = ta.ftype
        sites = np.flatnonzero(ta.eligible)
        local = np.full(S, -1, dtype=np.int64)
        local[sites] = np.arange(sites.size)
        reach = ta.reach
        ok = local[reach.cols] >= 0
        ex_index = np.unique(ta.existing_reach.cols)
        ex_local = np.full(max(int(instance.existing_capacity.size), 1), -1, dtype=np.int64)
        ex_local[ex_index] = np.arange(ex_index.size)
        er = ta.existing_reach
        types.append(
            TypeData(
                key=key,
                priority=float((priorities or {}).get(key, f.priority)),
                area_per_unit=f.area_per_unit_m2,
                min_area=f.min_area_m2,
                max_area=f.max_area_m2,
                walk_limit=f.walk_limit_m,
                split=f.split_demand,
                rate=ta.fitout_rate,
                sites=sites,
                target=ta.target,
                need=ta.need,
                pair_block=reach.rows[ok].astype(np.int64),
                pair_site=local[reach.cols[ok]],
                pair_dist=reach.dist[ok].astype(float),
                ex_block=er.rows.astype(np.int64),
                ex_fac=ex_local[er.cols],
                ex_dist=er.dist.astype(float),
                ex_capacity=instance.existing_capacity[ex_index],
                ex_index=ex_index,
                target_label=f.target_label,
                size_step=f.size_step_m2,
                size_classes=f.size_classes_m2,
                max_cost_per_resident=f.max_cost_per_resident,
            )
        )
    return PlanningData(
        fixed_cost=instance.fixed_cost,
        floor_area=instance.floor_area,
        first_period=np.asarray(first, dtype=np.int64),
        types=types,
        n_blocks=instance.n_blocks,
        years=list(years) if years else None,
        budgets=None if budgets is None else np.asarray(budgets, dtype=float),
        carry_over=carry_over,
        targets=targets,
    )


def with_commitments(data: PlanningData, commitments: Commitments | None) -> PlanningData:
    """``data`` with builds fixed and sites excluded: an excluded site is never available
    (its first period is past the plan); the committed builds are fixed through the column
    bounds of :func:`build_model`."""
    if commitments is None:
        return data
    first = np.where(commitments.excluded, data.n_periods, data.first_period)
    return data.with_changes(committed=commitments, first_period=first.astype(np.int64))


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Column positions: ``[y | per type: x, a, z (site pairs), q (existing pairs) | per type:
    standard-size columns]``, each block ordered period-major; a type's size columns hold
    ``size_width`` columns per (year, eligible site), site-major (none for a type of any
    size), after every other column so that the others keep their places."""

    n_sites: int
    n_periods: int
    x0: list[int]
    a0: list[int]
    z0: list[int]
    q0: list[int]
    n: int
    s0: tuple[int, ...] = ()

    @classmethod
    def of(cls, data: PlanningData) -> Layout:
        k = data.n_periods
        pos = data.n_sites * k
        x0, a0, z0, q0 = [], [], [], []
        for t in data.types:
            x0.append(pos)
            pos += k * t.n_e
            a0.append(pos)
            pos += k * t.n_e
            z0.append(pos)
            pos += k * t.n_p
            q0.append(pos)
            pos += k * t.n_q
        s0 = []
        for t in data.types:
            s0.append(pos)
            pos += k * t.n_e * t.size_width
        return cls(data.n_sites, k, x0, a0, z0, q0, pos, tuple(s0))

    def y(self, k: int | np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.asarray(k) * self.n_sites + s

    def blocks(self, data: PlanningData) -> dict[str, slice]:
        out = {"open": slice(0, self.n_sites * self.n_periods)}
        k = self.n_periods
        for i, t in enumerate(data.types):
            out[f"build:{t.key}"] = slice(self.x0[i], self.x0[i] + k * t.n_e)
            out[f"area:{t.key}"] = slice(self.a0[i], self.a0[i] + k * t.n_e)
            out[f"serve:{t.key}"] = slice(self.z0[i], self.z0[i] + k * t.n_p)
            out[f"serve_existing:{t.key}"] = slice(self.q0[i], self.q0[i] + k * t.n_q)
            if t.size_width:
                out[f"size:{t.key}"] = slice(self.s0[i], self.s0[i] + k * t.n_e * t.size_width)
        return out


def _per_period(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Period and item index of every (period, item) entry, period-major."""
    return np.repeat(np.arange(k), n), np.tile(np.arange(n), k)


# --------------------------------------------------------------------------- model


def build_model(data: PlanningData, must_cover: bool, name: str = "planning") -> MILP:
    """Compile the constraints of the planning model (objective: cost; see :func:`objective`).

    ``must_cover`` adds "every coverable block served in full in the last year".
    """
    lay = Layout.of(data)
    K, S = lay.n_periods, lay.n_sites
    rows = RowBuilder(lay.n)
    add = rows.add
    col_upper = np.ones(lay.n)
    integrality = np.zeros(lay.n, dtype=bool)

    # y: one conversion per site, none before the site is available
    kk, ss = _per_period(S, K)
    add(ss, lay.y(kk, ss), np.ones(kk.size), S, -np.inf, 1.0)
    col_upper[lay.y(kk, ss)] = (kk >= data.first_period[ss]).astype(float)
    integrality[: S * K] = True

    floor_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for i, t in enumerate(data.types):
        _type_rows(data, lay, i, t, add, col_upper, integrality, must_cover, floor_parts)

    _floor_rows(data, lay, add, floor_parts)
    if data.budgets is not None:
        _budget_rows(data, lay, add)

    col_lower = np.zeros(lay.n)
    if data.committed is not None:
        _fix_committed(data, data.committed, lay, col_lower, col_upper)

    A, lo, up = rows.build()
    return MILP(
        c=cost_vector(data, lay),
        A=A,
        row_lower=lo,
        row_upper=up,
        col_lower=col_lower,
        col_upper=col_upper,
        integrality=integrality,
        sense="min",
        blocks=lay.blocks(data),
        name=name,
    )


def _type_rows(
    data: PlanningData,
    lay: Layout,
    i: int,
    t: TypeData,
    add: object,
    col_upper: np.ndarray,
    integrality: np.ndarray,
    must_cover: bool,
    floor_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    """Rows of one facility type: link, size, capacity, service, strong link, targets."""
    assert callable(add)
    K = lay.n_periods
    n_e, n_p, n_q = t.n_e, t.n_p, t.n_q
    x = lambda k, e: lay.x0[i] + k * n_e + e  # noqa: E731
    a = lambda k, e: lay.a0[i] + k * n_e + e  # noqa: E731
    z = lambda k, p: lay.z0[i] + k * n_p + p  # noqa: E731
    q = lambda k, j: lay.q0[i] + k * n_q + j  # noqa: E731

    ke, ee = _per_period(n_e, K)
    site = t.sites[ee]
    integrality[x(ke, ee)] = True
    cap_area = np.minimum(t.max_area, data.floor_area[t.sites])
    col_upper[x(ke, ee)] = (ke >= data.first_period[site]).astype(float)
    col_upper[a(ke, ee)] = cap_area[ee]
    one = np.ones(ke.size)
    r = np.arange(ke.size)
    # x_tsk <= y_sk
    add(np.r_[r, r], np.r_[x(ke, ee), lay.y(ke, site)], np.r_[one, -one], r.size, -np.inf, 0.0)
    # m x <= a <= min(M, F) x
    add(
        np.r_[r, r], np.r_[a(ke, ee), x(ke, ee)], np.r_[one, -t.min_area * one], r.size, 0.0, np.inf
    )
    add(np.r_[r, r], np.r_[a(ke, ee), x(ke, ee)], np.r_[one, -cap_area[ee]], r.size, -np.inf, 0.0)
    floor_parts.append((ke, site, a(ke, ee)))
    _size_rows(data, lay, i, t, cap_area, add, col_upper, integrality)
    if t.max_cost_per_resident is not None:
        _cost_per_resident_rows(data, lay, i, t, add)

    # capacity of new facilities: need * z - (1/u) * cumulative area <= 0
    kp, pp = _per_period(n_p, K)
    cap_r = [kp * n_e + t.pair_site[pp]]
    cap_c = [z(kp, pp)]
    cap_v = [t.need[t.pair_block[pp]]]
    link_r, link_c, link_v = [np.arange(kp.size)], [z(kp, pp)], [np.ones(kp.size)]
    for k in range(K):
        for k2 in range(k + 1):
            e = np.arange(n_e)
            cap_r.append(k * n_e + e)
            cap_c.append(a(k2, e))
            cap_v.append(np.full(n_e, -1.0 / t.area_per_unit))
            p = np.arange(n_p)
            link_r.append(k * n_p + p)
            link_c.append(x(k2, t.pair_site[p]))
            link_v.append(-np.ones(n_p))
    add(np.concatenate(cap_r), np.concatenate(cap_c), np.concatenate(cap_v), K * n_e, -np.inf, 0.0)
    # strong link: z_tpk <= sum_{k' <= k} x_tsk'
    add(
        np.concatenate(link_r),
        np.concatenate(link_c),
        np.concatenate(link_v),
        K * n_p,
        -np.inf,
        0.0,
    )
    if not t.split:
        integrality[z(kp, pp)] = True

    # capacity of existing facilities
    kq, qq = _per_period(n_q, K)
    n_ex = int(t.ex_capacity.size)
    if n_q:
        add(
            kq * n_ex + t.ex_fac[qq],
            q(kq, qq),
            t.need[t.ex_block[qq]],
            K * n_ex,
            -np.inf,
            np.tile(t.ex_capacity, K),
        )
        if not t.split:
            integrality[q(kq, qq)] = True

    # service: each block at most once (in full in the last year when it must be covered)
    B = data.n_blocks
    lower = np.zeros((K, B))
    if must_cover:
        lower[K - 1] = t.reachable
    add(
        np.r_[kp * B + t.pair_block[pp], kq * B + t.ex_block[qq]],
        np.r_[z(kp, pp), q(kq, qq)],
        np.ones(kp.size + kq.size),
        K * B,
        lower.ravel(),
        1.0,
    )

    # coverage targets: covered target residents >= share * coverable target residents
    if data.targets is not None:
        goal = data.targets[:, i] * t.coverable_target
        ks = np.flatnonzero(~np.isnan(goal))
        if ks.size:
            row_of = np.full(K, -1)
            row_of[ks] = np.arange(ks.size)
            sel_p, sel_q = np.isin(kp, ks), np.isin(kq, ks)
            add(
                np.r_[row_of[kp[sel_p]], row_of[kq[sel_q]]],
                np.r_[z(kp[sel_p], pp[sel_p]), q(kq[sel_q], qq[sel_q])],
                np.r_[t.target[t.pair_block[pp[sel_p]]], t.target[t.ex_block[qq[sel_q]]]],
                ks.size,
                goal[ks] * (1 - 1e-9),
                np.inf,
            )


def _fix_committed(
    data: PlanningData,
    com: Commitments,
    lay: Layout,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
) -> None:
    """Fix the committed builds through column bounds: each committed site converted in its
    period (and in no other), its committed types built there (no other type), at their
    committed floor areas where given (else sized by the model within the type's limits)."""
    sites = np.flatnonzero(com.committed)
    if not sites.size:
        return
    K = lay.n_periods
    kk = np.arange(K)[:, None]
    now = kk == com.period[sites][None, :]  # (K, n committed sites)
    cols = lay.y(kk, sites[None, :])
    col_lower[cols] = now
    col_upper[cols] = now
    for i, t in enumerate(data.types):
        local = np.flatnonzero(com.committed[t.sites])
        if not local.size:
            continue
        s = t.sites[local]
        build = (kk == com.period[s][None, :]) & com.built[t.key][s][None, :]
        x_cols = lay.x0[i] + kk * t.n_e + local[None, :]
        col_lower[x_cols] = build
        col_upper[x_cols] = build
        area = np.broadcast_to(com.area[t.key][s][None, :], build.shape)
        a_cols = lay.a0[i] + kk * t.n_e + local[None, :]
        sized = build & ~np.isnan(area)
        # a committed facility the model sizes is at least the type's minimum (implied by the
        # size rows; as a bound it keeps the build when its decisions are switched off)
        col_lower[a_cols[build & ~sized]] = t.min_area
        col_lower[a_cols[sized]] = area[sized]
        col_upper[a_cols[sized]] = area[sized]


def _size_rows(
    data: PlanningData,
    lay: Layout,
    i: int,
    t: TypeData,
    cap_area: np.ndarray,
    add: object,
    col_upper: np.ndarray,
    integrality: np.ndarray,
) -> None:
    """Standard sizes: ``a = step * n`` (n integer), or ``a = sum_c A_c w_c`` and
    ``sum_c w_c = x`` (one binary per class that fits the site).

    A committed facility whose floor area was decided before the plan keeps that area, standard
    or not (an earlier programme): its slots get no size rows and their size columns stay 0.
    """
    assert callable(add)
    W = t.size_width
    if not W:
        return
    K, n_e = lay.n_periods, t.n_e
    ke, ee = _per_period(n_e, K)
    fixed = decided_size(data, t)[ee]
    slot = ke[fixed] * n_e + ee[fixed]
    col_upper[(lay.s0[i] + slot[:, None] * W + np.arange(W)[None, :]).ravel()] = 0.0
    ke, ee = ke[~fixed], ee[~fixed]
    a_col = lay.a0[i] + ke * n_e + ee
    x_col = lay.x0[i] + ke * n_e + ee
    r = np.arange(ke.size)
    one = np.ones(ke.size)
    if not t.size_classes:
        step = float(t.size_step)  # type: ignore[arg-type]
        n_col = lay.s0[i] + ke * n_e + ee
        integrality[n_col] = True
        col_upper[n_col] = np.floor(cap_area[ee] / step + SIZE_RTOL)
        add(np.r_[r, r], np.r_[a_col, n_col], np.r_[one, -step * one], r.size, 0.0, 0.0)
        return
    sizes = np.asarray(t.size_classes, dtype=float)
    w_col = lay.s0[i] + (ke * n_e + ee)[:, None] * W + np.arange(W)[None, :]
    integrality[w_col] = True
    col_upper[w_col] = (sizes[None, :] <= cap_area[ee][:, None] * (1 + SIZE_RTOL)).astype(float)
    rr = np.repeat(r, W)
    # a - sum_c A_c w_c = 0
    add(
        np.r_[r, rr],
        np.r_[a_col, w_col.ravel()],
        np.r_[one, -np.tile(sizes, r.size)],
        r.size,
        0.0,
        0.0,
    )
    # sum_c w_c - x = 0
    add(np.r_[rr, r], np.r_[w_col.ravel(), x_col], np.r_[np.ones(rr.size), -one], r.size, 0.0, 0.0)


def decided_size(data: PlanningData, t: TypeData) -> np.ndarray:
    """Mask over ``t``'s eligible sites: a committed facility of ``t`` with its floor area given
    (decided before the plan; kept as it is, standard size or not)."""
    com = data.committed
    if com is None or t.key not in com.area:
        return np.zeros(t.n_e, dtype=bool)
    return np.asarray(com.committed[t.sites] & ~np.isnan(com.area[t.key][t.sites]))


def _cost_per_resident_rows(
    data: PlanningData, lay: Layout, i: int, t: TypeData, add: object
) -> None:
    """``g a_tsk + f_s x_tsk - rho_t sum_{p=(b,s)} T_b z_tpk <= 0`` per (eligible site, year);
    committed sites are decided already and get no row (the row stays empty)."""
    assert callable(add) and t.max_cost_per_resident is not None
    K, n_e, n_p = lay.n_periods, t.n_e, t.n_p
    com = data.committed
    free = ~com.committed[t.sites] if com is not None else np.ones(n_e, dtype=bool)
    ke, ee = _per_period(n_e, K)
    ke, ee = ke[free[ee]], ee[free[ee]]
    kp, pp = _per_period(n_p, K)
    on = free[t.pair_site[pp]]
    kp, pp = kp[on], pp[on]
    site = t.sites[ee]
    add(
        np.r_[ke * n_e + ee, ke * n_e + ee, kp * n_e + t.pair_site[pp]],
        np.r_[
            lay.a0[i] + ke * n_e + ee,
            lay.x0[i] + ke * n_e + ee,
            lay.z0[i] + kp * n_p + pp,
        ],
        np.r_[
            t.rate[site],
            data.fixed_cost[site],
            -t.max_cost_per_resident * t.target[t.pair_block[pp]],
        ],
        K * n_e,
        -np.inf,
        0.0,
    )


def _floor_rows(
    data: PlanningData,
    lay: Layout,
    add: object,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    """sum_t a_tsk <= F_s y_sk, only at sites where the eligible types could overflow."""
    assert callable(add)
    could = np.zeros(data.n_sites)
    for t in data.types:
        np.add.at(could, t.sites, np.minimum(t.max_area, data.floor_area[t.sites]))
    tight = could > data.floor_area + 1e-9
    if not tight.any():
        return
    S, K = lay.n_sites, lay.n_periods
    row_of = np.full(S, -1)
    row_of[tight] = np.arange(int(tight.sum()))
    n_t = int(tight.sum())
    kk, ss = _per_period(S, K)
    keep = tight[ss]
    r = [kk[keep] * n_t + row_of[ss[keep]]]
    c = [lay.y(kk[keep], ss[keep])]
    v = [-data.floor_area[ss[keep]]]
    for k_arr, site, cols in parts:
        sel = tight[site]
        r.append(k_arr[sel] * n_t + row_of[site[sel]])
        c.append(cols[sel])
        v.append(np.ones(int(sel.sum())))
    add(np.concatenate(r), np.concatenate(c), np.concatenate(v), K * n_t, -np.inf, 0.0)


def _budget_rows(data: PlanningData, lay: Layout, add: object) -> None:
    """Spending per year within its budget (cumulative with carry-over)."""
    assert callable(add) and data.budgets is not None
    K = lay.n_periods
    c = budget_cost_vector(data, lay)
    period = period_of_columns(data, lay)
    cols = np.flatnonzero((c != 0) & (period >= 0))
    if data.carry_over:
        # row k holds every cost of periods <= k
        r = np.concatenate([np.full(int((period[cols] <= k).sum()), k) for k in range(K)])
        cc = np.concatenate([cols[period[cols] <= k] for k in range(K)])
        add(r, cc, c[cc], K, -np.inf, np.cumsum(data.budgets))
    else:
        add(period[cols], cols, c[cols], K, -np.inf, data.budgets)


def period_of_columns(data: PlanningData, lay: Layout) -> np.ndarray:
    """Year index of every column (all columns are period-major within their block)."""
    out = np.full(lay.n, -1, dtype=np.int64)
    K = lay.n_periods
    out[: lay.n_sites * K] = np.repeat(np.arange(K), lay.n_sites)
    for i, t in enumerate(data.types):
        for start, n in ((lay.x0[i], t.n_e), (lay.a0[i], t.n_e), (lay.z0[i], t.n_p)):
            out[start : start + K * n] = np.repeat(np.arange(K), n)
        out[lay.q0[i] : lay.q0[i] + K * t.n_q] = np.repeat(np.arange(K), t.n_q)
        w = t.n_e * t.size_width
        out[lay.s0[i] : lay.s0[i] + K * w] = np.repeat(np.arange(K), w)
    return out


def cost_vector(data: PlanningData, lay: Layout | None = None) -> np.ndarray:
    """Cost of each column: fixed cost on ``y``, fit-out per m² on ``a``."""
    lay = lay or Layout.of(data)
    c = np.zeros(lay.n)
    c[: lay.n_sites * lay.n_periods] = np.tile(data.fixed_cost, lay.n_periods)
    for i, t in enumerate(data.types):
        c[lay.a0[i] : lay.a0[i] + lay.n_periods * t.n_e] = np.tile(t.rate[t.sites], lay.n_periods)
    return c


def budget_cost_vector(data: PlanningData, lay: Layout | None = None) -> np.ndarray:
    """:func:`cost_vector` as the budgets count it: builds committed before the first plan
    year were paid from earlier budgets and cost nothing in this plan's years."""
    lay = lay or Layout.of(data)
    c = cost_vector(data, lay)
    if data.committed is None or not data.committed.prior.any():
        return c
    prior = data.committed.prior
    K = lay.n_periods
    c[: lay.n_sites * K] = np.where(np.tile(prior, K), 0.0, c[: lay.n_sites * K])
    for i, t in enumerate(data.types):
        sl = slice(lay.a0[i], lay.a0[i] + K * t.n_e)
        c[sl] = np.where(np.tile(prior[t.sites], K), 0.0, c[sl])
    return c


def coverage_weight(t: TypeData) -> float:
    """Coverage points of one served target resident of ``t``: ``100 * priority / T_t``.

    So a type's points are its priority times the percentage of its target residents served;
    each type counts by its priority, whatever the size of its target group (otherwise the
    whole population served by shops would swamp the 60+ residents served by elder care).
    """
    total = float(t.target.sum())
    return 100.0 * t.priority / total if total > 0 else 0.0


def coverage_vector(data: PlanningData, lay: Layout | None = None) -> np.ndarray:
    """Coverage points on every service column, summed over the years (point-years)."""
    lay = lay or Layout.of(data)
    c = np.zeros(lay.n)
    K = lay.n_periods
    for i, t in enumerate(data.types):
        w = coverage_weight(t)
        c[lay.z0[i] : lay.z0[i] + K * t.n_p] = np.tile(w * t.target[t.pair_block], K)
        c[lay.q0[i] : lay.q0[i] + K * t.n_q] = np.tile(w * t.target[t.ex_block], K)
    return c


def walk_vector(data: PlanningData, lay: Layout | None = None) -> np.ndarray:
    """Walk of the served need; a new facility is charged its type's walking limit on top."""
    lay = lay or Layout.of(data)
    c = np.zeros(lay.n)
    K = lay.n_periods
    for i, t in enumerate(data.types):
        new = t.need[t.pair_block] * (t.pair_dist + t.walk_limit)
        c[lay.z0[i] : lay.z0[i] + K * t.n_p] = np.tile(new, K)
        c[lay.q0[i] : lay.q0[i] + K * t.n_q] = np.tile(t.need[t.ex_block] * t.ex_dist, K)
    return c


def objective(data: PlanningData, kind: Objective, lay: Layout | None = None) -> np.ndarray:
    """The objective vector of ``kind`` (see the module docstring)."""
    return {"cost": cost_vector, "coverage": coverage_vector, "walk": walk_vector}[kind](data, lay)


def tiebreak_weight(data: PlanningData, primary: Objective, secondary: Objective) -> float:
    """Weight of a tie-breaking objective: its largest possible value is worth 1e-4 coverage
    points (when coverage is primary) or one yuan (when cost is), so it never buys a worse
    primary value beyond that."""
    c2 = np.abs(objective(data, secondary))
    top = float(c2.sum()) if secondary != "cost" else _cost_scale(data, c2)
    unit = 1e-4 if primary == "coverage" else 1.0
    return unit / top if top > 0 else 0.0


def _cost_scale(data: PlanningData, c: np.ndarray) -> float:
    """A cap on any plan's cost: the budgets when given, else every site at full size."""
    if data.budgets is not None:
        return float(np.sum(data.budgets))
    area_cost = sum(
        float((t.rate[t.sites] * np.minimum(t.max_area, data.floor_area[t.sites])).sum())
        for t in data.types
    )
    return float(data.fixed_cost.sum()) + area_cost


def with_objective(milp: MILP, c: np.ndarray, sense: str, name: str) -> MILP:
    """The same constraints with another objective."""
    return replace(milp, c=c, sense=sense, name=name)  # type: ignore[arg-type]


def with_row(milp: MILP, coeffs: np.ndarray, lower: float, upper: float) -> MILP:
    """The model plus one dense-coefficient row (kept sparse)."""
    row = sp.csr_matrix(coeffs.reshape(1, -1))
    return replace(
        milp,
        A=sp.vstack([milp.A, row], format="csr"),
        row_lower=np.r_[milp.row_lower, lower],
        row_upper=np.r_[milp.row_upper, upper],
    )


def fixed_builds(milp: MILP, x: np.ndarray) -> MILP:
    """The model with every build decision (open, build, area) fixed to ``x``'s values."""
    lo, up = milp.col_lower.copy(), milp.col_upper.copy()
    for name, sl in milp.blocks.items():
        if name.startswith("area:"):
            v = np.clip(x[sl], lo[sl], up[sl])
        elif name == "open" or name.startswith(("build:", "size:")):
            v = np.round(x[sl])
        else:
            continue
        lo[sl] = v
        up[sl] = v
    return replace(milp, col_lower=lo, col_upper=up)


# --------------------------------------------------------------------------- solution


@dataclass(frozen=True)
class PlanningSolution:
    """What to build, when, and who is served.

    Attributes
    ----------
    open_period : ndarray of int (n_sites,)
        Year index in which each site is converted, -1 if unused.
    built : dict type -> bool ndarray (n_sites,)
    area : dict type -> ndarray (n_sites,), floor area of the facility (0 if none)
    serve : dict type -> ndarray (n_periods, n_p), served share of each site pair
    serve_existing : dict type -> ndarray (n_periods, n_q)
    """

    open_period: np.ndarray
    built: dict[str, np.ndarray]
    area: dict[str, np.ndarray]
    serve: dict[str, np.ndarray]
    serve_existing: dict[str, np.ndarray]

    @property
    def opened(self) -> np.ndarray:
        return self.open_period >= 0


def decode(data: PlanningData, milp: MILP, x: np.ndarray) -> PlanningSolution:
    """Read the plan from a solver's ``x`` (rounding binaries; tiny shares cleaned)."""
    x = np.asarray(x, dtype=float)
    K, S = data.n_periods, data.n_sites
    y = x[milp.blocks["open"]].reshape(K, S) > 0.5
    open_period = np.where(y.any(axis=0), y.argmax(axis=0), -1)
    built, area, serve, serve_ex = {}, {}, {}, {}
    for t in data.types:
        xb = x[milp.blocks[f"build:{t.key}"]].reshape(K, t.n_e) > 0.5
        ab = x[milp.blocks[f"area:{t.key}"]].reshape(K, t.n_e)
        # a binary within the solver's integrality tolerance of 1 (0.9999995) lets the area sit
        # that far below the minimum size (349.9998 m2 for 350): the facility is built, so its
        # area is held to the size bounds it was built with
        cap = np.minimum(t.max_area, data.floor_area[t.sites])
        ab = np.clip(ab, t.min_area, cap)
        # the same tolerance leaves a standard size a hair off (349.99998 m2 for 350): snap it
        ab = np.where(decided_size(data, t)[None, :], ab, _nearest_standard(t, ab, cap))
        b = np.zeros(S, dtype=bool)
        b[t.sites] = xb.any(axis=0)
        ar = np.zeros(S)
        ar[t.sites] = np.where(xb, ab, 0.0).sum(axis=0)
        built[t.key], area[t.key] = b, ar
        zs = np.clip(x[milp.blocks[f"serve:{t.key}"]].reshape(K, t.n_p), 0.0, 1.0)
        zq = np.clip(x[milp.blocks[f"serve_existing:{t.key}"]].reshape(K, t.n_q), 0.0, 1.0)
        serve[t.key] = np.where(zs < 1e-7, 0.0, zs)
        serve_ex[t.key] = np.where(zq < 1e-7, 0.0, zq)
    # A site converted with no facility on it only spends money (a time-limited incumbent can
    # hold one): drop it. The plan stays feasible and serves the same blocks.
    hosts = np.logical_or.reduce(list(built.values())) if built else np.zeros(S, dtype=bool)
    open_period = np.where(hosts, open_period, -1)
    return PlanningSolution(open_period, built, area, serve, serve_ex)


def _nearest_standard(t: TypeData, area: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Each area moved to the nearest standard size of ``t`` within the site's cap."""
    if not t.size_width:
        return area
    sizes = (
        np.asarray(t.size_classes, dtype=float)
        if t.size_classes
        else standard_sizes(t.size_step, (), t.min_area, float(np.max(cap, initial=t.min_area)))
    )
    if sizes.size == 0:
        return area
    flat = area.reshape(-1, 1)
    dist = np.abs(flat - sizes[None, :]) + np.where(
        sizes[None, :] > np.broadcast_to(cap, area.shape).reshape(-1, 1) * (1 + SIZE_RTOL),
        np.inf,
        0.0,
    )
    best = sizes[np.argmin(dist, axis=1)]
    return np.where(np.isfinite(dist.min(axis=1)), best, flat[:, 0]).reshape(area.shape)


def encode(data: PlanningData, sol: PlanningSolution) -> np.ndarray | None:
    """The model's column vector of a plan (the inverse of :func:`decode`), to warm-start a
    solve; ``None`` when the plan was made for another layout (other sites, pairs or years).

    A plan for the same places under a smaller budget is feasible under a larger one, so a
    budget sweep can start each solve from the previous budget's plan. Facility areas that are
    not standard sizes (a heuristic's exact need) are raised to the next standard size that
    fits the site, so the start keeps its capacity (it may then cost more).
    """
    lay = Layout.of(data)
    K, S = data.n_periods, data.n_sites
    if sol.open_period.shape != (S,) or int(sol.open_period.max(initial=-1)) >= K:
        return None
    x = np.zeros(lay.n)
    opened = np.flatnonzero(sol.opened)
    x[lay.y(sol.open_period[opened], opened)] = 1.0
    for i, t in enumerate(data.types):
        serve, serve_ex = sol.serve.get(t.key), sol.serve_existing.get(t.key)
        if (
            t.key not in sol.built
            or serve is None
            or serve_ex is None
            or serve.shape != (K, t.n_p)
            or serve_ex.shape != (K, t.n_q)
        ):
            return None
        e = np.flatnonzero(sol.built[t.key][t.sites])
        k = sol.open_period[t.sites[e]]
        if (k < 0).any():
            return None
        x[lay.x0[i] + k * t.n_e + e] = 1.0
        cap = np.minimum(t.max_area, data.floor_area[t.sites[e]])
        area = t.standard_area(sol.area[t.key][t.sites[e]], cap)
        x[lay.a0[i] + k * t.n_e + e] = area
        _encode_size(x, lay, i, t, k * t.n_e + e, area)
        x[lay.z0[i] : lay.z0[i] + K * t.n_p] = serve.ravel()
        x[lay.q0[i] : lay.q0[i] + K * t.n_q] = serve_ex.ravel()
    return x


def _encode_size(
    x: np.ndarray, lay: Layout, i: int, t: TypeData, slot: np.ndarray, area: np.ndarray
) -> None:
    """Set the standard-size columns of the facilities at ``slot`` (year * n_e + site)."""
    if not t.size_width:
        return
    if not t.size_classes:
        x[lay.s0[i] + slot] = np.round(area / float(t.size_step))  # type: ignore[arg-type]
        return
    c = np.argmin(np.abs(area[:, None] - np.asarray(t.size_classes)[None, :]), axis=1)
    x[lay.s0[i] + slot * t.size_width + c] = 1.0


def served_share(data: PlanningData, sol: PlanningSolution) -> dict[str, np.ndarray]:
    """Served share of each block's need, per type and year: ``(n_periods, n_blocks)``."""
    out = {}
    for t in data.types:
        share = np.zeros((data.n_periods, data.n_blocks))
        for k in range(data.n_periods):
            share[k] = np.bincount(
                t.pair_block, weights=sol.serve[t.key][k], minlength=data.n_blocks
            ) + np.bincount(
                t.ex_block, weights=sol.serve_existing[t.key][k], minlength=data.n_blocks
            )
        out[t.key] = np.minimum(share, 1.0)
    return out


def spending(data: PlanningData, sol: PlanningSolution) -> np.ndarray:
    """Cost per year index (fixed cost in the conversion year, fit-out by area); builds
    committed before the first plan year are left out (see :func:`prior_cost`)."""
    out = np.zeros(data.n_periods)
    counted = _not_prior(data)
    opened = sol.opened & counted
    np.add.at(out, sol.open_period[opened], data.fixed_cost[opened])
    for t in data.types:
        b = sol.built[t.key] & counted
        np.add.at(out, sol.open_period[b], t.rate[b] * sol.area[t.key][b])
    return out


def prior_cost(data: PlanningData, sol: PlanningSolution) -> float:
    """Cost of the builds committed before the first plan year (paid from earlier budgets)."""
    prior = ~_not_prior(data)
    total = float(data.fixed_cost[prior & sol.opened].sum())
    for t in data.types:
        b = sol.built[t.key] & prior
        total += float((t.rate[b] * sol.area[t.key][b]).sum())
    return total


def _not_prior(data: PlanningData) -> np.ndarray:
    """Mask of sites whose cost counts in the plan years' spending."""
    if data.committed is None:
        return np.ones(data.n_sites, dtype=bool)
    return ~data.committed.prior
