"""From a solved plan to what a planner reads: the ranked construction list and coverage.

Ranking rule (documented in the README): the chosen sites are ordered greedily by *coverage
gained per yuan*: at each step, the next site is the one whose facilities add the most coverage
points per yuan of its cost, recomputed after each pick, given the existing facilities and the
sites ranked before it. A site's coverage points are, summed over the types it hosts, the target
residents it newly brings within the walking limit divided by that type's target residents in
the whole area; so every prefix of the list is a good plan for its cumulative cost, and each
type counts equally whatever the size of its target group. ``cumulative_coverage_pct`` is the
same measure in percent: the mean over facility types of the share of target residents covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from optimizer.instance import PlanningInstance, TypeArrays

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
    "cumulative_cost",
    "cumulative_coverage_pct",
    "reason",
]
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
]


@dataclass(frozen=True)
class Plan:
    """The planner-facing answer: ranked list, per-block coverage, per-type totals."""

    construction_list: pd.DataFrame
    coverage: pd.DataFrame
    per_type: pd.DataFrame
    baseline_coverage_pct: float


def make_plan(instance: PlanningInstance, opened: np.ndarray, built: dict[str, np.ndarray]) -> Plan:
    """Rank the chosen sites and tabulate coverage before and after."""
    order, gains = rank_sites(instance, built)
    construction = construction_list(instance, built, order)
    coverage = coverage_table(instance, built)
    per_type = per_type_totals(instance, built, coverage)
    baseline = float(np.mean([_share(t, t.covered_before) for t in instance.types.values()]) * 100)
    del opened, gains  # opened is implied by built; gains are recomputed per row
    return Plan(construction, coverage, per_type, baseline)


def _share(t: TypeArrays, covered: np.ndarray) -> float:
    total = float(t.target.sum())
    return float(t.target[covered].sum()) / total if total > 0 else 1.0


def _built_reach(t: TypeArrays, built: np.ndarray) -> sp.csc_matrix:
    """Blocks x sites 0/1 matrix of pairs within the limit, restricted to built sites."""
    return t.reach.filter(col_mask=built).reach_matrix().tocsc()


def rank_sites(
    instance: PlanningInstance, built: dict[str, np.ndarray]
) -> tuple[list[int], list[float]]:
    """Greedy order of the chosen sites by coverage points gained per yuan (see module doc)."""
    types = list(instance.types.values())
    reach = [_built_reach(t, built[t.key]) for t in types]
    weight = [
        t.target / t.target.sum() if t.target.sum() > 0 else np.zeros_like(t.target) for t in types
    ]
    covered = [t.covered_before.copy() for t in types]
    site_cost = instance.fixed_cost.copy()
    for t in types:
        site_cost += np.where(built[t.key], t.fitout_cost, 0.0)
    remaining = np.logical_or.reduce([built[t.key] for t in types])
    order: list[int] = []
    gains: list[float] = []
    while remaining.any():
        gain = np.zeros(instance.n_sites)
        for r, w, cov in zip(reach, weight, covered, strict=True):
            gain += r.T @ np.where(cov, 0.0, w)
        ratio = np.where(remaining, gain / np.maximum(site_cost, 1e-9), -np.inf)
        best = int(np.argmax(ratio))  # ties: lowest index, deterministic
        order.append(best)
        gains.append(float(gain[best]))
        remaining[best] = False
        for r, cov in zip(reach, covered, strict=True):
            cov[r[:, best].indices] = True
    return order, gains


def construction_list(
    instance: PlanningInstance, built: dict[str, np.ndarray], order: list[int]
) -> pd.DataFrame:
    """One row per (site, facility type) to build, in rank order, with reasons."""
    types = instance.types
    covered = {k: t.covered_before.copy() for k, t in types.items()}
    hosts = {s: [k for k in types if built[k][s]] for s in order}
    sole = {k: _sole_pairs(t) for k, t in types.items()}
    rows = []
    for s in order:
        for i, key in enumerate(hosts[s]):
            t = types[key]
            blocks = t.reach.rows[(t.reach.cols == s)]
            new = np.unique(blocks[~covered[key][blocks]])
            newly = float(t.target[new].sum())
            covered[key][new] = True
            cost = float(t.fitout_cost[s]) + (float(instance.fixed_cost[s]) if i == 0 else 0.0)
            pct = np.mean([_share(types[k], covered[k]) for k in types]) * 100
            rows.append(
                {
                    "year": instance.site_years[s],
                    "site_id": instance.site_ids[s],
                    "site_name": instance.site_names[s],
                    "facility_type": key,
                    "floor_area_m2": t.ftype.build_area_m2,
                    "capacity": t.ftype.build_capacity,
                    "cost": round(cost, 2),
                    "newly_covered": newly,
                    "cumulative_coverage_pct": round(float(pct), 4),
                    "reason": _reason(t, s, new, sole[key], hosts[s], i),
                }
            )
    df = pd.DataFrame(
        rows, columns=[c for c in CONSTRUCTION_COLUMNS if c not in ("rank", "cumulative_cost")]
    )
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df.insert(
        CONSTRUCTION_COLUMNS.index("cumulative_cost"),
        "cumulative_cost",
        df["cost"].cumsum().round(2),
    )
    df["year"] = pd.array(df["year"].tolist(), dtype="Int64")
    return df[CONSTRUCTION_COLUMNS]


def _sole_pairs(t: TypeArrays) -> np.ndarray:
    """Mask over ``t.reach`` pairs: the block is unserved and this is its only eligible site."""
    rows = t.reach.rows
    unserved = t.unserved[rows]
    counts = np.bincount(rows[unserved], minlength=t.target.shape[0])
    return unserved & (counts[rows] == 1)


def _reason(
    t: TypeArrays, s: int, new: np.ndarray, sole: np.ndarray, hosts: list[str], i: int
) -> str:
    f = t.ftype
    n_new, people = len(new), float(t.target[new].sum())
    limit = f"{f.walk_limit_m:g} m"
    only = t.reach.rows[sole & (t.reach.cols == s)]
    if only.size:
        text = (
            f"only candidate site within {limit} of {only.size} block{'s' * (only.size != 1)} "
            f"({t.target[only].sum():,.0f} {f.target_label})"
        )
        if n_new > only.size:
            text += f"; newly covers {n_new} blocks ({people:,.0f} {f.target_label}) in all"
    else:
        text = (
            f"newly covers {n_new} block{'s' * (n_new != 1)} ({people:,.0f} {f.target_label}) "
            f"within {limit} at the lowest cost"
        )
    others = [h for h in hosts if h != t.key]
    if others:
        text += (
            "; shares the site and its opening cost with " + ", ".join(others)
            if i == 0
            else "; co-located: the site's opening cost is counted on its first row"
        )
    return text


def coverage_table(instance: PlanningInstance, built: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per block and facility type: covered before/after, walk and serving facility."""
    frames = []
    for key, t in instance.types.items():
        new_pairs = t.reach.filter(col_mask=built[key])
        ex_idx, ex_dist = t.existing_reach.nearest()
        new_idx, new_dist = new_pairs.nearest()
        use_new = (new_idx >= 0) & ((ex_idx < 0) | (new_dist < ex_dist))
        served_by = np.where(
            use_new,
            instance.site_ids[np.maximum(new_idx, 0)] if instance.n_sites else "",
            np.where(
                ex_idx >= 0,
                instance.existing_ids[np.maximum(ex_idx, 0)] if instance.existing_ids.size else "",
                "",
            ),
        )
        walk = np.where(use_new, new_dist, ex_dist)
        frames.append(
            pd.DataFrame(
                {
                    "block_id": instance.block_ids,
                    "facility_type": key,
                    "target_population": t.target,
                    "covered_before": t.covered_before,
                    "covered_after": (ex_idx >= 0) | (new_idx >= 0),
                    "walk_m": np.round(walk, 1),
                    "served_by": served_by,
                    "coverable": t.covered_before | t.coverable,
                    "need": np.round(t.need, 2),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[COVERAGE_COLUMNS]


def per_type_totals(
    instance: PlanningInstance, built: dict[str, np.ndarray], coverage: pd.DataFrame
) -> pd.DataFrame:
    """Per type: target residents, covered before/after, uncoverable, facilities, cost."""
    rows = []
    for key, t in instance.types.items():
        cov = coverage[coverage["facility_type"] == key]
        target = cov["target_population"].to_numpy()
        rows.append(
            {
                "facility_type": key,
                "target_group": t.ftype.target_label,
                "target_total": float(target.sum()),
                "covered_before": float(target[cov["covered_before"].to_numpy()].sum()),
                "covered_after": float(target[cov["covered_after"].to_numpy()].sum()),
                "uncoverable_blocks": int(t.uncoverable.sum()),
                "uncoverable_residents": float(t.target[t.uncoverable].sum()),
                "facilities_built": int(built[key].sum()),
                "fitout_cost": float(t.fitout_cost[built[key]].sum()),
            }
        )
    df = pd.DataFrame(rows)
    df["covered_before_pct"] = (
        100 * df["covered_before"] / df["target_total"].where(df["target_total"] > 0)
    )
    df["covered_after_pct"] = (
        100 * df["covered_after"] / df["target_total"].where(df["target_total"] > 0)
    )
    return df
