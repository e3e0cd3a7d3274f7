"""Benchmark readers (../shared/benchmarks) and the published optima they must reproduce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import shortest_path

from optimizer.backends import SolveOptions, Status
from optimizer.bench import instances as benchdata
from optimizer.classic.registry import solve_classic
from optimizer.models.pcenter import PCenterData
from optimizer.models.pmedian.model import PMedianData

pytestmark = [
    pytest.mark.orlib,
    pytest.mark.skipif(
        not (benchdata.benchmarks_dir() / "orlib-pmed").is_dir(),
        reason="shared benchmark instances not present",
    ),
]
OPTS = SolveOptions(time_limit_s=120)


def _proven(res, optimum: float) -> None:  # type: ignore[no-untyped-def]
    assert res.status is Status.OPTIMAL, res.result.message
    assert res.objective == pytest.approx(optimum, abs=1e-6)
    assert res.gap == pytest.approx(0.0, abs=1e-9)
    assert res.report.passed


# --------------------------------------------------------------------------- pmed


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmed_reaches_the_published_optimum(k: int) -> None:
    inst = benchdata.read_pmed(f"pmed{k}")
    assert inst.optimum is not None
    _proven(solve_classic("pmedian", inst.data(), options=OPTS), inst.optimum)


@pytest.mark.parametrize(("name", "radius"), [("pmed1", 127.0), ("pmed4", 74.0)])
def test_pcenter_search_on_orlib_graphs(name: str, radius: float) -> None:
    """p-center on the pmed graphs: the binary search over covering problems proves these
    radii optimal in well under a second (the standard MIP is still open after a minute)."""
    inst = benchdata.read_pmed(name)
    data = PCenterData.from_arrays(inst.distance, inst.p)
    _proven(solve_classic("pcenter", data, options=OPTS), radius)


def test_pmed1_matrix() -> None:
    inst = benchdata.read_pmed("pmed1")
    assert (inst.n, inst.p, inst.optimum) == (100, 5, 5819.0)
    d = inst.distance
    assert d.shape == (100, 100) and np.all(np.isfinite(d))
    assert np.array_equal(d, d.T) and not np.diag(d).any()


def test_pmed_repeated_edge_takes_the_last_cost() -> None:
    """pmed1 lists two edges twice with different costs: the last cost gives the published
    5819; keeping the minimum (a common mistake) gives 5718."""
    path = benchdata.benchmarks_dir() / "orlib-pmed" / "pmed1.txt"
    t = np.asarray(path.read_text().split(), dtype=float)
    n, m, p = (int(v) for v in t[:3])
    edges = t[3 : 3 + 3 * m].reshape(m, 3)
    i, j = edges[:, 0].astype(int) - 1, edges[:, 1].astype(int) - 1
    key = np.minimum(i, j) * n + np.maximum(i, j)
    _, counts = np.unique(key, return_counts=True)
    assert (counts > 1).sum() == 2
    # the min rule, computed here independently of the reader
    w = np.full((n, n), np.inf)
    np.minimum.at(w, (i, j), edges[:, 2])
    np.minimum.at(w, (j, i), edges[:, 2])
    np.fill_diagonal(w, 0.0)
    min_rule = shortest_path(np.where(np.isfinite(w), w, 0.0), method="FW", directed=False)
    res_min = solve_classic("pmedian", PMedianData.from_arrays(min_rule, p), options=OPTS)
    assert res_min.objective == 5718.0
    res = solve_classic("pmedian", benchdata.read_pmed("pmed1").data(), options=OPTS)
    assert res.objective == 5819.0


def test_pmed_last_cost_rule_on_a_handmade_file(tmp_path: Path) -> None:
    f = tmp_path / "tiny.txt"
    f.write_text(" 3 4 1\n 1 2 5\n 2 3 1\n 1 2 9\n 2 1 7\n")
    inst = benchdata.read_pmed(f)
    assert inst.distance[0, 1] == 7.0 and inst.distance[0, 2] == 8.0
    assert inst.optimum is None


def test_pmed_optima_table() -> None:
    optima = benchdata.pmed_optima()
    assert len(optima) == 40
    assert optima["pmed1"] == 5819 and optima["pmed40"] == 5128


def test_benchmarks_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "orlib-pmed").mkdir()
    (tmp_path / "orlib-pmed" / "pmed1.txt").write_text(" 2 1 1\n 1 2 4\n")
    monkeypatch.setenv(benchdata.ENV_VAR, str(tmp_path))
    assert benchdata.benchmarks_dir() == tmp_path
    inst = benchdata.read_pmed("pmed1")
    assert inst.distance.tolist() == [[0.0, 4.0], [4.0, 0.0]] and inst.optimum is None
    with pytest.raises(FileNotFoundError, match=benchdata.ENV_VAR):
        benchdata.read_pmed("pmed2")


# --------------------------------------------------------------------------- scp


@pytest.mark.parametrize("name", ["scp41", "scp42"])
def test_orlib_scp_reaches_the_proven_optimum(name: str) -> None:
    inst = benchdata.read_scp(name)
    assert inst.reach.shape == (200, 1000)
    assert inst.optimum is not None
    _proven(solve_classic("lscp", inst.data(), options=OPTS), inst.optimum)


def test_scp_reader_and_reference_values() -> None:
    inst = benchdata.read_scp("scp41")
    assert inst.reach.nnz == 4009 and inst.cost.shape == (1000,)
    assert (inst.optimum, inst.best_known, inst.best_bound) == (429.0, 429.0, 429.0)
    assert np.all(np.asarray(inst.reach.sum(axis=1)).ravel() >= 1)
    ref = benchdata.scp_reference()
    assert len(ref) == 70
    assert ref["scpnre2"]["optimum"] is None and ref["scpnre2"]["best_known"] == 30.0
    assert ref["scpnrh5"]["best_bound"] == 46.0


# --------------------------------------------------------------------------- CPMP


@pytest.mark.parametrize("name", ["pmedcap01", "pmedcap02", "pmedcap04"])
def test_osman_christofides_reaches_the_optimum(name: str) -> None:
    inst = benchdata.read_osman_christofides(name)
    assert inst.optimum is not None
    _proven(solve_classic("cpmedian", inst.data(), options=OPTS), inst.optimum)


def test_osman_christofides_reader() -> None:
    inst = benchdata.read_osman_christofides("pmedcap01")
    assert (len(inst.demand), inst.p, inst.capacity[0], inst.optimum) == (50, 5, 120.0, 713.0)
    # node 1 at (2, 62), node 2 at (80, 25): sqrt(78**2 + 37**2) = 86.33 -> 86 (rounded down)
    assert inst.distance[0, 1] == 86.0
    assert np.all(inst.distance == np.floor(inst.distance))


def test_lorena_senne_reader() -> None:
    inst = benchdata.read_lorena_senne("SJC1")
    assert (len(inst.demand), inst.p, inst.optimum) == (100, 10, None)
    assert np.all(inst.capacity == 720.0)
    assert not np.all(inst.distance == np.floor(inst.distance))  # real Euclidean
    d01 = np.hypot(*(inst.coords[0] - inst.coords[1]))
    assert inst.distance[0, 1] == pytest.approx(d01)


def test_tsplib_reader() -> None:
    inst = benchdata.read_tsplib("rl1304")
    assert inst.n == 1304
    assert inst.coords[0].tolist() == [15440.0, 8888.0]
    sub = benchdata.floor_euclidean(inst.coords[:3])
    assert sub[0, 1] == 440.0 and sub[0, 2] == 880.0
