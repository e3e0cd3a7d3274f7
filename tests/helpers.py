"""Small scenarios written as CSV files into a temporary folder, and small p-median instances
with their brute-force optima."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from optimizer.models.pmedian.heuristics import heuristic_cost
from optimizer.models.pmedian.model import PMedianData

X0, Y0 = 440_000.0, 4_145_000.0  # a point in EPSG:4548 (Dezhou)


def blocks_frame(xs: list[float], ys: list[float] | None = None, **cols: Any) -> pd.DataFrame:
    """Blocks at (X0 + x, Y0 + y) with 1,000 residents each unless columns say otherwise."""
    n = len(xs)
    ys = ys or [0.0] * n
    df = pd.DataFrame(
        {
            "block_id": [f"B{i + 1}" for i in range(n)],
            "x": [X0 + x for x in xs],
            "y": [Y0 + y for y in ys],
            "population": 1000,
            "households": 361,
            "pop_0_2": 20,
            "pop_3_5": 30,
            "pop_60_plus": 200,
            "area_type": "new",
        }
    )
    for k, v in cols.items():
        df[k] = v
    return df


def sites_frame(
    xs: list[float],
    floor: list[float],
    fixed: list[float],
    ys: list[float] | None = None,
    **cols: Any,
) -> pd.DataFrame:
    n = len(xs)
    ys = ys or [0.0] * n
    df = pd.DataFrame(
        {
            "site_id": [f"S{i + 1}" for i in range(n)],
            "x": [X0 + x for x in xs],
            "y": [Y0 + y for y in ys],
            "floor_area_m2": floor,
            "fixed_cost": fixed,
            "kind": "idle_building",
            "available_year": 2026,
        }
    )
    for k, v in cols.items():
        df[k] = v
    return df


def existing_frame(
    xs: list[float], types: list[str], ys: list[float] | None = None
) -> pd.DataFrame:
    n = len(xs)
    ys = ys or [0.0] * n
    return pd.DataFrame(
        {
            "facility_id": [f"E{i + 1}" for i in range(n)],
            "type": types,
            "x": [X0 + x for x in xs],
            "y": [Y0 + y for y in ys],
            "capacity": 100.0,
        }
    )


# Round numbers for hand-computed costs: fit-out = 1,000 yuan/m2 x build area.
SIMPLE_CATALOG = {
    "elder_care": {"build_area_m2": 350, "fitout_cost_per_m2": 1000},
    "convenience": {"build_area_m2": 100, "fitout_cost_per_m2": 1000},
}


def write_scenario(
    folder: Path,
    blocks: pd.DataFrame,
    sites: pd.DataFrame,
    existing: pd.DataFrame | None = None,
    **extra: Any,
) -> Path:
    """Write the tables as CSV and a scenario YAML beside them; return the YAML's path."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks.to_csv(folder / "blocks.csv", index=False)
    sites.to_csv(folder / "sites.csv", index=False)
    data: dict[str, Any] = {
        "name": "test",
        "crs": "EPSG:4548",
        "inputs": {"blocks": "blocks.csv", "sites": "sites.csv"},
        "facility_types": ["elder_care", "convenience"],
        "distances": {"mode": "euclidean", "detour_factor": 1.0},
        "catalog": SIMPLE_CATALOG,
        "solver": {"name": "highs", "time_limit_s": 30},
    }
    if existing is not None:
        existing.to_csv(folder / "existing.csv", index=False)
        data["inputs"]["existing"] = "existing.csv"
    data.update(extra)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def pmedian_points(seed: int, n: int = 14, m: int = 9, p: int = 3, **kw: object) -> PMedianData:
    """``n`` random points and ``m`` random sites in the unit square, distances x 100 rounded,
    weights 1-9; ``kw`` goes to :meth:`PMedianData.from_arrays`."""
    rng = np.random.default_rng(seed)
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    d = np.round(100 * np.hypot(*(pts[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)))
    w = rng.integers(1, 10, n).astype(float)
    return PMedianData.from_arrays(d, p, w, **kw)  # type: ignore[arg-type]


def pmedian_optimum(data: PMedianData) -> tuple[float, np.ndarray]:
    """The optimal cost and one optimal selection, by trying every selection."""
    m = data.n_sites
    free = np.setdiff1d(np.setdiff1d(np.arange(m), data.forbidden), data.required)
    best, best_sel = math.inf, np.zeros(m, dtype=bool)
    for combo in itertools.combinations(free.tolist(), data.p - data.required.size):
        opened = np.zeros(m, dtype=bool)
        opened[data.required] = True
        opened[list(combo)] = True
        cost = heuristic_cost(data, opened)
        if cost < best:
            best, best_sel = cost, opened
    return best, best_sel
