"""The deliverables of a planning run: report, maps, workbook, GeoPackage and log.

:func:`write_deliverables` is the one call the pipeline makes inside its staged run folder.
It reads only the output contracts of DESIGN.md (the construction list, coverage and
per-type tables, the summary dict) plus the validated input tables for geometry, so it does
not depend on how the plan was computed.

What it writes::

    report.html     self-contained report (inline CSS, maps as embedded PNG, no network)
    maps/*.png      the report's maps and charts, for documents
    plan.xlsx       construction_list, coverage, per_type, per_area, assumptions [, comparison]
    plan.gpkg       blocks, chosen_sites, existing, uncovered_blocks, service_areas
    run.log         the run's log (when the caller captured it, see optimizer.progress)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from optimizer.catalog import FacilityType
from optimizer.deliverables.labels import Lang, check_lang
from optimizer.errors import ProblemCollector
from optimizer.inputs import Inputs
from optimizer.outputs import atomic_write, to_jsonable
from optimizer.progress import captured_log, task
from optimizer.scenario import Scenario

log = logging.getLogger(__name__)


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
    """

    scenario: Scenario
    inputs: Inputs
    construction_list: pd.DataFrame
    coverage: pd.DataFrame
    per_type: pd.DataFrame
    summary: dict[str, Any]
    comparison: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_plan(
        cls,
        scenario: Scenario,
        inputs: Inputs,
        plan: Any,
        summary: dict[str, Any],
        comparison: pd.DataFrame | None = None,
    ) -> RunOutputs:
        """From a plan object with ``construction_list``, ``coverage`` and ``per_type``."""
        return cls(
            scenario,
            inputs,
            plan.construction_list,
            plan.coverage,
            plan.per_type,
            summary,
            comparison,
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
        from optimizer.runs import run_id

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
    network = _street_network(run)
    streets = None
    if network is not None:
        streets = np.stack([network.node_xy[network.u], network.node_xy[network.v]], axis=1)
    areas, method = service_areas(run, chosen, existing, network)
    return MapLayers(blocks, chosen, existing, areas, streets, method)


def _street_network(run: RunOutputs) -> Any:
    """The scenario's street network (already validated by the run), or None."""
    spec = run.scenario.distances.network
    if spec is None:
        return None
    from optimizer.distances.network import read_network

    problems = ProblemCollector()
    network = read_network(spec, run.inputs.crs, problems)
    if network is None:
        log.warning("the street network could not be read again for the maps: %s", problems)
    return network


def service_areas(
    run: RunOutputs, chosen: gpd.GeoDataFrame, existing: gpd.GeoDataFrame, network: Any
) -> tuple[gpd.GeoDataFrame, str]:
    """The walking reach of the new and of the existing facilities of each planned type.

    One (multi)polygon per type and kind (``new`` | ``existing``). ``network`` mode: the
    streets reachable within the type's limit from any such facility, 25 m either side;
    ``euclidean``: circles of radius limit / detour factor; ``table``: the convex hull of the
    blocks each facility serves (buffered 30 m), since a table has no geometry of the walks.
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
    mode = str(run.summary.get("distance_mode") or run.scenario.distances.mode)
    method = "network" if mode == "network" and network is not None else mode
    if method not in ("network", "table"):
        method = "euclidean"
    detour = float(run.summary.get("detour_factor") or run.scenario.distances.detour_factor)
    rows = []
    groups = list(fac.groupby(["facility_type", "kind"], sort=False))
    with task("service areas", total=len(groups)) as advance:
        for (key, kind), part in groups:
            limit = _walk_limit(run, str(key))
            xy = part[["x", "y"]].to_numpy(float)
            if method == "network":
                geom = network_reach(network, xy, limit, run.scenario.distances.snap_tolerance_m)
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
    out = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=columns), geometry="geometry", crs=run.inputs.crs
    )
    return out, method


def network_reach(
    network: Any, xy: np.ndarray, limit: float, snap_tolerance_m: float, buffer_m: float = 25.0
) -> shapely.Geometry:
    """The streets within ``limit`` metres of walking from any of the points, as one area.

    One multi-source Dijkstra (scipy) over the routing graph of
    :func:`optimizer.distances.network.routing_graph`, then the reachable part of each street
    segment
    (partly reached segments cut at the reach), buffered by ``buffer_m``. Points off the
    network are left out.
    """
    from scipy.sparse.csgraph import dijkstra

    from optimizer.distances.network import routing_graph, snap_points

    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    snap = snap_points(network, xy, snap_tolerance_m)
    graph = routing_graph(network, [(xy, snap)])
    sources = np.unique(graph.point_node[0][graph.point_node[0] >= 0])
    if sources.size == 0:
        return shapely.Polygon()
    dist = np.asarray(dijkstra(graph.csr, indices=sources, min_only=True, limit=limit))
    a, b, w = graph.edges()
    ra = np.clip(limit - dist[a], 0.0, w)  # reachable length from a's end (0 if unreached)
    rb = np.clip(limit - dist[b], 0.0, w)
    pa, pb = graph.node_xy[a], graph.node_xy[b]
    whole = ra + rb >= w
    segs = [np.stack([pa[whole], pb[whole]], axis=1)]
    for reach, p, q in ((ra, pa, pb), (rb, pb, pa)):
        part = ~whole & (reach > 0)
        t = (reach[part] / w[part])[:, None]
        segs.append(np.stack([p[part], p[part] + t * (q[part] - p[part])], axis=1))
    lines = shapely.linestrings(np.concatenate(segs))
    # buffering each piece and merging is several times faster than buffering the union
    return shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=2))


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


def _year_key(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def _year_order(key: str) -> tuple[int, float, str]:
    if key.lstrip("-").isdigit():
        return (0, float(key), key)
    return (1 if key else 2, 0.0, key)


# --------------------------------------------------------------------------- writing


def write_deliverables(
    stage: Path,
    scenario: Scenario,
    inputs: Inputs,
    plan: Any,
    summary: dict[str, Any],
    *,
    lang: str = "zh",
    comparison: pd.DataFrame | None = None,
) -> list[Path]:
    """Write report.html, maps/*.png, plan.xlsx, plan.gpkg and run.log into ``stage``.

    Parameters
    ----------
    stage : Path
        The run's staging folder (published atomically by :func:`optimizer.outputs.staged_run`).
    scenario, inputs, summary
        The run's scenario, validated inputs and summary dict.
    plan : Plan
        Any object with ``construction_list``, ``coverage`` and ``per_type`` DataFrames.
    lang : {"zh", "en"}
        Language of the report, maps and workbook labels.
    comparison : DataFrame, optional
        A sweep's comparison table: adds a sheet, a table and the coverage-budget curve.

    Returns
    -------
    list of Path
        The files written.
    """
    from optimizer.deliverables import maps, report, workbook

    language: Lang = check_lang(lang)
    run = RunOutputs.from_plan(scenario, inputs, plan, summary, comparison)
    started = time.perf_counter()
    layers = map_layers(run)
    t_layers = time.perf_counter() - started
    figures = maps.render_all(run, layers, language)
    t_maps = time.perf_counter() - started - t_layers
    written = []
    (stage / "maps").mkdir(exist_ok=True)
    for name, png in figures.images.items():
        written.append(atomic_write(stage / "maps" / f"{name}.png", _bytes_writer(png)))
    t0 = time.perf_counter()
    written.append(workbook.write_workbook(stage / "plan.xlsx", run, language))
    written.append(workbook.write_geopackage(stage / "plan.gpkg", run, layers))
    t_files = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = report.render_report(run, figures, language, comparison=comparison)
    written.append(
        atomic_write(stage / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    )
    t_report = time.perf_counter() - t0
    log.info(
        "deliverables: report.html %.0f KB, %d maps, plan.xlsx, plan.gpkg in %.1f s "
        "(geometry %.1f s, maps %.1f s, workbook+gpkg %.1f s, html %.2f s)",
        len(html.encode()) / 1024,
        len(figures.images),
        time.perf_counter() - started,
        t_layers,
        t_maps,
        t_files,
        t_report,
    )
    written.append(write_run_log(stage / "run.log", run))
    return written


def _bytes_writer(data: bytes) -> Any:
    return lambda p: p.write_bytes(data)


def write_run_log(path: Path, run: RunOutputs) -> Path:
    """Write ``run.log``: the captured log of the run, or a header when nothing was captured."""
    text = captured_log()
    if text is None:
        text = (
            f"run {run.run_id} of scenario {run.scenario.name}: no log was captured (call "
            "run_plan inside optimizer.progress.capture_log() to keep it)\n"
        )
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def summary_digest(summary: dict[str, Any]) -> str:
    """A short stable hash of a summary (part of the run id)."""
    text = json.dumps(to_jsonable(summary), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
