"""Benchmark runs on the public instances in ``../shared/benchmarks``.

::

    from optimizer.bench import run_suite
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
============ ============================================== ============
"""

from __future__ import annotations

import fnmatch
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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer import benchdata
from optimizer.backends import SolveOptions, Status
from optimizer.errors import ProblemCollector

log = logging.getLogger(__name__)

MATCH_RTOL = 1e-6


@dataclass(frozen=True)
class Loaded:
    """An instance ready to solve."""

    model: str
    data: Any
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


@dataclass(frozen=True)
class Suite:
    """A benchmark family: its folder, file suffix and loader."""

    folder: str
    suffix: str
    load: Callable[[str], Loaded]
    exclude: tuple[str, ...] = ()


SUITES: dict[str, Suite] = {
    "pmed": Suite("orlib-pmed", ".txt", _load_pmed, ("pmedopt",)),
    "scp": Suite("orlib-scp", ".txt", _load_scp, ("README*",)),
    "cpmp-oc": Suite(
        "cpmp-osman-christofides", ".txt", _load_cpmp(benchdata.read_osman_christofides)
    ),
    "cpmp-ls": Suite("cpmp-lorena-senne", ".dat", _load_cpmp(benchdata.read_lorena_senne)),
}


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def suite_instances(suite: str) -> list[str]:
    """Every instance name of ``suite`` found in the benchmark folder, in natural order."""
    spec = _suite(suite)
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
    folder = str(benchdata.benchmarks_dir() / _suite(suite).folder)
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


def machine_info() -> dict[str, Any]:
    """Cores, memory, platform and the versions of Python and the solver packages."""
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = math.nan
    return {
        "machine": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "pandas": pd.__version__,
        "highspy": _version("highspy"),
        "ortools": _version("ortools"),
    }


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
) -> list[dict[str, Any]]:
    """Solve one instance with each backend; a failure becomes an ``ERROR`` row. ``model``
    replaces the suite's model (e.g. ``lscp-warm`` for ``scp``)."""
    from optimizer.classic import solve_classic

    base: dict[str, Any] = {"suite": suite, "instance": instance}
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
            res = solve_classic(model_name, loaded.data, backend=backend, options=options)
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
            message=res.result.message,
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


def _row(base: dict[str, Any], backend: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS, math.nan)
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
    on_row: Callable[[dict[str, Any]], None] | None = None,
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
        A model of :data:`optimizer.classic.MODELS` that takes the suite's data, in place of
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
        proven = int(df["matches_known"].astype(bool).sum())
        with_opt = int(df["known_optimum"].notna().sum())
        lines.append(
            f"{proven} of {with_opt} runs with a published optimum reproduced it, proven optimal."
        )
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf"
        return f"{v:.6g}"
    return str(v).replace("|", "/").replace("\n", " ")


def markdown_table(df: pd.DataFrame) -> str:
    """The headline columns of a result frame as a markdown table."""
    cols = [
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
        "known_optimum",
        "matches_known",
        "build_s",
        "solve_s",
        "peak_rss_mb",
    ]
    cols = [c for c in cols if c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(out)
