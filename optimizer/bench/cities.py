"""City-scale benchmark runs: generated cities as model data, one default solve per process.

Shared by ``benchmarks/scaling.py`` (the scaling study) and ``benchmarks/bench_city_targets.py``
(issue 19's acceptance targets)::

    case = {"generator": "city_dense", "blocks": 20000, "sites": 5000, "radius": 300.0,
            "seed": 0, "model": "pmedian", "limit": 60.0}
    row = in_subprocess(script, case, cap_s=300)   # the script calls run_case(case) on --case

A case names a generator of :data:`GENERATORS`, the city's size, the walking limit, the seed
and a model family; :func:`case_data` turns it into the model's arrays the way every city
benchmark of this project does: LSCP covers every block some site reaches (unit costs), MCLP
and p-median open ``p`` = one facility per 25 blocks (:func:`city_p`), p-median pairs are
capped at the walking limit and an unserved block costs twice it. :func:`run_case` solves it
with the family's default method (what ``solve_classic(model, data)`` picks), so a re-run
measures whatever the project's defaults are then.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.backends import SolveOptions
from optimizer.bench.generators import PointsProblem, city_dense, city_like
from optimizer.classic.registry import ModelData, solve_classic
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.mclp import MclpData
from optimizer.models.pmedian.model import PMedianData

GENERATORS: dict[str, Callable[..., PointsProblem]] = {
    "city_like": city_like,
    "city_dense": city_dense,
}
"""The clustered-city generators (:mod:`optimizer.bench.generators`) by name."""
BLOCKS_PER_FACILITY = 25
UNSERVED_FACTOR = 2.0
MODELS = ("lscp", "mclp", "pmedian")


def city_p(blocks: int) -> int:
    """MCLP / p-median facility count of a city: one per 25 blocks (800 at 20,000)."""
    return max(1, blocks // BLOCKS_PER_FACILITY)


def case_data(case: dict[str, Any]) -> tuple[ModelData, dict[str, Any]]:
    """The model data of one case and its sizes (``p``, ``pairs``, ``uncoverable``)."""
    make = GENERATORS[case.get("generator", "city_like")]
    prob = make(case["blocks"], case["sites"], seed=int(case.get("seed", 0)))
    radius = float(case["radius"])
    p = city_p(case["blocks"])
    if case["model"] == "pmedian":
        pairs = prob.pairs(radius)
        pmed = PMedianData.from_arrays(
            pairs,
            p,
            prob.weight,
            max_distance=radius,
            unserved_penalty=UNSERVED_FACTOR * radius,
        )
        return pmed, {"p": p, "pairs": int(pairs.size)}
    reach = prob.reach(radius)
    coverable = np.diff(reach.indptr) > 0
    sizes = {"pairs": int(reach.nnz), "uncoverable": int((~coverable).sum())}
    if case["model"] == "lscp":
        return LscpData.from_arrays(reach[coverable], np.ones(reach.shape[1])), sizes
    return MclpData.from_arrays(reach, prob.weight, p), {"p": p, **sizes}


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(
    case: dict[str, Any],
    method: str | None = None,
    extra: Callable[[ModelData], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build and solve one case in this process (call it through :func:`in_subprocess` so
    that ``peak_mb`` is the run's own): the family's default method unless ``method``;
    ``extra(data)``, run after the solve (so not in ``peak_mb``), adds columns to the row.

    ``gen_s`` generates the points and the reach / pair lists; ``wall_s`` is the whole
    ``solve_classic`` call (build, solve, verification), ``build_s`` its build share;
    ``overrun_s`` is ``wall_s`` minus the limit.
    """
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    data, sizes = case_data(case)
    gen_s = time.perf_counter() - t0
    limit = float(case["limit"])
    t1 = time.perf_counter()
    res = solve_classic(
        case["model"], data, "highs", SolveOptions(time_limit_s=limit, seed=0), method=method
    )
    wall = time.perf_counter() - t1
    peak = peak_rss_mb()
    return {
        **case,
        **sizes,
        "method": f"{res.model}-{res.method}",
        "status": res.status.value,
        "objective": res.objective,
        "bound": res.bound,
        "gap": res.gap,
        "gen_s": round(gen_s, 3),
        "build_s": round(res.build_s, 3),
        "solve_s": round(wall - res.build_s, 3),
        "wall_s": round(wall, 3),
        "overrun_s": round(wall - limit, 3),
        "peak_mb": round(peak, 1),
        "load_start": round(load0, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "message": res.result.message,
        **(extra(data) if extra is not None else {}),
    }


def in_subprocess(script: str | Path, case: dict[str, Any], cap_s: float) -> dict[str, Any]:
    """Run ``python script --case JSON`` in a fresh process and read its last stdout line (a
    JSON row); a killed or failed run becomes a row with status TIMEOUT or ERROR."""
    try:
        proc = subprocess.run(
            [sys.executable, str(script), "--case", json.dumps(case)],
            capture_output=True,
            text=True,
            check=False,
            timeout=cap_s,
        )
    except subprocess.TimeoutExpired:
        return {**case, "status": "TIMEOUT", "message": f"killed after {cap_s:.0f} s"}
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
        return {**case, "status": "ERROR", "message": tail}
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return row


def solve_tables(
    folder: Path, name: str, prob: PointsProblem, radius: float, p: int, family: str
) -> tuple[dict[str, Path], list[str]]:
    """A city as ``siting solve`` input: Parquet tables in ``folder`` and the CLI options.

    The tables (``demand``, ``sites``, ``distances``: the pairs within ``radius``) are written
    once per ``name`` and reused. LSCP, backup and p-center take the blocks some site reaches
    (the others make them infeasible); MCLP, backup, p-median, p-center and the capacitated
    p-median open ``p`` sites; the p-medians cap pairs at ``radius`` and charge an unserved
    block twice it; capacities (cpmedian) are twice the mean load (total weight / ``p``).

    Returns
    -------
    paths : dict
        ``demand``, ``sites``, ``distances`` -> file.
    options : list of str
        The model's ``siting solve`` options (``--radius``, ``--p``, ...).
    """
    folder.mkdir(parents=True, exist_ok=True)
    pairs = prob.pairs(radius)
    coverable = np.zeros(prob.n_demand, dtype=bool)
    coverable[pairs.rows] = True
    capacity = np.full(prob.n_sites, np.ceil(2.0 * float(prob.weight.sum()) / p))
    every = pd.DataFrame({"demand_id": np.arange(prob.n_demand), "weight": prob.weight})
    frames = {
        "sites": pd.DataFrame(
            {"site_id": np.arange(prob.n_sites), "cost": prob.site_cost, "capacity": capacity}
        ),
        "pairs": pd.DataFrame(
            {"demand_id": pairs.rows, "site_id": pairs.cols, "distance": pairs.dist}
        ),
        "demand": every,
        "demand-coverable": every[coverable],
    }
    files = {}
    for key, frame in frames.items():
        files[key] = folder / f"{name}-{key}.parquet"
        if not files[key].exists():
            frame.to_parquet(files[key], index=False)
    some = family in ("lscp", "backup", "pcenter")
    paths = {
        "demand": files["demand-coverable" if some else "demand"],
        "sites": files["sites"],
        "distances": files["pairs"],
    }
    r = f"{radius:g}"
    options = {
        "lscp": ["--cost", "cost", "--radius", r],
        "mclp": ["--weight", "weight", "--radius", r, "--p", str(p)],
        "backup": ["--weight", "weight", "--radius", r, "--p", str(p)],
        "pcenter": ["--weight", "weight", "--p", str(p)],
        "pmedian": ["--weight", "weight", "--p", str(p), "--max-distance", r],
        "cpmedian": ["--weight", "weight", "--p", str(p), "--max-distance", r],
    }[family]
    if family in ("pmedian", "cpmedian"):
        options += ["--unserved-penalty", f"{UNSERVED_FACTOR * radius:g}"]
    if family == "cpmedian":
        options += ["--capacity", "capacity"]
    return paths, options
