"""Benchmark runs on the public instances in ``../shared/benchmarks`` (:func:`run_suite`)::

    df = run_suite("pmed", ["pmed1", "pmed[2-5]"], backends=["highs"], time_limit_s=60)

One row per (instance, backend): sizes, status, objective, bound, gap, the published optimum
(NaN when none), whether the solve reproduced it, times and the process's peak memory, plus
the machine and package versions (:func:`machine_info`). A solve that raises becomes a row
with status ``ERROR`` and its message; the suite goes on.

Suites (see :data:`SUITES`):

============ ============================================== ============
suite        instances                                      model
============ ============================================== ============
``pmed``     OR-Library p-median ``pmed1`` ... ``pmed40``   ``pmedian``
``scp``      OR-Library set covering ``scp41`` ...          ``lscp``
``cpmp-oc``  Osman–Christofides ``pmedcap01`` ... ``20``    ``cpmedian``
``cpmp-ls``  Lorena–Senne ``SJC1`` ... ``SJC4b``            ``cpmedian``
``tsplib``   TSPLIB points ``rl1304-p10`` ... (p 5 to 500)  ``pmedian``
``random``   generated ``random-<size>-<model>``            lscp / mclp /
``city``     generated ``city-<size>-<model>``              pmedian
``dense``    generated ``dense-<size>-<model>``             (same)
============ ============================================== ============

Generated suites (:data:`SIZES`, seed 0, :mod:`optimizer.bench.generators`), demand points x sites:

====== ================= ====================
size   ``random`` 800 m  ``city`` / ``dense`` 300 m
====== ================= ====================
XS     300 x 60          1,000 x 400
S      1,000 x 200       5,000 x 2,000
M      5,000 x 1,000     20,000 x 5,000
L      10,000 x 2,000    50,000 x 10,000
XL     20,000 x 4,000    100,000 x 20,000
====== ================= ====================

LSCP covers every coverable point at unit site cost (points out of reach are left out and
``n_demand`` counts the rest); MCLP and p-median open p facilities (:func:`generated_p`:
random 50, a quarter of the sites below 200 sites, one per 20 sites from 2,000; city one per
25 blocks). Random p-median uses every pair; city p-median caps pairs at 300 m and charges an
unserved block 600 m.

:func:`run_configs` runs named solver configurations (:mod:`optimizer.bench.configs`) on a
suite, here or on Dask; :mod:`optimizer.bench.plots` draws its performance profile and
gap-over-time curves.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.metadata
import logging
import math
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from dask.distributed import Client, LocalCluster, as_completed

from optimizer.backends import Backend, Result, SolveOptions, Status, get_backend, relative_gap
from optimizer.bench import instances as benchdata
from optimizer.bench.configs import BenchConfig
from optimizer.bench.generators import PointsProblem, city_dense, city_like, random_uniform
from optimizer.classic.registry import ModelData, solve_classic
from optimizer.errors import ProblemCollector, SolverError
from optimizer.instance import PlanningInstance
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.mclp import MclpData
from optimizer.models.planning import model as planning
from optimizer.models.planning.model import PlanningData
from optimizer.models.pmedian.model import PMedianData
from optimizer.pipeline import planning_data, prepare, solve_plan
from optimizer.scenario import ModelSettings, load_scenario
from optimizer.verify import verify_plan

log = logging.getLogger(__name__)

Row = dict[str, object]
"""One result row (or trace point): column name -> value, as written to the CSV files."""

MATCH_RTOL = 1e-6


@dataclass(frozen=True)
class PlanCase:
    """A planning scenario ready to solve (the ``plan`` suite): its instance (for the
    independent check), its arrays and its model settings."""

    instance: PlanningInstance
    data: PlanningData
    model: ModelSettings


InstanceData = ModelData | PlanCase
"""What a benchmark instance loads to: a classic model's arrays or a planning scenario."""


@dataclass(frozen=True)
class Loaded:
    """An instance ready to solve."""

    model: str
    data: InstanceData
    n_demand: int
    n_sites: int
    p: float
    known_optimum: float
    best_known: float


def _load_pmed(name: str) -> Loaded:
    inst = benchdata.read_pmed(name)
    opt = math.nan if inst.optimum is None else inst.optimum
    return Loaded("pmedian", inst.data(), inst.n, inst.n, inst.p, opt, opt)


def _load_scp(name: str) -> Loaded:
    inst = benchdata.read_scp(name)
    m, n = inst.reach.shape
    opt = math.nan if inst.optimum is None else inst.optimum
    best = math.nan if inst.best_known is None else inst.best_known
    return Loaded("lscp", inst.data(), int(m), int(n), math.nan, opt, best)


def _load_cpmp(reader: Callable[[str], benchdata.CpmpInstance]) -> Callable[[str], Loaded]:
    def load(name: str) -> Loaded:
        inst = reader(name)
        n = int(inst.coords.shape[0])
        opt = math.nan if inst.optimum is None else inst.optimum
        return Loaded("cpmedian", inst.data(), n, n, inst.p, opt, opt)

    return load


def _load_tsplib(name: str) -> Loaded:
    stem, _, p = name.rpartition("-p")
    inst = benchdata.read_tsplib(stem)
    return Loaded("pmedian", inst.data(int(p)), inst.n, inst.n, float(p), math.nan, math.nan)


# ------------------------------------------------------------------ generated suites

SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "random": {
        "XS": (300, 60),
        "S": (1_000, 200),
        "M": (5_000, 1_000),
        "L": (10_000, 2_000),
        "XL": (20_000, 4_000),
    },
    "city": {
        "XS": (1_000, 400),
        "S": (5_000, 2_000),
        "M": (20_000, 5_000),
        "L": (50_000, 10_000),
        "XL": (100_000, 20_000),
    },
}
"""Generated suites: (demand points, candidate sites) per size. ``XS`` is for quick tests."""
SIZES["dense"] = SIZES["city"]  # city_dense: same sizes, radius, p and caps as city
RADIUS_M = {"random": 800.0, "city": 300.0, "dense": 300.0}
GENERATORS: dict[str, Callable[[int, int, int], PointsProblem]] = {
    "random": lambda n, m, seed: random_uniform(n, m, seed=seed),
    "city": city_like,
    "dense": city_dense,
}
"""The generator of each generated suite (:mod:`optimizer.bench.generators`)."""
GENERATED_FAMILIES = ("lscp", "mclp", "pmedian")
GENERATED_SEED = 0
UNSERVED_FACTOR = 2.0


def generated_p(kind: str, n_demand: int, n_sites: int) -> int:
    """The p of MCLP and p-median on a generated instance: random 50 (a quarter of the sites
    below 200 sites, one per 20 sites from 2,000: 100 at L, 200 at XL), city one facility per
    25 blocks."""
    if kind == "random":
        return max(50, n_sites // 20) if n_sites >= 1_000 else min(50, n_sites // 4)
    return max(1, n_demand // 25)


@functools.lru_cache(maxsize=2)
def _points(kind: str, size: str, seed: int) -> PointsProblem:
    n, m = SIZES[kind][size]
    return GENERATORS[kind](n, m, seed)


def generated_data(kind: str, size: str, family: str, seed: int = GENERATED_SEED) -> Loaded:
    """One generated instance as model data (see :data:`SIZES` and the module docstring)."""
    prob = _points(kind, size, seed)
    radius = RADIUS_M[kind]
    n, m = prob.n_demand, prob.n_sites
    p = generated_p(kind, n, m)
    if family == "lscp":
        reach = prob.reach(radius)
        coverable = np.diff(reach.indptr) > 0
        cover = LscpData.from_arrays(reach[coverable], np.ones(m))
        return Loaded("lscp", cover, int(coverable.sum()), m, math.nan, math.nan, math.nan)
    if family == "mclp":
        mclp = MclpData.from_arrays(prob.reach(radius), prob.weight, p)
        return Loaded("mclp", mclp, n, m, float(p), math.nan, math.nan)
    if kind == "random":
        data = PMedianData.from_arrays(prob.pairs(None), p, prob.weight)
    else:
        data = PMedianData.from_arrays(
            prob.pairs(radius),
            p,
            prob.weight,
            max_distance=radius,
            unserved_penalty=UNSERVED_FACTOR * radius,
        )
    return Loaded("pmedian", data, n, m, float(p), math.nan, math.nan)


def _load_generated(kind: str) -> Callable[[str], Loaded]:
    def load(name: str) -> Loaded:
        _, size, family = name.split("-")
        return generated_data(kind, size, family)

    return load


def _generated_names(kind: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        return [f"{kind}-{s}-{f}" for s in SIZES[kind] for f in GENERATED_FAMILIES]

    return names


def _tsplib_names() -> list[str]:
    folder = benchdata.benchmarks_dir() / "tsplib"
    stems = sorted((p.stem for p in folder.glob("*.tsp")), key=_natural_key)
    return [f"{s}-p{p}" for s in stems for p in TSPLIB_P]


TSPLIB_P = (5, 10, 20, 50, 100, 200, 500)


PLAN_SCENARIOS = {
    "sample-city": "sample-city.yaml",
    "sample-city-phased": "sample-city-phased.yaml",
}
"""The ``plan`` suite: the repository's sample-city scenarios (``scenarios/``)."""


def _scenarios_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "scenarios"


def _plan_names() -> list[str]:
    return [n for n, f in PLAN_SCENARIOS.items() if (_scenarios_dir() / f).is_file()]


def _load_plan(name: str) -> Loaded:
    scenario = load_scenario(_scenarios_dir() / PLAN_SCENARIOS[name])
    instance = prepare(scenario).instance
    data = planning_data(instance, scenario.model)
    case = PlanCase(instance, data, scenario.model)
    return Loaded("plan", case, instance.n_blocks, instance.n_sites, math.nan, math.nan, math.nan)


def solve_model(
    model: str, data: InstanceData, backend: str | Backend, options: SolveOptions
) -> Result:
    """Solve one benchmark instance: a classic model
    (:func:`optimizer.classic.registry.solve_classic`, which verifies its answer; the
    objective is the one recomputed from the input arrays) or, for the ``plan`` suite, the
    planning model as ``siting plan`` solves it, its plan checked by
    :func:`optimizer.verify.verify_plan` (``build_s`` and ``solve_s`` summed over its phases).
    """
    if isinstance(data, PlanCase):
        return _solve_plan_case(data, backend, options)
    classic = solve_classic(model, data, backend=backend, options=options)
    return classic.result.replace(objective=classic.objective)


def _solve_plan_case(case: PlanCase, backend: str | Backend, options: SolveOptions) -> Result:
    solver = get_backend(backend) if isinstance(backend, str) else backend
    solved = solve_plan(case.data, case.model, solver, options, name="bench")
    out = solved.outcome
    if out.solution is not None:
        report = verify_plan(
            case.instance,
            case.data,
            out.solution,
            reported_cost=float(planning.spending(case.data, out.solution).sum()),
            must_cover=solved.must_cover,
        )
        if not report.passed:
            raise SolverError(f"the plan fails verification: {'; '.join(report.failures[:3])}")
    return out.result.replace(build_s=out.build_s, solve_s=out.solve_s)


@dataclass(frozen=True)
class Suite:
    """A benchmark family: its folder, file suffix and loader (or, for generated and derived
    suites, the function listing its instance names)."""

    folder: str
    suffix: str
    load: Callable[[str], Loaded]
    exclude: tuple[str, ...] = ()
    names: Callable[[], list[str]] | None = None


SUITES: dict[str, Suite] = {
    "pmed": Suite("orlib-pmed", ".txt", _load_pmed, ("pmedopt",)),
    "scp": Suite("orlib-scp", ".txt", _load_scp, ("README*",)),
    "cpmp-oc": Suite(
        "cpmp-osman-christofides", ".txt", _load_cpmp(benchdata.read_osman_christofides)
    ),
    "cpmp-ls": Suite("cpmp-lorena-senne", ".dat", _load_cpmp(benchdata.read_lorena_senne)),
    "tsplib": Suite("tsplib", ".tsp", _load_tsplib, names=_tsplib_names),
    "random": Suite("", "", _load_generated("random"), names=_generated_names("random")),
    "city": Suite("", "", _load_generated("city"), names=_generated_names("city")),
    "dense": Suite("", "", _load_generated("dense"), names=_generated_names("dense")),
    "plan": Suite("", "", _load_plan, names=_plan_names),
}


def _natural_key(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def suite_instances(suite: str) -> list[str]:
    """Every instance name of ``suite`` found in the benchmark folder, in natural order."""
    spec = _suite(suite)
    if spec.names is not None:
        return spec.names()
    folder = benchdata.benchmarks_dir() / spec.folder
    names = [p.stem for p in folder.glob(f"*{spec.suffix}")] if folder.is_dir() else []
    names = [n for n in names if not any(fnmatch.fnmatchcase(n, x) for x in spec.exclude)]
    return sorted(names, key=_natural_key)


def _suite(suite: str) -> Suite:
    try:
        return SUITES[suite]
    except KeyError:
        raise ValueError(f"unknown suite '{suite}'; choose one of: {', '.join(SUITES)}") from None


def select_instances(suite: str, patterns: Sequence[str] | None) -> list[str]:
    """The instances of ``suite`` named by ``patterns`` (names or fnmatch patterns such as
    ``pmed[1-5]`` or ``scp4*``; all of them when None), in natural order, without repeats.

    Raises
    ------
    InputError
        When a name or pattern matches no instance (every such name listed).
    """
    available = suite_instances(suite)
    if not patterns:
        return available
    chosen: set[str] = set()
    problems = ProblemCollector()
    spec = _suite(suite)
    folder = suite if spec.names is not None else str(benchdata.benchmarks_dir() / spec.folder)
    for pat in patterns:
        hits = fnmatch.filter(available, pat)
        if not hits:
            problems.add(
                folder, None, f"no {suite} instance matches '{pat}' ({len(available)} available)"
            )
        chosen.update(hits)
    problems.raise_if_any()
    return sorted(chosen, key=_natural_key)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def machine_info() -> Row:
    """Cores, memory, platform and the versions of Python and the solver packages."""
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = math.nan
    return {
        "machine": platform.node(),
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "pandas": pd.__version__,
        "highspy": _version("highspy"),
        "ortools": _version("ortools"),
    }


def _cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` where there is one, else the platform's word."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB; monotone over a run)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


COLUMNS = [
    "suite",
    "instance",
    "n_demand",
    "n_sites",
    "p",
    "backend",
    "model",
    "status",
    "objective",
    "bound",
    "gap",
    "stop",
    "known_optimum",
    "best_known",
    "matches_known",
    "load_s",
    "build_s",
    "solve_s",
    "peak_rss_mb",
    "message",
]


def run_instance(
    suite: str,
    instance: str,
    backends: Sequence[str],
    options: SolveOptions,
    model: str | None = None,
) -> list[Row]:
    """Solve one instance with each backend; a failure becomes an ``ERROR`` row. ``model``
    replaces the suite's model (e.g. ``lscp-warm`` for ``scp``)."""
    base: Row = {"suite": suite, "instance": instance}
    started = time.perf_counter()
    try:
        loaded = _suite(suite).load(instance)
    except Exception as exc:  # a bad file must not abort the suite
        log.error("%s: cannot read: %s", instance, exc)
        return [
            _row(base, b, status="ERROR", message=f"read failed: {type(exc).__name__}: {exc}")
            for b in backends
        ]
    load_s = time.perf_counter() - started
    model_name = model or loaded.model
    base.update(
        model=model_name,
        n_demand=loaded.n_demand,
        n_sites=loaded.n_sites,
        p=loaded.p,
        known_optimum=loaded.known_optimum,
        best_known=loaded.best_known,
        load_s=round(load_s, 4),
    )
    rows = []
    for backend in backends:
        log.info(
            "%s %s on %s (%d x %d)...", suite, instance, backend, loaded.n_demand, loaded.n_sites
        )
        try:
            res = solve_model(model_name, loaded.data, backend=backend, options=options)
        except Exception as exc:  # MemoryError, solver or verification failure: record it
            log.error("%s on %s failed: %s: %s", instance, backend, type(exc).__name__, exc)
            rows.append(_row(base, backend, status="ERROR", message=f"{type(exc).__name__}: {exc}"))
            continue
        opt = loaded.known_optimum
        matches = (
            res.status is Status.OPTIMAL
            and math.isfinite(opt)
            and math.isfinite(res.objective)
            and abs(res.objective - opt) <= MATCH_RTOL * max(1.0, abs(opt))
        )
        row = _row(
            base,
            backend,
            status=res.status.value,
            objective=res.objective,
            bound=res.bound,
            gap=res.gap,
            matches_known=bool(matches),
            build_s=round(res.build_s, 4),
            solve_s=round(res.solve_s, 4),
            message=res.message,
            stop=res.stop_text,
        )
        rows.append(row)
        log.info(
            "%s on %s: %s objective %.6g bound %.6g gap %.3g%% (known %s) in %.1f s",
            instance,
            backend,
            row["status"],
            res.objective,
            res.bound,
            100 * res.gap,
            opt,
            res.solve_s,
        )
    return rows


def _row(base: Row, backend: str, **values: object) -> Row:
    row: Row = dict.fromkeys(COLUMNS, math.nan)
    row.update(base)
    row.update(backend=backend, matches_known=False, message="")
    row.update(values)
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return row


def run_suite(
    suite: str,
    instances: list[str] | None,
    backends: list[str],
    time_limit_s: float,
    mip_gap: float = 0.0,
    threads: int | None = None,
    *,
    on_row: Callable[[Row], None] | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """Solve the chosen instances of ``suite`` with every backend.

    Parameters
    ----------
    suite : str
        A key of :data:`SUITES`.
    instances : list of str or None
        Names or fnmatch patterns (all instances when None); see :func:`select_instances`.
    backends : list of str
        Backend names (see :func:`optimizer.backends.available_backends`).
    time_limit_s, mip_gap, threads
        Passed to every solve.
    on_row : callable, optional
        Called with each row as soon as it is ready (to write partial results).
    model : str, optional
        A model of :data:`optimizer.classic.registry.MODELS` that takes the suite's data, in place
        of
        the suite's own (e.g. ``lscp-warm`` for ``scp``, ``pmedian-warm`` for ``pmed``).

    Returns
    -------
    DataFrame
        One row per (instance, backend), columns :data:`COLUMNS` plus :func:`machine_info`.
    """
    names = select_instances(suite, instances)
    options = SolveOptions(time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads)
    machine = machine_info()
    rows = []
    log.info("%s: %d instances x %d backends", suite, len(names), len(backends))
    for name in names:
        for row in run_instance(suite, name, backends, options, model):
            row.update(machine)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return pd.DataFrame(rows, columns=COLUMNS + list(machine))


def summary_markdown(df: pd.DataFrame, command: str | None = None) -> str:
    """A markdown report: the machine line, the command and the per-row table."""
    lines = []
    if len(df):
        m = df.iloc[0]
        lines.append(
            f"Machine: {m.get('processor')} ({m.get('cores')} cores, {m.get('memory_gb')} GB), "
            f"{m.get('platform')}; Python {m.get('python')}, numpy {m.get('numpy')}, scipy "
            f"{m.get('scipy')}, highspy {m.get('highspy')}, ortools {m.get('ortools')}"
        )
    else:
        lines.append("No rows.")
    if command:
        lines += ["", f"Command: `{command}`"]
    lines += ["", markdown_table(df), ""]
    if len(df):
        proven, with_opt = _reproduced_optima(df)
        lines.append(
            f"{proven} of {with_opt} runs with a published optimum reproduced it, proven optimal."
        )
    return "\n".join(lines) + "\n"


def _reproduced_optima(df: pd.DataFrame) -> tuple[int, int]:
    """How many runs reproduced a published optimum, and how many had one to reproduce."""
    return int(df["matches_known"].astype(bool).sum()), int(df["known_optimum"].notna().sum())


def format_cell(v: object) -> str:
    """A value as one markdown table cell: yes/no, no text for NaN, six significant digits
    (whole numbers from 100,000 on, never an exponent), and no ``|`` or line break."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.0f}" if abs(x) >= 1e5 else f"{x:.6g}"
    return str(v).replace("|", "/").replace("\n", " ")


TABLE_COLUMNS = [c for c in COLUMNS if c not in ("suite", "best_known", "load_s", "message")]
"""The headline columns of a result frame, those :func:`markdown_table` shows."""


def merged_rows(csv: Path, new: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """The rows recorded in ``csv`` that ``new`` did not re-run (same ``key`` values), then
    ``new``: how a benchmark re-run of some cases (``--only``) keeps the others."""
    if not csv.exists():
        return new
    old = pd.read_csv(csv, encoding="utf-8-sig")
    cols = list(key)
    rerun = set(new[cols].astype(str).itertuples(index=False, name=None))
    keep = [k not in rerun for k in old[cols].astype(str).itertuples(index=False, name=None)]
    return pd.concat([old[keep], new], ignore_index=True)


def markdown_table(df: pd.DataFrame) -> str:
    """The headline columns of a result frame as a markdown table."""
    return frame_table(df, TABLE_COLUMNS)


# ------------------------------------------------------------------ configurations

CONFIG_COLUMNS = [
    "suite",
    "instance",
    "size",
    "family",
    "n_demand",
    "n_sites",
    "p",
    "configuration",
    "backend",
    "model",
    "status",
    "objective",
    "bound",
    "gap",
    "stop",
    "known_optimum",
    "matches_known",
    "load_s",
    "build_s",
    "solve_s",
    "time_s",
    "peak_rss_mb",
    "cores_per_task",
    "executor",
    "variant",
    "time_limit_s",
    "gap_limit",
    "threads",
    "presolve",
    "heuristics",
    "assignment",
    "seed",
    "instance_seed",
    "versions",
    "command",
    "message",
]
TRACE_COLUMNS = ["instance", "configuration", "method", "t_s", "incumbent", "bound", "gap"]


def _size_label(suite: str, instance: str, loaded: Loaded | None) -> str:
    if suite in SIZES:
        return instance.split("-")[1]
    if loaded is None:
        return ""
    return f"{loaded.n_demand}x{loaded.n_sites}"


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) so that the next reading is per run."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _run_peak_mb(reset: bool) -> float:
    if reset:
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return round(int(line.split()[1]) / 1024, 1)
        except (OSError, ValueError, IndexError):
            pass
    return round(peak_rss_mb(), 1)


def versions_line() -> str:
    """Python and solver package versions, one compact string for every result row."""
    dists = ("highspy", "ortools", "PuLP", "PySCIPOpt", "numpy", "scipy")
    return " ".join([f"python={sys.version.split()[0]}"] + [f"{d}={_version(d)}" for d in dists])


def _trace_limits(limit: float) -> list[float]:
    """Time limits of the repeated-runs trace: the full limit halved down to ~0.5 s."""
    out = [limit]
    while out[-1] / 2 >= 0.5 and len(out) < 8:
        out.append(out[-1] / 2)
    return sorted(out)


def run_config_task(
    suite: str,
    instance: str,
    config: BenchConfig,
    *,
    threads: int | None = None,
    executor: str = "sequential",
    trace: bool = False,
    command: str = "",
) -> tuple[Row, list[Row]]:
    """Run one configuration on one instance (a top-level function: Dask ships it to a worker).

    Parameters
    ----------
    suite, instance : str
        The instance to load (see :data:`SUITES`).
    config : BenchConfig
        The solver configuration (:mod:`optimizer.bench.configs`).
    threads : int, optional
        Overrides the configuration's solver threads (Dask: 1 per worker unless it sets more).
    executor : str
        Where it runs (written to the row).
    trace : bool
        Also record the incumbent and the bound over time: from HiGHS callbacks where the
        configuration is one MIP on HiGHS, else by repeated runs with growing time limits.
    command : str
        The command line, written to the row.

    Returns
    -------
    row, trace points
        The result row (:data:`CONFIG_COLUMNS`) and the trace (:data:`TRACE_COLUMNS`).
    """

    reset = _reset_peak()
    cores = threads or config.threads or os.cpu_count() or 1
    base: Row = dict.fromkeys(CONFIG_COLUMNS, math.nan)
    base.update(config.as_dict())
    base.update(
        suite=suite,
        instance=instance,
        size=_size_label(suite, instance, None),
        threads=threads or config.threads,
        cores_per_task=cores,
        executor=executor,
        seed=config.seed,
        instance_seed=GENERATED_SEED if suite in SIZES else math.nan,
        versions=versions_line(),
        command=command,
        matches_known=False,
        message="",
    )
    points: list[Row] = []
    t0 = time.perf_counter()
    try:
        loaded = _suite(suite).load(instance)
    except Exception as exc:  # a bad file must not abort the suite
        base.update(status="ERROR", message=f"read failed: {type(exc).__name__}: {exc}")
        base["peak_rss_mb"] = _run_peak_mb(reset)
        return base, points
    base.update(
        load_s=round(time.perf_counter() - t0, 4),
        size=_size_label(suite, instance, loaded),
        family=loaded.model,
        n_demand=loaded.n_demand,
        n_sites=loaded.n_sites,
        p=loaded.p,
        known_optimum=loaded.known_optimum,
    )
    model = config.model_for(loaded.model)
    if model is None:
        base.update(status="N/A", message=f"no '{config.variant}' variant of {loaded.model}")
        base["peak_rss_mb"] = _run_peak_mb(reset)
        return base, points
    base["model"] = model
    options = config.options(threads=threads)
    plain_highs = model in ("plan", f"{loaded.model}-mip") and config.backend == "highs"
    callback_trace: list[dict[str, float]] | None = [] if trace and plain_highs else None
    try:
        backend = config.make_backend(callback_trace)
        t1 = time.perf_counter()
        res = solve_model(model, loaded.data, backend=backend, options=options)
        wall = time.perf_counter() - t1
    except Exception as exc:  # solver missing, verification failure, MemoryError: a row
        log.error("%s / %s failed: %s: %s", instance, config.name, type(exc).__name__, exc)
        base.update(status="ERROR", message=f"{type(exc).__name__}: {exc}")
        base["peak_rss_mb"] = _run_peak_mb(reset)
        return base, points
    opt = loaded.known_optimum
    base.update(
        status=res.status.value,
        objective=res.objective,
        bound=res.bound,
        gap=res.gap,
        matches_known=bool(
            res.status is Status.OPTIMAL
            and math.isfinite(opt)
            and abs(res.objective - opt) <= MATCH_RTOL * max(1.0, abs(opt))
        ),
        build_s=round(res.build_s, 4),
        solve_s=round(max(0.0, wall - res.build_s), 4),
        time_s=round(wall, 4),
        message=res.message,
        stop=res.stop_text,
    )
    base["peak_rss_mb"] = _run_peak_mb(reset)
    if callback_trace is not None:
        offset = res.build_s
        for pt in callback_trace:
            points.append(_trace_point(instance, config.name, "highs-callback", pt, offset))
    elif trace:
        points = _repeated_trace(instance, config, model, loaded, threads, wall)
    return base, points


def _trace_point(
    instance: str, config: str, method: str, pt: dict[str, float], offset: float
) -> Row:
    inc, bnd = float(pt["incumbent"]), float(pt["bound"])
    return {
        "instance": instance,
        "configuration": config,
        "method": method,
        "t_s": round(offset + float(pt["t_s"]), 4),
        "incumbent": inc,
        "bound": bnd,
        "gap": relative_gap(inc, bnd),
    }


def _repeated_trace(
    instance: str,
    config: BenchConfig,
    model: str,
    loaded: Loaded,
    threads: int | None,
    full_s: float,
) -> list[Row]:
    """Incumbent and bound at growing time limits (one fresh solve each), then the full run."""
    points = []
    for limit in _trace_limits(config.time_limit_s)[:-1]:
        cfg = replace(config, time_limit_s=limit)
        try:
            t0 = time.perf_counter()
            res = solve_model(
                model, loaded.data, backend=cfg.make_backend(), options=cfg.options(threads=threads)
            )
            wall = time.perf_counter() - t0
        except Exception as exc:  # the trace is a side product: log and go on
            log.warning("trace of %s / %s at %g s failed: %s", instance, config.name, limit, exc)
            continue
        pt = {"t_s": wall, "incumbent": res.objective, "bound": res.bound}
        points.append(_trace_point(instance, config.name, "repeated-runs", pt, 0.0))
        if res.status is Status.OPTIMAL:
            break
    return points


def run_configs(
    suite: str,
    instances: Sequence[str] | None,
    configs: Sequence[BenchConfig],
    *,
    dask: str | None = None,
    trace_instance: str | None = None,
    command: str = "",
    on_row: Callable[[Row], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every configuration on every chosen instance of ``suite``.

    Parameters
    ----------
    suite : str
        A key of :data:`SUITES`.
    instances : list of str or None
        Names or fnmatch patterns (all when None); see :func:`select_instances`.
    configs : list of BenchConfig
        From :func:`optimizer.bench.configs.load_configs`.
    dask : str, optional
        ``"local"``: a local Dask cluster, one single-threaded worker process per core, one
        (instance, configuration) task per worker at a time, solver threads 1 unless the
        configuration sets more; any other value is a scheduler address to connect to. None
        runs everything here, one after the other.
    trace_instance : str, optional
        Record the incumbent and bound over time on this instance (every configuration).
    command : str
        The command line, written to every row.
    on_row : callable, optional
        Called with each row as soon as it is ready.

    Returns
    -------
    results, trace : DataFrame
        One row per (instance, configuration) in input order, columns :data:`CONFIG_COLUMNS`
        plus :func:`machine_info`; the trace points (:data:`TRACE_COLUMNS`).
    """
    names = select_instances(suite, instances)
    if trace_instance is not None and trace_instance not in names:
        problems = ProblemCollector()
        problems.add(suite, None, f"--trace {trace_instance} is not among the chosen instances")
        problems.raise_if_any()
    tasks = [(n, c) for n in names for c in configs]
    log.info("%s: %d instances x %d configurations", suite, len(names), len(configs))
    results: dict[int, tuple[Row, list[Row]]] = {}
    if dask is None:
        for k, (name, cfg) in enumerate(tasks):
            results[k] = run_config_task(
                suite, name, cfg, trace=name == trace_instance, command=command
            )
            if on_row is not None:
                on_row(results[k][0])
    else:
        results = _run_on_dask(suite, tasks, dask, trace_instance, command, on_row)
    machine = machine_info()
    rows, points = [], []
    for k in range(len(tasks)):
        row, pts = results[k]
        rows.append({**row, **machine})
        points.extend(pts)
    df = pd.DataFrame(rows, columns=CONFIG_COLUMNS + list(machine))
    return df, pd.DataFrame(points, columns=TRACE_COLUMNS)


def _run_on_dask(
    suite: str,
    tasks: list[tuple[str, BenchConfig]],
    address: str,
    trace_instance: str | None,
    command: str,
    on_row: Callable[[Row], None] | None,
) -> dict[int, tuple[Row, list[Row]]]:
    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
        executor = f"dask local ({os.cpu_count()} workers x 1 thread)"
    else:
        client = Client(address)
        executor = f"dask {address}"
    try:
        futures: dict[str, int] = {}
        submitted = []
        for k, (name, cfg) in enumerate(tasks):
            fut = client.submit(
                run_config_task,
                suite,
                name,
                cfg,
                threads=cfg.threads or 1,
                executor=executor,
                trace=name == trace_instance,
                command=command,
                pure=False,
                key=f"bench-{k}-{name}-{cfg.name}",
            )
            futures[str(fut.key)] = k
            submitted.append(fut)
        out: dict[int, tuple[Row, list[Row]]] = {}
        for fut in as_completed(submitted):
            k = futures[str(fut.key)]
            out[k] = fut.result()
            if on_row is not None:
                on_row(out[k][0])
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


CONFIG_TABLE_COLUMNS = [
    "instance",
    "size",
    "n_demand",
    "n_sites",
    "p",
    "configuration",
    "model",
    "status",
    "objective",
    "bound",
    "gap",
    "stop",
    "known_optimum",
    "build_s",
    "solve_s",
    "peak_rss_mb",
    "cores_per_task",
]


def config_summary_markdown(
    df: pd.DataFrame,
    best: pd.DataFrame,
    configs: Sequence[BenchConfig],
    command: str,
    plots: Sequence[str] = (),
) -> str:
    """The markdown summary of a configurations run: machine, versions, command, cores per
    task, the configurations, the best configuration per suite, the plots and every row."""
    lines = ["# Benchmark of solver configurations", ""]
    m = machine_info()
    lines.append(
        f"Machine: {m['processor']}, {m['cores']} cores, {m['memory_gb']} GB memory; "
        f"{m['platform']}"
    )
    lines.append(f"Versions: {versions_line()}, pandas {m['pandas']}")
    lines += ["", f"Command: `{command}`", ""]
    if len(df):
        execs = ", ".join(sorted(set(map(str, df["executor"].dropna()))))
        cores = ", ".join(sorted({str(int(c)) for c in df["cores_per_task"].dropna()}))
        lines.append(f"Executor: {execs}; cores per task: {cores}.")
        seeds = sorted({str(int(s)) for s in df["instance_seed"].dropna()})
        if seeds:
            lines.append(
                f"Generated instances: seed {', '.join(seeds)} (`optimizer.bench.generators`)."
            )
        lines.append(
            "Times: `build_s` building the model (and the solver loading it), `solve_s` the rest "
            "of the solve; `peak_rss_mb` the process's peak resident memory during the run. "
            "FEASIBLE = stopped by a limit, with the certified gap."
        )
    lines += ["", "## Configurations", "", "| name | settings | description |", "|---|---|---|"]
    for c in configs:
        settings = {
            k: v
            for k, v in c.as_dict().items()
            if k != "configuration" and v not in (None, "", {}) and not _is_nan(v)
        }
        if c.models:
            settings["models"] = dict(c.models)
        text = ", ".join(f"{k}={v}" for k, v in settings.items())
        lines.append(f"| {c.name} | {format_cell(text)} | {format_cell(c.description)} |")
    lines += ["", "## Best configuration per suite", ""]
    lines.append(frame_table(best, list(best.columns)))
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    lines += ["", "## Runs", "", frame_table(df, CONFIG_TABLE_COLUMNS)]
    if len(df):
        counts = ", ".join(f"{k} {v}" for k, v in df["status"].value_counts().items())
        proven, with_opt = _reproduced_optima(df)
        lines += ["", f"{len(df)} runs: {counts}."]
        if with_opt:
            lines.append(f"{proven} of {with_opt} runs with a published optimum reproduced it.")
    return "\n".join(lines) + "\n"


def _is_nan(v: object) -> bool:
    return isinstance(v, float) and math.isnan(v)


def frame_table(df: pd.DataFrame, cols: Sequence[str]) -> str:
    """The columns ``cols`` of ``df`` (those it has) as a markdown table, cells by
    :func:`format_cell`: the one table writer of the benchmark reports."""
    cols = [c for c in cols if c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(format_cell(r[c]) for c in cols) + " |")
    return "\n".join(out)
