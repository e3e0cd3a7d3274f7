"""Candidate sites from OSM tags, spreadsheets of idle buildings, or tessellation cells.

* **OSM tag rules** (:data:`~optimizer.prepare.recipe.DEFAULT_SITE_RULES`, overridable under
  ``sites.osm_rules``): vacant land becomes ``vacant_lot`` sites, disused buildings
  ``idle_building``, commercial and office buildings ``existing_stock``. Plain ``building=yes``
  is never a candidate by default: in Chinese extracts it is mostly housing.
* **spreadsheets** (address, coordinates, floor area, kind): columns mapped by the recipe.
* **cells**: the centre of every tessellation cell, where no site data exists (flagged
  ``kind: cell`` and stated as assumed in the report).

Floor area: a building's footprint x storeys, a lot's area x the plot ratio, a point's the
recipe's default; at most ``max_site_floor_area_m2``. The opening cost (``fixed_cost``) comes
from the site's kind (``sites.costs``); fit-out costs per facility type from the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from optimizer.errors import ProblemCollector
from optimizer.prepare.demand import storeys
from optimizer.prepare.osm_features import matches, tag_values
from optimizer.prepare.recipe import Assumptions, Recipe, TagRule
from optimizer.prepare.tables import numeric, read_source

log = logging.getLogger(__name__)

SITE_COLUMNS = (
    "site_id",
    "name",
    "kind",
    "floor_area_m2",
    "fixed_cost",
    "cost_per_m2",
    "allowed_types",
    "available_year",
    "source",
)
DEFAULT_KIND = "idle_building"


@dataclass
class SitesResult:
    """Candidate sites and what was assumed to make them."""

    sites: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def site_costs(
    kinds: np.ndarray, floor_area: np.ndarray, costs: Mapping[str, Mapping[str, float]]
) -> np.ndarray:
    """Opening cost per site: the kind's fixed cost plus its cost per m² of floor area."""
    fallback = costs.get(DEFAULT_KIND, {})
    fixed = np.array([costs.get(k, fallback).get("fixed_cost", 0.0) for k in kinds], dtype=float)
    per_m2 = np.array(
        [costs.get(k, fallback).get("fixed_cost_per_m2", 0.0) for k in kinds], dtype=float
    )
    return fixed + per_m2 * floor_area


def _floor_area(
    features: gpd.GeoDataFrame, kinds: np.ndarray, a: Assumptions
) -> tuple[np.ndarray, np.ndarray]:
    """Floor area of matched OSM features (before the cap) and which came from a default."""
    geoms = features.geometry.to_numpy()
    footprint = shapely.area(geoms)
    levels = pd.to_numeric(pd.Series(tag_values(features, "building:levels")), errors="coerce")
    floors, _ = storeys(levels.to_numpy(dtype=float), np.full(len(features), np.nan), a)
    is_lot = kinds == "vacant_lot"
    area = np.where(is_lot, footprint * a.vacant_lot_far, footprint * floors)
    point = footprint <= 0
    return np.where(point, a.site_floor_area_m2, area), point


def sites_from_osm(
    features: gpd.GeoDataFrame, rules: Sequence[TagRule], recipe: Recipe, crs: str
) -> SitesResult:
    """Candidate sites matched by tag rules (the first rule an element matches decides)."""
    projected = features.to_crs(crs)
    kind = np.full(len(projected), "", dtype=object)
    notes = []
    for rule in rules:
        hit = matches(projected, dict(rule.tags)) & (kind == "")
        kind[hit] = rule.kind or DEFAULT_KIND
        notes.append(f"site rule {rule.describe()}: {int(hit.sum())} OSM elements")
    chosen = projected[kind != ""].copy()
    kinds = kind[kind != ""]
    area, defaulted = _floor_area(chosen, kinds, recipe.assumptions)
    sites = gpd.GeoDataFrame(
        {
            "site_id": chosen["osm_id"].to_numpy(),
            "name": chosen["name"].where(chosen["name"] != "", chosen["osm_id"]).to_numpy(),
            "kind": kinds,
            "floor_area_m2": area,
            "source": "osm",
        },
        geometry=chosen.geometry.to_numpy(),
        crs=crs,
    )
    if defaulted.any():
        notes.append(
            f"{int(defaulted.sum())} OSM sites are points: floor area "
            f"{recipe.assumptions.site_floor_area_m2:g} m² assumed"
        )
    return SitesResult(sites, notes)


def sites_from_table(
    spec_index: int, recipe: Recipe, crs: str, problems: ProblemCollector
) -> SitesResult | None:
    """Candidate sites from a spreadsheet or GIS layer of idle buildings and lots."""
    spec = recipe.site_tables[spec_index]
    gdf = read_source(spec, crs, problems)
    if gdf is None:
        return None
    notes: list[str] = [f"{len(gdf)} candidate sites from {spec.label}"]
    n = len(gdf)
    if "site_id" not in gdf.columns:
        gdf["site_id"] = [f"{spec.path.stem}-{i + 1}" for i in range(n)]
        notes.append(f"{spec.label}: site ids numbered in file order (no id column mapped)")
    area = numeric(gdf, "floor_area_m2")
    missing = ~np.isfinite(area)
    if missing.any():
        notes.append(
            f"{spec.label}: {int(missing.sum())} sites without floor area get "
            f"{recipe.assumptions.site_floor_area_m2:g} m²"
        )
    kind = (
        gdf["kind"].fillna(spec.kind or DEFAULT_KIND).astype(str).to_numpy(dtype=object)
        if "kind" in gdf.columns
        else np.full(n, spec.kind or DEFAULT_KIND, dtype=object)
    )
    sites = gpd.GeoDataFrame(
        {
            "site_id": gdf["site_id"].astype(str).to_numpy(),
            "name": (gdf["name"] if "name" in gdf.columns else gdf["site_id"])
            .astype(str)
            .to_numpy(),
            "kind": kind,
            "floor_area_m2": np.where(missing, recipe.assumptions.site_floor_area_m2, area),
            "fixed_cost": numeric(gdf, "fixed_cost"),
            "cost_per_m2": numeric(gdf, "cost_per_m2"),
            "source": spec.label,
        },
        geometry=gdf.geometry.to_numpy(),
        crs=crs,
    )
    for col in ("allowed_types", "available_year"):
        if col in gdf.columns:
            sites[col] = gdf[col].to_numpy()
    return SitesResult(sites, notes)


def sites_from_cells(blocks: gpd.GeoDataFrame, a: Assumptions) -> SitesResult:
    """One assumed candidate site at the representative point of every block (cell)."""
    points = shapely.point_on_surface(blocks.geometry.to_numpy())
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"S-{b}" for b in blocks["block_id"]],
            "name": [f"cell {b}" for b in blocks["block_id"]],
            "kind": "cell",
            "floor_area_m2": a.site_floor_area_m2,
            "source": "tessellation (assumed)",
        },
        geometry=points,
        crs=blocks.crs,
    )
    note = (
        f"candidate sites: ASSUMED, one per cell ({len(sites)}) at its centre with "
        f"{a.site_floor_area_m2:g} m² (no site data given): a screening of where capacity is "
        "needed, not a list of real buildings"
    )
    return SitesResult(sites, [note])


def finish_sites(parts: Sequence[SitesResult], recipe: Recipe) -> SitesResult:
    """Concatenate site sources; cap floor areas; fill opening costs by kind; unique ids."""
    notes = [n for p in parts for n in p.notes]
    frames = [p.sites for p in parts if len(p.sites)]
    if not frames:
        empty = gpd.GeoDataFrame({c: [] for c in SITE_COLUMNS}, geometry=[], crs=None)
        return SitesResult(empty, notes)
    sites = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    a = recipe.assumptions
    area = sites["floor_area_m2"].to_numpy(dtype=float)
    capped = area > a.max_site_floor_area_m2
    if capped.any():
        notes.append(
            f"{int(capped.sum())} sites offer more than {a.max_site_floor_area_m2:g} m²: "
            "counted at that"
        )
    sites["floor_area_m2"] = np.minimum(area, a.max_site_floor_area_m2)
    given = (
        sites["fixed_cost"].to_numpy(dtype=float)
        if "fixed_cost" in sites
        else np.full(len(sites), np.nan)
    )
    by_kind = site_costs(
        sites["kind"].to_numpy(dtype=object), sites["floor_area_m2"].to_numpy(), recipe.kind_costs
    )
    sites["fixed_cost"] = np.where(np.isfinite(given), given, by_kind)
    if "cost_per_m2" not in sites:
        sites["cost_per_m2"] = np.nan
    if "allowed_types" not in sites:
        sites["allowed_types"] = ""
    sites["allowed_types"] = sites["allowed_types"].fillna("").astype(str)
    year = (
        pd.to_numeric(sites.get("available_year"), errors="coerce")
        if ("available_year" in sites)
        else pd.Series(np.nan, index=sites.index)
    )
    now = recipe.available_year
    if year.isna().any():
        notes.append(
            f"{int(year.isna().sum())} sites without an available year count as available "
            f"now ({now})"
        )
    sites["available_year"] = year.fillna(now).astype(int).to_numpy()
    dup = sites["site_id"].duplicated(keep="first")
    if dup.any():
        notes.append(f"{int(dup.sum())} duplicate site ids dropped (first kept)")
        sites = sites[~dup].reset_index(drop=True)
    notes.append(
        "opening cost by kind: "
        + "; ".join(
            f"{k} {v.get('fixed_cost', 0):,.0f} yuan + {v.get('fixed_cost_per_m2', 0):,.0f} yuan/m²"
            for k, v in recipe.kind_costs.items()
        )
    )
    return SitesResult(sites[[*SITE_COLUMNS, "geometry"]], notes)
