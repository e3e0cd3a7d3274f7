"""Walking distances along street networks, OSM extracts, OD tables and their bad inputs.

The exactness tests compare the engine with an independent shortest-path computation:
networkx over a graph the test builds itself from the network's segments and the snapped
points (a plain Python loop per segment, sorted along it, with access legs).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
import yaml
from pyproj import CRS, Transformer

from optimizer.cli import main
from optimizer.distances import network as street_network
from optimizer.distances.engine import make_engine
from optimizer.distances.network import (
    NetworkEngine,
    Snap,
    SnapMemo,
    StreetNetwork,
    bounded_pairs,
    read_network,
    routing_graph,
    snap_points,
)
from optimizer.distances.osm import is_walkable, read_osm_ways
from optimizer.errors import InputError, ProblemCollector, ScenarioError
from optimizer.inputs import read_inputs
from optimizer.pipeline import run_plan
from optimizer.scenario import TableSpec, load_scenario
from tests.helpers import X0, Y0, blocks_frame, existing_frame, sites_frame, write_scenario

REPO = Path(__file__).resolve().parents[1]
HAIDIAN = REPO.parent / "shared" / "realdata" / "beijing-haidian-osm" / "cau_haidian_map.osm"
CRS_M = CRS.from_epsg(4548)  # CGCS2000 / 3-degree GK CM 117E: Beijing (116.35 E) and Dezhou


# --------------------------------------------------------------------------- the oracle


def oracle_distances(
    network: StreetNetwork,
    origins: np.ndarray,
    so: Snap,
    dests: np.ndarray,
    sd: Snap,
    cutoff: float,
) -> dict[tuple[int, int], float]:
    """Shortest walks by networkx on a graph built here from segments and snapped points."""
    graph = nx.Graph()
    for k in range(network.n_edges):
        graph.add_edge(("n", int(network.u[k])), ("n", int(network.v[k])), w=network.length[k])
    on_edge: dict[int, list[tuple[float, Any]]] = {}
    for side, (xy, snap) in enumerate(((origins, so), (dests, sd))):
        for i in range(xy.shape[0]):
            k = int(snap.edge[i])
            if k < 0:
                continue
            node = ("p", side, i)
            on_edge.setdefault(k, []).append((float(snap.offset[i]), node))
            a = np.asarray(network.node_xy[network.u[k]])
            b = np.asarray(network.node_xy[network.v[k]])
            proj = a + (b - a) * snap.offset[i] / network.length[k]
            graph.add_edge(node, ("at", node), w=math.dist(xy[i], proj))
    for k, stops in on_edge.items():  # split the segment at every snapped point, in order
        u, v, length = ("n", int(network.u[k])), ("n", int(network.v[k])), network.length[k]
        graph.remove_edge(u, v)
        chain = [(0.0, u), *sorted((o, ("at", n)) for o, n in stops), (length, v)]
        for (o1, n1), (o2, n2) in itertools.pairwise(chain):
            if n1 == n2:
                continue
            w = o2 - o1
            if graph.has_edge(n1, n2):
                w = min(w, graph[n1][n2]["w"])
            graph.add_edge(n1, n2, w=w)
    out: dict[tuple[int, int], float] = {}
    for i in range(origins.shape[0]):
        src = ("p", 0, i)
        if src not in graph:
            continue
        reach = nx.single_source_dijkstra_path_length(graph, src, cutoff=cutoff, weight="w")
        for j in range(dests.shape[0]):
            d = reach.get(("p", 1, j))
            if d is not None and d <= cutoff:
                out[(i, j)] = d
    return out


def as_dict(pairs: Any) -> dict[tuple[int, int], float]:
    return {
        (int(i), int(j)): float(d)
        for i, j, d in zip(pairs.rows, pairs.cols, pairs.dist, strict=True)
    }


def assert_same_distances(got: dict, expect: dict, tol: float = 0.01) -> None:
    assert set(got) == set(expect), (set(got) ^ set(expect), len(got), len(expect))
    worst = max((abs(got[k] - expect[k]) for k in got), default=0.0)
    assert worst <= tol, worst


def brute_force_snap_distance(network: StreetNetwork, xy: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest segment, over every segment (no index)."""
    segs = network.segments
    pts = shapely.points(xy)
    return np.array([shapely.distance(p, segs).min() for p in pts])


# --------------------------------------------------------------------------- hand-built grid


def grid_network() -> StreetNetwork:
    """A 3 x 3 grid of 100 m blocks, corner (0, 0), plus a stranded street far east.

    The grid's lines are long polylines that share vertices at the junctions; the stranded
    street runs from (1000, 0) to (1100, 0).
    """
    lines = [shapely.LineString([(0, y), (100, y), (200, y)]) for y in (0, 100, 200)] + [
        shapely.LineString([(x, 0), (x, 100), (x, 200)]) for x in (0, 100, 200)
    ]
    lines.append(shapely.LineString([(1000, 0), (1100, 0)]))
    return StreetNetwork.from_geometries(np.array(lines, dtype=object), source="grid")


GRID_BLOCKS = np.array(
    [
        [50.0, -10.0],  # A: mid-edge of (0,0)-(100,0), 10 m off the street
        [80.0, 5.0],  # B: same edge as A, 5 m off
        [100.0, 100.0],  # C: exactly on a junction
        [1020.0, -4.0],  # D: on the stranded street
        [600.0, 600.0],  # E: 400 m from any street: not snapped
    ]
)
GRID_SITES = np.array(
    [
        [200.0, 150.0],  # S1: on the street (200,100)-(200,200), no access leg
        [1050.0, 3.0],  # S2: on the stranded street
        [60.0, 2.0],  # S3: same edge as A and B, between them
    ]
)
# walks worked out by hand (metres; access legs included)
GRID_EXPECTED = {
    (0, 0): 10 + 50 + 100 + 100 + 50,  # A -> (100,0) -> (200,0) -> (200,100) -> S1
    (0, 2): 10 + 10 + 2,  # A and S3 on the same edge: straight along it
    (1, 0): 5 + 20 + 100 + 100 + 50,
    (1, 2): 5 + 20 + 2,
    (2, 0): 100 + 50,  # C (on the junction (100,100)) -> (200,100) -> S1
    (2, 2): 100 + 40 + 2,  # C -> (100,0) -> back along the edge to x=60
    (3, 1): 4 + 30 + 3,  # D and S2 share the stranded street
}


def test_grid_walks_equal_hand_computed(caplog: pytest.LogCaptureFixture) -> None:
    engine = NetworkEngine(grid_network(), snap_tolerance_m=200)
    with caplog.at_level(logging.WARNING, logger="optimizer.distances.network"):
        pairs = engine.pairs(
            GRID_BLOCKS,
            GRID_SITES,
            cutoff=400,
            origin_ids=["A", "B", "C", "D", "E"],
            dest_ids=["S1", "S2", "S3"],
            names=("blocks", "sites"),
        )
    assert_same_distances(as_dict(pairs), {k: float(v) for k, v in GRID_EXPECTED.items()}, 1e-9)
    text = caplog.text
    assert "1 of 5 blocks are farther than 200 m from any street" in text and ": E" in text
    assert "1 of 5 blocks are on a piece of street network cut off" in text and ": D" in text
    assert "1 of 3 sites are on a piece" in text and ": S2" in text

    tight = engine.pairs(GRID_BLOCKS, GRID_SITES, cutoff=300)  # A -> S1 is 310 m: left out
    assert (0, 0) not in as_dict(tight) and as_dict(tight)[(1, 0)] == 275
    assert as_dict(engine.pairs(GRID_BLOCKS, GRID_SITES, cutoff=275))[(1, 0)] == 275  # <= limit


def test_grid_matches_oracle_both_directions() -> None:
    network = grid_network()
    engine = NetworkEngine(network, snap_tolerance_m=200)
    so, sd = engine.snap(GRID_BLOCKS), engine.snap(GRID_SITES)
    expect = oracle_distances(network, GRID_BLOCKS, so, GRID_SITES, sd, 400)
    assert_same_distances(as_dict(engine.pairs(GRID_BLOCKS, GRID_SITES, 400)), expect, 1e-9)
    # from the other side (more sites than blocks) the answer is the transpose
    back = engine.pairs(GRID_SITES, GRID_BLOCKS, 400)
    assert_same_distances({(j, i): d for (i, j), d in as_dict(back).items()}, expect, 1e-9)


def test_routing_graph_has_positive_unique_edges() -> None:
    network = grid_network()
    pts = np.array([[50.0, 0.0], [50.0, 0.0], [0.0, 0.0], [100.0, 30.0], [30.0, 1.0]])
    graph = routing_graph(network, [(pts, snap_points(network, pts, 50))])
    a, b, w = graph.edges()
    assert (w > 0).all()
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == a.size
    nodes = graph.point_node[0]
    assert nodes[0] == nodes[1]  # two points at the same spot on a street share their node
    assert nodes[2] < network.n_nodes  # a point on a junction is that junction


def test_tiles_and_threads_give_the_same_pairs() -> None:
    network = jittered_grid(30, 30, spacing=70.0, seed=5)
    rng = np.random.default_rng(11)
    span = network.node_xy.max(axis=0)
    a = rng.uniform(0, span, (300, 2))
    b = rng.uniform(0, span, (120, 2))
    graph = routing_graph(
        network, [(a, snap_points(network, a, 200)), (b, snap_points(network, b, 200))]
    )
    runs = [
        bounded_pairs(graph, graph.point_node[1], graph.point_node[0], 500, tile, workers)
        for tile, workers in ((None, 1), (150.0, 2), (math.inf, 1))
    ]
    keyed = [
        dict(zip(zip(s.tolist(), d.tolist(), strict=True), w, strict=True)) for s, d, w in runs
    ]
    for other in keyed[1:]:
        assert_same_distances(other, keyed[0], 1e-9)
    assert len(keyed[0]) > 500


def jittered_grid(nx_: int, ny: int, spacing: float, seed: int) -> StreetNetwork:
    """A grid of ``nx_`` x ``ny`` jittered nodes with 10 % of the edges removed."""
    rng = np.random.default_rng(seed)
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny), indexing="ij")
    xy = np.column_stack([ix.ravel(), iy.ravel()]) * spacing
    xy = xy + rng.uniform(-0.2, 0.2, xy.shape) * spacing
    idx = np.arange(nx_ * ny).reshape(nx_, ny)
    pairs = np.concatenate(
        [
            np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()]),
            np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
        ]
    )
    pairs = pairs[rng.random(len(pairs)) > 0.1]
    coords = xy[pairs].reshape(-1, 2)
    return StreetNetwork.from_lines(coords, np.repeat(np.arange(len(pairs)), 2), CRS_M, "jitter")


def test_jittered_grid_matches_oracle() -> None:
    network = jittered_grid(25, 25, spacing=70.0, seed=2)
    rng = np.random.default_rng(4)
    span = network.node_xy.max(axis=0)
    a, b = rng.uniform(0, span, (60, 2)), rng.uniform(0, span, (40, 2))
    b[:5] = a[:5] + rng.uniform(-3, 3, (5, 2))  # near-coincident pairs on one edge
    engine = NetworkEngine(network, snap_tolerance_m=100, tile_m=200)
    got = as_dict(engine.pairs(a, b, 600))
    expect = oracle_distances(network, a, engine.snap(a), b, engine.snap(b), 600)
    assert_same_distances(got, expect)
    assert len(expect) > 200


# --------------------------------------------------------------------------- Beijing Haidian OSM

needs_haidian = pytest.mark.skipif(not HAIDIAN.is_file(), reason=f"{HAIDIAN} not available")


def haidian_bounds() -> tuple[np.ndarray, np.ndarray]:
    """The extract's <bounds> projected to CRS_M (lower-left, upper-right)."""
    for _event, elem in ET.iterparse(HAIDIAN, events=("start",)):
        if elem.tag == "bounds":
            b = {k: float(v) for k, v in elem.attrib.items()}
            break
    to_m = Transformer.from_crs(4326, CRS_M, always_xy=True)
    x, y = to_m.transform([b["minlon"], b["maxlon"]], [b["minlat"], b["maxlat"]])
    return np.array([min(x), min(y)]), np.array([max(x), max(y)])


@pytest.fixture(scope="module")
def haidian() -> StreetNetwork:
    problems = ProblemCollector()
    network = read_network(TableSpec(path=HAIDIAN), CRS_M, problems)
    assert not problems and network is not None
    return network


@needs_haidian
def test_haidian_distances_equal_networkx(haidian: StreetNetwork) -> None:
    lo, hi = haidian_bounds()
    rng = np.random.default_rng(2024)
    blocks = rng.uniform(lo, hi, (40, 2))
    sites = rng.uniform(lo, hi, (30, 2))
    engine = NetworkEngine(haidian, snap_tolerance_m=200)
    so, sd = engine.snap(blocks), engine.snap(sites)
    # the snap is the true nearest segment: compare with a brute-force search
    assert so.snapped.all() and sd.snapped.all()
    np.testing.assert_allclose(so.access, brute_force_snap_distance(haidian, blocks), atol=1e-6)
    np.testing.assert_allclose(sd.access, brute_force_snap_distance(haidian, sites), atol=1e-6)
    for cutoff in (3000.0, 500.0):
        got = as_dict(engine.pairs(blocks, sites, cutoff))
        expect = oracle_distances(haidian, blocks, so, sites, sd, cutoff)
        assert_same_distances(got, expect)
    assert len(got) >= 50
    full = as_dict(engine.pairs(blocks, sites, 3000.0))
    assert len(full) >= 200  # at least 200 random block-site pairs checked to 0.01 m
    straight = np.hypot(*(blocks[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    assert all(d >= straight[i, j] - 1e-6 for (i, j), d in full.items())


@needs_haidian
def test_haidian_osm_walkable_ways(haidian: StreetNetwork) -> None:
    ways = read_osm_ways(HAIDIAN)
    counted = {k: v for k, v in ways.highway_counts.items()}
    assert counted["footway"] == 64 and counted["motorway"] == 2
    kept = set(ways.highway.tolist())
    assert {"footway", "primary", "service", "steps", "path"} <= kept
    assert not kept & {"motorway", "motorway_link", "construction"}
    assert haidian.n_edges > 1000 and haidian.crs is not None and haidian.crs.equals(CRS_M)
    assert (haidian.length > 0).all()


@needs_haidian
def test_haidian_pbf_reads_like_xml(tmp_path: Path) -> None:
    osmium = pytest.importorskip("osmium")
    pbf = tmp_path / "haidian.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(HAIDIAN)):
            writer.add(obj)
    xml_ways, pbf_ways = read_osm_ways(HAIDIAN), read_osm_ways(pbf)
    assert xml_ways.n_lines == pbf_ways.n_lines
    np.testing.assert_array_equal(xml_ways.way_id, pbf_ways.way_id)
    np.testing.assert_allclose(xml_ways.lon, pbf_ways.lon, atol=1e-7)
    np.testing.assert_allclose(xml_ways.lat, pbf_ways.lat, atol=1e-7)


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "footway"}, True),
        ({"highway": "residential", "oneway": "yes"}, True),
        ({"highway": "primary"}, True),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway_link"}, False),
        ({"highway": "trunk"}, False),
        ({"highway": "trunk", "sidewalk": "both"}, True),
        ({"highway": "trunk", "sidewalk": "separate"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "cycleway", "foot": "designated"}, True),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "service", "access": "private", "foot": "yes"}, True),
        ({"highway": "footway", "foot": "no"}, False),
        ({"highway": "pedestrian", "area": "yes"}, False),
        ({"highway": "construction"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_walkable_rules(tags: dict[str, str], walkable: bool) -> None:
    assert is_walkable(tags) is walkable


def test_osm_missing_nodes_split_ways(tmp_path: Path) -> None:
    path = tmp_path / "gap.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="37.40" lon="116.30"/><node id="2" lat="37.40" lon="116.301"/>'
        '<node id="4" lat="37.40" lon="116.303"/><node id="5" lat="37.40" lon="116.304"/>'
        '<way id="9"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="5"/>'
        '<tag k="highway" v="footway"/></way></osm>'
    )
    ways = read_osm_ways(path)
    assert ways.n_lines == 2 and ways.way_id.tolist() == [9, 9]
    assert ways.part.tolist() == [0, 0, 1, 1]


# --------------------------------------------------------------------------- service areas


def test_service_area_covers_reachable_streets_only() -> None:
    engine = NetworkEngine(grid_network())
    area = engine.service_area(np.array([[50.0, -10.0]]), 150.0, buffer_m=5.0)
    # 10 m access leg to (50, 0), then 140 m: 50 m to either corner and 90 m beyond, up the
    # x = 0 and x = 100 streets to y = 90 and along y = 0 to x = 190
    inside = [(50, -10), (0, 0), (100, 0), (100, 85), (0, 85), (185, 0), (130, 0)]
    outside = [(100, 100), (0, 100), (197, 0), (200, 100), (50, 100), (50, -20)]
    assert all(area.contains(shapely.Point(p)) for p in inside)
    assert not any(area.contains(shapely.Point(p)) for p in outside)
    off = engine.service_area(np.array([[600.0, 600.0]]), 300.0)
    assert off.is_empty


def test_service_area_of_several_facilities_is_the_union_of_their_reaches() -> None:
    engine = NetworkEngine(grid_network())
    a, b = np.array([[50.0, -10.0]]), np.array([[200.0, 150.0]])
    both = engine.service_area(np.vstack([a, b, [[600.0, 600.0]]]), 120.0, buffer_m=5.0)
    union = shapely.union_all([engine.service_area(p, 120.0, buffer_m=5.0) for p in (a, b)])
    assert both.symmetric_difference(union).area < 1e-6 * union.area
    assert both.area > engine.service_area(a, 120.0, buffer_m=5.0).area


def test_service_areas_reuse_the_snaps_of_the_runs_distances(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = NetworkEngine(grid_network())
    engine.pairs(GRID_BLOCKS, GRID_SITES, 400.0)
    assert len(engine.snaps) == len(GRID_BLOCKS) + len(GRID_SITES)
    expected = snap_points(engine.network, GRID_SITES, engine.snap_tolerance_m)

    def no_snapping(*args: object, **kwargs: object) -> Snap:
        raise AssertionError("a facility was snapped again")

    monkeypatch.setattr(street_network, "snap_points", no_snapping)
    got = engine.snap(GRID_SITES[::-1])
    np.testing.assert_array_equal(got.edge, expected.edge[::-1])
    np.testing.assert_array_equal(got.offset, expected.offset[::-1])
    assert not engine.service_area(GRID_SITES[:1], 150.0).is_empty
    assert len(engine.snaps) == len(GRID_BLOCKS) + len(GRID_SITES)


def test_the_snap_memo_snaps_new_points_once_and_matches_fresh_snaps() -> None:
    network = grid_network()
    memo = SnapMemo(network, 100.0)
    first = memo.snap(GRID_BLOCKS[:3])
    mixed = np.vstack([GRID_BLOCKS[2:], GRID_BLOCKS[:1], GRID_BLOCKS[4:]])  # repeats, new ones
    got, fresh = memo.snap(mixed), snap_points(network, mixed, 100.0)
    assert len(memo) == len(GRID_BLOCKS)
    np.testing.assert_array_equal(got.edge, fresh.edge)
    np.testing.assert_array_equal(got.offset, fresh.offset)
    np.testing.assert_array_equal(got.access, fresh.access)
    np.testing.assert_array_equal(memo.snap(GRID_BLOCKS[:3]).edge, first.edge)


# --------------------------------------------------------------------------- scenarios


def streets_gpkg(path: Path, crs: Any = "EPSG:4548", geoms: list[Any] | None = None) -> Path:
    """The grid of :func:`grid_network` shifted to (X0, Y0), as a GeoPackage layer."""
    if geoms is None:
        geoms = [shapely.affinity.translate(g, X0, Y0) for g in grid_network().segments]
    gpd.GeoDataFrame({"street_id": range(len(geoms))}, geometry=geoms, crs=crs).to_file(
        path, layer="streets", engine="pyogrio"
    )
    return path


def grid_city(folder: Path, **distances: Any) -> Path:
    """Blocks A, B, C and sites S1, S3 of the grid tests as a scenario on the grid streets."""
    folder.mkdir(parents=True, exist_ok=True)
    streets_gpkg(folder / "streets.gpkg")
    blocks = blocks_frame([50, 80, 100], [-10, 5, 100])
    sites = sites_frame([200, 60], floor=[500, 500], fixed=[100_000, 10_000], ys=[150, 2])
    existing = existing_frame([100], ["convenience"], ys=[0])
    return write_scenario(
        folder,
        blocks,
        sites,
        existing,
        inputs={
            "blocks": "blocks.csv",
            "sites": "sites.csv",
            "existing": "existing.csv",
            "network": {"path": "streets.gpkg", "layer": "streets"},
        },
        distances={"mode": "network", **distances},
    )


@pytest.mark.slow
def test_plan_with_network_distances(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    scenario = grid_city(tmp_path / "city", cache_dir="cache")
    with caplog.at_level(logging.INFO, logger="optimizer.distances.network"):
        run = run_plan(scenario, out_dir=tmp_path / "out")
    assert run.summary["distance_mode"] == "network"
    assert "street network" in run.summary["distance_note"]
    assert str(tmp_path / "city" / "streets.gpkg") in run.summary["inputs"]
    coverage = pd.read_csv(tmp_path / "out" / "coverage.csv")
    walk = coverage.set_index(["block_id", "facility_type"])["walk_m"]
    assert walk[("B1", "elder_care")] == pytest.approx(22.0)  # A -> S3 along the shared edge
    assert walk[("B3", "convenience")] == pytest.approx(100.0)  # C -> existing E1 at (100, 0)
    assert list((tmp_path / "city" / "cache").glob("*.npz"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="optimizer.distances.network"):
        again = run_plan(scenario, write=False)
    assert "reused cached network distances" in caplog.text
    assert again.result.objective == run.result.objective


def test_network_is_the_default_mode_with_a_network(tmp_path: Path) -> None:
    scenario = grid_city(tmp_path / "c")
    data = yaml.safe_load(scenario.read_text())
    del data["distances"]
    scenario.write_text(yaml.safe_dump(data))
    assert load_scenario(scenario).distances.mode == "network"
    del data["inputs"]["network"]
    scenario.write_text(yaml.safe_dump(data))
    assert load_scenario(scenario).distances.mode == "euclidean"


def test_scenario_rejects_inconsistent_distance_settings(tmp_path: Path) -> None:
    scenario = grid_city(tmp_path / "c")
    data = yaml.safe_load(scenario.read_text())
    del data["inputs"]["network"]
    data["distances"] = {"mode": "network", "snap_tol": 5}
    scenario.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match="'snap_tol' was unexpected"):
        load_scenario(scenario)
    data["distances"] = {"mode": "network"}
    scenario.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match="needs a street network"):
        load_scenario(scenario)
    data["distances"] = {"mode": "table"}
    scenario.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"needs distances\.table"):
        load_scenario(scenario)


def test_siting_distances_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = grid_city(tmp_path / "city", cache=False)
    out = tmp_path / "d"
    code = main(["distances", str(scenario), "--out", str(out), "--limit", "400"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "network" in printed.out and "distances.parquet" in printed.out
    table = pd.read_parquet(out / "distances.parquet")
    assert list(table.columns) == ["block_id", "site_id", "distance_m"]
    as_csv = pd.read_csv(out / "distances.csv", dtype={"block_id": str, "site_id": str})
    pd.testing.assert_frame_equal(table, as_csv, check_dtype=False)
    got = {(b, s): d for b, s, d in table.itertuples(index=False)}
    assert got[("B1", "S2")] == pytest.approx(22.0) and got[("B1", "S1")] == pytest.approx(310.0)
    meta = json.loads((out / "distances.json").read_text())
    assert meta["distance_mode"] == "network" and meta["pairs"] == len(table)


# --------------------------------------------------------------------------- precomputed tables


def od_table_city(folder: Path, rows: list[tuple[str, str, Any]]) -> Path:
    scenario = grid_city(folder)
    pd.DataFrame(rows, columns=["demand_id", "site_id", "distance"]).to_csv(
        folder / "od.csv", index=False
    )
    data = yaml.safe_load(scenario.read_text())
    del data["inputs"]["network"]
    data["distances"] = {"mode": "table", "table": "od.csv"}
    scenario.write_text(yaml.safe_dump(data))
    return scenario


def test_plan_with_a_distance_table(tmp_path: Path) -> None:
    rows = [("B1", "S2", 22.0), ("B2", "S2", 27), ("B3", "S1", 150), ("B3", "E1", 100)]
    rows += [("B1", "E1", 60), ("B2", "E1", 25), ("B1", "S1", 310)]
    run = run_plan(od_table_city(tmp_path / "t", rows), write=False)
    assert run.summary["distance_mode"] == "table"
    assert "od.csv" in run.summary["distance_note"]
    conv = run.instance.types["convenience"]
    assert conv.covered_before.all()  # E1 within 300 m of every block by the table
    elder = run.instance.types["elder_care"]
    got = {
        (int(i), int(j)): d
        for i, j, d in zip(*[elder.reach.rows, elder.reach.cols, elder.reach.dist], strict=True)
    }
    assert got == {(0, 1): 22.0, (1, 1): 27.0, (2, 0): 150.0}  # 310 m is beyond 300 m


def test_distance_table_problems_are_listed(tmp_path: Path) -> None:
    rows = [
        ("B1", "S2", 22.0),
        ("B9", "S2", 10),  # unknown block
        ("B2", "X7", 10),  # unknown site
        ("B2", "S1", -5),  # negative
        ("B3", "S1", None),  # missing
        ("B1", "S2", 23),  # duplicate pair
        ("B3", "E1", "far"),  # not a number
    ]
    scenario = od_table_city(tmp_path / "t", rows)
    scn = load_scenario(scenario)
    inputs = read_inputs(scn)
    with pytest.raises(InputError) as err:
        make_engine(scn.distances, inputs)
    text = str(err.value)
    assert "od.csv, column 'demand_id': unknown block ids" in text and "B9" in text
    assert "column 'site_id': unknown ids" in text and "X7" in text
    assert "negative distances (1: B2->S1)" in text
    assert "missing distances (1: B3->S1)" in text
    assert "duplicate pairs (1: B1->S2)" in text
    assert "not a number (1: B3->E1)" in text


# --------------------------------------------------------------------------- bad networks


def network_problems(spec: TableSpec, crs: Any = CRS_M) -> str:
    problems = ProblemCollector()
    assert read_network(spec, CRS.from_user_input(crs), problems) is None
    return "\n".join(str(p) for p in problems.problems)


def test_network_in_geographic_crs(tmp_path: Path) -> None:
    path = streets_gpkg(
        tmp_path / "s.gpkg",
        crs="EPSG:4326",
        geoms=[shapely.LineString([(116.3, 37.4), (116.31, 37.4)])],
    )
    text = network_problems(TableSpec(path=path, layer="streets"))
    assert "geographic CRS EPSG:4326" in text and "reproject" in text


def test_network_in_another_crs_than_the_blocks(tmp_path: Path) -> None:
    path = streets_gpkg(tmp_path / "s.gpkg", crs="EPSG:32650")
    text = network_problems(TableSpec(path=path, layer="streets"))
    assert "CRS EPSG:32650 differs from EPSG:4548" in text


def test_empty_network(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    gpd.GeoDataFrame({"street_id": []}, geometry=gpd.GeoSeries([], crs=CRS_M)).to_parquet(path)
    assert "the street network is empty" in network_problems(TableSpec(path=path))
    points = tmp_path / "points.parquet"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=CRS_M).to_parquet(points)
    text = network_problems(TableSpec(path=points))
    assert "Point geometries, not lines; name the street layer" in text and "row 1" in text


def test_osm_without_walkable_ways(tmp_path: Path) -> None:
    path = tmp_path / "motorway.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="37.40" lon="116.30"/><node id="2" lat="37.40" lon="116.31"/>'
        '<way id="7"><nd ref="1"/><nd ref="2"/><tag k="highway" v="motorway"/></way>'
        '<way id="8"><nd ref="1"/><nd ref="2"/><tag k="building" v="yes"/></way></osm>'
    )
    text = network_problems(TableSpec(path=path))
    assert "no walkable ways; highway values found: motorway (1)" in text
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1'")
    assert "cannot read the OSM file" in network_problems(TableSpec(path=broken))


def test_bad_network_stops_plan_before_solving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = grid_city(tmp_path / "c")
    streets_gpkg(
        tmp_path / "c" / "streets.gpkg",
        crs="EPSG:4326",
        geoms=[shapely.LineString([(116.3, 37.4), (116.31, 37.4)])],
    )
    assert main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert "geographic CRS" in err and "Traceback" not in err
    with pytest.raises(InputError, match="geographic CRS"):
        run_plan(scenario, out_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()
