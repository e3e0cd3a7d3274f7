"""Blocks (demand) from what a bureau holds: polygons, building footprints or a raster.

Three sources, one result (the contract's ``blocks`` table with polygon geometry):

* **polygons** with population columns (communities, compounds): used as they are; columns the
  file lacks (households, age groups) are filled from the recipe's shares.
* **building footprints** (OSM or a bureau's GIS): residential floor area = footprint x storeys
  (``building:levels``/``floors``, else ``height`` / storey height, else the default storeys);
  population = floor area / m² per person. Buildings are grouped into the residential compound
  (``landuse=residential``) holding them; one outside any compound is a block of its own.
* **a population raster** (one band, or age-band files summed per group such as WorldPop's):
  exact area-weighted zonal sums (exactextract: each cell counts in the share of its area that
  the zone covers) over given zones or over a hexagonal or square tessellation of the area.

What is not in the data comes from :class:`~optimizer.prepare.recipe.Assumptions`, and every
filled column is named in :attr:`DemandResult.notes`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from exactextract import exact_extract

from optimizer.errors import ProblemCollector
from optimizer.prepare.osm_features import matches, tag_values
from optimizer.prepare.recipe import Assumptions, RasterSpec, Recipe
from optimizer.prepare.tables import numeric, read_source

log = logging.getLogger(__name__)

AGE_GROUPS = ("pop_0_2", "pop_3_5", "pop_60_plus")
BLOCK_COLUMNS = ("block_id", "name", "population", "households", *AGE_GROUPS, "area_type")
RESIDENTIAL_BUILDINGS = frozenset(
    {"residential", "apartments", "house", "detached", "dormitory", "terrace", "semidetached_house"}
)
GENERIC_BUILDINGS = frozenset({"yes"})
# a building carrying one of these keys is used for something else, wherever it stands
NON_RESIDENTIAL_KEYS = ("amenity", "shop", "office", "healthcare", "tourism")
DENSIFY_M = 20.0  # vertex spacing when cells are projected to the raster's CRS


@dataclass
class DemandResult:
    """The blocks and what was assumed to make them.

    Attributes
    ----------
    blocks : GeoDataFrame
        The contract's block columns, polygon geometry, in the target CRS.
    notes : list of str
        Assumptions applied and counts, for the data-quality report.
    stats : dict
        Figures for the report's JSON (buildings read, floors assumed, raster sums, ...).
    """

    blocks: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    stats: dict[str, float | int | str] = field(default_factory=dict)


def fill_groups(df: pd.DataFrame, a: Assumptions, notes: list[str]) -> pd.DataFrame:
    """Households and age groups from population where the data lacks them (and vice versa).

    Where only the 60+ group is known (elderly rasters), population = 60+ / the 60+ share.
    """
    out = df.copy()
    shares = {"pop_0_2": a.share_0_2, "pop_3_5": a.share_3_5, "pop_60_plus": a.share_60_plus}
    if "population" not in out.columns or out["population"].isna().all():
        known = [g for g in AGE_GROUPS if g in out.columns and out[g].notna().any()]
        if not known:
            raise ValueError("no population or age-group figures to build blocks from")
        group = known[-1] if "pop_60_plus" in known else known[0]
        out["population"] = out[group] / shares[group]
        notes.append(
            f"population = {group} / {shares[group]:g} (the assumed share of {group} in the "
            "population): the data gives no total population"
        )
    if "households" not in out.columns or out["households"].isna().all():
        out["households"] = out["population"] / a.household_size
        notes.append(f"households = population / {a.household_size:g} persons per household")
    for group, share in shares.items():
        if group not in out.columns or out[group].isna().all():
            out[group] = out["population"] * share
            notes.append(f"{group} = population x {share:g} (assumed share)")
    if "area_type" not in out.columns:
        out["area_type"] = a.area_type
        notes.append(f"area_type = {a.area_type} for every block")
    return out


def _finish(blocks: gpd.GeoDataFrame, min_population: float, notes: list[str]) -> gpd.GeoDataFrame:
    """Keep blocks with residents (above ``min_population``), contract columns first."""
    keep = blocks["population"].to_numpy(dtype=float) > min_population
    if (~keep).any():
        dropped = float(blocks.loc[~keep, "population"].sum())
        notes.append(
            f"{int((~keep).sum())} zones with at most {min_population:g} residents left out "
            f"({dropped:,.1f} residents)"
        )
    out = blocks.loc[keep].reset_index(drop=True)
    extra = [c for c in out.columns if c not in BLOCK_COLUMNS and c != out.geometry.name]
    return out[[*BLOCK_COLUMNS, *extra, out.geometry.name]]


# ------------------------------------------------------------------------- (a) polygons


def blocks_from_polygons(
    recipe: Recipe, crs: str, problems: ProblemCollector
) -> DemandResult | None:
    """Blocks from community or compound polygons with a population column."""
    spec = recipe.polygons
    assert spec is not None
    gdf = read_source(spec, crs, problems)
    if gdf is None:
        return None
    notes: list[str] = [f"blocks: {len(gdf)} polygons from {spec.label}"]
    for col in ("population", "households", *AGE_GROUPS):
        if col in gdf.columns:
            gdf[col] = numeric(gdf, col)
    if "block_id" not in gdf.columns:
        gdf["block_id"] = [f"B{i + 1}" for i in range(len(gdf))]
        notes.append("block_id: numbered B1, B2, ... in file order (no id column mapped)")
    if "name" not in gdf.columns:
        gdf["name"] = gdf["block_id"].astype(str)
    try:
        filled = fill_groups(pd.DataFrame(gdf), recipe.assumptions, notes)
    except ValueError as exc:
        problems.add(spec.label, "population", f"{exc}; map it with `columns:`")
        return None
    blocks = gpd.GeoDataFrame(filled, geometry=gdf.geometry.name, crs=gdf.crs)
    blocks["source"] = spec.label
    return DemandResult(_finish(blocks, recipe.min_population, notes), notes)


# ---------------------------------------------------------------- (b) building footprints


def storeys(
    levels: np.ndarray, height: np.ndarray, a: Assumptions
) -> tuple[np.ndarray, np.ndarray]:
    """Storeys per building and which were assumed (no levels, no height)."""
    from_height = np.where(height > 0, np.maximum(np.round(height / a.storey_height_m), 1), np.nan)
    floors = np.where(levels > 0, levels, from_height)
    assumed = ~np.isfinite(floors)
    return np.where(assumed, a.default_floors, floors), assumed


def residential_buildings_from_osm(
    features: gpd.GeoDataFrame, crs: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, int]]:
    """Residential buildings and residential compounds of an OSM extract (target CRS).

    A building is residential when its ``building`` value says so
    (:data:`RESIDENTIAL_BUILDINGS`), or when it is a generic ``building=yes`` standing inside a
    ``landuse=residential`` compound; never when it carries an amenity, shop, office,
    healthcare or tourism tag.
    """
    areas = features[features.geom_type != "Point"].to_crs(crs)
    compounds = areas[matches(areas, {"landuse": ["residential"]})].reset_index(drop=True)
    building = tag_values(areas, "building")
    other_use = np.zeros(len(areas), dtype=bool)
    for key in NON_RESIDENTIAL_KEYS:
        other_use |= tag_values(areas, key) != ""
    points = shapely.point_on_surface(areas.geometry.to_numpy())
    in_compound = np.full(len(areas), -1, dtype=np.int64)
    if len(compounds):
        pt_idx, comp_idx = shapely.STRtree(compounds.geometry.to_numpy()).query(
            points, predicate="within"
        )
        in_compound[pt_idx] = comp_idx
    explicit = np.isin(building, list(RESIDENTIAL_BUILDINGS))
    generic = np.isin(building, list(GENERIC_BUILDINGS)) & (in_compound >= 0)
    residential = (explicit | generic) & ~other_use
    out = areas[residential].copy()
    out["compound"] = in_compound[residential]
    counts = {
        "buildings": int((building != "").sum()),
        "residential_by_tag": int((explicit & ~other_use).sum()),
        "residential_generic_in_compound": int((generic & ~explicit & ~other_use).sum()),
        "generic_outside_compounds_left_out": int(
            (np.isin(building, list(GENERIC_BUILDINGS)) & (in_compound < 0)).sum()
        ),
        "left_out_other_use": int(((explicit | generic) & other_use).sum()),
        "compounds": len(compounds),
    }
    return out, compounds, counts


def blocks_from_osm_buildings(features: gpd.GeoDataFrame, recipe: Recipe, crs: str) -> DemandResult:
    """Blocks from the residential buildings of an OSM extract, grouped into compounds."""
    a = recipe.assumptions
    buildings, compounds, counts = residential_buildings_from_osm(features, crs)
    levels = pd.to_numeric(pd.Series(tag_values(buildings, "building:levels")), errors="coerce")
    height = pd.to_numeric(
        pd.Series(tag_values(buildings, "height")).str.replace("m", "", regex=False).str.strip(),
        errors="coerce",
    )
    floors, assumed = storeys(levels.to_numpy(dtype=float), height.to_numpy(dtype=float), a)
    footprint = buildings.geometry.area.to_numpy()
    floor_area = footprint * floors
    notes = [
        f"residential buildings: {len(buildings)} of {counts['buildings']} buildings "
        f"({counts['residential_by_tag']} tagged residential/apartments/house/dormitory/..., "
        f"{counts['residential_generic_in_compound']} building=yes inside "
        f"{counts['compounds']} landuse=residential compounds); "
        f"{counts['generic_outside_compounds_left_out']} building=yes outside compounds and "
        f"{counts['left_out_other_use']} with an amenity/shop/office/healthcare/tourism tag "
        "are not counted as housing",
        f"storeys: {int(assumed.sum())} of {len(buildings)} residential buildings give neither "
        f"building:levels nor height and are assumed to have {a.default_floors:g} storeys",
        f"population = footprint x storeys / {a.m2_per_person:g} m² per person",
    ]
    buildings = buildings.assign(floor_area_m2=floor_area, floors=floors, floors_assumed=assumed)
    blocks = _group_buildings(buildings, compounds, a)
    stats: dict[str, float | int | str] = {
        **counts,
        "residential_buildings": len(buildings),
        "floors_assumed": int(assumed.sum()),
        "residential_floor_area_m2": float(floor_area.sum()),
    }
    return DemandResult(
        _finish(fill_groups(blocks, a, notes), recipe.min_population, notes), notes, stats
    )


def _group_buildings(
    buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, a: Assumptions
) -> gpd.GeoDataFrame:
    """One block per compound with residential buildings, one per building outside them."""
    inside = buildings[buildings["compound"] >= 0]
    per = inside.groupby("compound").agg(
        floor_area_m2=("floor_area_m2", "sum"), n_buildings=("osm_id", "size")
    )
    comp = compounds.iloc[per.index.to_numpy()]
    grouped = gpd.GeoDataFrame(
        {
            "block_id": comp["osm_id"].to_numpy(),
            "name": comp["name"].to_numpy(),
            "floor_area_m2": per["floor_area_m2"].to_numpy(),
            "n_buildings": per["n_buildings"].to_numpy(),
        },
        geometry=comp.geometry.to_numpy(),
        crs=buildings.crs,
    )
    alone = buildings[buildings["compound"] < 0]
    single = gpd.GeoDataFrame(
        {
            "block_id": alone["osm_id"].to_numpy(),
            "name": alone["name"].to_numpy(),
            "floor_area_m2": alone["floor_area_m2"].to_numpy(),
            "n_buildings": np.ones(len(alone), dtype=int),
        },
        geometry=alone.geometry.to_numpy(),
        crs=buildings.crs,
    )
    blocks = pd.concat([grouped, single], ignore_index=True)
    blocks["population"] = blocks["floor_area_m2"] / a.m2_per_person
    blocks["name"] = blocks["name"].where(blocks["name"] != "", blocks["block_id"])
    blocks["source"] = "osm buildings"
    return gpd.GeoDataFrame(blocks, geometry="geometry", crs=buildings.crs)


def blocks_from_building_file(
    recipe: Recipe, crs: str, problems: ProblemCollector
) -> DemandResult | None:
    """Blocks from a bureau's building footprints (``floors`` or ``height`` columns optional).

    Buildings with a ``group`` column (a community or compound name) are grouped by it; the
    others are blocks of their own. A ``residential`` column (yes/no, 1/0) picks the housing.
    """
    spec = recipe.buildings
    assert spec is not None
    a = recipe.assumptions
    gdf = read_source(spec, crs, problems)
    if gdf is None:
        return None
    if "residential" in gdf.columns:
        flag = gdf["residential"].astype(str).str.strip().str.lower()
        gdf = gdf[flag.isin(["yes", "1", "true", "y", "是"])]
    floors, assumed = storeys(numeric(gdf, "floors"), numeric(gdf, "height"), a)
    gdf = gdf.assign(floor_area_m2=gdf.geometry.area.to_numpy() * floors)
    if "building_id" not in gdf.columns:
        gdf["building_id"] = [f"bldg{i + 1}" for i in range(len(gdf))]
    key = gdf["group"].astype(str) if "group" in gdf.columns else gdf["building_id"].astype(str)
    dissolved = gdf.assign(block_id=key.to_numpy()).dissolve(
        by="block_id", aggfunc={"floor_area_m2": "sum"}
    )
    blocks = gpd.GeoDataFrame(
        {
            "block_id": dissolved.index.astype(str),
            "name": dissolved.index.astype(str),
            "floor_area_m2": dissolved["floor_area_m2"].to_numpy(),
            "population": dissolved["floor_area_m2"].to_numpy() / a.m2_per_person,
            "source": spec.label,
        },
        geometry=dissolved.geometry.to_numpy(),
        crs=gdf.crs,
    )
    notes = [
        f"buildings: {len(gdf)} residential footprints from {spec.label}, {len(blocks)} blocks",
        f"storeys: {int(assumed.sum())} of {len(gdf)} buildings give no floors/height and are "
        f"assumed to have {a.default_floors:g}",
        f"population = footprint x storeys / {a.m2_per_person:g} m² per person",
    ]
    return DemandResult(
        _finish(fill_groups(blocks, a, notes), recipe.min_population, notes),
        notes,
        {"floors_assumed": int(assumed.sum()), "buildings": len(gdf)},
    )


# ------------------------------------------------------------------------- (c) rasters


def tessellate(area: shapely.Geometry, shape: str, size_m: float) -> np.ndarray:
    """Cells covering ``area`` (projected, metres), clipped to it; empty cells dropped.

    ``size_m`` is the distance between the centres of neighbouring cells (a square's side,
    a pointy-top hexagon's width).
    """
    x0, y0, x1, y1 = area.bounds
    if shape == "square":
        xs = np.arange(x0, x1, size_m)
        ys = np.arange(y0, y1, size_m)
        gx, gy = np.meshgrid(xs, ys)
        cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size_m, gy.ravel() + size_m)
    else:
        radius = size_m / math.sqrt(3.0)  # centre to corner
        dy = 1.5 * radius
        rows = np.arange(y0 - radius, y1 + 2 * radius, dy)
        cols = np.arange(x0 - size_m, x1 + 2 * size_m, size_m)
        gx, gy = np.meshgrid(cols, rows)
        gx = gx + np.where((np.arange(rows.size) % 2)[:, None] == 1, size_m / 2, 0.0)
        angles = np.deg2rad(np.arange(6) * 60.0 + 30.0)
        corners = np.stack(
            [
                gx.ravel()[:, None] + radius * np.cos(angles),
                gy.ravel()[:, None] + radius * np.sin(angles),
            ],
            axis=-1,
        )
        cells = shapely.polygons(corners)
    clipped = shapely.intersection(cells, area)
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 1e-6 * size_m * size_m)
    return np.asarray(clipped[keep])


def area_polygon(recipe: Recipe, crs: str, problems: ProblemCollector) -> shapely.Geometry | None:
    """The area to tessellate, projected: a lon/lat bbox or a boundary file (union)."""
    if recipe.area_bbox is not None:
        box = shapely.segmentize(shapely.box(*recipe.area_bbox), 1e-3)
        return gpd.GeoSeries([box], crs="EPSG:4326").to_crs(crs).iloc[0]
    assert recipe.area_path is not None
    try:
        gdf = gpd.read_file(recipe.area_path, engine="pyogrio")
    except Exception as exc:  # the user's file: report, don't crash
        problems.add(recipe.area_path.name, None, f"cannot read the area: {exc}")
        return None
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    return shapely.union_all(gdf.to_crs(crs).geometry.to_numpy())


def zonal_sums(zones: gpd.GeoDataFrame, raster: RasterSpec) -> pd.DataFrame:
    """Exact area-weighted sums of each group's rasters over each zone (one column a group).

    Zones are projected to each raster's CRS after densifying their edges, so a straight
    edge in metres stays the same line on a lon/lat grid.
    """
    out = pd.DataFrame(index=zones.index)
    densified = zones.geometry.segmentize(DENSIFY_M)
    for group, files in raster.bands.items():
        total = np.zeros(len(zones))
        for path in files:
            with rasterio.open(path) as src:
                crs = src.crs
            cells = gpd.GeoDataFrame(
                {"zone": np.arange(len(zones))}, geometry=densified.to_crs(crs)
            )
            sums = exact_extract(str(path), cells, "sum", output="pandas", include_cols=["zone"])
            value = sums.drop(columns="zone").to_numpy(dtype=float).reshape(len(zones), -1)
            total[sums["zone"].to_numpy(dtype=int)] += np.nan_to_num(value[:, 0])
        out[group] = total
    return out


def raster_window_sum(path: Path, polygon_lonlat: shapely.Geometry) -> float:
    """Sum of the cells whose centres fall inside a lon/lat polygon (a plain cross-check)."""
    with rasterio.open(path) as src:
        window = rasterio.windows.from_bounds(*polygon_lonlat.bounds, transform=src.transform)
        window = window.round_offsets().round_lengths()
        data = src.read(1, window=window, masked=True)
        transform = src.window_transform(window)
    rows, cols = np.indices(data.shape)
    xs, ys = rasterio.transform.xy(transform, rows.ravel(), cols.ravel())
    inside = shapely.contains_xy(polygon_lonlat, np.asarray(xs), np.asarray(ys))
    return float(data.filled(0).ravel()[inside].sum())


def blocks_from_raster(recipe: Recipe, crs: str, problems: ProblemCollector) -> DemandResult | None:
    """Blocks from population rasters: zonal sums over zones or over a tessellation."""
    raster = recipe.raster
    assert raster is not None
    notes: list[str] = []
    if raster.zones is not None:
        zones = read_source(raster.zones, crs, problems)
        if zones is None:
            return None
        if "block_id" not in zones.columns:
            zones["block_id"] = [f"Z{i + 1}" for i in range(len(zones))]
        geoms = zones.geometry.to_numpy()
        ids = zones["block_id"].astype(str).to_numpy()
        notes.append(f"zones: {len(zones)} polygons from {raster.zones.label}")
    else:
        area = area_polygon(recipe, crs, problems)
        if area is None:
            return None
        geoms = tessellate(area, recipe.tessellation_shape, recipe.tessellation_size_m)
        ids = np.array([f"C{i + 1}" for i in range(len(geoms))], dtype=object)
        notes.append(
            f"zones: {len(geoms)} {recipe.tessellation_shape} cells "
            f"{recipe.tessellation_size_m:g} m across, clipped to the area "
            f"({shapely.area(area) / 1e6:,.2f} km²)"
        )
    zones_gdf = gpd.GeoDataFrame({"block_id": ids}, geometry=geoms, crs=crs)
    sums = zonal_sums(zones_gdf, raster)
    files = sum(len(f) for f in raster.bands.values())
    notes.append(
        f"raster: exact area-weighted sums (exactextract) of {files} files into "
        f"{', '.join(raster.bands)}"
    )
    blocks = gpd.GeoDataFrame(
        {"block_id": ids, "name": ids, **{g: sums[g].to_numpy() for g in sums.columns}},
        geometry=geoms,
        crs=crs,
    )
    blocks["source"] = "raster"
    stats: dict[str, float | int | str] = {
        f"raster_sum_{g}": float(sums[g].sum()) for g in sums.columns
    }
    filled = fill_groups(blocks, recipe.assumptions, notes)
    return DemandResult(_finish(filled, recipe.min_population, notes), notes, stats)
