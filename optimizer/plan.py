"""From a solved plan to what a planner reads: the ranked construction list, coverage, totals.

Coverage is capacity-aware: a block is served in the share of its need that facilities within
the walking limit have capacity for (existing facilities first); ``covered`` means served in
full. Residents served count in proportion to that share.

Ranking rule (documented in the README): rows are grouped by year (earliest first); within a
year, sites are ordered by *coverage points gained per yuan* (a type's points are its priority
times the percentage of its target residents newly served; the site's cost includes its opening
cost), highest first. A facility's ``newly_covered`` are the target residents whose service
rises in its year, shared among that year's new facilities serving the block in proportion to
the share each serves; per type and year these add up exactly to the rise in coverage.
``cumulative_coverage_pct`` is the mean over types of the share of target residents served.

Cost-effectiveness: ``cost_per_resident`` is a row's ``cost`` divided by its ``newly_covered``
(yuan per target resident newly served; blank when the row serves no new target resident).
``cost_flag`` marks the rows above their type's threshold (:func:`cost_thresholds`): the
catalog's ``cost_per_resident_flag`` when given, else the :data:`FLAG_PERCENTILE` th percentile
of the type's rows in this list, lowered to the type's ``max_cost_per_resident`` when that is
smaller; a row serving no new target resident (blank) is always flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.instance import PlanningInstance
from optimizer.messages import Message, message, phrasebook, render_parts
from optimizer.models.planning.model import (
    PlanningData,
    PlanningSolution,
    TypeData,
    coverage_weight,
    served_share,
    spending,
)

CONSTRUCTION_COLUMNS = [
    "rank",
    "year",
    "site_id",
    "site_name",
    "facility_type",
    "floor_area_m2",
    "capacity",
    "cost",
    "newly_covered",
    "cost_per_resident",
    "cost_flag",
    "cumulative_cost",
    "cumulative_coverage_pct",
    "reason",
    "essential",
    "status",
]
COMMITTED, PROPOSED = "committed", "proposed"
"""Values of the construction list's ``status``: a build decided before this plan (fixed in the
model, listed first, without a rank) or one this plan proposes (ranked)."""
COVERAGE_COLUMNS = [
    "block_id",
    "facility_type",
    "target_population",
    "covered_before",
    "covered_after",
    "walk_m",
    "served_by",
    "coverable",
    "need",
    "served_share_before",
    "served_share_after",
    "covered_from_year",
]
FLAG_PERCENTILE = 90.0
"""Without a catalog ``cost_per_resident_flag``, a type's rows above this percentile of their
cost per resident newly served are flagged (linear interpolation between rows)."""
SHARE_DECIMALS = 4
"""Decimals of the served shares in the coverage table; :func:`is_covered` uses the same."""


def rounded_share(share: np.ndarray) -> np.ndarray:
    """A served share as the coverage table shows it (:data:`SHARE_DECIMALS` decimals)."""
    return np.round(np.asarray(share, dtype=float), SHARE_DECIMALS)


def is_covered(share: np.ndarray) -> np.ndarray:
    """Covered = served in full *as shown*: the share rounds to 1. One tolerance for the
    ``covered_*`` flags and the ``served_share_*`` columns, so a block shown served 1.0 is
    always covered and one shown below 1.0 never is (the rounding is the tolerance:
    a share from 1 - 5e-5 on counts as full, absorbing the solver's feasibility tolerance)."""
    return rounded_share(share) >= 1.0


@dataclass(frozen=True)
class Plan:
    """The planner-facing answer: ranked list, per-block coverage, per-type and per-year totals."""

    construction_list: pd.DataFrame
    coverage: pd.DataFrame
    per_type: pd.DataFrame
    per_year: pd.DataFrame
    baseline_coverage_pct: float
    phrases: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    """The reasons' messages (English text -> messages, see :mod:`optimizer.messages`)."""
    cost_thresholds: dict[str, float] = field(default_factory=dict)
    """Per type with rows: the cost per resident above which a row is flagged (``cost_flag``)."""


def make_plan(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    baseline: dict[str, np.ndarray],
    essential: dict[int, Message] | None = None,
) -> Plan:
    """Rank the plan's facilities and tabulate coverage before, per year and after.

    ``baseline`` is each type's served share per block with existing facilities only;
    ``essential`` maps site indices to a message on what doing without the site costs.
    """
    served = served_share(data, sol)
    base_pct = float(np.mean([_pct(t, baseline[t.key]) for t in data.types]))
    rows = _facility_rows(instance, data, sol, served, baseline, essential or {})
    construction, reasons = _rank(rows, instance, data, base_pct)
    thresholds = cost_thresholds(instance, construction)
    construction = flag_costs(construction, thresholds)
    coverage = coverage_table(instance, data, sol, served, baseline)
    per_type = per_type_totals(instance, data, sol, served, baseline)
    per_year = per_year_totals(data, sol, served)
    return Plan(
        construction, coverage, per_type, per_year, base_pct, phrasebook(reasons), thresholds
    )


def cost_per_resident(cost: pd.Series, newly: pd.Series) -> pd.Series:
    """Yuan per target resident newly served; NaN (a blank cell) where none is served."""
    ratio = cost.astype(float) / newly.astype(float).where(newly > 0)
    return ratio.round(2)


def finite_or_none(value: float) -> float | None:
    """A number for JSON: None for NaN or infinity."""
    return float(value) if np.isfinite(value) else None


def cost_thresholds(instance: PlanningInstance, cl: pd.DataFrame) -> dict[str, float]:
    """Per type in the list: the cost per resident above which its rows are flagged (see the
    module docstring); NaN when the type has no finite value to take a percentile of."""
    out: dict[str, float] = {}
    for key, group in cl.groupby("facility_type", sort=False):
        ftype = instance.types[str(key)].ftype
        values = group["cost_per_resident"].dropna().to_numpy(float)
        if ftype.cost_per_resident_flag is not None:
            limit = ftype.cost_per_resident_flag
        elif values.size:
            limit = float(np.percentile(values, FLAG_PERCENTILE))
        else:
            limit = np.nan
        if ftype.max_cost_per_resident is not None:
            limit = float(np.fmin(limit, ftype.max_cost_per_resident))
        out[str(key)] = limit
    return out


def flag_costs(cl: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """``cl`` with ``cost_flag`` set: above its type's threshold, or serving no new resident."""
    limit = cl["facility_type"].map(thresholds).astype(float)
    cpr = cl["cost_per_resident"].astype(float)
    flag = (cpr > limit) | (cpr.isna() & (cl["cost"].astype(float) > 0))
    return cl.assign(cost_flag=flag.astype(bool))


def _pct(t: TypeData, share: np.ndarray) -> float:
    total = float(t.target.sum())
    return 100.0 * float(t.target @ share) / total if total > 0 else 100.0


def year_label(instance: PlanningInstance, data: PlanningData, s: int, period: int) -> int:
    """The plan year of a site converted in ``period`` (unphased: the site's available year;
    a committed site: its committed year, which may precede the plan)."""
    if data.committed is not None and np.isfinite(data.committed.year[s]):
        return int(data.committed.year[s])
    if data.years:
        return int(data.years[period])
    return int(instance.site_years[s])


def _newly_served(
    data: PlanningData,
    t: TypeData,
    sol: PlanningSolution,
    served: np.ndarray,
    baseline: np.ndarray,
) -> np.ndarray:
    """Target residents newly served per eligible site of ``t`` (attribution in the module doc)."""
    K = data.n_periods
    out = np.zeros(t.n_e)
    site_period = sol.open_period[t.sites]
    built = sol.built[t.key][t.sites]
    prev = baseline
    for k in range(K):
        rise = np.clip(served[k] - prev, 0.0, None)
        prev = served[k]
        new_pair = built[t.pair_site] & (site_period[t.pair_site] == k)
        z = np.where(new_pair, sol.serve[t.key][k], 0.0)
        per_block = np.bincount(t.pair_block, weights=z, minlength=data.n_blocks)
        frac = np.divide(z, per_block[t.pair_block], out=np.zeros_like(z), where=z > 0)
        out += np.bincount(
            t.pair_site, weights=frac * (rise * t.target)[t.pair_block], minlength=t.n_e
        )
    return out


def _facility_rows(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    served: dict[str, np.ndarray],
    baseline: dict[str, np.ndarray],
    essential: dict[int, Message],
) -> pd.DataFrame:
    """One row per (site, type) built, unranked, with the site's points and cost."""
    frames = []
    for t in data.types:
        built = sol.built[t.key][t.sites]
        if not built.any():
            continue
        e = np.flatnonzero(built)
        s = t.sites[e]
        area = sol.area[t.key][s]
        newly = _newly_served(data, t, sol, served[t.key], baseline[t.key])[e]
        sole = _sole_blocks(t)
        frames.append(
            pd.DataFrame(
                {
                    "site": s,
                    "type_order": data.type_keys.index(t.key),
                    "facility_type": t.key,
                    "period": sol.open_period[s],
                    "floor_area_m2": np.round(area, 1),
                    "capacity": np.round(area / t.area_per_unit, 1),
                    "fitout": t.rate[s] * area,
                    "newly_covered": newly,
                    "points": newly * coverage_weight(t),
                    "pct": 100.0 * newly / max(float(t.target.sum()), 1e-12),
                    "sole": [int(sole[(t.pair_site == ee)].sum()) for ee in e],
                }
            )
        )
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df["year"] = [
        year_label(instance, data, int(s), int(k)) for s, k in zip(df.site, df.period, strict=True)
    ]
    df["fixed"] = instance.fixed_cost[df["site"].to_numpy()]
    committed = data.committed.committed if data.committed is not None else None
    df["committed"] = committed[df["site"].to_numpy()] if committed is not None else False
    df["essential_note"] = pd.Series([essential.get(int(s)) for s in df["site"]], dtype=object)
    return df


def _sole_blocks(t: TypeData) -> np.ndarray:
    """Mask over ``t``'s site pairs: the block has no other candidate site and no existing
    facility within the limit."""
    counts = np.bincount(t.pair_block, minlength=t.target.size)
    has_existing = np.zeros(t.target.size, dtype=bool)
    has_existing[t.ex_block] = True
    return (counts[t.pair_block] == 1) & ~has_existing[t.pair_block] & (t.target[t.pair_block] > 0)


def _rank(
    rows: pd.DataFrame, instance: PlanningInstance, data: PlanningData, base_pct: float
) -> tuple[pd.DataFrame, list[list[Message]]]:
    """Order by year, then by the site's coverage points per yuan; format the columns.

    Returns the list and each row's reason as messages (the ``reason`` column in English).
    """
    if rows.empty:
        return pd.DataFrame(columns=CONSTRUCTION_COLUMNS), []
    site = rows.groupby("site").agg(points=("points", "sum"), fitout=("fitout", "sum"))
    site["cost"] = site["fitout"] + rows.groupby("site")["fixed"].first()
    ratio = site["points"] / site["cost"].clip(lower=1e-9)
    rows = rows.assign(ratio=rows["site"].map(ratio))
    # committed builds first (listed apart, unranked), then the proposed ones by the rule
    rows = rows.sort_values(
        ["committed", "year", "ratio", "site", "type_order"],
        ascending=[False, True, False, True, True],
        kind="stable",
    ).reset_index(drop=True)
    committed = rows["committed"].to_numpy(dtype=bool)
    rank = np.cumsum(~committed)
    first = ~rows["site"].duplicated()
    rows["cost"] = (rows["fitout"] + np.where(first, rows["fixed"], 0.0)).round(2)
    n_types = len(data.types)
    hosts: dict[Any, list[str]] = dict(rows.groupby("site")["facility_type"].agg(list))
    labels = {t.key: t for t in data.types}
    reasons = [
        _reason(r, labels[str(r.facility_type)], instance, hosts[r.site], bool(f))
        for r, f in zip(rows.itertuples(), first, strict=True)
    ]
    out = pd.DataFrame(
        {
            "rank": pd.array(
                [None if c else int(n) for c, n in zip(committed, rank, strict=True)],
                dtype="Int64",
            ),
            "year": pd.array(rows["year"].tolist(), dtype="Int64"),
            "site_id": instance.site_ids[rows["site"].to_numpy()],
            "site_name": instance.site_names[rows["site"].to_numpy()],
            "facility_type": rows["facility_type"],
            "floor_area_m2": rows["floor_area_m2"],
            "capacity": rows["capacity"],
            "cost": rows["cost"],
            "newly_covered": rows["newly_covered"].round(1),
            "cost_per_resident": cost_per_resident(rows["cost"], rows["newly_covered"].round(1)),
            "cost_flag": False,
            "cumulative_cost": rows["cost"].cumsum().round(2),
            "cumulative_coverage_pct": (base_pct + rows["pct"].cumsum() / n_types).round(4),
            "reason": [render_parts(parts, "en") for parts in reasons],
            "essential": rows["essential_note"].notna(),
            "status": np.where(committed, COMMITTED, PROPOSED),
        }
    )
    return out, reasons


def _reason(
    r: Any, t: TypeData, instance: PlanningInstance, hosts: list[str], first: bool
) -> list[Message]:
    """The row's reason in a planner's words, as messages (:mod:`optimizer.messages`)."""
    f_sole, newly, cap = int(r.sole), float(r.newly_covered), float(r.capacity)
    ftype = instance.types[t.key].ftype
    parts = [message("reason_committed", year=int(r.year))] if r.committed else []
    if f_sole:
        code = "reason_sole_one" if f_sole == 1 else "reason_sole_many"
        parts.append(message(code, limit=t.walk_limit, blocks=f_sole))
    parts.append(
        message(
            "reason_serves",
            capacity=cap,
            newly=newly,
            group=ftype.target_group,
            unit=ftype.capacity_unit,
        )
    )
    others = [h for h in hosts if h != t.key]
    if others:
        parts.append(
            message("reason_shares_site", types=others) if first else message("reason_co_located")
        )
    if isinstance(r.essential_note, Message):
        parts.append(r.essential_note)
    return parts


def _main_server(
    instance: PlanningInstance, t: TypeData, z: np.ndarray, zq: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per block: the id of the facility serving the largest share, and the walk to it."""
    blocks = np.r_[t.pair_block, t.ex_block]
    share = np.r_[z, zq]
    dist = np.r_[t.pair_dist, t.ex_dist]
    ids = np.r_[
        instance.site_ids[t.sites[t.pair_site]] if t.n_p else np.zeros(0, dtype=object),
        instance.existing_ids[t.ex_index[t.ex_fac]] if t.n_q else np.zeros(0, dtype=object),
    ].astype(object)
    served_by = np.full(n_blocks, None, dtype=object)
    walk = np.full(n_blocks, np.nan)
    keep = share > 1e-9
    if keep.any():
        # largest share first, then shortest walk: the last write per block wins
        order = np.lexsort((-dist[keep], share[keep]))
        b = blocks[keep][order]
        served_by[b] = ids[keep][order]
        walk[b] = dist[keep][order]
    return served_by, walk


def coverage_table(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    served: dict[str, np.ndarray],
    baseline: dict[str, np.ndarray],
) -> pd.DataFrame:
    """One row per block and facility type (DESIGN.md contract plus served shares)."""
    frames = []
    K = data.n_periods
    for t in data.types:
        final = served[t.key][K - 1]
        by, walk = _main_server(
            instance, t, sol.serve[t.key][K - 1], sol.serve_existing[t.key][K - 1], data.n_blocks
        )
        before = is_covered(baseline[t.key])
        full = is_covered(served[t.key])
        first = np.where(full.any(axis=0), full.argmax(axis=0), -1)
        years = np.asarray(data.years) if data.years else None
        from_year = pd.array(
            [
                None if k < 0 or years is None or before[b] else int(years[k])
                for b, k in enumerate(first)
            ],
            dtype="Int64",
        )
        frames.append(
            pd.DataFrame(
                {
                    "block_id": instance.block_ids,
                    "facility_type": t.key,
                    "target_population": t.target,
                    "covered_before": before,
                    "covered_after": is_covered(final),
                    "walk_m": np.round(walk, 1),
                    "served_by": by,
                    "coverable": t.reachable | (t.target <= 0),
                    "need": np.round(t.need, 2),
                    "served_share_before": rounded_share(baseline[t.key]),
                    "served_share_after": rounded_share(final),
                    "covered_from_year": from_year,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[COVERAGE_COLUMNS]


def per_type_totals(
    instance: PlanningInstance,
    data: PlanningData,
    sol: PlanningSolution,
    served: dict[str, np.ndarray],
    baseline: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Per type: target residents, served before/after, capacity needed and built, cost."""
    rows = []
    K = data.n_periods
    for t in data.types:
        b = sol.built[t.key]
        unreachable = (t.target > 0) & ~t.reachable
        rows.append(
            {
                "facility_type": t.key,
                "target_group": instance.types[t.key].ftype.target_label,
                "target_total": float(t.target.sum()),
                "covered_before": float(t.target @ baseline[t.key]),
                "covered_after": float(t.target @ served[t.key][K - 1]),
                "uncoverable_blocks": int(unreachable.sum()),
                "uncoverable_residents": float(t.target[unreachable].sum()),
                "facilities_built": int(b.sum()),
                "capacity_built": float(sol.area[t.key][b].sum() / t.area_per_unit),
                "capacity_needed": float(t.need.sum()),
                "fitout_cost": float((t.rate[b] * sol.area[t.key][b]).sum()),
            }
        )
    df = pd.DataFrame(rows)
    total = df["target_total"].where(df["target_total"] > 0)
    df["covered_before_pct"] = 100 * df["covered_before"] / total
    df["covered_after_pct"] = 100 * df["covered_after"] / total
    return df


def per_year_totals(
    data: PlanningData, sol: PlanningSolution, served: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Per plan year: spending, budget, and coverage per type (percent of target residents)."""
    spent = spending(data, sol)
    # sites committed before the plan years were opened then, not in the first plan year
    prior = data.committed.prior if data.committed is not None else np.zeros(data.n_sites, bool)
    rows = []
    for k in range(data.n_periods):
        row: dict[str, object] = {
            "year": int(data.years[k]) if data.years else None,
            "spent": float(spent[k]),
            "budget": float(data.budgets[k]) if data.budgets is not None else None,
            "sites_opened": int(((sol.open_period == k) & ~prior).sum()),
        }
        for t in data.types:
            row[f"coverage_pct:{t.key}"] = round(_pct(t, served[t.key][k]), 4)
        rows.append(row)
    return pd.DataFrame(rows)
