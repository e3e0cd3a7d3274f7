"""Synthetic location instances for tests and benchmarks: random uniform and city-like.

Three generators, both deterministic given their seed, both returning a :class:`PointsProblem`
(demand points, candidate sites, weights and site costs in metres on a plane):

* :func:`random_uniform` — the common spopt-style test: demand points and sites uniform in a
  square (10 km by default), integer weights uniform in ``[weight_low, weight_high]``.
* :func:`city_like` — a clustered city whose density resembles a real Chinese urban district:
  neighbourhood centres, residential blocks clustered around them (100 m grid cells or
  compounds with block-like populations), a thinner scatter of outlying blocks, and candidate
  sites near blocks with a share in the gaps between neighbourhoods. The side of the city grows
  with the square root of the number of blocks, so the density stays the same at any size.
* :func:`city_dense` — a second clustered city (issue 19): a denser city (side
  ``DENSE_SHRINK`` of :func:`city_side_m`) of many small neighbourhoods grouped into districts,
  so that their spreads overlap; heavy-tailed (Pareto) neighbourhood sizes whose spread grows
  with their size; a few isolated blocks; sites near blocks with a small share in the gaps.

City-like parameters (module constants, documented in ``benchmarks/README.md``):

=========================  =================================================================
``CITY_BLOCKS_PER_KM2``    70 blocks per km²: 20,000 blocks (100 m cells of ~60 residents,
                           about 1.2 million residents) on ~286 km², a 16.9 km square — a
                           prefecture-level central city with its built-up neighbourhoods,
                           parks, industry and fringe
``BLOCKS_PER_CENTRE``      150 blocks per neighbourhood centre (a sub-district, 街道/社区)
``CENTRE_SPREAD_M``        standard deviation of blocks around their centre, uniform in
                           200-500 m per centre (compact old town to sprawling new area);
                           neighbourhood sizes are gamma(2)-distributed
``SCATTER_SHARE``          10 % of blocks scattered uniformly (urban fringe, villages)
``SITE_NEAR_SHARE``        80 % of sites lie near a block (normal offset, s.d. 120 m), the
                           rest uniformly over the city (vacant lots in the gaps)
site richness              each neighbourhood draws a gamma(0.5) richness in idle buildings
                           and lots, scattered blocks 0.3; a near-block site picks its block
                           in proportion to it, so some neighbourhoods have few candidates
population                 lognormal, median 55 residents per block (σ 0.6) inside
                           neighbourhoods, median 25 (σ 0.8) in the scatter; at least 1
=========================  =================================================================

With these parameters at 20,000 x 5,000 and 300 m (the 5-minute circle) about 4-6 % of
blocks (4-5 % of residents) have no candidate site within reach, the median block reaches 6-7
sites and the median site 35-40 blocks (measured figures in ``benchmarks/README.md``), so
coverage models face a realistic mix of well-served, contested and uncoverable blocks.

City-dense parameters (``DENSE_*`` constants): one district per 2,000 blocks (centres in the
inner 80 % of the city, s.d. 0.35 x side / sqrt(districts)), one neighbourhood per 60 blocks
placed around a random district, neighbourhood weights Pareto(1.5) + 0.2 and spreads
log-uniform in 150-300 m times sqrt(weight / mean weight); 0.2 % of blocks isolated (uniform);
90 % of sites near a clustered block (s.d. 100 m), 10 % uniform. At 20,000 x 5,000 and 300 m
(seeds 0-2): 60-145 blocks out of reach of every site, the median block reaches 15-17 sites
and the median site 58-67 blocks (about 335,000-410,000 pairs against city_like's 270,000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from optimizer.models.common import Pairs

CITY_BLOCKS_PER_KM2 = 70.0
BLOCKS_PER_CENTRE = 150
CENTRE_SPREAD_M = (200.0, 500.0)
SCATTER_SHARE = 0.10
SITE_NEAR_SHARE = 0.80
SITE_NEAR_SD_M = 120.0
SITE_RICHNESS_SHAPE = 0.5
SCATTER_RICHNESS = 0.3
POP_MEDIAN = (55.0, 25.0)  # neighbourhood blocks, scattered blocks
POP_SIGMA = (0.6, 0.8)

DENSE_SHRINK = 0.85
DENSE_BLOCKS_PER_DISTRICT = 2_000
DENSE_DISTRICT_SD = 0.35
DENSE_BLOCKS_PER_CENTRE = 60
DENSE_SIZE_PARETO = 1.5
DENSE_SPREAD_M = (150.0, 300.0)
DENSE_ISOLATED_SHARE = 0.002
DENSE_SITE_NEAR_SHARE = 0.90
DENSE_SITE_NEAR_SD_M = 100.0


@dataclass(frozen=True)
class PointsProblem:
    """Demand points and candidate sites on a plane (metres).

    Attributes
    ----------
    name : str
        Instance name (encodes the generator, sizes and seed).
    demand_xy : ndarray of float (n_demand, 2)
        Demand point coordinates.
    site_xy : ndarray of float (n_sites, 2)
        Candidate site coordinates.
    weight : ndarray of float (n_demand,)
        Demand weights (integers stored as floats).
    site_cost : ndarray of float (n_sites,)
        Site costs (ones unless the generator gives them a meaning).
    """

    name: str
    demand_xy: np.ndarray
    site_xy: np.ndarray
    weight: np.ndarray
    site_cost: np.ndarray
    _trees: dict[str, cKDTree] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_demand(self) -> int:
        return int(self.demand_xy.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.site_xy.shape[0])

    def _tree(self, which: str) -> cKDTree:
        if which not in self._trees:
            self._trees[which] = cKDTree(self.demand_xy if which == "demand" else self.site_xy)
        return self._trees[which]

    def _within(self, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted (demand, site, distance) triplets with distance <= radius (k-d trees)."""
        found = self._tree("demand").sparse_distance_matrix(
            self._tree("site"), max_distance=float(radius), output_type="ndarray"
        )
        rows = found["i"].astype(np.int64)
        cols = found["j"].astype(np.int64)
        dist = found["v"].astype(float)
        order = np.argsort(rows * self.n_sites + cols, kind="stable")
        return rows[order], cols[order], dist[order]

    def reach(self, radius: float) -> sp.csr_matrix:
        """0/1 demand x site CSR matrix: one where the Euclidean distance is at most ``radius``."""
        rows, cols, _ = self._within(radius)
        data = np.ones(rows.size, dtype=np.int8)
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n_demand, self.n_sites))

    def pairs(self, max_distance: float | None = None) -> Pairs:
        """Demand x site pairs with Euclidean distances.

        Parameters
        ----------
        max_distance : float, optional
            Keep only pairs at most this far apart (k-d tree search); all pairs when omitted
            (dense: ``n_demand * n_sites`` pairs, built row block by row block).
        """
        if max_distance is not None:
            rows, cols, dist = self._within(max_distance)
            return Pairs(rows, cols, dist, self.n_demand, self.n_sites)
        n, m = self.n_demand, self.n_sites
        dist = np.empty(n * m)
        step = max(1, 2_000_000 // max(m, 1))
        for start in range(0, n, step):  # row blocks bound the temporary memory
            block = self.demand_xy[start : start + step]
            diff_x = block[:, 0:1] - self.site_xy[None, :, 0]
            diff_y = block[:, 1:2] - self.site_xy[None, :, 1]
            dist[start * m : (start + block.shape[0]) * m] = np.hypot(diff_x, diff_y).ravel()
        rows = np.repeat(np.arange(n, dtype=np.int64), m)
        cols = np.tile(np.arange(m, dtype=np.int64), n)
        return Pairs(rows, cols, dist, n, m)


def _check_sizes(n_demand: int, n_sites: int) -> None:
    if n_demand < 1 or n_sites < 1:
        raise ValueError(f"need at least one demand point and one site, got {n_demand}, {n_sites}")


def random_uniform(
    n_demand: int,
    n_sites: int,
    side_m: float = 10_000.0,
    weight_low: int = 1,
    weight_high: int = 100,
    seed: int = 0,
) -> PointsProblem:
    """Demand points and sites uniform in a ``side_m`` square; integer weights uniform.

    Parameters
    ----------
    n_demand, n_sites : int
        Numbers of demand points and candidate sites.
    side_m : float
        Side of the square, metres.
    weight_low, weight_high : int
        Weights are integers drawn uniformly from ``[weight_low, weight_high]`` (inclusive).
    seed : int
        Seed of numpy's default generator; equal seeds give identical problems.
    """
    _check_sizes(n_demand, n_sites)
    if weight_low > weight_high:
        raise ValueError("weight_low must not exceed weight_high")
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0.0, side_m, (n_demand, 2))
    sites = rng.uniform(0.0, side_m, (n_sites, 2))
    weight = rng.integers(weight_low, weight_high, size=n_demand, endpoint=True).astype(float)
    return PointsProblem(
        name=f"uniform-{n_demand}x{n_sites}-s{seed}",
        demand_xy=demand,
        site_xy=sites,
        weight=weight,
        site_cost=np.ones(n_sites),
    )


def city_side_m(n_blocks: int) -> float:
    """Side (metres) of the square city holding ``n_blocks`` at ``CITY_BLOCKS_PER_KM2``."""
    return 1000.0 * math.sqrt(n_blocks / CITY_BLOCKS_PER_KM2)


def _clip(xy: np.ndarray, side: float) -> np.ndarray:
    return np.clip(xy, 0.0, side)


def _city_blocks(
    rng: np.random.Generator, n_blocks: int, side: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block coordinates, populations and site richness (clustered blocks plus a scatter)."""
    n_centres = max(1, round(n_blocks / BLOCKS_PER_CENTRE))
    # centres avoid the outer 5 % so that clusters are not cut by the border
    centres = rng.uniform(0.05 * side, 0.95 * side, (n_centres, 2))
    spread = rng.uniform(*CENTRE_SPREAD_M, n_centres)
    size = rng.gamma(2.0, 1.0, n_centres)  # unequal neighbourhoods
    n_scatter = round(SCATTER_SHARE * n_blocks)
    n_clustered = n_blocks - n_scatter
    home = rng.choice(n_centres, size=n_clustered, p=size / size.sum())
    clustered = centres[home] + rng.normal(size=(n_clustered, 2)) * spread[home, None]
    scatter = rng.uniform(0.0, side, (n_scatter, 2))
    xy = _clip(np.vstack([clustered, scatter]), side)
    median = np.r_[np.full(n_clustered, POP_MEDIAN[0]), np.full(n_scatter, POP_MEDIAN[1])]
    sigma = np.r_[np.full(n_clustered, POP_SIGMA[0]), np.full(n_scatter, POP_SIGMA[1])]
    pop = np.maximum(1.0, np.round(median * np.exp(sigma * rng.normal(size=n_blocks))))
    richness = rng.gamma(SITE_RICHNESS_SHAPE, 1.0, n_centres)
    rich = np.r_[richness[home], np.full(n_scatter, SCATTER_RICHNESS)]
    perm = rng.permutation(n_blocks)  # clustered and scattered blocks interleaved
    return xy[perm], pop[perm], rich[perm]


def city_like(n_blocks: int, n_sites: int, seed: int = 0) -> PointsProblem:
    """A clustered city: blocks around neighbourhood centres, sites near blocks and in gaps.

    Parameters
    ----------
    n_blocks : int
        Number of residential blocks (demand points); the city's side is
        :func:`city_side_m` of it (16.9 km at 20,000 blocks).
    n_sites : int
        Number of candidate sites; ``SITE_NEAR_SHARE`` of them near a block (s.d. 120 m)
        chosen in proportion to its neighbourhood's site richness, the rest uniform.
    seed : int
        Seed of numpy's default generator; equal seeds give identical problems.

    Returns
    -------
    PointsProblem
        Weights are block populations (integers >= 1); site costs are ones.
    """
    _check_sizes(n_blocks, n_sites)
    rng = np.random.default_rng(seed)
    side = city_side_m(n_blocks)
    blocks, pop, rich = _city_blocks(rng, n_blocks, side)
    n_near = round(SITE_NEAR_SHARE * n_sites)
    anchor = rng.choice(n_blocks, size=n_near, p=rich / rich.sum())
    near = blocks[anchor] + rng.normal(size=(n_near, 2)) * SITE_NEAR_SD_M
    gaps = rng.uniform(0.0, side, (n_sites - n_near, 2))
    sites = _clip(np.vstack([near, gaps]), side)[rng.permutation(n_sites)]
    return PointsProblem(
        name=f"city-{n_blocks}x{n_sites}-s{seed}",
        demand_xy=blocks,
        site_xy=sites,
        weight=pop,
        site_cost=np.ones(n_sites),
    )


def city_dense(n_blocks: int, n_sites: int, seed: int = 0) -> PointsProblem:
    """A denser clustered city with overlapping neighbourhoods (issue 19's second generator).

    Neighbourhood centres are drawn around district centres, so neighbourhoods overlap;
    their sizes are heavy-tailed (Pareto) and their spreads grow with the square root of their
    size (a big neighbourhood is wider, not just denser). A few isolated blocks lie uniformly
    over the city, most of them out of reach of every site at 300 m. Parameters: the
    ``DENSE_*`` module constants (see the module docstring).

    Parameters
    ----------
    n_blocks : int
        Number of residential blocks (demand points); the city's side is ``DENSE_SHRINK``
        times :func:`city_side_m` (14.4 km at 20,000 blocks).
    n_sites : int
        Number of candidate sites; ``DENSE_SITE_NEAR_SHARE`` of them near a clustered block
        (s.d. 100 m, every clustered block equally likely), the rest uniform.
    seed : int
        Seed of numpy's default generator; equal seeds give identical problems.

    Returns
    -------
    PointsProblem
        Weights are block populations (integers >= 1, as in :func:`city_like`); site costs
        are ones.
    """
    _check_sizes(n_blocks, n_sites)
    rng = np.random.default_rng(seed)
    side = DENSE_SHRINK * city_side_m(n_blocks)
    n_districts = max(1, round(n_blocks / DENSE_BLOCKS_PER_DISTRICT))
    districts = rng.uniform(0.1 * side, 0.9 * side, (n_districts, 2))
    district_sd = rng.uniform(0.5, 1.0, n_districts) * DENSE_DISTRICT_SD * side
    district_sd /= math.sqrt(n_districts)
    n_centres = max(1, round(n_blocks / DENSE_BLOCKS_PER_CENTRE))
    district = rng.integers(0, n_districts, n_centres)
    centres = districts[district] + rng.normal(size=(n_centres, 2)) * district_sd[district, None]
    centres = _clip(centres, side)
    size = rng.pareto(DENSE_SIZE_PARETO, n_centres) + 0.2
    low, high = np.log(DENSE_SPREAD_M)
    spread = np.exp(rng.uniform(low, high, n_centres)) * np.sqrt(size / size.mean())
    n_isolated = round(DENSE_ISOLATED_SHARE * n_blocks)
    n_clustered = n_blocks - n_isolated
    home = rng.choice(n_centres, size=n_clustered, p=size / size.sum())
    clustered = centres[home] + rng.normal(size=(n_clustered, 2)) * spread[home, None]
    isolated = rng.uniform(0.0, side, (n_isolated, 2))
    blocks = _clip(np.vstack([clustered, isolated]), side)
    median = np.r_[np.full(n_clustered, POP_MEDIAN[0]), np.full(n_isolated, POP_MEDIAN[1])]
    sigma = np.r_[np.full(n_clustered, POP_SIGMA[0]), np.full(n_isolated, POP_SIGMA[1])]
    pop = np.maximum(1.0, np.round(median * np.exp(sigma * rng.normal(size=n_blocks))))
    n_near = round(DENSE_SITE_NEAR_SHARE * n_sites)
    anchor = rng.integers(0, max(1, n_clustered), n_near)
    near = blocks[anchor] + rng.normal(size=(n_near, 2)) * DENSE_SITE_NEAR_SD_M
    gaps = rng.uniform(0.0, side, (n_sites - n_near, 2))
    sites = _clip(np.vstack([near, gaps]), side)[rng.permutation(n_sites)]
    perm = rng.permutation(n_blocks)  # isolated blocks interleaved with the others
    return PointsProblem(
        name=f"dense-{n_blocks}x{n_sites}-s{seed}",
        demand_xy=blocks[perm],
        site_xy=sites,
        weight=pop[perm],
        site_cost=np.ones(n_sites),
    )
