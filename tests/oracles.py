"""Brute-force oracles for tiny instances: enumerate every choice, keep the best."""

from __future__ import annotations

import itertools

import numpy as np

# --------------------------------------------------------------------------- classic models
# Each oracle enumerates every set of open sites (and, for the capacitated p-median, every
# assignment) straight from dense input arrays; nothing is shared with the model code.


def _site_sets(
    n_sites: int,
    sizes: list[int],
    required: list[int] | tuple[int, ...] = (),
    forbidden: list[int] | tuple[int, ...] = (),
) -> list[tuple[int, ...]]:
    out = []
    for k in sizes:
        for combo in itertools.combinations(range(n_sites), k):
            if set(required) <= set(combo) and not set(forbidden) & set(combo):
                out.append(combo)
    return out


def brute_force_lscp(
    cover: np.ndarray,
    cost: np.ndarray,
    required: tuple[int, ...] = (),
    forbidden: tuple[int, ...] = (),
) -> float:
    """Least cost of a site set covering every row of the 0/1 matrix ``cover``; inf if none."""
    m = cover.shape[1]
    best = np.inf
    for combo in _site_sets(m, list(range(m + 1)), required, forbidden):
        if cover[:, list(combo)].any(axis=1).all():
            best = min(best, float(np.sum(cost[list(combo)])))
    return best


def brute_force_mclp(
    cover: np.ndarray,
    weight: np.ndarray,
    p: int | None,
    p_exact: bool = True,
    cost: np.ndarray | None = None,
    budget: float | None = None,
    required: tuple[int, ...] = (),
    forbidden: tuple[int, ...] = (),
) -> float:
    """Most weight within reach of ``p`` (or ``<= p``) sites within ``budget``; -inf if none."""
    m = cover.shape[1]
    sizes = list(range(m + 1)) if p is None else ([p] if p_exact else list(range(p + 1)))
    best = -np.inf
    for combo in _site_sets(m, sizes, required, forbidden):
        if budget is not None and cost is not None and cost[list(combo)].sum() > budget + 1e-9:
            continue
        covered = cover[:, list(combo)].any(axis=1)
        best = max(best, float(weight[covered].sum()))
    return best


def brute_force_pmedian(
    dist: np.ndarray,
    weight: np.ndarray,
    p: int,
    required: tuple[int, ...] = (),
    forbidden: tuple[int, ...] = (),
    penalty: float | None = None,
    demand: np.ndarray | None = None,
    capacity: np.ndarray | None = None,
) -> float:
    """Least ``sum w_i d_i,a(i)`` over p-site sets (``inf`` in ``dist`` = pair not allowed).

    With ``capacity``, every assignment of points to open sites is enumerated (single
    sourcing, ``sum demand <= capacity``); ``penalty`` lets a point stay unserved at
    ``w_i * penalty``.
    """
    n, m = dist.shape
    best = np.inf
    for combo in _site_sets(m, [p], required, forbidden):
        options = list(combo) + ([-1] if penalty is not None else [])
        if capacity is None:
            d = dist[:, list(combo)]
            if penalty is not None:
                d = np.c_[d, np.full(n, penalty)]
            per = d.min(axis=1) if d.size else np.full(n, np.inf)
            best = min(best, float(np.sum(weight * per)))
            continue
        q = weight if demand is None else demand
        for choice in itertools.product(options, repeat=n):
            a = np.asarray(choice)
            served = a >= 0
            d = np.where(served, dist[np.arange(n), np.maximum(a, 0)], penalty or 0.0)
            if not np.all(np.isfinite(d)):
                continue
            load = np.bincount(a[served], weights=q[served], minlength=m)
            if np.any(load > capacity + 1e-9):
                continue
            best = min(best, float(np.sum(weight * d)))
    return best


def brute_force_pcenter(
    dist: np.ndarray,
    weight: np.ndarray,
    p: int,
    required: tuple[int, ...] = (),
    forbidden: tuple[int, ...] = (),
) -> float:
    """Least ``max_i w_i min_{j open} d_ij`` over p-site sets; inf if none serves everyone."""
    m = dist.shape[1]
    best = np.inf
    for combo in _site_sets(m, [p], required, forbidden):
        per = dist[:, list(combo)].min(axis=1)
        best = min(best, float(np.max(weight * per, initial=0.0)))
    return best


def brute_force_backup(
    cover: np.ndarray,
    weight: np.ndarray,
    p: int,
    p_exact: bool = True,
    required: tuple[int, ...] = (),
    forbidden: tuple[int, ...] = (),
) -> float:
    """Most weight covered twice by p sites that cover every point once; -inf if none."""
    m = cover.shape[1]
    sizes = [p] if p_exact else list(range(p + 1))
    best = -np.inf
    for combo in _site_sets(m, sizes, required, forbidden):
        count = cover[:, list(combo)].sum(axis=1)
        if np.all(count >= 1):
            best = max(best, float(weight[count >= 2].sum()))
    return best
