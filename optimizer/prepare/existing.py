"""Existing facilities from OSM tags or a POI spreadsheet, with capacities from the catalog.

OSM tag rules (:data:`~optimizer.prepare.recipe.DEFAULT_EXISTING_RULES`, overridable under
``existing.osm_rules``) map amenities and shops to facility types; a POI table maps its type
words with ``types:`` (``{幼儿园: kindergarten, 便利店: convenience}``). A facility without a
capacity gets the capacity of one standard facility of its type in the catalog
(``build_area_m2 / area_per_unit_m2``), stated in the report. Facilities of types the plan does
not include are left out and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from optimizer.catalog import Catalog
from optimizer.errors import ProblemCollector
from optimizer.prepare.osm_features import matches
from optimizer.prepare.recipe import SourceSpec, TagRule
from optimizer.prepare.tables import numeric, read_source

log = logging.getLogger(__name__)

EXISTING_COLUMNS = ("facility_id", "name", "type", "capacity", "source")


@dataclass
class ExistingResult:
    """Existing facilities and what was assumed about them."""

    existing: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def existing_from_osm(
    features: gpd.GeoDataFrame, rules: Sequence[TagRule], crs: str
) -> ExistingResult:
    """Existing facilities matched by tag rules (points; an area by its inner point)."""
    projected = features.to_crs(crs)
    ftype = np.full(len(projected), "", dtype=object)
    capacity = np.full(len(projected), np.nan)
    notes = []
    for rule in rules:
        hit = matches(projected, dict(rule.tags)) & (ftype == "")
        ftype[hit] = rule.type or ""
        if rule.capacity is not None:
            capacity[hit] = rule.capacity
        notes.append(f"existing rule {rule.describe()}: {int(hit.sum())} OSM elements")
    chosen = projected[ftype != ""]
    existing = gpd.GeoDataFrame(
        {
            "facility_id": chosen["osm_id"].to_numpy(),
            "name": chosen["name"].where(chosen["name"] != "", chosen["osm_id"]).to_numpy(),
            "type": ftype[ftype != ""],
            "capacity": capacity[ftype != ""],
            "source": "osm",
        },
        geometry=shapely.point_on_surface(chosen.geometry.to_numpy()),
        crs=crs,
    )
    return ExistingResult(existing, notes)


def existing_from_table(
    spec: SourceSpec, crs: str, problems: ProblemCollector
) -> ExistingResult | None:
    """Existing facilities from a POI spreadsheet (type words mapped by ``types:``)."""
    gdf = read_source(spec, crs, problems)
    if gdf is None:
        return None
    if "type" not in gdf.columns:
        problems.add(spec.label, "type", "no facility-type column: map it with `columns:`")
        return None
    words = gdf["type"].astype(str).str.strip()
    ftype = words.map(lambda w: spec.types.get(w, w)).to_numpy(dtype=object)
    ids = (
        gdf["facility_id"].astype(str).to_numpy()
        if "facility_id" in gdf.columns
        else np.array([f"{spec.path.stem}-{i + 1}" for i in range(len(gdf))], dtype=object)
    )
    existing = gpd.GeoDataFrame(
        {
            "facility_id": ids,
            "name": (gdf["name"] if "name" in gdf.columns else pd.Series(ids))
            .astype(str)
            .to_numpy(),
            "type": ftype,
            "capacity": numeric(gdf, "capacity"),
            "source": spec.label,
        },
        geometry=shapely.point_on_surface(gdf.geometry.to_numpy()),
        crs=crs,
    )
    return ExistingResult(existing, [f"{len(existing)} existing facilities from {spec.label}"])


def finish_existing(parts: Sequence[ExistingResult], catalog: Catalog, crs: str) -> ExistingResult:
    """Keep the plan's types, fill capacities from the catalog, make ids unique."""
    notes = [n for p in parts for n in p.notes]
    frames = [p.existing for p in parts if len(p.existing)]
    if not frames:
        empty = gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in EXISTING_COLUMNS},
            geometry=gpd.GeoSeries([], crs=crs),
        )
        return ExistingResult(empty, notes)
    existing = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
    known = existing["type"].isin(list(catalog)).to_numpy()
    if (~known).any():
        dropped = existing.loc[~known, "type"].value_counts()
        notes.append(
            "left out, types not in this plan: "
            + ", ".join(f"{t} ({n})" for t, n in dropped.items())
        )
        existing = existing[known].reset_index(drop=True)
    capacity = existing["capacity"].to_numpy(dtype=float)
    default = np.array([catalog[t].build_capacity for t in existing["type"]], dtype=float)
    missing = ~np.isfinite(capacity)
    for t in sorted(set(existing.loc[missing, "type"])):
        ft = catalog[t]
        notes.append(
            f"capacity of {int((existing.loc[missing, 'type'] == t).sum())} existing {t}: "
            f"{ft.build_capacity:g} {ft.capacity_unit} (one standard facility of "
            f"{ft.build_area_m2:g} m² in the catalog), not given in the data"
        )
    existing["capacity"] = np.where(missing, default, capacity)
    existing = existing[~existing["facility_id"].duplicated(keep="first")].reset_index(drop=True)
    return ExistingResult(existing, notes)
