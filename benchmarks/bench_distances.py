"""Benchmark of the street-network distance engine (optimizer.distances.network).

A synthetic street network of about 200,000 nodes (a jittered grid, 60-80 m between
junctions, 10 % of the street segments removed), 20,000 blocks and 5,000 sites placed at
random: the whole block x site table within 1,000 m (the acceptance case: at most 60 s and
4 GB peak memory on the 2-core machine), the same at 300 m and 500 m, and how the time grows
with the number of sites, the limit, the tiling and the thread count.

Each case runs in a fresh subprocess so that its peak resident memory is its own.

Usage::

    python benchmarks/bench_distances.py            # all cases, writes results/distances.md
    python benchmarks/bench_distances.py --quick    # a smaller network, no file written
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from optimizer.distances.network import (  # noqa: E402
    NetworkEngine,
    StreetNetwork,
    bounded_pairs,
    default_tile,
    routing_graph,
)

SEED = 20261122


def synthetic_network(n_side: int, spacing: float = 70.0, seed: int = SEED) -> StreetNetwork:
    """A jittered ``n_side`` x ``n_side`` grid, 10 % of its segments removed at random."""
    rng = np.random.default_rng(seed)
    ix, iy = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    xy = np.column_stack([ix.ravel(), iy.ravel()]).astype(float) * spacing
    xy += rng.uniform(-5.0, 5.0, xy.shape)  # junctions 60-80 m apart
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    edges = np.concatenate(
        [
            np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()]),
            np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
        ]
    )
    edges = edges[rng.random(edges.shape[0]) >= 0.10]
    coords = xy[edges].reshape(-1, 2) + np.array([440_000.0, 4_140_000.0])
    return StreetNetwork.from_lines(coords, np.repeat(np.arange(edges.shape[0]), 2))


def random_points(network: StreetNetwork, n: int, seed: int) -> np.ndarray:
    lo, hi = network.node_xy.min(axis=0), network.node_xy.max(axis=0)
    return np.random.default_rng(seed).uniform(lo, hi, (n, 2))


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this process: build, snap, graph, shortest paths."""
    t0 = time.perf_counter()
    network = synthetic_network(case["n_side"])
    t_build = time.perf_counter() - t0
    blocks = random_points(network, case["blocks"], SEED + 1)
    sites = random_points(network, case["sites"], SEED + 2)
    engine = NetworkEngine(network, snap_tolerance_m=200)
    t0 = time.perf_counter()
    sb, ss = engine.snap(blocks), engine.snap(sites)
    t_snap = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = routing_graph(network, [(blocks, sb), (sites, ss)])
    t_graph = time.perf_counter() - t0
    t0 = time.perf_counter()
    block_nodes, site_nodes = graph.point_node[0][sb.snapped], graph.point_node[1][ss.snapped]
    # as NetworkEngine.pairs does: Dijkstra from the smaller point set
    sources, targets = (
        (site_nodes, block_nodes)
        if site_nodes.size <= block_nodes.size
        else (block_nodes, site_nodes)
    )
    tile = case.get("tile_m") or default_tile(graph.node_xy[sources], case["limit"])
    _src, _dst, dist = bounded_pairs(
        graph,
        sources,
        targets,
        case["limit"],
        tile_m=tile,
        workers=case.get("workers"),
    )
    t_paths = time.perf_counter() - t0
    return {
        **case,
        "tile_used": tile,
        "nodes": network.n_nodes,
        "segments": network.n_edges,
        "graph_nodes": graph.csr.shape[0],
        "pairs": int(dist.size),
        "pairs_per_block": dist.size / case["blocks"],
        "build_s": t_build,
        "snap_s": t_snap,
        "graph_s": t_graph,
        "paths_s": t_paths,
        "table_s": t_snap + t_graph + t_paths,
        "total_s": t_build + t_snap + t_graph + t_paths,
        "peak_mb": peak_rss_mb(),
    }


def in_subprocess(case: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def cases(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    side = 150 if quick else 448  # 448 x 448 = 200,704 junctions
    base = {"n_side": side, "blocks": 20_000, "sites": 5_000, "limit": 1000.0}
    if quick:
        base.update(blocks=2_000, sites=500)
    out = [("acceptance", base)]
    out += [("limit", {**base, "limit": lim}) for lim in (300.0, 500.0, 2000.0)]
    out += [("sites", {**base, "sites": n}) for n in (1_250, 2_500, 10_000, 20_000)]
    out += [("tiles", {**base, "tile_m": t}) for t in (500.0, 1000.0, 5000.0, float("inf"))]
    out += [("threads", {**base, "workers": 2})]
    return out


def machine() -> dict[str, str]:
    import scipy
    import shapely

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except OSError:
        mem = "unknown"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "shapely": shapely.__version__,
        "os": platform.platform(),
    }


def to_markdown(results: list[tuple[str, dict[str, Any]]], info: dict[str, str]) -> str:
    acc = results[0][1]
    ok = acc["table_s"] <= 60 and acc["total_s"] <= 60 and acc["peak_mb"] <= 4096
    lines = [
        "# Street-network distances: benchmark",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
        "`python benchmarks/bench_distances.py`.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".",
        "",
        f"Network: jittered grid of {acc['nodes']:,} junctions and {acc['segments']:,} street "
        "segments (60-80 m apart, 10 % of segments removed); blocks and sites at random. "
        "Each row is a fresh process; *peak MB* is its peak resident memory (ru_maxrss). "
        "*table s* = snap + graph + shortest paths (what `NetworkEngine.pairs` does); "
        "*total s* adds building the network from line coordinates.",
        "",
        f"**Acceptance (20,000 blocks x 5,000 sites, 1,000 m): {acc['table_s']:.1f} s for the "
        f"table, {acc['total_s']:.1f} s with the network build, peak {acc['peak_mb']:,.0f} MB "
        f"-> {'PASS' if ok else 'FAIL'}** (limits 60 s, 4 GB).",
        "",
        "| case | blocks | sites | limit m | tile m | threads | pairs | pairs/block | build s "
        "| snap s | graph s | paths s | table s | total s | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        tile = r["tile_used"]
        tile_txt = "whole graph" if tile == float("inf") else f"{tile:,.0f}"
        if not r.get("tile_m"):
            tile_txt += " (auto)"
        lines.append(
            f"| {name} | {r['blocks']:,} | {r['sites']:,} | {r['limit']:g} | {tile_txt} | "
            f"{r.get('workers') or 1} | {r['pairs']:,} | "
            f"{r['pairs_per_block']:.1f} | {r['build_s']:.2f} | {r['snap_s']:.2f} | "
            f"{r['graph_s']:.2f} | {r['paths_s']:.2f} | {r['table_s']:.2f} | {r['total_s']:.2f} "
            f"| {r['peak_mb']:,.0f} |"
        )
    lines += ["", *growth_notes(results)]
    return "\n".join(lines) + "\n"


def growth_notes(results: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """How the time grows with sites and the limit, and what tiling and threads bring."""
    acc = results[0][1]

    def rows(name: str) -> list[dict[str, Any]]:
        return [r for n, r in results if n == name]

    by_sites = sorted([acc, *rows("sites")], key=lambda r: r["sites"])
    by_limit = sorted([acc, *rows("limit")], key=lambda r: r["limit"])
    tiles = {r["tile_m"]: r for r in rows("tiles")}
    one = rows("threads")[0]
    fmt = ", ".join
    return [
        "## How the time grows",
        "",
        "- **Sites** (1,000 m): shortest-path time "
        + fmt(f"{r['sites']:,} sites {r['paths_s']:.2f} s" for r in by_sites)
        + ": about linear in the number of sources (the smaller point set), because each "
        "source's Dijkstra is bounded by the limit, whatever the network's size.",
        "- **Limit** (5,000 sites): "
        + fmt(f"{r['limit']:g} m {r['paths_s']:.2f} s / {r['pairs']:,} pairs" for r in by_limit)
        + ". The pairs grow with the square of the limit, and so does the shortest-path time "
        "from about 1,000 m on (each Dijkstra settles the nodes within the limit); below "
        "that the per-tile fixed cost dominates. Snapping does not depend on the limit.",
        "- **Tiles**: sources are grouped into square tiles, each solved on the network within "
        "the limit of its tile. The default side gives about 32 sources a tile (never less "
        f"than the limit): {acc['paths_s']:.2f} s here, against "
        + fmt(
            ("the whole graph in chunks" if t == float("inf") else f"{t:g} m tiles")
            + f" {r['paths_s']:.2f} s"
            for t, r in tiles.items()
        )
        + ". Small tiles pay a per-tile overhead; the whole graph pays for dense rows over "
        "every node.",
        f"- **Threads**: 2 threads {one['paths_s']:.2f} s against {acc['paths_s']:.2f} s with "
        "1 (the default): scipy's Dijkstra releases the GIL, but the per-tile slicing does "
        "not, and on 2 cores the pool gains nothing measurable.",
        "- Snapping (an STRtree over every street segment) is the largest part of the table "
        "time at these sizes; building the network from line coordinates is about as much "
        "again, and reading a real file (GeoPackage, OSM) adds its own time.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small network, no file written")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    results = []
    for name, case in cases(args.quick):
        r = in_subprocess(case)
        results.append((name, r))
        print(
            f"{name:10s} blocks {r['blocks']:>6,} sites {r['sites']:>6,} limit {r['limit']:>6g} "
            f"tile {r['tile_used']:>6.0f} workers {r.get('workers')!s:>4}: "
            f"{r['pairs']:>9,} pairs; build {r['build_s']:.2f} s, snap {r['snap_s']:.2f} s, "
            f"graph {r['graph_s']:.2f} s, paths {r['paths_s']:.2f} s, table {r['table_s']:.2f} s,"
            f" total {r['total_s']:.2f} s, peak {r['peak_mb']:,.0f} MB",
            flush=True,
        )
    if not args.quick:
        out = HERE / "results" / "distances.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_markdown(results, machine()), encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
