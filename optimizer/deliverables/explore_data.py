"""The columns of ``explore.html``: a plan's (or a sweep's) tables as compact arrays.

:mod:`.explore` lays the page out with Bokeh; this module turns the run's tables into the
columns its data sources hold, once each: one table of blocks (simplified outlines, rounded to
the metre), one long coverage table (block x type x scenario), one table of construction-list
rows of every scenario, one of the existing facilities, one of street segments and one row of
totals per scenario. Every view of the page filters these (CDSView), none copies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from optimizer.deliverables.layers import MapLayers
from optimizer.deliverables.maps import categories

STATES = ("no_target", "not", "partly", "covered", "unreachable")
"""Coverage states of a block for one type, by code (the report's map categories)."""

SIMPLIFY_SHARE = 1 / 3000
"""Outline tolerance as a share of the map's larger side: a block keeps its shape at any zoom a
planner uses, while the full city's outlines stay a few megabytes."""


@dataclass
class ScenarioPlan:
    """One scenario's tables for the page: a plan has one, a sweep one per planned scenario.

    Attributes
    ----------
    label : str
        The scenario's label (the sweep folder's name for it; the scenario name for a plan).
    construction_list, coverage : DataFrame
        Its construction list and coverage table (DESIGN.md contracts).
    totals : dict
        Its comparison row: ``budget``, ``cost_used``, ``sites``, ``facilities``,
        ``coverage_pct``, ``coverage_pct:<type>`` and the swept settings.
    summary : dict
        Its ``summary.json`` (its ``phrases`` translate the reasons).
    """

    label: str
    construction_list: pd.DataFrame
    coverage: pd.DataFrame
    totals: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def plan_totals(summary: dict[str, Any]) -> dict[str, Any]:
    """A plan's comparison-like row from its summary (a sweep has ``comparison.csv``)."""
    totals = summary.get("totals") or {}
    budgets = summary.get("budgets") or {}
    budget = sum(float(e["budget"]) for e in budgets.values()) if budgets else None
    row: dict[str, Any] = {
        "budget": budget,
        "cost_used": float(totals.get("cost") or 0.0),
        "sites": int(totals.get("sites_opened") or 0),
        "facilities": int(totals.get("facilities_built") or 0),
        "coverage_pct": float(totals.get("coverage_pct_after") or 0.0),
    }
    for key, per in (totals.get("per_type") or {}).items():
        row[f"coverage_pct:{key}"] = float(per["covered_after_pct"])
    return row


def simplify_tolerance(bounds: np.ndarray) -> float:
    """Outline tolerance in map units for a map of ``bounds`` (xmin, ymin, xmax, ymax)."""
    side = float(max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1.0))
    return side * SIMPLIFY_SHARE


def block_columns(layers: MapLayers) -> dict[str, Any]:
    """Blocks: id, name, and either outlines (``xs``, ``ys``: lists of rounded vertices of the
    largest part, simplified) or points (``x``, ``y``), plus ``state`` (set by the page)."""
    blocks = layers.blocks
    geoms = blocks.geometry.to_numpy()
    out: dict[str, Any] = {
        "block_id": blocks["block_id"].astype(str).tolist(),
        "name": blocks["name"].fillna("").astype(str).tolist(),
        "state": np.zeros(len(blocks), dtype=np.int8),
    }
    kinds = shapely.get_type_id(geoms)
    if len(geoms) and bool(np.isin(kinds, (3, 6)).all()):  # polygons and multipolygons
        tol = simplify_tolerance(shapely.total_bounds(geoms))
        parts = shapely.get_parts(geoms, return_index=True)
        areas = shapely.area(parts[0])
        # the largest part of each block: the map shows one outline per block
        order = np.lexsort((-areas, parts[1]))
        first = order[np.r_[True, np.diff(parts[1][order]) != 0]]
        rings = shapely.get_exterior_ring(
            shapely.simplify(parts[0][first], tol, preserve_topology=True)
        )
        coords, index = shapely.get_coordinates(rings, return_index=True)
        coords = np.round(coords).astype(np.int64)
        cuts = np.flatnonzero(np.diff(index)) + 1
        out["xs"] = [c.tolist() for c in np.split(coords[:, 0], cuts)]
        out["ys"] = [c.tolist() for c in np.split(coords[:, 1], cuts)]
    else:
        pts = shapely.point_on_surface(geoms)
        out["x"] = np.round(shapely.get_x(pts)).astype(np.int32)
        out["y"] = np.round(shapely.get_y(pts)).astype(np.int32)
    return out


def coverage_columns(
    plans: list[ScenarioPlan], block_ids: list[str], types: list[str]
) -> dict[str, Any]:
    """The long coverage table over every scenario: ``block`` (row of the blocks table),
    ``type`` (index into ``types``), ``scenario``, ``before`` / ``after`` (codes of
    :data:`STATES`), ``target``, ``share`` (served share after), ``walk`` (m, -1 for none),
    ``served_by``."""
    where = {b: i for i, b in enumerate(block_ids)}
    type_no = {t: i for i, t in enumerate(types)}
    code = {s: i for i, s in enumerate(STATES)}
    parts = []
    for no, plan in enumerate(plans):
        cov = plan.coverage
        cov = cov[cov["facility_type"].astype(str).isin(type_no)]
        block = cov["block_id"].astype(str).map(where)
        keep = block.notna().to_numpy()
        cov = cov[keep]
        share = (
            pd.to_numeric(cov["served_share_after"], errors="coerce")
            if "served_share_after" in cov.columns
            else cov["covered_after"].astype(float)
        )
        parts.append(
            pd.DataFrame(
                {
                    "block": block[keep].astype(np.int32).to_numpy(),
                    "type": cov["facility_type"].astype(str).map(type_no).to_numpy(np.int8),
                    "scenario": np.full(len(cov), no, dtype=np.int16),
                    "before": pd.Series(categories(cov, "before")).map(code).to_numpy(np.int8),
                    "after": pd.Series(categories(cov, "after")).map(code).to_numpy(np.int8),
                    "target": pd.to_numeric(cov["target_population"], errors="coerce")
                    .fillna(0.0)
                    .to_numpy(np.float32),
                    "share": share.fillna(0.0).to_numpy(np.float32),
                    "walk": pd.to_numeric(cov["walk_m"], errors="coerce")
                    .fillna(-1.0)
                    .round()
                    .to_numpy(np.float32),
                    "served_by": cov["served_by"].fillna("").astype(str).to_numpy(),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return {c: (df[c].tolist() if c == "served_by" else df[c].to_numpy()) for c in df.columns}


SITE_TEXT = ("site_id", "site_name", "facility_type", "reason", "status")
SITE_NUMBERS = (
    "rank",
    "year",
    "floor_area_m2",
    "capacity",
    "cost",
    "newly_covered",
    "cost_per_resident",
)


def site_columns(
    plans: list[ScenarioPlan], xy: pd.DataFrame, type_names: dict[str, str]
) -> dict[str, Any]:
    """Every scenario's construction-list rows, with the site's point (``x``, ``y`` from
    ``xy``, indexed by site id), ``scenario``, the type in words and ``year_text``."""
    frames = []
    for no, plan in enumerate(plans):
        cl = plan.construction_list.reset_index(drop=True)
        frames.append(cl.assign(scenario=no))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    ids = df["site_id"].astype(str) if len(df) else pd.Series([], dtype=str)
    out: dict[str, Any] = {
        "scenario": df["scenario"].to_numpy(np.int16) if len(df) else np.zeros(0, np.int16),
        "x": np.round(xy["x"].reindex(ids).to_numpy(float)),
        "y": np.round(xy["y"].reindex(ids).to_numpy(float)),
    }
    for col in SITE_TEXT:
        values = df[col] if col in df.columns else pd.Series([""] * len(df), dtype=object)
        out[col] = values.fillna("").astype(str).tolist()
    for col in SITE_NUMBERS:
        values = df[col] if col in df.columns else pd.Series([np.nan] * len(df))
        out[col] = pd.to_numeric(values, errors="coerce").to_numpy(float)
    essential = df["essential"] if "essential" in df.columns else pd.Series([False] * len(df))
    out["essential"] = [
        "✓" if str(v).strip().lower() in ("true", "1", "1.0") else "" for v in essential
    ]
    out["type_name"] = [type_names.get(t, t) for t in out["facility_type"]]
    year = pd.to_numeric(df["year"], errors="coerce") if "year" in df.columns else None
    out["year_text"] = (
        ["" if pd.isna(v) else str(int(v)) for v in year] if year is not None else [""] * len(df)
    )
    return out


def existing_columns(layers: MapLayers, type_names: dict[str, str]) -> dict[str, Any]:
    """Existing facilities: point, id, name, type (key and words), capacity."""
    ex = layers.existing
    types = ex["type"].astype(str)
    return {
        "x": np.round(ex.geometry.x.to_numpy(float)),
        "y": np.round(ex.geometry.y.to_numpy(float)),
        "facility_id": ex["facility_id"].astype(str).tolist(),
        "name": ex["name"].fillna("").astype(str).tolist(),
        "type": types.tolist(),
        "type_name": [type_names.get(t, t) for t in types],
        "capacity": pd.to_numeric(ex["capacity"], errors="coerce").to_numpy(float),
    }


def street_columns(layers: MapLayers) -> dict[str, Any] | None:
    """Street segments rounded to the metre (int32, sent as binary), or None."""
    if layers.streets is None or not len(layers.streets):
        return None
    seg = np.round(np.asarray(layers.streets, dtype=float)).astype(np.int32)
    keep = (seg[:, 0] != seg[:, 1]).any(axis=1)  # segments shorter than a metre vanish
    seg = seg[keep]
    return {"x0": seg[:, 0, 0], "y0": seg[:, 0, 1], "x1": seg[:, 1, 0], "y1": seg[:, 1, 1]}


def scenario_columns(plans: list[ScenarioPlan], types: list[str], keys: list[str]) -> dict:
    """One row per scenario: label, budget, totals, coverage % per type, swept settings (as
    text, for the page's selectors)."""
    out: dict[str, Any] = {"label": [p.label for p in plans]}
    for col in ("budget", "cost_used", "sites", "facilities", "coverage_pct"):
        out[col] = np.array([_number(p.totals.get(col)) for p in plans], dtype=float)
    for t in types:
        key = f"coverage_pct:{t}"
        out[key] = np.array([_number(p.totals.get(key)) for p in plans], dtype=float)
    for k in keys:
        out[f"set:{k}"] = [str(p.totals.get(k)) for p in plans]
    return out


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return number
