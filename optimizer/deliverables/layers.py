"""What the deliverables are made from, and the layers and tables every writer reads.

:class:`RunOutputs` is a run's tables, summary, inputs and distance engine; from it come the
geometry of the maps and the GeoPackage (:func:`map_layers`, with the service areas) and the
tables the report and the workbook share (:func:`coverage_wide`, :func:`per_area_table`,
:func:`year_totals`). The writers (:mod:`.maps`, :mod:`.report`, :mod:`.workbook`) import
this module; :mod:`.write` imports them all, so nothing here imports a writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from optimizer.catalog import FacilityType
from optimizer.distances.base import DistanceEngine
from optimizer.distances.network import NetworkEngine
from optimizer.inputs import Inputs
from optimizer.progress import task
from optimizer.runs import run_id
from optimizer.scenario import Scenario

log = logging.getLogger(__name__)


class PlanTables(Protocol):
    """A plan's three tables (e.g. :class:`optimizer.plan.Plan`); column contracts in DESIGN.md."""

    @property
    def construction_list(self) -> pd.DataFrame: ...

    @property
    def coverage(self) -> pd.DataFrame: ...

    @property
    def per_type(self) -> pd.DataFrame: ...


@dataclass
class RunOutputs:
    """What the deliverables are made from: a run's tables and summary, with its inputs.

    Attributes
    ----------
    scenario : Scenario
    inputs : Inputs
        The validated input tables (geometry and ``x``/``y`` in the scenario CRS).
    construction_list, coverage, per_type : DataFrame
        The plan's tables (column contracts in DESIGN.md).
    summary : dict
        ``summary.json`` as written.
    comparison : DataFrame, optional
        A budget sweep's comparison table (one row per scenario); see
        :mod:`optimizer.deliverables.report`.
    notes : list of str
        Extra notes for the report.
    engine : DistanceEngine, optional
        The distance engine the run computed its distances with. A street-network engine
        draws the service areas along the streets from its own network and snaps; without
        one, a ``network`` run's service areas fall back to circles.
    """

    scenario: Scenario
    inputs: Inputs
    construction_list: pd.DataFrame
    coverage: pd.DataFrame
    per_type: pd.DataFrame
    summary: dict[str, Any]
    comparison: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    engine: DistanceEngine | None = None

    @classmethod
    def from_plan(
        cls,
        scenario: Scenario,
        inputs: Inputs,
        plan: PlanTables,
        summary: dict[str, Any],
        comparison: pd.DataFrame | None = None,
        engine: DistanceEngine | None = None,
    ) -> RunOutputs:
        """From a plan's tables, the run's summary and (for the service areas) its engine."""
        return cls(
            scenario,
            inputs,
            plan.construction_list,
            plan.coverage,
            plan.per_type,
            summary,
            comparison,
            engine=engine,
        )

    @cached_property
    def types(self) -> list[str]:
        """The facility types planned, in the scenario's order."""
        found = list(dict.fromkeys(self.coverage["facility_type"].astype(str)))
        order = [t for t in self.scenario.facility_types if t in found]
        return order + [t for t in found if t not in order]

    def ftype(self, key: str) -> FacilityType | None:
        """The catalog entry of a type (after the scenario's overrides)."""
        return self.scenario.catalog.get(key)

    @cached_property
    def run_id(self) -> str:
        """This run's id in the run catalogue (see :func:`optimizer.runs.run_id`)."""
        return run_id(self.summary)


# --------------------------------------------------------------------------- geometry


@dataclass
class MapLayers:
    """The geometry of a run for maps and the GeoPackage, all in the scenario CRS.

    Attributes
    ----------
    blocks : GeoDataFrame
        ``block_id``, ``name``, ``area_type``, geometry (polygon or point).
    chosen : GeoDataFrame
        The construction list's rows with the site's point (and ``kind``).
    existing : GeoDataFrame
        ``facility_id``, ``name``, ``type``, ``capacity``, point.
    service_areas : GeoDataFrame
        ``kind`` (``new`` | ``existing``), ``facility_id``, ``facility_type``, polygon: the
        area within the type's walking limit of each facility.
    streets : ndarray (n, 2, 2) or None
        Street segments for a faint background, when the scenario has a network.
    service_area_method : str
        How the service areas were drawn (for the map's caption).
    """

    blocks: gpd.GeoDataFrame
    chosen: gpd.GeoDataFrame
    existing: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    streets: np.ndarray | None
    service_area_method: str


def map_layers(run: RunOutputs) -> MapLayers:
    """Geometry of the blocks, chosen sites, existing facilities, streets and service areas."""
    inputs = run.inputs
    crs = inputs.crs
    blocks = gpd.GeoDataFrame(
        inputs.blocks[["block_id", "name", "area_type"]].copy(),
        geometry=inputs.blocks.geometry.to_numpy(),
        crs=crs,
    )
    sites = inputs.sites.set_index("site_id")
    cl = run.construction_list
    site_ids = cl["site_id"].astype(str).to_numpy()
    chosen = gpd.GeoDataFrame(
        cl.reset_index(drop=True).assign(kind=sites["kind"].reindex(site_ids).to_numpy()),
        geometry=shapely.points(
            sites["x"].reindex(site_ids).to_numpy(), sites["y"].reindex(site_ids).to_numpy()
        ),
        crs=crs,
    )
    ex = inputs.existing
    existing = gpd.GeoDataFrame(
        ex[["facility_id", "name", "type", "capacity"]].reset_index(drop=True),
        geometry=shapely.points(ex["x"].to_numpy(float), ex["y"].to_numpy(float)),
        crs=crs,
    )
    streets = None
    if isinstance(run.engine, NetworkEngine):
        network = run.engine.network
        streets = np.stack([network.node_xy[network.u], network.node_xy[network.v]], axis=1)
    method = service_area_method(run)
    if _distance_mode(run) == "network" and method != "network":
        log.warning(
            "the run's street-network engine was not handed to the deliverables: service "
            "areas are drawn as circles (walking limit / detour factor)"
        )
    areas = service_areas(run, chosen, existing, method)
    return MapLayers(blocks, chosen, existing, areas, streets, method)


def service_area_method(run: RunOutputs) -> str:
    """How the service areas are drawn: ``network``, ``table`` or ``euclidean`` (circles).

    ``network`` needs the run's street-network engine (:attr:`RunOutputs.engine`); a network
    run handed without it gets circles rather than reading the streets again.
    """
    mode = _distance_mode(run)
    if mode == "network" and not isinstance(run.engine, NetworkEngine):
        return "euclidean"
    return mode if mode in ("network", "table") else "euclidean"


def _distance_mode(run: RunOutputs) -> str:
    return str(run.summary.get("distance_mode") or run.scenario.distances.mode)


def service_areas(
    run: RunOutputs, chosen: gpd.GeoDataFrame, existing: gpd.GeoDataFrame, method: str
) -> gpd.GeoDataFrame:
    """The walking reach of the new and of the existing facilities of each planned type.

    One (multi)polygon per type and kind (``new`` | ``existing``), drawn by ``method``
    (:func:`service_area_method`): ``network``: the streets reachable within the type's limit
    from any such facility, 25 m either side (:meth:`NetworkEngine.service_area`, on the run's
    own network and snaps); ``euclidean``: circles of radius limit / detour factor; ``table``:
    the convex hull of the blocks each facility serves (buffered 30 m), since a table has no
    geometry of the walks.
    """
    fac = pd.concat(
        [
            pd.DataFrame(
                {
                    "kind": "new",
                    "facility_id": chosen["site_id"].astype(str),
                    "facility_type": chosen["facility_type"].astype(str),
                    "x": chosen.geometry.x,
                    "y": chosen.geometry.y,
                }
            ),
            pd.DataFrame(
                {
                    "kind": "existing",
                    "facility_id": existing["facility_id"].astype(str),
                    "facility_type": existing["type"].astype(str),
                    "x": existing.geometry.x,
                    "y": existing.geometry.y,
                }
            ),
        ],
        ignore_index=True,
    )
    fac = fac[fac["facility_type"].isin(run.types)]
    detour = float(run.summary.get("detour_factor") or run.scenario.distances.detour_factor)
    rows = []
    groups = list(fac.groupby(["facility_type", "kind"], sort=False))
    with task("service areas", total=len(groups)) as advance:
        for (key, kind), part in groups:
            limit = _walk_limit(run, str(key))
            xy = part[["x", "y"]].to_numpy(float)
            if method == "network" and isinstance(run.engine, NetworkEngine):
                geom = run.engine.service_area(xy, limit)
            elif method == "table":
                geom = shapely.union_all(_served_hulls(run, part))
            else:
                geom = shapely.union_all(shapely.buffer(shapely.points(xy), limit / detour))
            rows.append(
                {
                    "facility_type": key,
                    "kind": kind,
                    "facilities": len(part),
                    "walk_limit_m": limit,
                    "method": method,
                    "geometry": geom,
                }
            )
            advance(1)
    columns = ["facility_type", "kind", "facilities", "walk_limit_m", "method", "geometry"]
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=columns), geometry="geometry", crs=run.inputs.crs
    )


def _walk_limit(run: RunOutputs, key: str) -> float:
    ftype = run.ftype(key)
    standards = run.summary.get("standards") or {}
    if key in standards and standards[key].get("walk_limit_m") is not None:
        return float(standards[key]["walk_limit_m"])
    return float(ftype.walk_limit_m) if ftype is not None else float("nan")


def _served_hulls(run: RunOutputs, fac: pd.DataFrame) -> np.ndarray:
    """Per facility: the convex hull of the blocks it serves (mode ``table``)."""
    blocks = run.inputs.blocks.set_index("block_id")
    cov = run.coverage.dropna(subset=["served_by"])
    cov = cov[cov["covered_after"].astype(bool)]
    out = np.empty(len(fac), dtype=object)
    served = cov.groupby(["served_by", "facility_type"])["block_id"].agg(list).to_dict()
    for i, row in enumerate(fac.itertuples()):
        ids = served.get((row.facility_id, row.facility_type), [])
        pts = shapely.points(
            np.r_[blocks["x"].reindex(ids).to_numpy(float), row.x],
            np.r_[blocks["y"].reindex(ids).to_numpy(float), row.y],
        )
        out[i] = shapely.buffer(shapely.convex_hull(shapely.multipoints(pts)), 30.0)
    return out


# --------------------------------------------------------------------------- tables


def coverage_wide(run: RunOutputs) -> pd.DataFrame:
    """One row per block: per type the target residents, served before/after, walk, server.

    Columns ``<type>_target``, ``<type>_before``, ``<type>_after`` (bool), ``<type>_walk_m``,
    ``<type>_served_by``, and ``<type>_share_after`` when the coverage table has served shares.
    """
    cov = run.coverage
    cols = {
        "target_population": "target",
        "covered_before": "before",
        "covered_after": "after",
        "walk_m": "walk_m",
        "served_by": "served_by",
        "served_share_before": "share_before",
        "served_share_after": "share_after",
    }
    present = [c for c in cols if c in cov.columns]
    out = pd.DataFrame({"block_id": run.inputs.blocks["block_id"].astype(str)})
    for key in run.types:
        part = cov[cov["facility_type"] == key]
        part = part.set_index(part["block_id"].astype(str))
        for col in present:
            values = part[col].reindex(out["block_id"]).to_numpy()
            out[f"{key}_{cols[col]}"] = values
    for key in run.types:
        for flag in ("before", "after"):
            out[f"{key}_{flag}"] = out[f"{key}_{flag}"].fillna(False).astype(bool)
    return out


def served_weight(cov: pd.DataFrame, when: str) -> pd.Series:
    """Share of each row's target residents served ``when`` (before | after), 0..1.

    The capacity-aware served share when the coverage table has it, else the covered flag.
    """
    col = f"served_share_{when}"
    if col in cov.columns:
        return pd.to_numeric(cov[col], errors="coerce").fillna(0.0).clip(0.0, 1.0)
    return cov[f"covered_{when}"].fillna(False).astype(float)


def per_area_table(run: RunOutputs) -> pd.DataFrame:
    """Per facility type and area type (new/old): blocks, target residents, served before/after."""
    cov = run.coverage.merge(
        run.inputs.blocks[["block_id", "area_type"]].astype({"block_id": str}),
        on="block_id",
        how="left",
    )
    cov["area_type"] = cov["area_type"].fillna("")
    target = pd.to_numeric(cov["target_population"], errors="coerce").fillna(0.0)
    cov = cov.assign(
        target=target,
        before=target * served_weight(cov, "before"),
        after=target * served_weight(cov, "after"),
        has_target=target > 0,
    )
    out = (
        cov.groupby(["facility_type", "area_type"], sort=False)
        .agg(
            blocks=("has_target", "sum"),
            target_total=("target", "sum"),
            covered_before=("before", "sum"),
            covered_after=("after", "sum"),
        )
        .reset_index()
    )
    total = out["target_total"].where(out["target_total"] > 0)
    out["covered_before_pct"] = (100 * out["covered_before"] / total).round(2)
    out["covered_after_pct"] = (100 * out["covered_after"] / total).round(2)
    order = {k: i for i, k in enumerate(run.types)}
    out = out.sort_values(
        ["facility_type", "area_type"],
        key=lambda s: s.map(order) if s.name == "facility_type" else s,
    )
    return out.reset_index(drop=True)


def year_totals(run: RunOutputs) -> pd.DataFrame:
    """Per plan year: facilities, sites and cost of the construction list, and the budget.

    ``summary['budgets']`` (``{year: {budget, spent}}`` or null) gives the budgets. Keys are
    year strings (``"2026"``), ``""`` for rows without a year, or a budget key that is not a
    year (e.g. ``"plan"``: one budget for the whole plan).
    """
    cl = run.construction_list
    keys = cl["year"].map(_year_key) if len(cl) else pd.Series([], dtype=object)
    spent = cl.groupby(keys, sort=False).agg(
        facilities=("site_id", "size"), sites=("site_id", "nunique"), cost=("cost", "sum")
    )
    budgets = run.summary.get("budgets") or {}
    rows = []
    for key in sorted(set(spent.index) | set(budgets), key=_year_order):
        row = spent.loc[key] if key in spent.index else None
        b = budgets.get(key) or {}
        rows.append(
            {
                "year": key,
                "facilities": int(row["facilities"]) if row is not None else 0,
                "sites": int(row["sites"]) if row is not None else 0,
                "cost": float(row["cost"]) if row is not None else 0.0,
                "budget": b.get("budget"),
                "spent": b.get("spent"),
            }
        )
    return pd.DataFrame(rows, columns=["year", "facilities", "sites", "cost", "budget", "spent"])


def _year_key(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def _year_order(key: str) -> tuple[int, float, str]:
    if key.lstrip("-").isdigit():
        return (0, float(key), key)
    return (1 if key else 2, 0.0, key)
