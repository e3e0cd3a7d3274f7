"""Walking distances between points, kept sparse: only pairs within a cutoff are stored.

The seam is :class:`DistanceEngine`: anything with a ``mode`` and a ``pairs`` method that
returns :class:`DistancePairs`. Engines, by distance mode: ``euclidean`` (straight line x
detour factor, the default without a street network, here), ``network`` (walking along the
street network, :mod:`optimizer.distances.network`) and ``table`` (a precomputed OD table,
:mod:`optimizer.distances.table`); :func:`optimizer.distances.engine.make_engine` picks one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from optimizer.errors import Problem

log = logging.getLogger(__name__)

Ids = Sequence[object] | np.ndarray
"""Point ids passed to :meth:`DistanceEngine.pairs` (for warnings, and the table engine)."""


@dataclass(frozen=True)
class DistancePairs:
    """Sparse origin x destination distances (metres), every stored pair within ``cutoff``.

    Stored as coordinate arrays rather than a sparse matrix so that a distance of exactly 0
    (a block at a site's door) is kept.
    """

    rows: np.ndarray
    cols: np.ndarray
    dist: np.ndarray
    shape: tuple[int, int]
    cutoff: float

    @classmethod
    def empty(cls, shape: tuple[int, int], cutoff: float) -> DistancePairs:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0), shape, cutoff)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def filter(
        self,
        limit: float | None = None,
        row_mask: np.ndarray | None = None,
        col_mask: np.ndarray | None = None,
    ) -> DistancePairs:
        """Pairs within ``limit`` whose origin and destination pass the masks (ids unchanged)."""
        keep = np.ones(len(self), dtype=bool)
        if limit is not None:
            if limit > self.cutoff + 1e-9:
                raise ValueError(f"limit {limit} exceeds the computed cutoff {self.cutoff}")
            keep &= self.dist <= limit
        if row_mask is not None:
            keep &= row_mask[self.rows]
        if col_mask is not None:
            keep &= col_mask[self.cols]
        cutoff = self.cutoff if limit is None else float(limit)
        return DistancePairs(self.rows[keep], self.cols[keep], self.dist[keep], self.shape, cutoff)

    def reach_matrix(self) -> sp.csr_matrix:
        """0/1 CSR matrix (origins x destinations) of the stored pairs."""
        data = np.ones(len(self), dtype=np.int8)
        return sp.csr_matrix((data, (self.rows, self.cols)), shape=self.shape)

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """For each origin, the nearest destination index (-1 if none) and its distance (NaN)."""
        n = self.shape[0]
        idx = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        if len(self):
            order = np.lexsort((self.cols, self.dist, self.rows))
            rows_sorted = self.rows[order]
            first = np.r_[True, rows_sorted[1:] != rows_sorted[:-1]]
            pick = order[first]
            idx[self.rows[pick]] = self.cols[pick]
            dist[self.rows[pick]] = self.dist[pick]
        return idx, dist


def point_arrays(
    origins: np.ndarray, dests: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Origins and destinations as float ``(n, 2)`` coordinate arrays, and the pairs' shape
    ``(n_origins, n_destinations)``: what every engine's :meth:`~DistanceEngine.pairs` starts
    from."""
    origins = np.asarray(origins, dtype=float).reshape(-1, 2)
    dests = np.asarray(dests, dtype=float).reshape(-1, 2)
    return origins, dests, (origins.shape[0], dests.shape[0])


class DistanceEngine(Protocol):
    """Computes sparse walking distances between two point sets."""

    mode: str

    def describe(self) -> str:
        """One line for summaries and reports, e.g. 'straight line x 1.3 detour'."""
        ...

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
        """All (origin, destination) pairs whose walking distance is at most ``cutoff``.

        ``origin_ids``/``dest_ids`` (the points' ids) and ``names`` (e.g. ``("blocks",
        "sites")``) name points in warnings; the ``table`` engine needs the ids.
        """
        ...


class StraightLineEngine:
    """Straight-line distance multiplied by a detour factor (default 1.3).

    Uses a k-d tree over the destinations, so the cost grows with the number of pairs within
    the cutoff, never with origins x destinations.
    """

    mode = "euclidean"

    def __init__(self, detour_factor: float = 1.3) -> None:
        if detour_factor < 1.0:
            raise ValueError("detour_factor must be at least 1")
        self.detour_factor = float(detour_factor)

    def describe(self) -> str:
        return f"straight line x {self.detour_factor:g} detour factor (no street network)"

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
        origins, dests, shape = point_arrays(origins, dests)
        if not (shape[0] and shape[1]):
            return DistancePairs.empty(shape, cutoff)
        radius = cutoff / self.detour_factor
        found = cKDTree(origins).sparse_distance_matrix(
            cKDTree(dests), max_distance=radius, output_type="ndarray"
        )
        dist = found["v"] * self.detour_factor
        keep = dist <= cutoff
        return DistancePairs(
            rows=found["i"][keep].astype(np.int64),
            cols=found["j"][keep].astype(np.int64),
            dist=dist[keep],
            shape=shape,
            cutoff=float(cutoff),
        )


def missing_source(mode: str, key: str) -> Problem:
    """The problem of a distance mode whose source (network file, table) is not given."""
    return Problem("scenario", key, f"distance mode '{mode}' needs {key}", field_kind="key")
