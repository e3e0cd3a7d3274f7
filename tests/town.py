"""A small town for the deliverables' tests: polygons, streets and a phased budget.

Fifteen 110 m blocks on a 150 m grid (5 x 3) between streets, five candidate sites at street
corners, one existing convenience store; elder care and convenience within 300 m walked along
the streets; two annual budgets. Small enough to plan in about a second, rich enough for
every part of the report (polygons, a street network, new and old areas, years, budgets).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import yaml

from tests.helpers import SIMPLE_CATALOG, X0, Y0

STEP, SIDE = 150.0, 110.0
NX, NY = 5, 3


def town_tables() -> dict[str, gpd.GeoDataFrame]:
    """The town's layers (blocks, sites, existing, streets) in EPSG:4548."""
    crs = "EPSG:4548"
    cx, cy = np.meshgrid(np.arange(NX) * STEP, np.arange(NY) * STEP)
    cx, cy = cx.ravel() + X0, cy.ravel() + Y0
    n = cx.size
    half = SIDE / 2
    blocks = gpd.GeoDataFrame(
        {
            "block_id": [f"B{i + 1:02d}" for i in range(n)],
            "name": [f"小区{i + 1}" for i in range(n)],
            "population": 800 + 100 * (np.arange(n) % 4),
            "households": 300,
            "pop_0_2": 15,
            "pop_3_5": 25,
            "pop_60_plus": 150 + 10 * (np.arange(n) % 3),
            "area_type": np.where(cx < X0 + 2 * STEP, "old", "new"),
        },
        geometry=shapely.box(cx - half, cy - half, cx + half, cy + half),
        crs=crs,
    )
    # streets halfway between block rows and columns, beyond the edge blocks: one segment
    # between each pair of neighbouring crossings (a network joins lines at shared vertices)
    xs = X0 - STEP / 2 + STEP * np.arange(NX + 1)
    ys = Y0 - STEP / 2 + STEP * np.arange(NY + 1)
    lines = [shapely.LineString([(x, y0), (x, y1)]) for x in xs for y0, y1 in pairwise(ys)] + [
        shapely.LineString([(x0, y), (x1, y)]) for y in ys for x0, x1 in pairwise(xs)
    ]
    streets = gpd.GeoDataFrame(
        {"street_id": [f"W{i}" for i in range(len(lines))]}, geometry=lines, crs=crs
    )
    corners = [(0, 0), (2, 1), (4, 2), (1, 3), (5, 1)]
    site_xy = np.array([(xs[i], ys[j]) for i, j in corners])
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"S{i + 1}" for i in range(len(corners))],
            "name": [f"{i + 1}号社区用房" for i in range(len(corners))],
            "kind": "idle_building",
            "floor_area_m2": 900.0,
            "fixed_cost": [100_000.0, 120_000.0, 90_000.0, 150_000.0, 80_000.0],
            "available_year": [2026, 2026, 2026, 2027, 2027],
        },
        geometry=shapely.points(site_xy),
        crs=crs,
    )
    existing = gpd.GeoDataFrame(
        {"facility_id": ["E1"], "name": ["便利店"], "type": ["convenience"], "capacity": [80.0]},
        geometry=shapely.points([(xs[3], ys[0])]),
        crs=crs,
    )
    return {"blocks": blocks, "sites": sites, "existing": existing, "streets": streets}


def write_town(folder: Path, **model: Any) -> Path:
    """Write the town's GeoPackage and a phased scenario beside it; return the scenario."""
    folder.mkdir(parents=True, exist_ok=True)
    gpkg = folder / "town.gpkg"
    for layer, gdf in town_tables().items():
        gdf.to_file(gpkg, layer=layer, driver="GPKG")
    scenario = {
        "name": "town",
        "description": "A five-by-three grid town for the deliverables' tests.",
        "crs": "EPSG:4548",
        "inputs": {
            layer: {"path": "town.gpkg", "layer": layer}
            for layer in ("blocks", "sites", "existing")
        }
        | {"network": {"path": "town.gpkg", "layer": "streets"}},
        "facility_types": ["elder_care", "convenience"],
        "distances": {"mode": "network", "snap_tolerance_m": 100},
        "catalog": SIMPLE_CATALOG,
        "model": {
            "objective": "max_coverage",
            "budgets": {2026: 1_500_000, 2027: 1_000_000},
            "essential_checks": 1,
        }
        | model,
        "solver": {"name": "highs", "time_limit_s": 30},
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True), "utf-8")
    return path
