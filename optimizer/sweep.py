"""Budget sweeps: one plan per scenario of a grid, compared side by side, run on Dask.

A sweep takes a scenario file, a list of budgets and any other scenario parameters
(``--set catalog.elder_care.walk_limit_m=300,500``: dotted keys into the scenario YAML), and
plans the cross product of them all. Each scenario gets a full plan folder (the outputs of
``siting plan``) under the sweep folder; the sweep adds ``comparison.csv``, ``sweep.xlsx`` (a
``comparison`` sheet), ``report.html`` with the coverage-budget curve, ``explore.html`` (every
scenario on one interactive page, :mod:`optimizer.deliverables.explore`) and ``sweep.json``.

Budgets
    A swept budget is the plan's **total** budget in yuan. A phased scenario (``years``, or
    ``budgets`` per year) gets it split in the proportions of its own annual budgets (60/80/80
    million and a sweep value of 110 million give 30/40/40 million), or evenly over its years
    when it has none; an unphased scenario gets it as its one budget. A budget sweep asks what
    each budget buys, so its scenarios maximise coverage within the budget
    (``objective: max_coverage``, ties broken by cost) unless ``--set model.objective=...``
    says otherwise.

Chains, tasks and warm starts
    Scenarios that differ only in their budget form a *chain*, in ascending budget order. A
    chain is cut into runs of consecutive budgets, each run one task, in which every budget's
    solve starts from the previous budget's plan (a smaller budget's plan fits a larger
    budget, each year's budget growing in proportion), so a larger budget never covers fewer
    priority-weighted residents. The cut (:func:`segments`) depends only on the grid (the
    number of chains and of budgets per chain) and ``chain_size``, never on the workers, so
    every cluster gives the same tasks and the same plans: each of the ``C`` chains of ``n``
    budgets is cut into ``k = min(n, max(ceil(n / chain_size), ceil(TASK_TARGET / C)))`` runs
    as even as possible, so the sweep has at least ``min(scenarios, TASK_TARGET)`` tasks to
    spread over the workers (3 budgets: 3 tasks; 16 budgets: 8 tasks of 2) and no run is
    longer than ``chain_size``. After the sweep every chain is checked; where the first budget
    of a run (solved without a start) covers less than its predecessor, it is re-solved from
    the predecessor's plan (and the check goes on down the chain). Any violation left is
    reported in ``comparison.csv`` (``monotone`` false), ``sweep.json`` and the log.

Progress
    Each scenario is logged as it finishes (``3/8 done: b1M OPTIMAL, coverage 41.20 %, gap
    0.00 %, 12.3 s``), also while its task is still running on a Dask worker: the worker
    sends a Dask event (topic :data:`PROGRESS_TOPIC`) that the client logs; a task that ends
    announces whatever of it was not announced yet (events are best effort).

Comparison
    ``comparison.csv`` never sums people across types under a head-count name.
    ``covered:<type>`` are the type's target residents served (a block served in part counts
    in proportion) and ``coverage_pct:<type>`` their share; ``services_covered`` is their sum
    over types, one per (resident, type) pair (a resident served by two types counts twice:
    *not* a head count), and ``marginal_services_per_10k`` its gain per extra 10,000 yuan
    against the previous budget of the chain. ``distinct_residents_covered`` is a head count
    from the coverage table (:func:`distinct_residents_covered`): a block counts its residents
    who need some planned type (the union of the types' target groups) when every type with
    target residents in the block covers it in full (``covered_after``), else none of them.

Dask
    The tasks form one Dask graph. By default it runs on a local cluster of one single-threaded
    worker process per core (``workers``), each solve with one solver thread; ``cluster``
    sends it to an existing scheduler (its workers must see the same files and have this
    package installed); ``sequential`` runs the same graph in-process, synchronously. All three
    give the same plans: the tasks and their warm starts are the same, and one-threaded HiGHS
    is deterministic (a solve stopped by its time limit is not: its plan depends on speed).

Resume
    A scenario is finished when its folder holds a ``summary.json`` (written last) whose sweep
    key (a hash of the input files and the scenario's parameters) matches; a rerun reuses it.
    A failed scenario (infeasible targets, solver failure) is reported with its message and
    the others go on; the sweep then ends non-zero. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import yaml
from dask.callbacks import Callback
from distributed import Client, LocalCluster, as_completed, get_worker
from matplotlib.figure import Figure
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from optimizer.backends import get_backend
from optimizer.deadline import Deadline
from optimizer.deliverables import explore, maps, report, workbook
from optimizer.deliverables.explore_data import ScenarioPlan
from optimizer.deliverables.labels import check_lang
from optimizer.deliverables.labels import label as label_text
from optimizer.deliverables.layers import RunOutputs, map_layers
from optimizer.distances.engine import make_engine
from optimizer.errors import InfeasibleError, InputError, Problem, SitingError
from optimizer.inputs import file_sha256, read_inputs
from optimizer.models.planning.model import PlanningSolution
from optimizer.outputs import (
    SWEEP_KIND,
    atomic_write,
    check_output_folder,
    folder_lock,
    to_jsonable,
    write_csv,
    write_json,
    write_manifest,
)
from optimizer.pipeline import (
    SOLUTION_FILE,
    Prepared,
    plan_scenario,
    prepare,
    read_solution,
    scenario_files,
)
from optimizer.progress import capture_log, progress_display, task
from optimizer.runs import catalogue_path
from optimizer.scenario import Scenario, load_scenario, scenario_from_data
from optimizer.version import __version__

log = logging.getLogger(__name__)

BUDGET_KEY = "model.budgets"
DEFAULT_CHAIN_SIZE = 4
TASK_TARGET = 8
"""The fewest tasks a sweep is cut into (when it has that many scenarios): enough to keep a
typical machine's cores busy, few enough that most budgets still warm-start (:func:`segments`)."""
PROGRESS_TOPIC = "siting-sweep-progress"
"""The Dask event topic on which workers announce each finished scenario."""
MAX_SCENARIOS = 500
MARGINAL_UNIT = 10_000.0  # yuan: marginal residents covered per extra 10,000 yuan
MONOTONE_ABS_TOL = 1e-4  # coverage points: the weight of the cost tie-break (planning.py)
MONOTONE_REL_TOL = 1e-7


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class SweepScenario:
    """One scenario of a sweep.

    Attributes
    ----------
    label : str
        Its folder name under the sweep folder (from its budget and settings).
    key : str
        SHA-256 of its input files' hashes and every parameter that shapes its plan.
    budget : float or None
        The swept total budget (yuan); None when budgets are not swept.
    settings : tuple of (dotted key, value)
        Its ``--set`` values.
    chain, step : int
        Its chain (scenarios differing only in budget) and its place in it (ascending budget).
    data : dict
        The scenario file's contents with the sweep's changes applied.
    """

    label: str
    key: str
    budget: float | None
    settings: tuple[tuple[str, Any], ...]
    chain: int
    step: int
    data: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class SegmentTask:
    """One Dask task: consecutive budgets of one chain, solved in order, each warm-started
    from the one before. ``todo`` marks the scenarios to run (the others are finished)."""

    chain: int
    index: int
    scenarios: tuple[SweepScenario, ...]
    todo: tuple[bool, ...]
    base_path: Path
    sweep_dir: Path
    solver: str | None
    time_limit_s: float | None
    lang: str
    catalogue: Path

    @property
    def name(self) -> str:
        return f"sweep-chain{self.chain}-part{self.index}"


@dataclass(frozen=True)
class Outcome:
    """How one scenario ended in a task."""

    label: str
    ok: bool
    status: str
    error: str | None = None
    warm_start_from: str | None = None
    seconds: float = 0.0
    summary: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The plan's ``summary.json`` content (JSON types), kept so the sweep never reads back
    the files it wrote."""
    tables: dict[str, pd.DataFrame] | None = field(default=None, compare=False, repr=False)
    """The plan's construction list and coverage table (for the sweep's report)."""
    solution: PlanningSolution | None = field(default=None, compare=False, repr=False)
    """The plan's decision arrays (a warm start when the monotonicity check re-solves)."""


Note = dict[str, str | float | None]
"""A finished scenario in plain values (a Dask event's message): label, status, error,
seconds, coverage_pct, gap."""


@dataclass
class SweepResult:
    """What a sweep produced."""

    out_dir: Path
    scenarios: list[SweepScenario]
    comparison: pd.DataFrame
    reused: list[str]
    failed: list[str]
    violations: list[dict[str, Any]]
    resolved: list[str]
    summary: dict[str, Any]

    @property
    def exit_code(self) -> int:
        """0 when every scenario was planned; 3 when some were infeasible only; else 4."""
        if not self.failed:
            return 0
        statuses = set(self.comparison.loc[self.comparison["ok"].eq(False), "status"])
        return 3 if statuses <= {"INFEASIBLE"} else 4


def parse_budgets(text: str) -> list[float]:
    """``"40e6,60e6,80e6"`` -> budgets in yuan (each positive, none repeated)."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            value = float(item.replace("_", ""))
        except ValueError:
            _fail("--budgets", f"not a number: {item!r} (give yuan, e.g. 40e6,60e6)")
        if not math.isfinite(value) or value <= 0:
            _fail("--budgets", f"each budget must be a positive number of yuan, not {item!r}")
        out.append(value)
    if not out:
        _fail("--budgets", "give at least one budget, e.g. --budgets 40e6,60e6")
    if len(set(out)) != len(out):
        _fail("--budgets", "a budget is repeated")
    return out


def parse_budget_range(text: str) -> list[float]:
    """``"START:STOP:STEP"`` (yuan, STOP included when the steps reach it) -> budgets."""
    parts = text.split(":")
    if len(parts) != 3:
        _fail(
            "--budget-range",
            f"expected START:STOP:STEP in yuan, e.g. 40e6:110e6:10e6, not {text!r}",
        )
    try:
        start, stop, step = (float(p.replace("_", "")) for p in parts)
    except ValueError:
        _fail("--budget-range", f"START, STOP and STEP must be numbers, not {text!r}")
    if not all(math.isfinite(v) for v in (start, stop, step)):
        _fail("--budget-range", "START, STOP and STEP must be finite")
    if start <= 0 or step <= 0 or stop < start:
        _fail("--budget-range", "need 0 < START <= STOP and STEP > 0")
    n = math.floor((stop - start) / step + 1e-9) + 1
    if n > MAX_SCENARIOS:
        _fail("--budget-range", f"{n} budgets; at most {MAX_SCENARIOS}")
    return [start + i * step for i in range(n)]


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """``"KEY=V1,V2"`` -> (dotted key, values read as YAML scalars or flow collections)."""
    key, eq, values = text.partition("=")
    key = key.strip()
    if not eq or not key or not values.strip():
        _fail("--set", f"expected KEY=V1,V2,... (a dotted scenario key), not {text!r}")
    if any(not part for part in key.split(".")):
        _fail("--set", f"{key!r}: empty part in the dotted key")
    if key == BUDGET_KEY or key.startswith(BUDGET_KEY + "."):
        _fail("--set", "sweep budgets with --budgets or --budget-range, not --set model.budgets")
    out = []
    for item in _split_top_level(values):
        try:
            out.append(yaml.safe_load(item))
        except yaml.YAMLError:
            _fail("--set", f"{key}: {item!r} is not a valid value")
    if any(v is None for v in out):
        _fail("--set", f"{key}: an empty value in {values!r}")
    if len({json.dumps(v, sort_keys=True, default=str) for v in out}) != len(out):
        _fail("--set", f"{key}: a value is repeated")
    return key, out


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes."""
    items: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    items.append("".join(cur).strip())
    return items


def _fail(option: str, message: str) -> Any:
    raise InputError([Problem("siting sweep", option, message, field_kind="option")], "command")


def build_grid(
    base_path: Path,
    budgets: Sequence[float] | None,
    settings: Sequence[tuple[str, Sequence[Any]]],
    solver: str | None = None,
    time_limit_s: float | None = None,
    lang: str = "zh",
) -> list[SweepScenario]:
    """Every scenario of the sweep: the cross product of the settings' values, and per
    combination the budgets in ascending order (one chain). Each scenario is validated.

    Raises
    ------
    ScenarioError
        When a combination gives an invalid scenario (the message names the settings).
    InputError
        For an empty sweep or one larger than ``MAX_SCENARIOS``.
    """
    base_path = Path(base_path).resolve()
    load_scenario(base_path)  # the file itself first: its own errors, unlabelled
    base_data = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    keys = [k for k, _ in settings]
    if len(set(keys)) != len(keys):
        _fail("--set", "a key is given twice; list all its values in one --set KEY=V1,V2")
    combos = list(product(*[list(v) for _, v in settings])) or [()]
    levels = sorted(budgets) if budgets else [None]
    if not budgets and not settings:
        _fail("--budgets", "nothing to sweep: give --budgets, --budget-range or --set")
    if len(combos) * len(levels) > MAX_SCENARIOS:
        _fail("--set", f"{len(combos) * len(levels)} scenarios; at most {MAX_SCENARIOS}")
    hashes: dict[str, str] = {}
    out: list[SweepScenario] = []
    objective_set = "model.objective" in keys
    for chain, combo in enumerate(combos):
        chosen = tuple(zip(keys, combo, strict=True))
        for step, budget in enumerate(levels):
            data = copy.deepcopy(base_data)
            for key, value in chosen:
                _set_dotted(data, key, value)
            data.setdefault("solver", {}).setdefault("threads", 1)
            if budget is not None:
                _apply_budget(data, budget, objective_set)
            what = ", ".join(
                [f"budget {budget:,.0f}"] * (budget is not None)
                + [f"{k}={_value_text(v)}" for k, v in chosen]
            )
            scenario = derive_scenario(base_path, data, what)
            key = scenario_key(scenario, data, solver, time_limit_s, lang, hashes)
            out.append(
                SweepScenario(
                    label=scenario_label(budget, chosen),
                    key=key,
                    budget=budget,
                    settings=chosen,
                    chain=chain,
                    step=step,
                    data=data,
                )
            )
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        out = [replace(s, label=f"{i + 1:03d}-{s.label}") for i, s in enumerate(out)]
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node: Any = data
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict):
            _fail("--set", f"{key}: {'.'.join(parts[:i])} is not a mapping in the scenario")
        match = next((k for k in node if str(k) == part), part)
        if i == len(parts) - 1:
            node[match] = copy.deepcopy(value)
        else:
            if match not in node or node[match] is None:
                node[match] = {}
            node = node[match]


def _apply_budget(data: dict[str, Any], total: float, objective_set: bool) -> None:
    """Set the plan's total budget, split over its years in its own budgets' proportions."""
    model = data.setdefault("model", {})
    current = model.get("budgets")
    years = [int(y) for y in model.get("years") or []]
    if isinstance(current, dict):
        years = sorted(set(years) | {int(y) for y in current})
    if not years and model.get("coverage_targets"):
        years = sorted(int(y) for y in model["coverage_targets"])
    if years:
        weights = np.array(
            [float(current.get(y) or current.get(str(y)) or 0.0) for y in years]
            if isinstance(current, dict)
            else [0.0] * len(years)
        )
        if weights.sum() <= 0:
            weights = np.ones(len(years))
        shares = weights / weights.sum()
        model["budgets"] = {
            y: round(float(total * s), 2) for y, s in zip(years, shares, strict=True)
        }
    else:
        model["budgets"] = float(total)
    if not objective_set:
        model["objective"] = "max_coverage"


def derive_scenario(base_path: Path, data: dict[str, Any], what: str = "") -> Scenario:
    """Load scenario ``data`` (a changed copy of the file at ``base_path``) as a Scenario.

    Its relative paths stay relative to ``base_path``'s folder; errors name ``what`` changed.
    """
    base_path = Path(base_path).resolve()
    label = f"{base_path} with {what}" if what else str(base_path)
    return scenario_from_data(copy.deepcopy(data), base_path, label)


def scenario_key(
    scenario: Scenario,
    data: dict[str, Any],
    solver: str | None,
    time_limit_s: float | None,
    lang: str,
    cache: dict[str, str] | None = None,
) -> str:
    """SHA-256 of the input files' hashes and everything that shapes the scenario's plan."""
    cache = {} if cache is None else cache
    files = [scenario.blocks.path, scenario.sites.path]
    files += [scenario.existing.path] if scenario.existing is not None else []
    for spec in (scenario.distances.network, scenario.distances.table):
        if spec is not None:
            files.append(spec.path)
    inputs = {}
    for path in files:
        name = str(Path(path).resolve())
        if name not in cache:
            cache[name] = file_sha256(Path(path))
        inputs[Path(path).name] = cache[name]
    text = json.dumps(
        to_jsonable(
            {
                "inputs": inputs,
                "scenario": data,
                "solver": solver,
                "time_limit_s": time_limit_s,
                "lang": lang,
            }
        ),
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def scenario_label(budget: float | None, settings: Sequence[tuple[str, Any]]) -> str:
    """A folder name: ``b60M`` and ``<key>-<value>`` per setting, e.g.
    ``b60M_elder_care.walk_limit_m-500``."""
    parts = [f"b{money_tag(budget)}"] if budget is not None else []
    for key, value in settings:
        short = re.sub(r"^(catalog|model)\.", "", key)
        parts.append(f"{short}-{_value_text(value)}")
    text = re.sub(r"[^A-Za-z0-9._=-]+", "-", "_".join(parts) or "base").strip("-")
    if len(text) > 100:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        text = f"{text[:90]}-{digest}"
    return text


def money_tag(value: float) -> str:
    """``60e6`` -> ``60M``, ``2.5e6`` -> ``2.5M``, ``750000`` -> ``750k``, else whole yuan."""
    for unit, tag in ((1e6, "M"), (1e3, "k")):
        scaled = value / unit
        if value >= unit and abs(scaled * 1000 - round(scaled * 1000)) < 1e-6:
            return f"{round(scaled, 3):g}{tag}"
    return f"{value:.0f}"


def _value_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def segments(
    scenarios: Sequence[SweepScenario], chain_size: int, target: int = TASK_TARGET
) -> list[list[SweepScenario]]:
    """Cut each chain into runs of consecutive budgets (one task each), as even as possible.

    Each of the ``C`` chains of ``n`` budgets gets ``min(n, max(ceil(n / chain_size),
    ceil(target / C)))`` runs: none longer than ``chain_size``, and together at least
    ``min(len(scenarios), target)`` tasks for the workers to share. The cut depends on the
    grid and ``chain_size`` only, never on the workers (the plans must not depend on them).
    """
    out: list[list[SweepScenario]] = []
    chains: dict[int, list[SweepScenario]] = {}
    for s in scenarios:
        chains.setdefault(s.chain, []).append(s)
    per_chain = math.ceil(target / max(len(chains), 1))
    for chain in chains.values():
        ordered = sorted(chain, key=lambda s: s.step)
        n = len(ordered)
        k = max(1, min(n, max(math.ceil(n / chain_size), per_chain)))
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        pos = 0
        for size in sizes:
            out.append(ordered[pos : pos + size])
            pos += size
    return out


# --------------------------------------------------------------------------- one task


def finished(folder: Path, key: str) -> dict[str, Any] | None:
    """The summary of a finished scenario folder with this key, else None."""
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sweep = summary.get("sweep") if isinstance(summary, dict) else None
    if not isinstance(sweep, dict) or sweep.get("key") != key:
        return None
    return summary


def run_segment(job: SegmentTask, notify: Callable[[Note], None] | None = None) -> list[Outcome]:
    """Run one task: its scenarios in ascending budget, each started from the plan before.

    A failed scenario is reported and the next starts from the last plan found. Runs on a
    Dask worker or in-process; in a worker, log records go to each scenario's ``run.log``.
    Each finished scenario is announced (:func:`announce`) to ``notify`` in-process, or as a
    Dask event on a worker.
    """
    outcomes: list[Outcome] = []
    prepared: Prepared | None = None
    previous: PlanningSolution | Path | None = None
    previous_label: str | None = None
    with _worker_logging():
        for sc, todo in zip(job.scenarios, job.todo, strict=True):
            folder = job.sweep_dir / sc.label
            if not todo:
                previous, previous_label = folder / SOLUTION_FILE, sc.label
                continue
            start: PlanningSolution | None = None
            if isinstance(previous, Path):
                try:
                    start = read_solution(previous)
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("%s: no warm start from %s (%s)", sc.label, previous, exc)
                    previous_label = None
            else:
                start = previous
            outcome, solution, prepared = run_one(
                job, sc, start, previous_label if start is not None else None, prepared
            )
            outcomes.append(outcome)
            announce(progress_note(outcome), notify)
            if solution is not None:
                previous, previous_label = solution, sc.label
    return outcomes


def run_one(
    job: SegmentTask,
    sc: SweepScenario,
    start: PlanningSolution | None,
    start_label: str | None,
    prepared: Prepared | None = None,
) -> tuple[Outcome, PlanningSolution | None, Prepared | None]:
    """Plan one scenario into its folder; never raises for a scenario that cannot be planned."""
    started = time.perf_counter()
    folder = job.sweep_dir / sc.label
    sweep_info = {
        "key": sc.key,
        "label": sc.label,
        "budget": sc.budget,
        "settings": {k: v for k, v in sc.settings},
        "chain": sc.chain,
        "step": sc.step,
        "task": job.name,
        "warm_start_from": start_label,
    }
    try:
        with capture_log(logging.INFO):
            scenario = derive_scenario(job.base_path, sc.data, sc.label)
            # each scenario has its own deadline, from before its inputs are read
            limit = job.time_limit_s
            deadline = Deadline(limit if limit is not None else scenario.solver.time_limit_s)
            if prepared is None:
                prepared = prepare(scenario)
            log.info("sweep scenario %s (warm start: %s)", sc.label, start_label or "none")
            run = plan_scenario(
                scenario,
                out_dir=folder,
                solver=job.solver,
                time_limit_s=job.time_limit_s,
                lang=job.lang,
                prepared=prepared,
                start=start,
                extra_summary={"sweep": sweep_info},
                parameters={"sweep": sweep_info},
                catalogue=job.catalogue,
                save_solution=True,
                deadline=deadline,
            )
    except SitingError as exc:
        status = "INFEASIBLE" if isinstance(exc, InfeasibleError) else "FAILED"
        log.warning("sweep scenario %s: %s: %s", sc.label, status, exc)
        return (
            Outcome(sc.label, False, status, str(exc), start_label, _since(started)),
            None,
            prepared,
        )
    except Exception as exc:  # a bug or a broken file must not stop the other scenarios
        log.exception("sweep scenario %s failed", sc.label)
        message = f"{type(exc).__name__}: {exc}"
        return (
            Outcome(sc.label, False, "ERROR", message, start_label, _since(started)),
            None,
            prepared,
        )
    outcome = Outcome(
        sc.label,
        True,
        str(run.summary["status"]),
        None,
        start_label,
        _since(started),
        summary=to_jsonable(run.summary),
        tables={"construction_list": run.plan.construction_list, "coverage": run.plan.coverage},
        solution=run.solution,
    )
    return outcome, run.solution, prepared


def progress_note(outcome: Outcome) -> Note:
    """What the progress line says about a finished scenario."""
    summary = outcome.summary or {}
    coverage = (summary.get("totals") or {}).get("coverage_pct_after")
    gap = summary.get("gap")
    return {
        "label": outcome.label,
        "status": outcome.status,
        "error": outcome.error,
        "seconds": outcome.seconds,
        "coverage_pct": float(coverage) if coverage is not None else None,
        "gap": float(gap) if gap is not None else None,
    }


def progress_text(note: Note) -> str:
    """``b1M OPTIMAL, coverage 41.20 %, gap 0.00 %, 12.3 s`` (or the error of a failed one)."""
    parts = [f"{note['label']} {note['status']}"]
    if isinstance(note["coverage_pct"], float):
        parts.append(f"coverage {note['coverage_pct']:.2f} %")
    if isinstance(note["gap"], float) and math.isfinite(note["gap"]):
        parts.append(f"gap {100 * note['gap']:.2f} %")
    if note["error"]:
        parts.append(str(note["error"])[:200])
    seconds = note["seconds"]
    parts.append(f"{float(seconds):.1f} s" if isinstance(seconds, float) else "")
    return ", ".join(p for p in parts if p)


def announce(note: Note, notify: Callable[[Note], None] | None) -> None:
    """Tell the sweep a scenario finished: ``notify`` in-process, a Dask event on a worker
    (the client logs it at once, while the rest of the task runs), else nothing."""
    if notify is not None:
        notify(note)
        return
    try:
        worker = get_worker()
    except ValueError:
        return
    worker.log_event(PROGRESS_TOPIC, note)


class SweepProgress:
    """Logs ``3/8 done: <scenario> ...`` once per scenario as it finishes and advances the
    progress bar. Thread-safe: Dask events arrive on the client's own thread, task results
    on the caller's; whichever comes first for a scenario is logged, the other ignored."""

    def __init__(self, total: int, advance: Callable[[int], None]) -> None:
        self.total = total
        self.advance = advance
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, note: Note) -> None:
        with self.lock:
            label = str(note["label"])
            if label in self.seen:
                return
            self.seen.add(label)
            log.info("%d/%d done: %s", len(self.seen), self.total, progress_text(note))
            self.advance(1)

    def event(self, event: tuple[float, Note]) -> None:
        """A Dask event ``(time, note)`` from :func:`announce` on a worker."""
        _, note = event
        if isinstance(note, dict) and "label" in note:
            self(note)


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)


@contextmanager
def _worker_logging() -> Iterator[None]:
    """On a Dask worker, keep the package's records out of the worker's stderr (they go to
    each scenario's run.log); in-process, change nothing."""
    try:
        get_worker()
    except ValueError:
        yield
        return
    logger = logging.getLogger("optimizer")
    old = logger.propagate
    logger.propagate = False
    try:
        yield
    finally:
        logger.propagate = old


# --------------------------------------------------------------------------- execution


class _Done(Callback):
    """Calls ``done(name, outcomes)`` as each named task of a synchronous Dask run ends."""

    def __init__(self, names: set[str], done: Callable[[str, list[Outcome]], None]) -> None:
        super().__init__()
        self.names = names
        self.done = done

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, wid: Any) -> None:
        if isinstance(key, str) and key in self.names:
            self.done(key, result)


def execute(
    jobs: Sequence[SegmentTask],
    mode: str = "local",
    cluster: str | None = None,
    workers: int | None = None,
    on_done: Callable[[SegmentTask, list[Outcome]], None] | None = None,
    progress: SweepProgress | None = None,
) -> dict[str, list[Outcome]]:
    """Run the tasks as one Dask graph: ``sequential`` (synchronous, in-process), ``local``
    (a local cluster of ``workers`` single-threaded processes, default one per core) or on the
    scheduler at ``cluster``. Returns each task's outcomes by task name. ``progress`` hears of
    each scenario as it finishes (in-process directly, from a cluster by Dask events);
    ``on_done`` of each task."""
    if not jobs:
        return {}
    by_name = {j.name: j for j in jobs}
    results: dict[str, list[Outcome]] = {}

    def done(name: str, outcomes: list[Outcome]) -> None:
        results[name] = outcomes
        if on_done is not None:
            on_done(by_name[name], outcomes)

    if mode == "sequential":
        tasks = [
            dask.delayed(run_segment, pure=False)(j, progress, dask_key_name=j.name) for j in jobs
        ]
        with _Done(set(by_name), done):
            dask.compute(*tasks, scheduler="synchronous")
        return results

    tasks = [dask.delayed(run_segment, pure=False)(j, dask_key_name=j.name) for j in jobs]
    local: LocalCluster | None = None
    if cluster:
        client = Client(cluster)
    else:
        n = workers or os.cpu_count() or 1
        local = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        client = Client(local)
    try:
        if progress is not None:
            client.subscribe_topic(PROGRESS_TOPIC, progress.event)
        log.info(
            "sweep on Dask %s: %d workers, %d tasks",
            cluster or "local cluster",
            len(client.scheduler_info().get("workers", {})),
            len(jobs),
        )
        futures = client.compute(tasks)
        for future in as_completed(futures):
            name = str(future.key)
            try:
                outcomes = future.result()
            except Exception as exc:  # the worker died or the task could not run
                job = by_name[name]
                message = f"the task {name} failed: {type(exc).__name__}: {exc}"
                log.error(message)
                outcomes = [
                    Outcome(s.label, False, "ERROR", message)
                    for s, todo in zip(job.scenarios, job.todo, strict=True)
                    if todo
                ]
            done(name, outcomes)
    finally:
        if progress is not None:
            client.unsubscribe_topic(PROGRESS_TOPIC)
        client.close()
        if local is not None:
            local.close()
    return results


# --------------------------------------------------------------------------- the sweep


def run_sweep(
    scenario_path: str | Path,
    budgets: Sequence[float] | None = None,
    settings: Sequence[tuple[str, Sequence[Any]]] = (),
    out_dir: str | Path | None = None,
    solver: str | None = None,
    time_limit_s: float | None = None,
    lang: str = "zh",
    mode: str = "local",
    cluster: str | None = None,
    workers: int | None = None,
    chain_size: int = DEFAULT_CHAIN_SIZE,
    task_target: int = TASK_TARGET,
) -> SweepResult:
    """Plan every scenario of the sweep (reusing finished ones) and write the comparison.

    Parameters
    ----------
    scenario_path : path
        The base scenario file.
    budgets : list of float, optional
        Total budgets in yuan (see the module docstring for phased scenarios).
    settings : list of (dotted key, values)
        Other parameters to sweep; the sweep is the cross product of all of them.
    out_dir : path, optional
        The sweep folder (default ``reports/<scenario name>-sweep``).
    solver, time_limit_s, lang
        As for ``siting plan``: the time limit bounds each scenario's whole run (its solve
        phases and essential checks share it; see :mod:`optimizer.pipeline`).
    mode : {"local", "sequential"}
        A Dask local cluster (or ``cluster``), or the same graph in-process.
    cluster : str, optional
        Address of an existing Dask scheduler.
    workers : int, optional
        Local cluster size (default: one per core).
    chain_size : int
        Most consecutive budgets per task (default 4).
    task_target : int
        The fewest tasks the sweep is cut into when it has that many scenarios (default
        :data:`TASK_TARGET`; 1 keeps each chain in as few tasks as ``chain_size`` allows,
        for the most warm starts). See :func:`segments`.
    """
    started = time.perf_counter()
    if chain_size < 1:
        _fail("--chain-size", "must be at least 1")
    if task_target < 1:
        raise ValueError(f"task_target must be at least 1, not {task_target}")
    if workers is not None and workers < 1:
        _fail("--workers", "must be at least 1")
    if time_limit_s is not None and not time_limit_s > 0:
        _fail("--time-limit", "must be a positive number of seconds")
    base_path = Path(scenario_path).resolve()
    grid = build_grid(base_path, budgets, settings, solver, time_limit_s, lang)
    first = derive_scenario(base_path, grid[0].data)
    get_backend(solver or first.solver.name)  # a missing solver: a clear error before any work
    if out_dir is None:
        default = first.output_dir or Path("reports") / first.name
        out_dir = default.with_name(f"{default.name}-sweep")
    # a folder the sweep may not write into is refused before any work; a second sweep into
    # the same folder is refused while this one runs (their files would mix)
    sweep_dir = check_output_folder(out_dir, scenario_files(first), kind=SWEEP_KIND)
    with folder_lock(sweep_dir, timeout_s=0):
        sweep_dir.mkdir(parents=True, exist_ok=True)
        check_output_folder(sweep_dir, scenario_files(first), kind=SWEEP_KIND)
        write_manifest(sweep_dir, SWEEP_KIND, files=SWEEP_FILES)
        return _sweep(
            started,
            base_path,
            grid,
            sweep_dir,
            first.name,
            budgets,
            settings,
            solver,
            time_limit_s,
            lang,
            mode,
            cluster,
            workers,
            chain_size,
            task_target=task_target,
        )


SWEEP_FILES = (
    "comparison.csv",
    "report.html",
    "explore.html",
    "sweep.xlsx",
    "sweep.json",
    "run.log",
    "maps/coverage_budget.png",
)
"""The sweep's own files (its manifest lists them; scenario folders have their own)."""


def _sweep(
    started: float,
    base_path: Path,
    grid: list[SweepScenario],
    sweep_dir: Path,
    name: str,
    budgets: Sequence[float] | None,
    settings: Sequence[tuple[str, Sequence[Any]]],
    solver: str | None,
    time_limit_s: float | None,
    lang: str,
    mode: str,
    cluster: str | None,
    workers: int | None,
    chain_size: int,
    *,
    task_target: int = TASK_TARGET,
) -> SweepResult:
    """The body of :func:`run_sweep`, in its checked and locked folder."""
    cut = segments(grid, chain_size, task_target)
    catalogue = catalogue_path(sweep_dir)

    # an earlier run's finished scenarios: their summaries are this sweep's input
    earlier = {
        s.label: summary
        for s in grid
        if (summary := finished(sweep_dir / s.label, s.key)) is not None
    }
    reused = list(earlier)
    if reused:
        log.info("reused %d finished scenarios", len(reused))
    jobs = []
    for chain_no, seg in enumerate(cut):
        todo = tuple(s.label not in reused for s in seg)
        if any(todo):
            jobs.append(
                SegmentTask(
                    chain=seg[0].chain,
                    index=chain_no,
                    scenarios=tuple(seg),
                    todo=todo,
                    base_path=base_path,
                    sweep_dir=sweep_dir,
                    solver=solver,
                    time_limit_s=time_limit_s,
                    lang=lang,
                    catalogue=catalogue,
                )
            )
    n_todo = sum(sum(j.todo) for j in jobs)
    log.info(
        "sweep of %d scenarios (%d chains, %d tasks) into %s: %d to run",
        len(grid),
        len({s.chain for s in grid}),
        len(cut),
        sweep_dir,
        n_todo,
    )
    outcomes: dict[str, Outcome] = {}
    with task("sweep", total=n_todo) as advance:
        progress = SweepProgress(n_todo, advance)

        def on_done(job: SegmentTask, outs: list[Outcome]) -> None:
            for o in outs:
                outcomes[o.label] = o
                progress(progress_note(o))  # those no event announced (events are best effort)

        execute(
            jobs,
            mode=mode,
            cluster=cluster,
            workers=workers,
            on_done=on_done,
            progress=progress,
        )
    solve_wall_s = time.perf_counter() - started

    base_job = SegmentTask(
        -1, -1, (), (), base_path, sweep_dir, solver, time_limit_s, lang, catalogue
    )
    summaries = earlier | {o.label: o.summary for o in outcomes.values() if o.summary}
    violations, resolved = check_monotone(grid, summaries, outcomes, base_job)
    distinct = {
        s.label: scenario_distinct(base_path, sweep_dir, s, outcomes.get(s.label))
        for s in grid
        if s.label in summaries
    }
    comparison = comparison_table(grid, summaries, outcomes, reused, violations, distinct)
    failed = [s.label for s in grid if not _row_ok(comparison, s.label)]
    summary = {
        "scenario": name,
        "scenario_path": str(base_path),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "budgets": list(budgets or []),
        "settings": {k: list(v) for k, v in settings},
        "mode": "sequential" if mode == "sequential" else (cluster or "local cluster"),
        "workers": None if mode == "sequential" or cluster else (workers or os.cpu_count()),
        "chain_size": chain_size,
        "task_target": task_target,
        "solver": solver,
        "time_limit_s": time_limit_s,
        "lang": lang,
        "scenarios": [
            {"label": s.label, "key": s.key, "budget": s.budget, "chain": s.chain} for s in grid
        ],
        "tasks": [[s.label for s in seg] for seg in cut],
        "reused": reused,
        "failed": failed,
        "monotone": not violations,
        "violations": violations,
        "resolved_warm": resolved,
        "solve_wall_s": round(solve_wall_s, 3),
    }
    write_sweep_outputs(sweep_dir, grid, comparison, summary, lang, outcomes)
    summary["wall_s"] = round(time.perf_counter() - started, 3)
    write_json(sweep_dir / "sweep.json", summary)
    if failed:
        log.warning("%d of %d scenarios failed: %s", len(failed), len(grid), ", ".join(failed))
    return SweepResult(sweep_dir, grid, comparison, reused, failed, violations, resolved, summary)


def _row_ok(comparison: pd.DataFrame, label: str) -> bool:
    row = comparison.loc[comparison["scenario"] == label]
    return bool(len(row)) and bool(row["ok"].iloc[0])


def coverage_points(summary: dict[str, Any]) -> float:
    """A plan's priority-weighted coverage: the ``coverage`` objective (coverage points,
    summed over the years of a phased plan) when the plan maximised it, else priority x
    percentage served of each type at the end of the plan."""
    value = (summary.get("objectives") or {}).get("coverage")
    if value is not None:
        return float(value)
    per_type = (summary.get("totals") or {}).get("per_type") or {}
    return float(
        sum(
            float(row.get("priority", 1.0) or 1.0) * float(row.get("covered_after_pct") or 0.0)
            for row in per_type.values()
        )
    )


def check_monotone(
    grid: Sequence[SweepScenario],
    summaries: dict[str, dict[str, Any]],
    outcomes: dict[str, Outcome],
    job: SegmentTask,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Check that coverage never falls as the budget grows along each chain; re-solve a
    cold-started scenario that falls short from its predecessor's plan. Returns the
    violations left and the scenarios re-solved.

    ``summaries`` are the plans' summaries by label (this run's from memory, an earlier run's
    from its files); a re-solved scenario's new summary and outcome replace its entries. The
    re-solve starts from the predecessor's plan in memory, or from its saved ``solution.npz``
    when an earlier run made it."""
    violations: list[dict[str, Any]] = []
    resolved: list[str] = []
    chains: dict[int, list[SweepScenario]] = {}
    for s in grid:
        if s.budget is not None:
            chains.setdefault(s.chain, []).append(s)
    for chain in chains.values():
        prev: tuple[SweepScenario, float] | None = None
        for sc in sorted(chain, key=lambda s: s.step):
            summary = summaries.get(sc.label)
            if summary is None:
                continue
            value = coverage_points(summary)
            if prev is not None and _falls(value, prev[1]):
                warm_from = (summary.get("sweep") or {}).get("warm_start_from")
                if warm_from != prev[0].label or prev[0].label in resolved:
                    log.warning(
                        "scenario %s covers less (%.6g points) than %s (%.6g) with a smaller "
                        "budget: re-solving it from %s's plan",
                        sc.label,
                        value,
                        prev[0].label,
                        prev[1],
                        prev[0].label,
                    )
                    start = _plan_of(job, prev[0], outcomes)
                    outcome, _, _ = run_one(job, sc, start, prev[0].label)
                    outcomes[sc.label] = outcome
                    resolved.append(sc.label)
                    if outcome.summary is not None:  # a failed re-solve leaves the old plan
                        summaries[sc.label] = outcome.summary
                    value = coverage_points(summaries[sc.label])
                if _falls(value, prev[1]):
                    v = {
                        "scenario": sc.label,
                        "budget": sc.budget,
                        "coverage_points": value,
                        "previous": prev[0].label,
                        "previous_budget": prev[0].budget,
                        "previous_coverage_points": prev[1],
                    }
                    log.error(
                        "NOT MONOTONE: %s (budget %s) covers %.6g coverage points, less than "
                        "%s (budget %s): %.6g",
                        sc.label,
                        f"{sc.budget:,.0f}",
                        value,
                        prev[0].label,
                        f"{prev[0].budget:,.0f}",
                        prev[1],
                    )
                    violations.append(v)
            prev = (sc, value)
    return violations, resolved


def _plan_of(job: SegmentTask, sc: SweepScenario, outcomes: dict[str, Outcome]) -> PlanningSolution:
    """A scenario's plan: this run's from memory, else its earlier run's ``solution.npz``."""
    held = outcomes.get(sc.label)
    if held is not None and held.solution is not None:
        return held.solution
    return read_solution(job.sweep_dir / sc.label / SOLUTION_FILE)


def _falls(value: float, before: float) -> bool:
    return value < before - (MONOTONE_ABS_TOL + MONOTONE_REL_TOL * abs(before))


def comparison_table(
    grid: Sequence[SweepScenario],
    summaries: dict[str, dict[str, Any]],
    outcomes: dict[str, Outcome],
    reused: Sequence[str],
    violations: Sequence[dict[str, Any]],
    distinct: Mapping[str, float | None] | None = None,
) -> pd.DataFrame:
    """One row per scenario: parameters, budget, cost used, target residents served per type
    (count and %), their sum over types (``services_covered``, not a head count), the mean
    coverage %, coverage points, ``distinct_residents_covered`` (a head count, given by label
    in ``distinct``; see the module doc), services gained per extra 10,000 yuan against the
    previous budget of its chain, sites, facilities, status, gap, times; a failed one its
    error. ``summaries`` are the plans' summaries by label (see :func:`check_monotone`)."""
    bad = {v["scenario"] for v in violations}
    keys = list(dict.fromkeys(k for s in grid for k, _ in s.settings))
    rows = []
    previous: dict[int, dict[str, Any]] = {}
    for sc in grid:
        summary = summaries.get(sc.label)
        outcome = outcomes.get(sc.label)
        row: dict[str, Any] = {"scenario": sc.label, "key": sc.key[:12]}
        for k, v in sc.settings:
            row[k] = _value_text(v) if isinstance(v, (dict, list)) else v
        for k in keys:
            row.setdefault(k, None)
        row["budget"] = sc.budget
        if summary is None:
            row.update(
                {
                    "ok": False,
                    "status": outcome.status if outcome else "NOT RUN",
                    "error": outcome.error if outcome else "no result (interrupted?)",
                    "solve_s": outcome.seconds if outcome else None,
                }
            )
            rows.append(row)
            continue
        totals = summary["totals"]
        per_type = totals.get("per_type") or {}
        if sc.budget is None:
            b = summary.get("budgets") or {}
            row["budget"] = sum(float(e["budget"]) for e in b.values()) if b else None
        row["cost_used"] = float(totals["cost"])
        services = 0.0
        for t, r in per_type.items():
            row[f"covered:{t}"] = float(r["covered_after"])
            row[f"coverage_pct:{t}"] = float(r["covered_after_pct"])
            services += float(r["covered_after"])
        row["services_covered"] = services
        row["distinct_residents_covered"] = (distinct or {}).get(sc.label)
        row["coverage_pct"] = float(totals["coverage_pct_after"])
        row["coverage_points"] = coverage_points(summary)
        prev = previous.get(sc.chain)
        row["marginal_services_per_10k"] = (
            (services - prev["services"]) / ((row["budget"] - prev["budget"]) / MARGINAL_UNIT)
            if prev is not None and row["budget"] is not None and row["budget"] > prev["budget"]
            else None
        )
        row.update(
            {
                "sites": int(totals["sites_opened"]),
                "facilities": int(totals["facilities_built"]),
                "ok": True,
                "status": summary["status"],
                "gap": summary.get("gap"),
                "solve_s": summary.get("solve_s"),
                "warm_start_from": (summary.get("sweep") or {}).get("warm_start_from"),
                "reused": sc.label in reused,
                "monotone": sc.label not in bad,
                "error": None,
            }
        )
        if sc.budget is not None:
            previous[sc.chain] = {"services": services, "budget": row["budget"]}
        rows.append(row)
    df = pd.DataFrame(rows)
    order = ["scenario", "key", *keys, "budget", "cost_used"]
    types = [c.split(":", 1)[1] for c in df.columns if c.startswith("covered:")]
    types = list(dict.fromkeys(types))
    for t in types:
        order += [f"covered:{t}", f"coverage_pct:{t}"]
    order += ["services_covered", "distinct_residents_covered", "coverage_pct"]
    order += ["coverage_points", "marginal_services_per_10k", "sites"]
    order += ["facilities", "ok", "status", "gap", "solve_s", "warm_start_from", "reused"]
    order += ["monotone", "error"]
    for col in order:
        if col not in df.columns:
            df[col] = None
    df = df[order].copy()
    for col in ("sites", "facilities"):
        df[col] = pd.array(df[col].to_numpy(), dtype="Int64")
    df["distinct_residents_covered"] = pd.to_numeric(df["distinct_residents_covered"])
    return df


def distinct_residents_covered(coverage: pd.DataFrame, groups: Mapping[str, str]) -> float:
    """Residents covered by every planned type they need: a head count from a coverage table.

    A block counts the residents who need some planned type, the union of the target groups
    of the types with target residents there (``groups``: type -> its target group, a blocks
    column), when every one of those types covers the block in full (``covered_after``); else
    it counts none. The union is the block's ``population`` when some type targets everyone,
    else the sum over the distinct groups (the age bands ``pop_0_2``, ``pop_3_5`` and
    ``pop_60_plus`` do not overlap; a type without a known group counts as a group of its
    own). Types of one group share its count. A lower bound on the residents all of whose
    needs are met: a block with one uncovered type counts no one, even residents who do not
    need that type.
    """
    df = coverage.loc[
        coverage["target_population"].astype(float) > 0,
        ["block_id", "facility_type", "target_population", "covered_after"],
    ]
    if df.empty:
        return 0.0
    group = df["facility_type"].map(lambda t: groups.get(str(t), f"type:{t}"))
    full = df["covered_after"].astype(bool).groupby(df["block_id"]).all()
    per_group = df.assign(group=group).groupby(["block_id", "group"])["target_population"].max()
    is_all = per_group.index.get_level_values("group") == "population"
    banded = per_group[~is_all].groupby(level="block_id").sum()
    everyone = per_group[is_all].droplevel("group")
    heads = banded.reindex(full.index, fill_value=0.0)
    heads.loc[everyone.index] = everyone
    return float(heads[full].sum())


def scenario_distinct(
    base_path: Path, sweep_dir: Path, sc: SweepScenario, outcome: Outcome | None
) -> float | None:
    """A planned scenario's :func:`distinct_residents_covered`: from its coverage table in
    memory when this run planned it, else from its folder's ``coverage.csv``; None (with a
    warning) when that cannot be read."""
    groups = {k: ft.target_group for k, ft in derive_scenario(base_path, sc.data).catalog.items()}
    if outcome is not None and outcome.tables is not None:
        return distinct_residents_covered(outcome.tables["coverage"], groups)
    path = sweep_dir / sc.label / "coverage.csv"
    try:
        coverage = pd.read_csv(
            path, encoding="utf-8-sig", dtype={"block_id": str, "facility_type": str}
        )
        return distinct_residents_covered(coverage, groups)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: no distinct residents covered (%s)", sc.label, exc)
        return None


# --------------------------------------------------------------------------- sweep outputs


def write_sweep_outputs(
    sweep_dir: Path,
    grid: Sequence[SweepScenario],
    comparison: pd.DataFrame,
    summary: dict[str, Any],
    lang: str,
    outcomes: dict[str, Outcome] | None = None,
) -> None:
    """Write comparison.csv, and (when some plan succeeded) report.html with the curve,
    sweep.xlsx and maps/coverage_budget.png, each atomically into the sweep folder.

    The report shows the reference scenario's plan from ``outcomes`` (memory) when this run
    planned it, else from its folder (an earlier run's files)."""
    write_csv(sweep_dir / "comparison.csv", comparison)
    ok = comparison[comparison["ok"].eq(True)]
    if ok.empty:
        log.warning("no scenario was planned: no sweep report")
        return
    first_chain = min(s.chain for s in grid if s.label in set(ok["scenario"]))
    chain_rows = ok[ok["scenario"].isin([s.label for s in grid if s.chain == first_chain])]
    ref_label = str(chain_rows["scenario"].iloc[-1])
    ref = next(s for s in grid if s.label == ref_label)
    summary["reference"] = ref_label
    staging = Path(tempfile.mkdtemp(prefix=".sweep-staging-", dir=sweep_dir))
    try:
        held = (outcomes or {}).get(ref_label)
        _write_report(staging, sweep_dir, ref, grid, comparison, summary, lang, held, outcomes)
        (sweep_dir / "maps").mkdir(exist_ok=True)
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                os.replace(path, sweep_dir / path.relative_to(staging))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_report(
    stage: Path,
    sweep_dir: Path,
    ref: SweepScenario,
    grid: Sequence[SweepScenario],
    comparison: pd.DataFrame,
    sweep_summary: dict[str, Any],
    lang: str,
    held: Outcome | None = None,
    outcomes: Mapping[str, Outcome] | None = None,
) -> None:
    language = check_lang(lang)
    scenario = derive_scenario(sweep_summary["scenario_path"], ref.data)
    inputs = read_inputs(scenario)
    cl, cov, summary = _reference_plan(sweep_dir / ref.label, held)
    per_type = pd.DataFrame(list((summary["totals"].get("per_type") or {}).values()))
    n_ok = int(comparison["ok"].eq(True).sum())
    budget_text = f"{ref.budget:,.0f}" if ref.budget is not None else "the scenario's own"
    note = (
        f"Sweep of {len(grid)} scenarios ({n_ok} planned): the table and curve compare them; "
        f"the maps and lists below show scenario {ref.label} (budget {budget_text} yuan). "
        "Each scenario's own report is in its folder."
        if language == "en"
        else f"共 {len(grid)} 个情景（{n_ok} 个已求解）：下表与曲线对比各情景；地图与清单为情景 "
        f"{ref.label}（预算 {budget_text} 元）。各情景的完整报告在其文件夹内。"
    )
    summary["notes"] = [note, *(summary.get("notes") or [])]
    if sweep_summary.get("violations"):
        summary["notes"].append(
            "NOT MONOTONE: "
            + "; ".join(f"{v['scenario']} < {v['previous']}" for v in sweep_summary["violations"])
        )
    table = comparison.drop(columns=["key", "ok", "reused", "warm_start_from"])
    table = table[table.columns[table.notna().any()]]
    engine = make_engine(scenario.distances, inputs)  # the service areas follow its streets
    run = RunOutputs(scenario, inputs, cl, cov, per_type, summary, comparison=None, engine=engine)
    layers = map_layers(run)
    figures = maps.render_all(run, layers, language)
    chains = {s.chain for s in grid}
    swept = any(s.budget is not None for s in grid)
    if swept:
        png = _curve(comparison[comparison["ok"].eq(True)], grid, run, language, len(chains) > 1)
        figures.images["coverage_budget"] = png
        figures.captions["coverage_budget"] = report.label("comparison", language)
        atomic_write(stage / "maps" / "coverage_budget.png", lambda p: p.write_bytes(png))
    run.comparison = table
    workbook.write_workbook(stage / "sweep.xlsx", run, language)
    html = report.render_report(run, figures, language, comparison=table)
    atomic_write(stage / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    # explore.html: every planned scenario's tables, switched by the page's budget slider
    plans = _scenario_plans(sweep_dir, grid, comparison, outcomes or {})
    keys = list(dict.fromkeys(k for s in grid for k, _ in s.settings))
    shown = next(i for i, p in enumerate(plans) if p.label == ref.label)
    explore.write_explore(stage / "explore.html", run, layers, language, plans, keys, shown)


def _reference_plan(
    folder: Path, held: Outcome | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The reference scenario's construction list, coverage table and summary (a copy: the
    report adds notes): from memory when this run planned it, else from the earlier run's
    files in ``folder``."""
    if held is not None and held.tables is not None and held.summary is not None:
        tables = held.tables
        return tables["construction_list"], tables["coverage"], copy.deepcopy(held.summary)
    ids = {c: str for c in ("site_id", "site_name", "block_id", "served_by", "facility_type")}
    cl = pd.read_csv(folder / "construction_list.csv", encoding="utf-8-sig", dtype=ids)
    cov = pd.read_csv(folder / "coverage.csv", encoding="utf-8-sig", dtype=ids)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return cl, cov, summary


def _scenario_plans(
    sweep_dir: Path,
    grid: Sequence[SweepScenario],
    comparison: pd.DataFrame,
    outcomes: Mapping[str, Outcome],
) -> list[ScenarioPlan]:
    """Every planned scenario's construction list and coverage (from memory, else its folder)
    with its comparison row, in the grid's order: what explore.html switches between."""
    plans = []
    ok = comparison[comparison["ok"].eq(True)].set_index("scenario", drop=False)
    for sc in grid:
        if sc.label not in ok.index:
            continue
        cl, cov, summary = _reference_plan(sweep_dir / sc.label, outcomes.get(sc.label))
        totals = {str(k): v for k, v in ok.loc[sc.label].items()}
        plans.append(ScenarioPlan(sc.label, cl, cov, totals, summary))
    return plans


def _curve(
    ok: pd.DataFrame, grid: Sequence[SweepScenario], run: Any, lang: Any, many: bool
) -> bytes:
    """The coverage-budget curve: per type for one chain (the report's chart), one line per
    chain (its settings in the legend) when there are several."""
    draw_lang, _ = maps.map_language(lang)
    if not many:
        return maps.comparison_chart(ok, run, draw_lang)
    scale = 1e4 if draw_lang == "zh" else 1e6
    chain_of = {s.label: s for s in grid}
    with maps._style(draw_lang):
        fig = Figure(figsize=(9, 4.6))
        ax = fig.add_axes((0.08, 0.13, 0.56, 0.78))
        groups: dict[int, list[int]] = {}
        for i, name in enumerate(ok["scenario"]):
            groups.setdefault(chain_of[name].chain, []).append(i)
        for chain, idx in groups.items():
            part = ok.iloc[idx].sort_values("budget")
            sc = chain_of[str(part["scenario"].iloc[0])]
            text = ", ".join(f"{k}={_value_text(v)}" for k, v in sc.settings) or f"chain {chain}"
            ax.plot(
                part["budget"].to_numpy(float) / scale,
                part["coverage_pct"].to_numpy(float),
                marker="o",
                lw=1.8,
                label=text[:60],
            )
        ax.xaxis.set_major_formatter(maps.mpl.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.set_xlabel(label_text("axis_budget", draw_lang))
        ax.set_ylabel(label_text("axis_coverage", draw_lang))
        ax.set_ylim(0, 100)
        ax.grid(True, color="#e6e6e6", lw=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        ax.set_title(label_text("comparison", draw_lang), loc="left")
        return maps._png(fig)


# --------------------------------------------------------------------------- command line


def add_sweep_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``siting sweep`` command."""
    s = sub.add_parser(
        "sweep",
        parents=[common],
        help="plan a scenario over budgets and other parameters, side by side (on Dask)",
        description=(
            "Plan the cross product of budgets (--budgets or --budget-range, total yuan; a "
            "phased scenario's years share it in the proportions of its own budgets) and other "
            "scenario parameters (--set KEY=V1,V2: dotted keys into the scenario YAML). Each "
            "scenario gets a full plan folder; the sweep folder gets comparison.csv, "
            "sweep.xlsx, report.html (coverage-budget curve) and sweep.json. Consecutive "
            "budgets warm-start each other. Runs on a local Dask cluster (one single-threaded "
            "worker per core) unless --sequential or --cluster; rerunning reuses finished "
            "scenarios. Exit code 3 when some scenario was infeasible, 4 when one failed."
        ),
    )
    s.add_argument("scenario", type=Path, help="scenario YAML file")
    b = s.add_mutually_exclusive_group()
    b.add_argument("--budgets", help="total budgets in yuan, comma-separated: 40e6,60e6,80e6")
    b.add_argument("--budget-range", help="START:STOP:STEP in yuan, STOP included: 40e6:110e6:10e6")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sweep a scenario parameter (repeatable), e.g. "
        "catalog.elder_care.walk_limit_m=300,500 or model.priorities.nursery=1,2",
    )
    s.add_argument("--out", type=Path, help="sweep folder (default: reports/<name>-sweep)")
    s.add_argument(
        "--lang", choices=("zh", "en"), default="zh", help="language of the reports (default: zh)"
    )
    s.add_argument("--solver", help="solver backend (default: the scenario's, else highs)")
    s.add_argument(
        "--time-limit", type=float, help="time limit per scenario (its whole solve), seconds"
    )
    m = s.add_mutually_exclusive_group()
    m.add_argument("--cluster", metavar="ADDRESS", help="an existing Dask scheduler")
    m.add_argument("--workers", type=int, help="local cluster size (default: one per core)")
    m.add_argument("--sequential", action="store_true", help="run the same task graph in-process")
    s.add_argument(
        "--chain-size",
        type=int,
        default=DEFAULT_CHAIN_SIZE,
        help=f"most consecutive budgets per task (default {DEFAULT_CHAIN_SIZE})",
    )
    s.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``siting sweep``: 0 when every scenario was planned, 3/4 when some failed."""
    started = time.perf_counter()
    budgets = None
    if args.budgets:
        budgets = parse_budgets(args.budgets)
    elif args.budget_range:
        budgets = parse_budget_range(args.budget_range)
    settings = [parse_setting(text) for text in args.set]
    console = next(
        (h.console for h in logging.getLogger().handlers if isinstance(h, RichHandler)),
        Console(stderr=True),
    )
    level = logging.DEBUG if args.verbose else logging.INFO
    with (
        capture_log(level) as captured,
        progress_display(console, not args.quiet and console.is_terminal),
    ):
        result = run_sweep(
            args.scenario,
            budgets=budgets,
            settings=settings,
            out_dir=args.out,
            solver=args.solver,
            time_limit_s=args.time_limit,
            lang=args.lang,
            mode="sequential" if args.sequential else "local",
            cluster=args.cluster,
            workers=args.workers,
            chain_size=args.chain_size,
        )
        text = captured.text()
    atomic_write(result.out_dir / "run.log", lambda p: p.write_text(text, encoding="utf-8"))
    if not args.quiet:
        out = Console(width=None if sys.stdout.isatty() else 160)
        table = Table(title=f"Sweep of {result.summary['scenario']}", title_justify="left")
        cols = ["scenario", "budget", "cost_used", "distinct_residents_covered", "coverage_pct"]
        cols += ["marginal_services_per_10k", "sites", "status", "gap", "solve_s"]
        for col in cols:
            table.add_column(col, justify="left" if col in ("scenario", "status") else "right")
        for r in result.comparison.to_dict(orient="records"):
            table.add_row(*[_cell(col, r.get(col)) for col in cols])
        out.print(table)
        out.print(
            f"{len(result.scenarios)} scenarios: {len(result.reused)} reused, "
            f"{len(result.failed)} failed; coverage "
            + ("never falls as the budget grows" if not result.violations else "NOT MONOTONE")
            + f"; whole sweep {time.perf_counter() - started:.1f} s\n"
            f"outputs: {result.out_dir}/comparison.csv, report.html, explore.html, sweep.xlsx, "
            "sweep.json, run.log, and one plan folder per scenario"
        )
    return result.exit_code


def _cell(col: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if col in ("budget", "cost_used", "distinct_residents_covered"):
        return f"{float(value):,.0f}"
    if col in ("coverage_pct", "marginal_services_per_10k", "solve_s"):
        return f"{float(value):,.2f}"
    if col == "gap":
        return f"{float(value):.2%}"
    return str(value)


__all__ = [
    "SweepResult",
    "SweepScenario",
    "add_sweep_parser",
    "build_grid",
    "cmd_sweep",
    "parse_budget_range",
    "parse_budgets",
    "parse_setting",
    "run_sweep",
]
