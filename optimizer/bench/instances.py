"""Readers for the public benchmark instances in ``../shared/benchmarks`` (never copied here).

Each reader returns plain arrays (and the known optimum or best-known value when the folder
provides one) and can hand them to the matching model's ``from_arrays``:

* :func:`read_pmed` (``orlib-pmed/``): shortest paths over the edge list, built reading the
  edges in order so that a repeated edge takes the LAST cost listed (Beasley's rule, not the
  minimum); optima from ``pmedopt.txt``.
* :func:`read_scp` (``orlib-scp/``): weighted set covering; proven optima, best-known values
  and bounds from ``bks_*.csv``.
* :func:`read_osman_christofides` (``cpmp-osman-christofides/``): capacitated p-median,
  Euclidean distances rounded DOWN; the optimum is each file's header value.
* :func:`read_lorena_senne` (``cpmp-lorena-senne/``): capacitated p-median, real Euclidean
  distances; no reference value.
* :func:`read_tsplib` (``tsplib/``): points for large p-median instances, Euclidean distances
  rounded DOWN, computed on demand (the largest file has 5,934 points).

The folder is ``<repo>/../shared/benchmarks``; the environment variable ``SITING_BENCHMARKS``
overrides it. Every reader takes an instance name (``"pmed1"``) or a path to a file.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from optimizer.models.covering.lscp import LscpData
from optimizer.models.pmedian.model import PMedianData

ENV_VAR = "SITING_BENCHMARKS"


def benchmarks_dir() -> Path:
    """The shared benchmark folder (``$SITING_BENCHMARKS`` if set)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "benchmarks"


def _resolve(name: str | Path, folder: str, suffix: str) -> Path:
    path = Path(name)
    if path.suffix and path.exists():
        return path
    found = benchmarks_dir() / folder / f"{Path(name).name}{suffix}"
    if not found.exists():
        raise FileNotFoundError(
            f"benchmark instance {name!s} not found at {found} (set {ENV_VAR} to the folder "
            "that holds orlib-pmed/, orlib-scp/, ...)"
        )
    return found


def _tokens(path: Path) -> np.ndarray:
    return np.asarray(path.read_text().split(), dtype=float)


def floor_euclidean(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and ``b`` (default ``a``), rounded down."""
    return np.floor(euclidean(a, b))


def euclidean(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Real Euclidean distances between the rows of ``a`` and ``b`` (default ``a``)."""
    b = a if b is None else b
    dx = a[:, None, 0] - b[None, :, 0]
    dy = a[:, None, 1] - b[None, :, 1]
    return np.sqrt(dx * dx + dy * dy)


# --------------------------------------------------------------------------- OR-Library pmed


@dataclass(frozen=True)
class PMedInstance:
    """An OR-Library uncapacitated p-median instance (every vertex a client and a site)."""

    name: str
    n: int
    p: int
    distance: np.ndarray
    optimum: float | None

    def data(self, p: int | None = None) -> PMedianData:
        """The p-median arrays (unit weights), with the instance's ``p`` unless given."""
        return PMedianData.from_arrays(self.distance, self.p if p is None else p)


def pmed_graph(n: int, edges: np.ndarray) -> np.ndarray:
    """All-pairs shortest paths of the undirected graph with ``edges`` (rows ``i j cost``,
    1-based), read in order so that a repeated edge keeps the LAST cost listed."""
    i = edges[:, 0].astype(np.int64) - 1
    j = edges[:, 1].astype(np.int64) - 1
    c = edges[:, 2].astype(float)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key = lo * n + hi
    # last occurrence of each key: first occurrence in the reversed list
    _, first_rev = np.unique(key[::-1], return_index=True)
    last = key.size - 1 - first_rev
    last = last[lo[last] != hi[last]]  # a self-loop has no effect on shortest paths
    g = sp.csr_matrix((c[last], (lo[last], hi[last])), shape=(n, n))
    return np.asarray(shortest_path(g, method="D", directed=False))


def read_pmed(name: str | Path) -> PMedInstance:
    """Read ``pmedN`` (header ``n m p``, then ``m`` lines ``i j cost``)."""
    path = _resolve(name, "orlib-pmed", ".txt")
    t = _tokens(path)
    n, m, p = (int(v) for v in t[:3])
    edges = t[3 : 3 + 3 * m].reshape(m, 3)
    if edges.shape[0] != m:
        raise ValueError(f"{path}: expected {m} edges")
    dist = pmed_graph(n, edges)
    if not np.all(np.isfinite(dist)):
        raise ValueError(f"{path}: the graph is not connected")
    return PMedInstance(path.stem, n, p, dist, pmed_optima().get(path.stem))


def pmed_optima() -> dict[str, float]:
    """Optimal values from ``orlib-pmed/pmedopt.txt``."""
    return dict(_pmed_optima(str(benchmarks_dir())))


@lru_cache(maxsize=4)
def _pmed_optima(folder: str) -> tuple[tuple[str, float], ...]:
    path = Path(folder) / "orlib-pmed" / "pmedopt.txt"
    if not path.exists():
        return ()
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("pmed"):
            out.append((parts[0], float(parts[1])))
    return tuple(out)


# --------------------------------------------------------------------------- OR-Library scp


@dataclass(frozen=True)
class ScpInstance:
    """An OR-Library weighted set covering instance (rows = elements, columns = sets).

    ``optimum`` is set when the reference table lists a proven optimum; ``best_known`` and
    ``best_bound`` come from the same table.
    """

    name: str
    reach: sp.csr_matrix
    cost: np.ndarray
    optimum: float | None
    best_known: float | None
    best_bound: float | None

    def data(self) -> LscpData:
        """The LSCP arrays."""
        return LscpData.from_arrays(self.reach, self.cost)


def read_scp(name: str | Path) -> ScpInstance:
    """Read ``scp*`` (``m n``, the ``n`` costs, then per row its count and 1-based columns)."""
    path = _resolve(name, "orlib-scp", ".txt")
    t = _tokens(path).astype(np.int64)
    m, n = int(t[0]), int(t[1])
    cost = t[2 : 2 + n].astype(float)
    pos = 2 + n
    counts = np.empty(m, dtype=np.int64)
    parts = []
    for r in range(m):  # a file reader: each row's length is known only once its count is read
        counts[r] = t[pos]
        parts.append(t[pos + 1 : pos + 1 + counts[r]])
        pos += 1 + int(counts[r])
    if pos != t.size:
        raise ValueError(f"{path}: {t.size - pos} tokens left after {m} rows")
    cols = np.concatenate(parts) - 1
    rows = np.repeat(np.arange(m), counts)
    reach = sp.csr_matrix((np.ones(cols.size, dtype=np.int8), (rows, cols)), shape=(m, n))
    ref = scp_reference().get(path.stem, {})
    return ScpInstance(
        path.stem, reach, cost, ref.get("optimum"), ref.get("best_known"), ref.get("best_bound")
    )


def scp_reference() -> dict[str, dict[str, float | None]]:
    """Reference values from ``orlib-scp/bks_*.csv``: ``optimum`` (proven, or None),
    ``best_known`` and ``best_bound`` per instance name."""
    return {k: dict(v) for k, v in _scp_reference(str(benchmarks_dir()))}


@lru_cache(maxsize=4)
def _scp_reference(folder: str) -> tuple[tuple[str, tuple[tuple[str, float | None], ...]], ...]:
    files = sorted((Path(folder) / "orlib-scp").glob("bks_*.csv"))
    out: dict[str, tuple[tuple[str, float | None], ...]] = {}

    def num(text: str | None) -> float | None:
        text = (text or "").strip()
        return float(text) if text else None

    for path in files:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                name = Path(row["Path"]).stem
                out[name] = (
                    ("optimum", num(row.get("Optimum"))),
                    ("best_known", num(row.get("Best known solution value"))),
                    ("best_bound", num(row.get("Best known bound"))),
                )
    return tuple(out.items())


# --------------------------------------------------------------------------- capacitated p-median


@dataclass(frozen=True)
class CpmpInstance:
    """A capacitated p-median instance: every node a client and a candidate median.

    The objective is the plain distance sum (weight 1); ``demand`` is what a client uses of
    its median's ``capacity``.
    """

    name: str
    coords: np.ndarray
    demand: np.ndarray
    capacity: np.ndarray
    p: int
    distance: np.ndarray
    optimum: float | None

    def data(self) -> PMedianData:
        """The capacitated p-median arrays (single sourcing)."""
        return PMedianData.from_arrays(
            self.distance, self.p, demand=self.demand, capacity=self.capacity
        )


def read_osman_christofides(name: str | Path) -> CpmpInstance:
    """Read ``pmedcapNN`` (``no best`` / ``n p Q`` / n lines ``id x y demand``); distances are
    Euclidean rounded down, and the header's best value is the optimum."""
    path = _resolve(name, "cpmp-osman-christofides", ".txt")
    t = _tokens(path)
    best = float(t[1])
    n, p, q = int(t[2]), int(t[3]), float(t[4])
    nodes = t[5 : 5 + 4 * n].reshape(n, 4)
    coords = nodes[:, 1:3]
    return CpmpInstance(
        path.stem, coords, nodes[:, 3].copy(), np.full(n, q), p, floor_euclidean(coords), best
    )


def read_lorena_senne(name: str | Path) -> CpmpInstance:
    """Read ``SJC*`` (``n p`` / n lines ``x y capacity demand``); real Euclidean distances."""
    path = _resolve(name, "cpmp-lorena-senne", ".dat")
    t = _tokens(path)
    n, p = int(t[0]), int(t[1])
    nodes = t[2 : 2 + 4 * n].reshape(n, 4)
    coords = nodes[:, 0:2]
    return CpmpInstance(
        path.stem, coords, nodes[:, 3].copy(), nodes[:, 2].copy(), p, euclidean(coords), None
    )


# --------------------------------------------------------------------------- TSPLIB


@dataclass(frozen=True)
class PointsInstance:
    """Points of a TSPLIB file, used as a p-median instance (client = site, demand 1)."""

    name: str
    coords: np.ndarray

    @property
    def n(self) -> int:
        return int(self.coords.shape[0])

    def distance(self) -> np.ndarray:
        """Dense Euclidean distances rounded down (``n**2`` floats: 280 MB for rl5934)."""
        return floor_euclidean(self.coords)

    def data(self, p: int) -> PMedianData:
        """The p-median arrays with ``p`` medians."""
        return PMedianData.from_arrays(self.distance(), p)


def read_tsplib(name: str | Path) -> PointsInstance:
    """Read a TSPLIB ``EUC_2D`` file (``NODE_COORD_SECTION`` lines ``id x y``)."""
    path = _resolve(name, "tsplib", ".tsp")
    lines = path.read_text().splitlines()
    header = {}
    start = None
    for k, line in enumerate(lines):
        if line.strip().startswith("NODE_COORD_SECTION"):
            start = k + 1
            break
        if ":" in line:
            key, value = line.split(":", 1)
            header[key.strip().upper()] = value.strip()
    if start is None:
        raise ValueError(f"{path}: no NODE_COORD_SECTION")
    n = int(header["DIMENSION"])
    body = " ".join(lines[start : start + n]).split()
    coords = np.asarray(body, dtype=float).reshape(n, 3)[:, 1:3]
    return PointsInstance(path.stem, coords)
