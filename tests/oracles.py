"""Brute-force oracles for tiny instances: enumerate every choice, keep the best."""

from __future__ import annotations

import itertools

import numpy as np

from optimizer.models.covering import CoveringData


def brute_force_covering(data: CoveringData) -> tuple[float, list[tuple[int, int]]]:
    """Least cost of building (type, site) pairs that cover every row within floor areas.

    Returns ``(inf, [])`` when no choice is feasible.
    """
    pairs = [(t, s) for t, e in enumerate(data.eligible) for s in np.flatnonzero(e)]
    cover = [c.toarray().astype(bool) for c in data.cover]
    best, best_pick = np.inf, []
    for mask in itertools.product([False, True], repeat=len(pairs)):
        pick = [p for p, m in zip(pairs, mask, strict=True) if m]
        built = np.zeros((len(data.type_keys), data.n_sites), dtype=bool)
        for t, s in pick:
            built[t, s] = True
        if any(not (cover[t] @ built[t]).all() for t in range(len(cover)) if cover[t].size):
            continue
        area = np.asarray(data.area) @ built
        if (area > data.floor_area + 1e-9).any():
            continue
        opened = built.any(axis=0)
        cost = data.fixed_cost[opened].sum() + sum(
            data.fitout_cost[t][built[t]].sum() for t in range(len(cover))
        )
        if cost < best - 1e-9:
            best, best_pick = float(cost), pick
    return best, best_pick
