"""One test per validation rule: each names the file, the column and the offending ids."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from optimizer.errors import InputError, ScenarioError
from optimizer.inputs import id_text, read_inputs
from optimizer.scenario import load_scenario
from tests.helpers import X0, Y0, blocks_frame, existing_frame, sites_frame, write_scenario


def _problems(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_inputs(load_scenario(path))
    return str(info.value)


def _ok_tables() -> tuple:
    return (
        blocks_frame([0, 100, 200]),
        sites_frame([0, 100], floor=[500, 500], fixed=[1, 1]),
    )


def test_valid_inputs_pass(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    inputs = read_inputs(load_scenario(write_scenario(tmp_path, blocks, sites)))
    assert len(inputs.blocks) == 3 and inputs.crs.to_epsg() == 4548


def test_missing_column(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    msg = _problems(write_scenario(tmp_path, blocks.drop(columns=["pop_60_plus"]), sites))
    assert "blocks.csv, column 'pop_60_plus': required column missing" in msg


def test_duplicate_ids(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks.loc[2, "block_id"] = "B1"
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "blocks.csv, column 'block_id': duplicate ids (1: B1)" in msg


def test_negative_population(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks.loc[1, "population"] = -5
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "column 'population': negative values (1: B2)" in msg


def test_missing_population(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks["population"] = blocks["population"].astype(float)
    blocks.loc[0, "population"] = float("nan")
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "column 'population': missing values (1: B1)" in msg


def test_age_group_larger_than_population(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks.loc[2, "pop_60_plus"] = 5000
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "column 'pop_60_plus': age group larger than the population (1: B3)" in msg


def test_age_groups_sum_larger_than_population(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks.loc[0, ["pop_0_2", "pop_3_5", "pop_60_plus"]] = [400, 400, 400]
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "age groups add up to more than the population (1: B1)" in msg


def test_non_positive_floor_area(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    sites.loc[1, "floor_area_m2"] = 0
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "sites.csv, column 'floor_area_m2': floor area must be positive (1: S2)" in msg


def test_unknown_facility_types_in_sites_and_existing(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    sites["allowed_types"] = ["elder_care,spa", ""]
    existing = existing_frame([0], ["sauna"])
    msg = _problems(write_scenario(tmp_path, blocks, sites, existing))
    assert "sites.csv, column 'allowed_types': unknown facility types spa" in msg
    assert "(1: S1)" in msg
    assert "existing.csv, column 'type': unknown facility types sauna" in msg


def test_empty_table(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    msg = _problems(write_scenario(tmp_path, blocks, sites.iloc[0:0]))
    assert "sites.csv: the table is empty" in msg


def _gpkg_scenario(tmp_path: Path, blocks: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> Path:
    blocks.to_file(tmp_path / "city.gpkg", layer="blocks", engine="pyogrio")
    sites.to_file(tmp_path / "city.gpkg", layer="sites", engine="pyogrio")
    scenario = {
        "name": "gpkg",
        "inputs": {
            "blocks": {"path": "city.gpkg", "layer": "blocks"},
            "sites": "city.gpkg#sites",
        },
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


def _as_gdf(df, crs: str = "EPSG:4548") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        df.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(df["x"], df["y"]), crs=crs
    )


def test_geographic_crs(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    b = _as_gdf(blocks).to_crs("EPSG:4326")
    s = _as_gdf(sites).to_crs("EPSG:4326")
    msg = _problems(_gpkg_scenario(tmp_path, b, s))
    assert "city.gpkg (layer blocks), column 'geometry': geographic CRS" in msg
    assert "city.gpkg (layer sites), column 'geometry': geographic CRS" in msg


def test_mismatched_crs(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    msg = _problems(_gpkg_scenario(tmp_path, _as_gdf(blocks), _as_gdf(sites).to_crs("EPSG:3857")))
    assert "city.gpkg (layer sites), column 'geometry': CRS EPSG:3857 differs from" in msg


def test_unsupported_geometry(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    b = _as_gdf(blocks)
    b.loc[1, "geometry"] = shapely.LineString([(X0, Y0), (X0 + 50, Y0 + 50)])
    msg = _problems(_gpkg_scenario(tmp_path, b, _as_gdf(sites)))
    assert "unsupported geometry types LineString" in msg and "(1: B2)" in msg


def test_gpkg_polygons_use_representative_points(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    b = _as_gdf(blocks)
    b["geometry"] = b.geometry.buffer(40)
    inputs = read_inputs(load_scenario(_gpkg_scenario(tmp_path, b, _as_gdf(sites))))
    assert inputs.blocks.loc[0, "x"] == pytest.approx(X0, abs=40)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks.loc[0, "population"] = -1
    blocks.loc[1, "block_id"] = "B3"
    sites.loc[0, "floor_area_m2"] = -10
    with pytest.raises(InputError) as info:
        read_inputs(load_scenario(write_scenario(tmp_path, blocks, sites)))
    assert len(info.value.problems) >= 3
    text = str(info.value)
    assert "B1" in text and "B3" in text and "S1" in text


def test_lon_lat_csv_is_projected(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    pts = gpd.GeoSeries(gpd.points_from_xy(blocks["x"], blocks["y"]), crs="EPSG:4548")
    ll = pts.to_crs("EPSG:4326")
    blocks = blocks.drop(columns=["x", "y"]).assign(lon=ll.x, lat=ll.y)
    inputs = read_inputs(load_scenario(write_scenario(tmp_path, blocks, sites)))
    assert inputs.blocks["x"].tolist() == pytest.approx([X0, X0 + 100, X0 + 200], abs=0.01)


# ------------------------------------------------------------------- the scenario file


def test_unknown_scenario_key_and_missing_file(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    path = write_scenario(tmp_path, blocks, sites, budgett=5)
    (tmp_path / "sites.csv").unlink()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "'budgett' was unexpected" in str(info.value)
    path = write_scenario(tmp_path, blocks, sites)
    (tmp_path / "sites.csv").unlink()
    with pytest.raises(ScenarioError, match=r"key 'inputs.sites': file not found"):
        load_scenario(path)


def test_unknown_type_in_scenario_and_bad_catalog_override(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    path = write_scenario(
        tmp_path,
        blocks,
        sites,
        facility_types=["elder_care", "gym"],
        catalog={"elder_care": {"walk_limit_m": -300}},
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "key 'facility_types': unknown facility types" in text and "gym" in text
    assert "catalog.elder_care.walk_limit_m" in text


def test_catalog_override_changes_the_numbers(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    path = write_scenario(tmp_path, blocks, sites, catalog={"elder_care": {"walk_limit_m": 500}})
    assert load_scenario(path).catalog["elder_care"].walk_limit_m == 500


# ------------------------------------------------------------------- numbers, ids, encodings


def test_ids_are_text_as_written(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks["block_id"] = ["001", "01", "1"]
    inputs = read_inputs(load_scenario(write_scenario(tmp_path, blocks, sites)))
    assert inputs.blocks["block_id"].tolist() == ["001", "01", "1"]


def test_number_ids_of_a_geopackage_lose_no_digits_and_gain_no_decimals() -> None:
    column = pd.Series([17.0, 3.0, np.nan])
    assert id_text(column).tolist()[:2] == ["17", "3"] and id_text(column).isna().iloc[2]
    assert id_text(pd.Series([5, 12])).tolist() == ["5", "12"]


def test_infinite_numbers_are_named_with_their_ids(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks["population"] = blocks["population"].astype(float)
    blocks.loc[1, "population"] = np.inf
    sites["fixed_cost"] = [1.0, -np.inf]
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "blocks.csv, column 'population': infinite values" in msg and "(1: B2)" in msg
    assert "sites.csv, column 'fixed_cost': infinite values" in msg and "(1: S2)" in msg


def test_available_year_within_a_sane_range(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    sites["available_year"] = [1e20, 2027]
    msg = _problems(write_scenario(tmp_path, blocks, sites))
    assert "column 'available_year': must lie within 1900-2200 (1: S1)" in msg


def test_degrees_in_a_projected_geopackage(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    b = gpd.GeoDataFrame(
        blocks.drop(columns=["x", "y"]),
        geometry=gpd.points_from_xy([116.1, 116.2, 116.3], [37.4, 37.4, 37.4]),
        crs="EPSG:4548",
    )
    msg = _problems(_gpkg_scenario(tmp_path, b, _as_gdf(sites)))
    assert "city.gpkg (layer blocks), column 'geometry': the coordinates look like degrees" in msg


def test_gbk_csv_with_chinese_names_is_read(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    blocks["name"] = ["一号院", "二号院", "三号院"]
    path = write_scenario(tmp_path, blocks, sites)
    csv = tmp_path / "blocks.csv"
    csv.write_bytes(csv.read_text(encoding="utf-8").encode("gbk"))
    inputs = read_inputs(load_scenario(path))
    assert inputs.blocks["name"].tolist() == ["一号院", "二号院", "三号院"]


def test_scenario_numbers_written_1e8_are_numbers(tmp_path: Path) -> None:
    blocks, sites = _ok_tables()
    path = write_scenario(tmp_path, blocks, sites)
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "model: {objective: max_coverage, budgets: 1e8}\n", encoding="utf-8")
    assert load_scenario(path).model.single_budget == 1e8
