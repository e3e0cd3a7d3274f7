"""`siting prepare`: raw data (OSM, rasters, spreadsheets) to inputs, a scenario and a report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml
from pyproj import Transformer
from rasterio.windows import Window

from optimizer.cli import main
from optimizer.distances.network import StreetNetwork
from optimizer.errors import ProblemCollector, ScenarioError
from optimizer.inputs import read_table
from optimizer.prepare import load_recipe, prepare
from optimizer.prepare.coords import (
    bd09_to_gcj02,
    gauss_kruger_zone_epsg,
    gcj02_to_wgs84,
    wgs84_to_gcj02,
)
from optimizer.prepare.network import analyse_network, connect_pieces
from optimizer.scenario import TableSpec

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
HAIDIAN = REALDATA / "beijing-haidian-osm" / "cau_haidian_map.osm"
WUHAN = REALDATA / "wuhan-worldpop-60plus"
needs_haidian = pytest.mark.skipif(not HAIDIAN.exists(), reason="shared real data not present")
needs_wuhan = pytest.mark.skipif(not WUHAN.exists(), reason="shared real data not present")

# reference points in mainland China (GCJ-02 as a map service would export them)
REFERENCE_LONLAT = np.array(
    [
        [116.35, 39.99],  # Haidian
        [114.30, 30.58],  # Wuhan
        [121.47, 31.23],  # Shanghai
        [113.26, 23.13],  # Guangzhou
        [87.62, 43.82],  # Urumqi
        [126.63, 45.75],  # Harbin
        [102.71, 25.04],  # Kunming
    ]
)


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(a))


# ----------------------------------------------------------------------------- coordinates


def test_gcj02_to_wgs84_within_a_metre_of_an_independent_implementation() -> None:
    evil = pytest.importorskip("eviltransform")  # googollee's implementation (dev extra)
    lon, lat = REFERENCE_LONLAT.T
    ours = gcj02_to_wgs84(lon, lat)
    theirs = np.array([evil.gcj2wgs_exact(la, lo) for lo, la in zip(lon, lat, strict=True)])
    gap = haversine_m(ours[0], ours[1], theirs[:, 1], theirs[:, 0])
    assert gap.max() < 1.0, gap
    # and the offset is real: hundreds of metres, not a no-op
    assert haversine_m(lon, lat, ours[0], ours[1]).min() > 100.0


def test_forward_and_bd09_agree_with_the_independent_implementation() -> None:
    evil = pytest.importorskip("eviltransform")
    lon, lat = REFERENCE_LONLAT.T
    fwd = wgs84_to_gcj02(lon, lat)
    theirs = np.array([evil.wgs2gcj(la, lo) for lo, la in zip(lon, lat, strict=True)])
    assert haversine_m(fwd[0], fwd[1], theirs[:, 1], theirs[:, 0]).max() < 0.1
    bd = bd09_to_gcj02(lon, lat)
    theirs_bd = np.array([evil.bd2gcj(la, lo) for lo, la in zip(lon, lat, strict=True)])
    assert haversine_m(bd[0], bd[1], theirs_bd[:, 1], theirs_bd[:, 0]).max() < 1.0


def test_gcj02_round_trip_and_no_offset_outside_china() -> None:
    lon, lat = REFERENCE_LONLAT.T
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert haversine_m(lon, lat, back[0], back[1]).max() < 0.01
    paris = gcj02_to_wgs84(np.array([2.35]), np.array([48.85]))
    assert paris[0][0] == 2.35 and paris[1][0] == 48.85


def test_auto_crs_picks_the_gauss_kruger_zone() -> None:
    assert gauss_kruger_zone_epsg(116.35) == "EPSG:4548"
    assert gauss_kruger_zone_epsg(114.30) == "EPSG:4547"
    assert gauss_kruger_zone_epsg(118.6) == "EPSG:4549"  # nearer 120E than 117E
    with pytest.raises(ScenarioError.__mro__[1]):  # InputError
        gauss_kruger_zone_epsg(2.35)


# ---------------------------------------------------------------------------- the recipe


def test_recipe_problems_are_listed_together(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: x\nosm: missing.osm\ncolour: red\nassumptions: {m2_per_person: -1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as err:
        load_recipe(path)
    text = str(err.value)
    assert "colour" in text and "m2_per_person" in text


def test_recipe_without_demand_or_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nsites: {tables: [{path: nope.csv}]}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_recipe(path)
    assert "no demand source" in str(err.value) and "nope.csv" in str(err.value)


# ------------------------------------------------------------------------------- network


def test_connect_gaps_joins_pieces_within_the_distance() -> None:
    lines = shapely.linestrings(
        [[[0, 0], [100, 0]], [[110, 0], [200, 0]], [[200, 500], [300, 500]]]
    )
    net = StreetNetwork.from_geometries(lines, None)
    assert int(net.component.max()) + 1 == 3
    a, _, d = connect_pieces(net, 20.0)
    assert a.size == 1 and d[0] == pytest.approx(10.0)
    assert connect_pieces(net, 5.0)[0].size == 0
    blocks = gpd.GeoDataFrame(
        {"block_id": ["B1", "B2"]}, geometry=shapely.points([[50, 5], [150, 5]])
    )
    sites = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=shapely.points([[250, 505]]))
    result = analyse_network(net, blocks, sites, 20.0, 50.0)
    assert result.facts["pieces"] == 3 and result.facts["pieces_after_connect"] == 2
    assert result.facts["connectors"] == 1
    assert result.facts["sites_cut_off_after_connect"] == ["S1"]
    assert int(result.streets["connector"].sum()) == 1


# ------------------------------------------------------- Haidian: OSM alone -> a plan


@needs_haidian
def test_haidian_osm_alone_prepares_a_valid_scenario_and_report(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    assert (
        main(["prepare", str(ROOT / "scenarios" / "haidian-prepare.yaml"), "--out", str(out), "-q"])
        == 0
    )
    for name in ("inputs.gpkg", "scenario.yaml", "quality.md", "quality.json"):
        assert (out / name).exists(), name
    assert main(["validate", str(out / "scenario.yaml"), "-q"]) == 0
    report = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert report["crs"] == "EPSG:4548"
    names = {a["name"]: a["value"] for a in report["assumptions"]}
    assert names["m2_per_person"] == 36 and names["default_floors"] == 6
    assert report["demand"]["blocks"] > 5 and report["demand"]["totals"]["population"] > 1000
    net = report["network"]
    assert net["pieces"] > 1 and len(report["network_pieces"]) == net["pieces"]
    text = (out / "quality.md").read_text(encoding="utf-8")
    for phrase in (
        "m² per person",
        "storeys",
        "connected pieces",
        "connect_gaps_m",
        "building=yes",
        "share_60_plus",
    ):
        assert phrase in text, phrase
    blocks = gpd.read_file(out / "inputs.gpkg", layer="blocks")
    assert blocks["population"].sum() == pytest.approx(report["demand"]["totals"]["population"])
    pieces = gpd.read_file(out / "inputs.gpkg", layer="network_pieces")
    assert len(pieces) == net["pieces"]


@needs_haidian
@pytest.mark.slow
def test_haidian_prepared_scenario_plans(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    prepare(ROOT / "scenarios" / "haidian-prepare.yaml", out)
    plan_out = tmp_path / "plan"
    assert main(["plan", str(out / "scenario.yaml"), "--out", str(plan_out), "-q"]) == 0
    summary = json.loads((plan_out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "OPTIMAL"
    built = pd.read_csv(plan_out / "construction_list.csv")
    assert len(built) > 0


@needs_haidian
def test_connect_gaps_leaves_fewer_pieces_on_haidian(tmp_path: Path) -> None:
    recipe = yaml.safe_load((ROOT / "scenarios" / "haidian-prepare.yaml").read_text("utf-8"))
    recipe["osm"] = str(HAIDIAN)
    recipe["network"]["connect_gaps_m"] = 60
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    result = prepare(path, tmp_path / "out")
    facts = result.report.network
    assert facts is not None and facts["connectors"] > 0
    assert facts["pieces_after_connect"] < facts["pieces"]
    assert not facts["blocks_cut_off_after_connect"]
    streets = gpd.read_file(result.gpkg, layer="streets")
    assert int(streets["connector"].sum()) == facts["connectors"]


# ---------------------------------------------- Wuhan: age-band rasters -> an elder-care plan


def _aligned_bbox(path: Path, col: int, row: int, size: int) -> tuple[list[float], float]:
    """A lon/lat box on whole raster cells, and the plain sum of those cells in every file."""
    with rasterio.open(path) as src:
        window = Window(col, row, size, size)
        x0, y0, x1, y1 = rasterio.windows.bounds(window, src.transform)
    total = 0.0
    for f in sorted(WUHAN.glob("pop_*_wuhan.tif")):
        with rasterio.open(f) as src:
            total += float(src.read(1, window=window, masked=True).filled(0).sum())
    return [x0, y0, x1, y1], total


def _small_wuhan_recipe(tmp_path: Path) -> tuple[Path, list[float], float]:
    """The committed Wuhan recipe on a ~2 km box of whole raster cells (and their plain sum)."""
    recipe = yaml.safe_load(
        (ROOT / "scenarios" / "wuhan-elder-prepare.yaml").read_text(encoding="utf-8")
    )
    bands = sorted(str(p) for p in WUHAN.glob("pop_*_wuhan.tif"))
    assert len(bands) == 10
    bbox, expected = _aligned_bbox(Path(bands[0]), 690, 910, 24)  # ~2 km square, central Hankou
    recipe["demand"]["raster"]["bands"] = {"pop_60_plus": bands}
    recipe["demand"]["area"] = {"bbox": bbox}
    recipe["demand"]["tessellation"] = {"shape": "hexagon", "size_m": 250}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path, bbox, expected


@needs_wuhan
def test_wuhan_raster_demand_equals_the_raster_sum(tmp_path: Path) -> None:
    path, bbox, expected = _small_wuhan_recipe(tmp_path)
    result = prepare(path, tmp_path / "out")
    total = result.report.totals["pop_60_plus"]
    assert expected > 1000
    assert abs(total - expected) / expected < 0.005, (total, expected)
    blocks = gpd.read_file(result.gpkg, layer="blocks")
    assert len(blocks) > 20
    # the cells tile the area: their areas add up to the box's projected area
    box = gpd.GeoSeries([shapely.segmentize(shapely.box(*bbox), 1e-4)], crs=4326).to_crs(
        result.report.crs
    )
    assert blocks.geometry.area.sum() == pytest.approx(float(box.area.iloc[0]), rel=1e-3)


@needs_wuhan
@pytest.mark.slow
def test_wuhan_elder_care_plan_on_the_tessellation(tmp_path: Path) -> None:
    path, _, _ = _small_wuhan_recipe(tmp_path)
    result = prepare(path, tmp_path / "out")
    plan_out = tmp_path / "plan"
    assert main(["plan", str(result.scenario), "--out", str(plan_out), "-q"]) == 0
    summary = json.loads((plan_out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "OPTIMAL"


# ------------------------------------- Chinese spreadsheets: GBK / GB18030 headers, GCJ-02


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_and_gb18030_tables_with_chinese_headers(tmp_path: Path, encoding: str) -> None:
    crs = "EPSG:4548"
    to_gk = Transformer.from_crs(4326, crs, always_xy=True)
    cx, cy = to_gk.transform(116.35, 39.99)
    blocks = gpd.GeoDataFrame(
        {"社区": ["甲", "乙"], "人口": [3000, 5000]},
        geometry=[shapely.box(cx - 200, cy - 200, cx, cy), shapely.box(cx, cy, cx + 200, cy + 200)],
        crs=crs,
    )
    blocks.to_file(tmp_path / "blocks.gpkg", layer="社区", driver="GPKG")
    name = "闲置用房㐀" if encoding == "gb18030" else "闲置用房"  # 㐀: beyond GBK
    gcj_lon, gcj_lat = wgs84_to_gcj02(np.array([116.3505]), np.array([39.9905]))
    table = pd.DataFrame(
        {"编号": ["S01"], "名称": [name], "经度": gcj_lon, "纬度": gcj_lat, "建筑面积": [900]}
    )
    (tmp_path / "sites.csv").write_bytes(table.to_csv(index=False).encode(encoding))
    (tmp_path / "r.yaml").write_text(
        "name: cn\ncrs: EPSG:4548\nfacility_types: [elder_care]\n"
        "demand:\n  polygons: {path: blocks.gpkg, layer: 社区, "
        "columns: {block_id: 社区, population: 人口}}\n"
        "sites:\n  tables:\n    - {path: sites.csv, coords: gcj02, "
        "columns: {site_id: 编号, name: 名称, lon: 经度, lat: 纬度, floor_area_m2: 建筑面积}}\n",
        encoding="utf-8",
    )
    result = prepare(tmp_path / "r.yaml", tmp_path / "out")
    sites = gpd.read_file(result.gpkg, layer="sites")
    assert sites["site_id"].tolist() == ["S01"] and sites["name"].tolist() == [name]
    assert sites["floor_area_m2"].tolist() == [900]
    # GCJ-02 was undone: the site sits at its WGS84 position, not ~500 m off
    wx, wy = to_gk.transform(116.3505, 39.9905)
    point = sites.geometry.iloc[0]
    assert math.hypot(point.x - wx, point.y - wy) < 1.0
    got = gpd.read_file(result.gpkg, layer="blocks")
    assert sorted(got["block_id"]) == ["乙", "甲"] and got["population"].sum() == 8000
    # households and age groups from the stated shares
    assert got["pop_60_plus"].sum() == pytest.approx(8000 * 0.187)


# ------------------------------- the plan's readers: CSV column mapping, lon/lat GeoPackage


def test_csv_column_mapping_is_read(tmp_path: Path) -> None:
    path = tmp_path / "blocks.csv"
    path.write_text("ID,x,y\nB1,500000,4400000\n", encoding="utf-8")
    problems = ProblemCollector()
    gdf = read_table(TableSpec(path=path, columns={"block_id": "ID"}), "EPSG:4548", problems)
    assert not problems, problems.problems
    assert gdf is not None and gdf["block_id"].tolist() == ["B1"]
    problems = ProblemCollector()
    read_table(TableSpec(path=path, columns={"block_id": "NOPE"}), "EPSG:4548", problems)
    assert "NOPE" in str(problems.problems[0])


def test_geopackage_column_mapping_is_read(tmp_path: Path) -> None:
    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame(
        {"ID": ["B1"]}, geometry=shapely.points([[500000, 4400000]]), crs="EPSG:4548"
    ).to_file(path, layer="b")
    problems = ProblemCollector()
    gdf = read_table(
        TableSpec(path=path, layer="b", columns={"block_id": "ID"}), "EPSG:4548", problems
    )
    assert not problems and gdf is not None and gdf["block_id"].tolist() == ["B1"]


def test_lon_lat_geopackage_layers_are_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame(
        {"block_id": ["B1"]}, geometry=shapely.points([[116.35, 39.99]]), crs="EPSG:4326"
    ).to_file(path, layer="b")
    problems = ProblemCollector()
    gdf = read_table(TableSpec(path=path, layer="b"), "EPSG:4548", problems)
    assert not problems and gdf is not None
    assert gdf.crs.equals("EPSG:4548")
    x, y = Transformer.from_crs(4326, 4548, always_xy=True).transform(116.35, 39.99)
    assert gdf.geometry.iloc[0].x == pytest.approx(x) and gdf.geometry.iloc[0].y == pytest.approx(y)
