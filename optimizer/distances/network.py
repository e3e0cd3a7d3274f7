"""Walking distances along a street network, and the walking reach of facilities for maps.

The street network engine (:class:`NetworkEngine`, distance mode ``network``) measures what
planners mean by a 5-minute walk: metres walked along streets, from a block's point to a site's
point, including the walk from each point to the nearest street.

How it works
------------
1. **Network.** Street lines (GeoPackage, Shapefile, GeoParquet) or the walkable ways of an
   OpenStreetMap extract (:mod:`optimizer.distances.osm`, projected to the scenario CRS) are cut
   into
   straight two-point segments. Vertices are the nodes; vertices that coincide (to 1 mm) are
   one node, so lines connect where they share a vertex and nowhere else (a bridge over a road
   without a shared vertex does not connect to it). Walking is undirected.
2. **Snapping.** Each point joins the nearest point on the nearest segment (an STRtree
   ``query_nearest`` over all segments, then ``line_locate_point``), within
   ``snap_tolerance_m``. The segment is split there by a *virtual node* (all points on one
   segment are inserted in order along it, so two points on the same segment reach each other
   directly), and the point hangs off that node by an *access leg* of its perpendicular
   distance. Points farther than the tolerance get no distances and are listed in a warning;
   points on a piece of network disconnected from the largest one are listed too.
3. **Bounded shortest paths.** From the smaller of the two point sets, Dijkstra
   (``scipy.sparse.csgraph.dijkstra`` with ``limit=cutoff``) runs on the network cut to the
   sources' tile plus ``cutoff`` on every side: a walk of at most ``cutoff`` metres never
   leaves that box, so the result is exact while the dense (sources x nodes) arrays stay small.
   Only pairs within the cutoff are kept. Tiles can run on a thread pool (``workers``); on the
   2-core benchmark machine that gained nothing, so one thread is the default.
4. **Cache.** Results are stored in ``.cache/distances/<key>.npz`` (under the working folder,
   or ``distances.cache_dir``), keyed by a SHA-256 of the network's segments and CRS, the
   point coordinates, the cutoff and the snap tolerance; a repeated run reuses them.
5. **Service areas.** :meth:`NetworkEngine.service_area` draws the streets within a walking
   limit of a set of facilities, from the same network and the same snaps as the run's
   distances (the engine remembers every point it snapped), so the maps show the reach the
   model used. This is the one implementation; the deliverables are handed the engine.

Precomputed OD tables (mode ``table``) are in :mod:`optimizer.distances.table`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import CRS, Transformer
from scipy.sparse.csgraph import connected_components, dijkstra

from optimizer.distances.base import DistancePairs, Ids, missing_source, point_arrays
from optimizer.distances.osm import (
    FOOT_ACCESS_HIGHWAYS,
    SIDEWALK_HIGHWAYS,
    WALKABLE_HIGHWAYS,
    OsmReadError,
    is_osm_path,
    read_osm_ways,
)
from optimizer.errors import InputError, ProblemCollector, preview_ids
from optimizer.inputs import Inputs
from optimizer.outputs import atomic_write
from optimizer.scenario import DistanceSettings, TableSpec

log = logging.getLogger(__name__)

NODE_PRECISION_M = 0.001
"""Vertices closer than this (after rounding to this grid) are one network node."""
DEFAULT_SNAP_TOLERANCE_M = 200.0
ON_NODE_M = 1e-6
"""A projection this close to a segment end joins that end's node instead of a virtual node."""
SOURCES_PER_TILE = 32
DENSE_BYTES = 64 << 20
"""Largest dense (sources x nodes) Dijkstra result held by one worker."""
CACHE_VERSION = "network-distances-1"


# --------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class StreetNetwork:
    """An undirected street network of straight segments in a projected CRS (metres).

    Attributes
    ----------
    node_xy : ndarray (n_nodes, 2)
        Node coordinates (every vertex of every line, coinciding vertices merged).
    u, v : ndarray of int (n_edges,)
        End nodes of each segment (``u < v``; no duplicates, no zero-length segments).
    length : ndarray (n_edges,)
        Segment lengths in metres.
    crs : pyproj.CRS or None
        The coordinates' CRS.
    source : str
        Where the network came from, for messages.
    """

    node_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    crs: CRS | None = None
    source: str = "network"

    @classmethod
    def from_lines(
        cls, coords: np.ndarray, part: np.ndarray, crs: CRS | None = None, source: str = "network"
    ) -> StreetNetwork:
        """Build from polyline vertices: ``coords[k]`` lies on line ``part[k]`` (contiguous)."""
        coords = np.asarray(coords, dtype=float).reshape(-1, 2)
        part = np.asarray(part)
        grid = np.round(coords / NODE_PRECISION_M).astype(np.int64)
        keys, inverse = np.unique(grid, axis=0, return_inverse=True)
        node_xy = keys * NODE_PRECISION_M
        inverse = inverse.reshape(-1)
        same_line = part[1:] == part[:-1]
        a, b = inverse[:-1][same_line], inverse[1:][same_line]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        edges = np.unique(np.column_stack([lo, hi])[lo != hi], axis=0).reshape(-1, 2)
        u, v = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
        length = np.hypot(*(node_xy[v] - node_xy[u]).T)
        used = np.zeros(node_xy.shape[0], dtype=bool)
        used[u] = used[v] = True
        remap = np.cumsum(used) - 1
        return cls(node_xy[used], remap[u], remap[v], length, crs, source)

    @classmethod
    def from_geometries(
        cls, geoms: np.ndarray, crs: CRS | None = None, source: str = "network"
    ) -> StreetNetwork:
        """Build from (Multi)LineString geometries."""
        parts = shapely.get_parts(np.asarray(geoms, dtype=object))
        coords, part = shapely.get_coordinates(parts, return_index=True)
        return cls.from_lines(coords, part, crs, source)

    @property
    def n_nodes(self) -> int:
        return int(self.node_xy.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.u.shape[0])

    @cached_property
    def segments(self) -> np.ndarray:
        """One two-point LineString per edge, drawn from ``u`` to ``v``."""
        pts = np.stack([self.node_xy[self.u], self.node_xy[self.v]], axis=1)
        return shapely.linestrings(pts)

    @cached_property
    def segment_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.segments)

    @cached_property
    def component(self) -> np.ndarray:
        """Connected-component label of each node; label 0 is the largest component."""
        n = self.n_nodes
        graph = sp.coo_matrix((np.ones(self.n_edges), (self.u, self.v)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        sizes = np.bincount(labels)
        rank = np.empty_like(sizes)
        rank[np.argsort(-sizes, kind="stable")] = np.arange(sizes.size)
        return rank[labels]

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the geometry and CRS (the cache key's network part)."""
        digest = hashlib.sha256()
        for arr in (self.node_xy, self.u, self.v):
            digest.update(np.ascontiguousarray(arr).tobytes())
        digest.update((self.crs.to_wkt() if self.crs is not None else "").encode())
        return digest.hexdigest()

    def describe(self) -> str:
        n_comp = int(self.component.max(initial=-1)) + 1
        return (
            f"{self.source}: {self.n_nodes:,} nodes, {self.n_edges:,} segments, "
            f"{self.length.sum() / 1000:,.1f} km, {n_comp} connected piece"
            + ("s" if n_comp != 1 else "")
        )


# --------------------------------------------------------------------------- reading


def read_network(
    spec: TableSpec, crs: CRS | None, problems: ProblemCollector
) -> StreetNetwork | None:
    """Read and check a street network: lines from a GIS file, or an OSM extract.

    ``crs`` is the blocks' and sites' CRS: a GIS network must already be in it (no silent
    reprojection); an OSM extract (lon/lat) is projected to it. Problems (unreadable file,
    geographic or different CRS, no lines, no walkable ways) are added to ``problems`` and
    ``None`` is returned.
    """
    if is_osm_path(spec.path):
        network = _read_osm_network(spec, crs, problems)
    else:
        network = _read_line_network(spec, crs, problems)
    if network is not None and network.n_edges == 0:
        problems.add(spec.label, "geometry", "the street network is empty (no segment of length)")
        return None
    if network is not None:
        log.info("street network %s", network.describe())
    return network


def _read_osm_network(
    spec: TableSpec, crs: CRS | None, problems: ProblemCollector
) -> StreetNetwork | None:
    if crs is None or crs.is_geographic:
        problems.add(
            spec.label,
            None,
            "an OSM extract (lon/lat) needs a projected scenario CRS in metres to be projected "
            "to: set `crs:` in the scenario (e.g. EPSG:4548)",
        )
        return None
    try:
        ways = read_osm_ways(spec.path)
    except OsmReadError as exc:
        problems.add(spec.label, None, f"cannot read the OSM file: {exc}")
        return None
    if ways.n_lines == 0:
        found = ", ".join(f"{k} ({n})" for k, n in ways.highway_counts.most_common(12)) or "none"
        problems.add(
            spec.label,
            "highway",
            f"no walkable ways; highway values found: {found}; walkable are "
            f"{', '.join(sorted(WALKABLE_HIGHWAYS))}, plus "
            f"{', '.join(sorted(FOOT_ACCESS_HIGHWAYS))} with foot access and "
            f"{', '.join(sorted(SIDEWALK_HIGHWAYS))} with sidewalks",
        )
        return None
    to_crs = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
    x, y = to_crs.transform(ways.lon, ways.lat)
    coords = np.column_stack([x, y])
    if not np.isfinite(coords).all():
        problems.add(spec.label, None, f"OSM coordinates cannot be projected to {crs.to_string()}")
        return None
    return StreetNetwork.from_lines(coords, ways.part, crs, spec.path.name)


def _read_line_network(
    spec: TableSpec, crs: CRS | None, problems: ProblemCollector
) -> StreetNetwork | None:
    label = spec.label
    try:
        if spec.path.suffix.lower() in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(spec.path)
        else:
            gdf = gpd.read_file(spec.path, layer=spec.layer, engine="pyogrio")
    except Exception as exc:  # any reader failure is the user's file: report, don't crash
        problems.add(label, None, f"cannot read the street network: {exc}".replace("\n", " "))
        return None
    if spec.crs and gdf.crs is None:
        gdf = gdf.set_crs(spec.crs)
    if not _network_crs_ok(gdf.crs, crs, label, problems):
        return None
    geoms = gdf.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = np.asarray(shapely.get_type_id(geoms))
    line_ids = [shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING]
    line_ids.append(shapely.GeometryType.LINEARRING)
    bad = ~empty & ~np.isin(kinds, [int(t) for t in line_ids])
    if bad.any():
        rows = [f"row {i + 1}" for i in np.flatnonzero(bad)]
        found = ", ".join(sorted(set(gdf.geom_type[bad].astype(str))))
        hint = "" if spec.layer else "; name the street layer with `layer:`"
        problems.add(label, "geometry", f"{found} geometries, not lines{hint}", rows)
        return None
    if (~empty).sum() == 0:
        problems.add(label, "geometry", "the street network is empty (no lines)")
        return None
    return StreetNetwork.from_geometries(geoms[~empty], gdf.crs, label)


def _network_crs_ok(
    found: CRS | None, expected: CRS | None, label: str, problems: ProblemCollector
) -> bool:
    if found is None:
        problems.add(label, "geometry", "no CRS: set `crs:` for inputs.network in the scenario")
        return False
    if found.is_geographic:
        problems.add(
            label,
            "geometry",
            f"geographic CRS {found.to_string()}: the street network needs the blocks' projected "
            "CRS in metres; reproject the file",
        )
        return False
    if expected is not None and not found.equals(expected):
        problems.add(
            label,
            "geometry",
            f"CRS {found.to_string()} differs from {expected.to_string()} (the blocks' and "
            "sites' CRS); reproject the street network",
        )
        return False
    return True


# --------------------------------------------------------------------------- snapping


@dataclass(frozen=True)
class Snap:
    """Where each point joins the network.

    Attributes
    ----------
    edge : ndarray of int (n,)
        The segment joined (``-1``: farther than the snap tolerance from every segment).
    offset : ndarray (n,)
        Metres along the segment from its ``u`` end to the joining point.
    access : ndarray (n,)
        Metres from the point to the joining point (NaN when not snapped).
    """

    edge: np.ndarray
    offset: np.ndarray
    access: np.ndarray

    @property
    def snapped(self) -> np.ndarray:
        return self.edge >= 0


def snap_points(network: StreetNetwork, xy: np.ndarray, tolerance: float) -> Snap:
    """Join each point to the nearest point of the nearest segment within ``tolerance``."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = xy.shape[0]
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    access = np.full(n, np.nan)
    if n == 0 or network.n_edges == 0:
        return Snap(edge, offset, access)
    pts = shapely.points(xy)
    found = network.segment_tree.query_nearest(pts, max_distance=tolerance, all_matches=False)
    which, seg = found[0], found[1].astype(np.int64)
    along = shapely.line_locate_point(network.segments[seg], pts[which])
    along = np.clip(along, 0.0, network.length[seg])
    edge[which] = seg
    offset[which] = along
    access[which] = np.hypot(*(xy[which] - _along_xy(network, seg, along)).T)
    return Snap(edge, offset, access)


def _along_xy(network: StreetNetwork, edge: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Coordinates ``offset`` metres along segments ``edge`` from their ``u`` end."""
    a, b = network.node_xy[network.u[edge]], network.node_xy[network.v[edge]]
    t = (offset / network.length[edge])[:, None]
    return np.asarray(a + t * (b - a))


class SnapMemo:
    """Snaps already computed, found again by the points' exact coordinates.

    The network engine keeps one, so the service areas of the maps start from the very snaps
    the run's distances used (and a point is snapped once however often it is asked for).
    Lookups are whole-array: the coordinates are kept sorted as complex numbers ``x + iy``.
    """

    def __init__(self, network: StreetNetwork, tolerance: float) -> None:
        self.network = network
        self.tolerance = float(tolerance)
        self._key = np.zeros(0, dtype=complex)
        self._snap = Snap(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return int(self._key.size)

    def snap(self, xy: np.ndarray) -> Snap:
        """Where each point joins the network: remembered, or snapped now and remembered."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if not np.isfinite(xy).all():  # NaN never equals itself: such points are not kept
            return snap_points(self.network, xy, self.tolerance)
        key = xy[:, 0] + 1j * xy[:, 1]
        pos, hit = self._find(key)
        if not hit.all():
            new_key, first = np.unique(key[~hit], return_index=True)
            self._add(new_key, snap_points(self.network, xy[~hit][first], self.tolerance))
            pos, hit = self._find(key)
        return Snap(self._snap.edge[pos], self._snap.offset[pos], self._snap.access[pos])

    def _find(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._key.size == 0:
            return np.zeros(key.size, dtype=np.int64), np.zeros(key.size, dtype=bool)
        pos = np.minimum(np.searchsorted(self._key, key), self._key.size - 1)
        return pos, self._key[pos] == key

    def _add(self, key: np.ndarray, snap: Snap) -> None:
        merged = np.concatenate([self._key, key])
        order = np.argsort(merged, kind="stable")
        self._key = merged[order]
        old = self._snap
        self._snap = Snap(
            np.concatenate([old.edge, snap.edge])[order],
            np.concatenate([old.offset, snap.offset])[order],
            np.concatenate([old.access, snap.access])[order],
        )


# --------------------------------------------------------------------------- routing graph


@dataclass(frozen=True)
class RoutingGraph:
    """The network with virtual nodes at snapped points and access legs to the points.

    Attributes
    ----------
    csr : scipy.sparse.csr_matrix (n, n)
        Symmetric edge lengths (metres); every stored weight is positive.
    node_xy : ndarray (n, 2)
        Coordinates of every node: street nodes, virtual nodes, then point nodes.
    point_node : list of ndarray of int
        For each point set given, the node of each point (``-1``: not snapped).
    """

    csr: sp.csr_matrix
    node_xy: np.ndarray
    point_node: list[np.ndarray]

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each undirected edge once: ``(a, b, length)`` with ``a < b``."""
        coo = sp.triu(self.csr, k=1).tocoo()
        return coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data


def routing_graph(
    network: StreetNetwork, point_sets: Sequence[tuple[np.ndarray, Snap]]
) -> RoutingGraph:
    """Insert snapped points into the network (whole-array operations, no per-point loop).

    A point whose projection falls on a segment end joins that node; the others split their
    segment at a virtual node (points projecting to the same spot share it). A point at
    positive distance from its street gets its own node and an access leg; a point on the
    street is its joining node.
    """
    xy = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p, _ in point_sets])
    edge = np.concatenate([s.edge for _, s in point_sets])
    offset = np.concatenate([s.offset for _, s in point_sets])
    access = np.concatenate([s.access for _, s in point_sets])
    n0 = network.n_nodes
    ok = edge >= 0
    e, o = edge[ok], offset[ok]
    length = network.length[e]
    at_u, at_v = o <= ON_NODE_M, o >= length - ON_NODE_M
    inner = ~(at_u | at_v)
    join = np.where(at_u, network.u[e], network.v[e])

    # virtual nodes: unique (edge, offset) among interior projections, sorted along each edge
    ve, vo = e[inner], o[inner]
    order = np.lexsort((vo, ve))
    ve_s, vo_s = ve[order], vo[order]
    new = _run_starts(ve_s, vo_s)
    rank = np.cumsum(new) - 1
    vid = np.empty(ve.size, dtype=np.int64)
    vid[order] = n0 + rank
    join[inner] = vid
    ue, uo = ve_s[new], vo_s[new]  # unique virtual nodes in order
    uid = n0 + np.arange(ue.size)
    first = _run_starts(ue)
    last = np.roll(first, -1)
    prev_node = np.where(first, network.u[ue], np.r_[0, uid[:-1]])
    prev_off = np.where(first, 0.0, np.r_[0.0, uo[:-1]])
    split = np.zeros(network.n_edges, dtype=bool)
    split[ue] = True

    # point nodes with an access leg
    leg = access[ok] > 0
    n_virtual = ue.size
    pid = n0 + n_virtual + np.arange(int(leg.sum()))
    node_of = np.full(edge.size, -1, dtype=np.int64)
    ok_idx = np.flatnonzero(ok)
    node_of[ok_idx] = join
    node_of[ok_idx[leg]] = pid

    a = np.concatenate([network.u[~split], prev_node, uid[last], pid])
    b = np.concatenate([network.v[~split], uid, network.v[ue[last]], join[leg]])
    w = np.concatenate(
        [
            network.length[~split],
            uo - prev_off,
            network.length[ue[last]] - uo[last],
            access[ok][leg],
        ]
    )
    n = n0 + n_virtual + pid.size
    csr = sp.csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    node_xy = np.concatenate([network.node_xy, _along_xy(network, ue, uo), xy[ok][leg]])
    bounds = np.cumsum([0] + [len(s.edge) for _, s in point_sets])
    point_node = [node_of[bounds[i] : bounds[i + 1]] for i in range(len(point_sets))]
    return RoutingGraph(csr, node_xy, point_node)


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """True where a run of equal (sorted) keys starts."""
    n = keys[0].size
    start = np.ones(n, dtype=bool)
    if n > 1:
        start[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return start


# --------------------------------------------------------------------------- shortest paths


def bounded_pairs(
    graph: RoutingGraph,
    src_nodes: np.ndarray,
    dst_nodes: np.ndarray,
    cutoff: float,
    tile_m: float | None = None,
    workers: int | None = None,
    dense_bytes: int = DENSE_BYTES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (source, destination) within ``cutoff`` metres along the graph.

    Sources are grouped into square tiles of ``tile_m`` (default: :func:`default_tile`); each runs
    Dijkstra on the subgraph within ``cutoff`` of the tile's sources' bounding box, which holds
    every walk of at most ``cutoff`` (straight-line distance never exceeds walking distance).
    ``tile_m=inf`` runs on the whole graph in chunks instead.

    Returns
    -------
    src, dst, dist : ndarray
        Positions into ``src_nodes`` and ``dst_nodes``, and the walking distances.
    """
    src_nodes = np.asarray(src_nodes, dtype=np.int64)
    dst_nodes = np.asarray(dst_nodes, dtype=np.int64)
    if src_nodes.size == 0 or dst_nodes.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), np.zeros(0)
    tile = float(tile_m) if tile_m is not None else default_tile(graph.node_xy[src_nodes], cutoff)
    finder = _BoxFinder(graph.node_xy, dst_nodes)
    tasks = _tiles(graph.node_xy[src_nodes], tile)
    workers = workers or 1

    def run(members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _tile_pairs(graph, finder, src_nodes, members, cutoff, dense_bytes)

    if workers > 1 and len(tasks) > 1:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, tasks))
    else:
        parts = [run(t) for t in tasks]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def default_tile(xy: np.ndarray, cutoff: float) -> float:
    """Tile side giving about :data:`SOURCES_PER_TILE` sources a tile, at least the cutoff.

    Measured (benchmarks/results/distances.md): per-tile overhead dominates with fewer
    sources a tile, dense rows over needlessly large boxes with more.
    """
    span = np.ptp(xy, axis=0) if xy.shape[0] else np.zeros(2)
    area = max(float(span[0]) * float(span[1]), 1.0)
    return max(float(cutoff), math.sqrt(SOURCES_PER_TILE * area / max(xy.shape[0], 1)), 50.0)


def _tiles(xy: np.ndarray, tile: float) -> list[np.ndarray]:
    """Positions of the points grouped by square tile (one array per non-empty tile)."""
    if not np.isfinite(tile):
        return [np.arange(xy.shape[0])]
    cell = np.floor((xy - xy.min(axis=0)) / tile).astype(np.int64)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, cuts)


class _BoxFinder:
    """Graph nodes and destination points inside axis-aligned boxes (sorted by x)."""

    def __init__(self, node_xy: np.ndarray, dst_nodes: np.ndarray) -> None:
        self.node_xy = node_xy
        self.node_order = np.argsort(node_xy[:, 0], kind="stable")
        self.node_x = node_xy[self.node_order, 0]
        self.dst_nodes = dst_nodes
        dxy = node_xy[dst_nodes]
        self.dst_order = np.argsort(dxy[:, 0], kind="stable")
        self.dst_x = dxy[self.dst_order, 0]
        self.dst_y = dxy[self.dst_order, 1]

    def nodes(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.node_x, lo[0], side="left")
        j = np.searchsorted(self.node_x, hi[0], side="right")
        cand = self.node_order[i:j]
        y = self.node_xy[cand, 1]
        return np.sort(cand[(y >= lo[1]) & (y <= hi[1])])

    def destinations(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.dst_x, lo[0], side="left")
        j = np.searchsorted(self.dst_x, hi[0], side="right")
        y = self.dst_y[i:j]
        return self.dst_order[i:j][(y >= lo[1]) & (y <= hi[1])]


def _tile_pairs(
    graph: RoutingGraph,
    finder: _BoxFinder,
    src_nodes: np.ndarray,
    members: np.ndarray,
    cutoff: float,
    dense_bytes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xy = graph.node_xy[src_nodes[members]]
    lo, hi = xy.min(axis=0) - cutoff, xy.max(axis=0) + cutoff
    dst = finder.destinations(lo, hi)
    if dst.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), np.zeros(0)
    sub_nodes = finder.nodes(lo, hi)
    sub = graph.csr[sub_nodes][:, sub_nodes]
    local_src = np.searchsorted(sub_nodes, src_nodes[members])
    local_dst = np.searchsorted(sub_nodes, finder.dst_nodes[dst])
    chunk = max(1, dense_bytes // (8 * max(sub_nodes.size, 1)))
    out_s, out_d, out_w = [], [], []
    for start in range(0, members.size, chunk):
        rows = slice(start, start + chunk)
        dist = dijkstra(sub, directed=True, indices=local_src[rows], limit=cutoff)
        near = dist[:, local_dst]
        r, c = np.nonzero(near <= cutoff)
        out_s.append(members[rows][r])
        out_d.append(dst[c])
        out_w.append(near[r, c])
    return np.concatenate(out_s), np.concatenate(out_d), np.concatenate(out_w)


# --------------------------------------------------------------------------- the engine


class NetworkEngine:
    """Walking distance along the street network (distance mode ``network``).

    Parameters
    ----------
    network : StreetNetwork
        The walkable network, in the points' CRS.
    snap_tolerance_m : float
        Points farther than this from every street get no distances (and a warning).
    cache_dir : Path or None
        Folder for cached tables; ``None`` disables the cache.
    tile_m, workers : optional
        Tuning of :func:`bounded_pairs`.
    """

    mode = "network"

    def __init__(
        self,
        network: StreetNetwork,
        snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
        cache_dir: Path | None = None,
        tile_m: float | None = None,
        workers: int | None = None,
    ) -> None:
        if snap_tolerance_m <= 0:
            raise ValueError("snap_tolerance_m must be positive")
        self.network = network
        self.snap_tolerance_m = float(snap_tolerance_m)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.tile_m = tile_m
        self.workers = workers
        self.snaps = SnapMemo(network, self.snap_tolerance_m)
        self._warned: set[str] = set()

    def describe(self) -> str:
        return (
            f"walking distance along the street network ({self.network.source}: "
            f"{self.network.n_nodes:,} nodes, {self.network.n_edges:,} segments; points join "
            f"the nearest street within {self.snap_tolerance_m:g} m, access legs included)"
        )

    def pairs(
        self,
        origins: np.ndarray,
        dests: np.ndarray,
        cutoff: float,
        *,
        origin_ids: Ids | None = None,
        dest_ids: Ids | None = None,
        names: tuple[str, str] = ("origins", "destinations"),
    ) -> DistancePairs:
        """All (origin, destination) pairs within ``cutoff`` metres of walking."""
        origins, dests, shape = point_arrays(origins, dests)
        cutoff = float(cutoff)
        key = self._cache_key(origins, dests, cutoff)
        cached = self._load(key, shape, cutoff)
        if cached is not None:
            pairs, flags = cached
        else:
            started = time.perf_counter()
            pairs, flags = self._compute(origins, dests, cutoff)
            log.info(
                "network distances: %d pairs within %g m among %d x %d points in %.2f s",
                len(pairs),
                cutoff,
                *shape,
                time.perf_counter() - started,
            )
            self._store(key, pairs, flags)
        self._warn_points(flags, (origin_ids, dest_ids), names, shape)
        return pairs

    def service_area(
        self, xy: np.ndarray, limit: float, buffer_m: float = 25.0
    ) -> shapely.Geometry:
        """The streets within ``limit`` metres of walking from any of the points, as one area.

        The points join the network where the run's distances joined them (:attr:`snaps`);
        the area is :func:`reach_area` on the routing graph with those points inserted. Points
        off the network are left out; none on it gives an empty polygon.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        graph = routing_graph(self.network, [(xy, self.snap(xy))])
        return reach_area(graph, graph.point_node[0], limit, buffer_m)

    def snap(self, xy: np.ndarray) -> Snap:
        """Where each point joins the network (:func:`snap_points`, remembered per point)."""
        return self.snaps.snap(xy)

    def _compute(
        self, origins: np.ndarray, dests: np.ndarray, cutoff: float
    ) -> tuple[DistancePairs, dict[str, np.ndarray]]:
        shape = (origins.shape[0], dests.shape[0])
        so, sd = self.snap(origins), self.snap(dests)
        flags = {
            "unsnapped_0": np.flatnonzero(~so.snapped),
            "unsnapped_1": np.flatnonzero(~sd.snapped),
            "stranded_0": self._stranded(so),
            "stranded_1": self._stranded(sd),
        }
        if not (shape[0] and shape[1]):
            return DistancePairs.empty(shape, cutoff), flags
        graph = routing_graph(self.network, [(origins, so), (dests, sd)])
        on_o, on_d = (np.flatnonzero(n >= 0) for n in graph.point_node)
        from_origins = on_o.size <= on_d.size
        src, dst = (on_o, on_d) if from_origins else (on_d, on_o)
        s_nodes = graph.point_node[0 if from_origins else 1][src]
        d_nodes = graph.point_node[1 if from_origins else 0][dst]
        i, j, dist = bounded_pairs(graph, s_nodes, d_nodes, cutoff, self.tile_m, self.workers)
        rows, cols = (src[i], dst[j]) if from_origins else (dst[j], src[i])
        order = np.lexsort((cols, rows))
        pairs = DistancePairs(
            rows[order].astype(np.int64),
            cols[order].astype(np.int64),
            dist[order],
            shape,
            cutoff,
        )
        return pairs, flags

    def _stranded(self, snap: Snap) -> np.ndarray:
        ok = np.flatnonzero(snap.snapped)
        comp = self.network.component[self.network.u[snap.edge[ok]]]
        return ok[comp != 0]

    def _warn_points(
        self,
        flags: dict[str, np.ndarray],
        ids: tuple[Ids | None, Ids | None],
        names: tuple[str, str],
        shape: tuple[int, int],
    ) -> None:
        for side in (0, 1):
            labels = ids[side]
            for kind, text in (
                (
                    "unsnapped",
                    f"farther than {self.snap_tolerance_m:g} m from any street; they get no "
                    "walking distances",
                ),
                (
                    "stranded",
                    "on a piece of street network cut off from the main network; they reach "
                    "only points on the same piece",
                ),
            ):
                idx = flags[f"{kind}_{side}"]
                if idx.size == 0:
                    continue
                shown = [labels[i] for i in idx] if labels is not None else [f"#{i}" for i in idx]
                msg = f"{idx.size} of {shape[side]} {names[side]} are {text}: {preview_ids(shown)}"
                if msg not in self._warned:
                    self._warned.add(msg)
                    log.warning("%s", msg)

    # ---- cache

    def _cache_key(self, origins: np.ndarray, dests: np.ndarray, cutoff: float) -> str:
        digest = hashlib.sha256(CACHE_VERSION.encode())
        digest.update(self.network.fingerprint.encode())
        sizes = np.array([cutoff, self.snap_tolerance_m, *origins.shape, *dests.shape])
        digest.update(sizes.tobytes())
        digest.update(np.ascontiguousarray(origins).tobytes())
        digest.update(np.ascontiguousarray(dests).tobytes())
        return digest.hexdigest()[:32]

    def _load(
        self, key: str, shape: tuple[int, int], cutoff: float
    ) -> tuple[DistancePairs, dict[str, np.ndarray]] | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                pairs = DistancePairs(data["rows"], data["cols"], data["dist"], shape, cutoff)
                flags = {k: data[k] for k in data.files if k.startswith(("unsnapped", "stranded"))}
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring an unreadable distance cache %s: %s", path, exc)
            return None
        log.info("reused cached network distances %s (%d pairs)", path, len(pairs))
        return pairs, flags

    def _store(self, key: str, pairs: DistancePairs, flags: dict[str, np.ndarray]) -> None:
        if self.cache_dir is None:
            return
        # Any, not ndarray: numpy's stub matches ``**arrays`` against savez's bool flag too
        arrays: dict[str, Any] = {"rows": pairs.rows, "cols": pairs.cols, "dist": pairs.dist}
        arrays.update(flags)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        try:
            path = atomic_write(self.cache_dir / f"{key}.npz", write)
        except OSError as exc:
            log.warning("could not cache distances in %s: %s", self.cache_dir, exc)
            return
        log.debug("cached network distances in %s", path)


# --------------------------------------------------------------------------- service areas


def reach_area(
    graph: RoutingGraph, sources: np.ndarray, limit: float, buffer_m: float = 25.0
) -> shapely.Geometry:
    """The streets within ``limit`` metres of walking from any source node, as one area.

    One multi-source Dijkstra over the routing graph (bounded by ``limit``), then the
    reachable part of every edge (partly reached edges cut at the reach, access legs included),
    buffered by ``buffer_m``.

    Parameters
    ----------
    graph : RoutingGraph
        The network with the facilities inserted (:func:`routing_graph`).
    sources : ndarray of int
        The facilities' nodes; ``-1`` (not snapped) are left out.
    limit : float
        Walking limit in metres.

    Returns
    -------
    shapely geometry
        A (Multi)Polygon; an empty polygon when no source is on the network.
    """
    sources = np.unique(sources[sources >= 0])
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


# --------------------------------------------------------------------------- factories


def network_engine(settings: DistanceSettings, inputs: Inputs | None) -> NetworkEngine:
    """The ``network`` engine of a scenario; reads and checks the street network first.

    Raises
    ------
    InputError
        For an unreadable, empty, geographic or differently projected network, or an OSM
        extract without walkable ways.
    """
    if settings.network is None:
        raise InputError([missing_source("network", "inputs.network")], what="scenario")
    problems = ProblemCollector()
    network = read_network(settings.network, inputs.crs if inputs is not None else None, problems)
    problems.raise_if_any()
    assert network is not None
    cache = settings.cache_dir if settings.cache_dir is not None else Path(".cache/distances")
    return NetworkEngine(
        network,
        snap_tolerance_m=settings.snap_tolerance_m,
        cache_dir=cache if settings.cache else None,
    )
