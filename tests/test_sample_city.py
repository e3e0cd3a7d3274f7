"""Tests for the sample-city generator (data/make_sample_city.py) and the committed GeoPackage."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "data" / "make_sample_city.py"
COMMITTED = ROOT / "data" / "sample_city.gpkg"

SMALL = 30_000
SEED = 20261122
FACILITY_TYPES = {
    "elder_care",
    "nursery",
    "kindergarten",
    "convenience",
    "community_service",
    "health_station",
}
SITE_KINDS = {"idle_building", "vacant_lot", "existing_stock", "purchase"}
HIGHWAYS = {"primary", "secondary", "tertiary", "residential", "service", "footway"}
COLUMNS = {
    "blocks": [
        "block_id",
        "name",
        "population",
        "households",
        "pop_0_2",
        "pop_3_5",
        "pop_60_plus",
        "area_type",
    ],
    "sites": [
        "site_id",
        "name",
        "kind",
        "floor_area_m2",
        "fixed_cost",
        "cost_per_m2",
        "allowed_types",
        "available_year",
    ],
    "existing": ["facility_id", "name", "type", "capacity"],
    "streets": ["street_id", "highway", "name"],
    "river": ["name"],
    "rail": ["name"],
}
ID_COLUMN = {"blocks": "block_id", "sites": "site_id", "existing": "facility_id"}
# per 300,000 residents (the ranges the committed file must meet)
PER_300K = {"blocks": (600, 1000), "sites": (400, 800), "existing": (50, 150)}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_city", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="module")
def small(gen: ModuleType) -> dict[str, gpd.GeoDataFrame]:
    return gen.generate_city(residents=SMALL, seed=SEED)


def _giant_share(streets: gpd.GeoDataFrame) -> float:
    """Share of nodes (line endpoints rounded to 0.01 m) in the largest component."""
    geoms = streets.geometry.to_numpy()
    ends = np.concatenate(
        [
            shapely.get_coordinates(shapely.get_point(geoms, 0)),
            shapely.get_coordinates(shapely.get_point(geoms, -1)),
        ]
    )
    keys = np.round(ends, 2)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    n, m = int(inv.max()) + 1, len(geoms)
    graph = coo_matrix((np.ones(m), (inv[:m], inv[m:])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return float(np.bincount(labels).max() / n)


def _check_layers(layers: dict[str, gpd.GeoDataFrame], residents: int) -> None:
    """Contract checks shared by the small generated city and the committed file."""
    for name, cols in COLUMNS.items():
        gdf = layers[name]
        assert gdf.crs is not None and gdf.crs.to_epsg() == 4548, name
        assert list(gdf.columns[gdf.columns != gdf.geometry.name]) == cols, name
        assert gdf.geometry.notna().all() and not gdf.geometry.is_empty.any(), name
    for name, col in ID_COLUMN.items():
        assert layers[name][col].is_unique, name
    assert layers["streets"]["street_id"].is_unique

    b = layers["blocks"]
    assert (b.geom_type == "Polygon").all() and b.is_valid.all()
    assert (b["population"] > 0).all()
    for col in ("households", "pop_0_2", "pop_3_5", "pop_60_plus"):
        assert pd.api.types.is_integer_dtype(b[col]), col
        assert (b[col] >= 0).all(), col
        assert (b[col] <= b["population"]).all(), col
    assert (b["pop_0_2"] + b["pop_3_5"] + b["pop_60_plus"] <= b["population"]).all()
    assert abs(b["population"].sum() - residents) <= 0.01 * residents
    assert set(b["area_type"]) == {"old", "new"}
    assert 0.30 <= (b["area_type"] == "old").mean() <= 0.45
    hh_per_1000 = 1000 * b["households"].sum() / b["population"].sum()
    assert 350 <= hh_per_1000 <= 372
    share_60 = b["pop_60_plus"].sum() / b["population"].sum()
    assert 0.19 <= share_60 <= 0.22

    s = layers["sites"]
    assert (s.geom_type == "Point").all()
    assert set(s["kind"]) <= SITE_KINDS
    assert (s["floor_area_m2"] > 0).all() and (s["fixed_cost"] >= 0).all()
    assert (s["cost_per_m2"] > 0).all()
    assert s["available_year"].between(2026, 2028).all()
    for allowed in s["allowed_types"]:
        assert allowed == "" or set(allowed.split(",")) <= FACILITY_TYPES, allowed

    e = layers["existing"]
    assert (e.geom_type == "Point").all()
    assert set(e["type"]) <= FACILITY_TYPES and (e["capacity"] > 0).all()

    w = layers["streets"]
    assert (w.geom_type == "LineString").all()
    assert set(w["highway"]) <= HIGHWAYS
    assert _giant_share(w) >= 0.95


def _share_60(blocks: gpd.GeoDataFrame, area_type: str) -> float:
    sel = blocks[blocks["area_type"] == area_type]
    return float(sel["pop_60_plus"].sum() / sel["population"].sum())


# ---- the generator ----------------------------------------------------------------------------


def test_small_city_contract(small: dict[str, gpd.GeoDataFrame]) -> None:
    _check_layers(small, SMALL)


def test_deterministic(gen: ModuleType, small: dict[str, gpd.GeoDataFrame]) -> None:
    again = gen.generate_city(residents=SMALL, seed=SEED)
    for name, gdf in small.items():
        pd.testing.assert_frame_equal(gdf.to_wkb(), again[name].to_wkb(), check_exact=True)
    other = gen.generate_city(residents=SMALL, seed=SEED + 1)
    assert not small["blocks"].to_wkb().equals(other["blocks"].to_wkb())
    assert not small["sites"].to_wkb().equals(other["sites"].to_wkb())


def test_old_town_is_older(small: dict[str, gpd.GeoDataFrame]) -> None:
    b = small["blocks"]
    assert _share_60(b, "old") > _share_60(b, "new") + 0.05
    # children: new districts younger
    per_1000 = {}
    for area_type in ("old", "new"):
        sel = b[b["area_type"] == area_type]
        per_1000[area_type] = 1000 * sel[["pop_0_2", "pop_3_5"]].sum() / sel["population"].sum()
    assert (per_1000["new"] > per_1000["old"]).all()


def test_sizes_in_proportion(small: dict[str, gpd.GeoDataFrame]) -> None:
    factor = 300_000 / SMALL
    for name, (lo, hi) in PER_300K.items():
        assert lo <= len(small[name]) * factor <= hi, (name, len(small[name]))
    assert 0.5 * len(small["blocks"]) <= len(small["streets"]) / 2 <= 5 * len(small["blocks"])


def test_write_city_atomic(
    gen: ModuleType, small: dict[str, gpd.GeoDataFrame], tmp_path: Path
) -> None:
    out = gen.write_city(small, tmp_path / "city.gpkg")
    assert out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]  # no temp file left
    blocks = gpd.read_file(out, layer="blocks", engine="pyogrio")
    assert blocks["population"].sum() == small["blocks"]["population"].sum()
    assert blocks.crs.to_epsg() == 4548


def test_rejects_tiny_city(gen: ModuleType) -> None:
    with pytest.raises(ValueError, match="residents"):
        gen.generate_city(residents=100)


# ---- the committed file -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed() -> dict[str, gpd.GeoDataFrame]:
    if not COMMITTED.exists():
        pytest.fail(f"{COMMITTED} is missing: run python data/make_sample_city.py")
    return {name: gpd.read_file(COMMITTED, layer=name, engine="pyogrio") for name in COLUMNS}


def test_committed_file(committed: dict[str, gpd.GeoDataFrame]) -> None:
    assert COMMITTED.stat().st_size < 10 * 1024 * 1024
    _check_layers(committed, 300_000)
    for name, (lo, hi) in PER_300K.items():
        assert lo <= len(committed[name]) <= hi, (name, len(committed[name]))
    assert committed["blocks"]["population"].sum() == pytest.approx(300_000, rel=0.01)
    assert _share_60(committed["blocks"], "old") > _share_60(committed["blocks"], "new")
    assert set(committed["sites"]["kind"]) == SITE_KINDS
    assert set(committed["existing"]["type"]) == FACILITY_TYPES


def test_committed_sites_near_streets(
    gen: ModuleType, committed: dict[str, gpd.GeoDataFrame]
) -> None:
    tree = shapely.STRtree(committed["streets"].geometry.to_numpy())
    for layer in ("sites", "existing"):
        _, dist = tree.query_nearest(
            committed[layer].geometry.to_numpy(), return_distance=True, all_matches=False
        )
        assert dist.max() <= 45.0, layer
    # most blocks, but not all, have a site big enough for elder care within ~230 m
    coverage = gen.site_coverage(committed["blocks"], committed["sites"])
    assert 0.6 <= coverage < 0.98


def test_committed_matches_generator(
    gen: ModuleType, committed: dict[str, gpd.GeoDataFrame]
) -> None:
    """The committed file is what the generator makes with its defaults."""
    fresh = gen.generate_city()
    for name in ("blocks", "sites", "existing"):
        pd.testing.assert_frame_equal(
            committed[name].drop(columns="geometry").reset_index(drop=True),
            fresh[name].drop(columns="geometry").reset_index(drop=True),
            check_dtype=False,
        )
    assert len(committed["streets"]) == len(fresh["streets"])
