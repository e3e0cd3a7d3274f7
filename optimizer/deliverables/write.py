"""The deliverables of a planning run: report, maps, workbook, GeoPackage and log.

:func:`write_deliverables` is the one call the pipeline makes inside its staged run folder.
It reads only the output contracts of DESIGN.md (the construction list, coverage and
per-type tables, the summary dict) plus the validated input tables for geometry, so it does
not depend on how the plan was computed. The run's distance engine comes along so that the
service areas follow the same streets and snaps as the run's distances (the deliverables never
read the street network again). What the writers share is in :mod:`.layers`.

What it writes::

    report.html     self-contained report (inline CSS, maps as embedded PNG, no network)
    explore.html    interactive page (Bokeh, script and data inline, no network): map, list,
                    details of each site and block (optimizer.deliverables.explore)
    maps/*.png      the report's maps and charts, for documents
    plan.xlsx       construction_list, coverage, per_type, per_area, assumptions [, comparison]
    plan.gpkg       blocks, chosen_sites, existing, uncovered_blocks, service_areas
    run.log         the run's log (when the caller captured it, see optimizer.progress)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.deliverables import explore, maps, report, workbook
from optimizer.deliverables.labels import Lang, check_lang
from optimizer.deliverables.layers import PlanTables, RunOutputs, map_layers
from optimizer.distances.base import DistanceEngine
from optimizer.inputs import Inputs
from optimizer.outputs import atomic_write, to_jsonable
from optimizer.progress import captured_log
from optimizer.scenario import Scenario

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- writing


def write_deliverables(
    stage: Path,
    scenario: Scenario,
    inputs: Inputs,
    plan: PlanTables,
    summary: dict[str, Any],
    *,
    lang: str = "zh",
    comparison: pd.DataFrame | None = None,
    engine: DistanceEngine | None = None,
) -> list[Path]:
    """Write report.html, explore.html, maps/*.png, plan.xlsx, plan.gpkg and run.log.

    Parameters
    ----------
    stage : Path
        The run's staging folder (published atomically by :func:`optimizer.outputs.staged_run`).
    scenario, inputs, summary
        The run's scenario, validated inputs and summary dict.
    plan : PlanTables
        Any object with ``construction_list``, ``coverage`` and ``per_type`` DataFrames
        (e.g. :class:`optimizer.plan.Plan`).
    lang : {"zh", "en"}
        Language of the report, maps and workbook labels.
    comparison : DataFrame, optional
        A sweep's comparison table: adds a sheet, a table and the coverage-budget curve.
    engine : DistanceEngine, optional
        The engine the run's distances came from; a street-network engine draws the service
        areas along its streets (without it a ``network`` run gets circles).

    Returns
    -------
    list of Path
        The files written.
    """
    language: Lang = check_lang(lang)
    run = RunOutputs.from_plan(scenario, inputs, plan, summary, comparison, engine)
    started = time.perf_counter()
    layers = map_layers(run)
    t_layers = time.perf_counter() - started
    figures = maps.render_all(run, layers, language)
    t_maps = time.perf_counter() - started - t_layers
    written = []
    (stage / "maps").mkdir(exist_ok=True)
    for name, png in figures.images.items():
        written.append(atomic_write(stage / "maps" / f"{name}.png", _bytes_writer(png)))
    t0 = time.perf_counter()
    written.append(workbook.write_workbook(stage / "plan.xlsx", run, language))
    written.append(workbook.write_geopackage(stage / "plan.gpkg", run, layers))
    t_files = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = report.render_report(run, figures, language, comparison=comparison)
    written.append(
        atomic_write(stage / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    )
    t_report = time.perf_counter() - t0
    t0 = time.perf_counter()
    written.append(explore.write_explore(stage / "explore.html", run, layers, language))
    t_explore = time.perf_counter() - t0
    log.info(
        "deliverables: report.html %.0f KB, %d maps, plan.xlsx, plan.gpkg in %.1f s "
        "(geometry %.1f s, maps %.1f s, workbook+gpkg %.1f s, html %.2f s, explore %.2f s)",
        len(html.encode()) / 1024,
        len(figures.images),
        time.perf_counter() - started,
        t_layers,
        t_maps,
        t_files,
        t_report,
        t_explore,
    )
    written.append(write_run_log(stage / "run.log", run))
    return written


def _bytes_writer(data: bytes) -> Callable[[Path], int]:
    return lambda p: p.write_bytes(data)


def write_run_log(path: Path, run: RunOutputs) -> Path:
    """Write ``run.log``: the captured log of the run, or a header when nothing was captured."""
    text = captured_log()
    if text is None:
        text = (
            f"run {run.run_id} of scenario {run.scenario.name}: no log was captured (call "
            "run_plan inside optimizer.progress.capture_log() to keep it)\n"
        )
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def summary_digest(summary: dict[str, Any]) -> str:
    """A short stable hash of a summary (part of the run id)."""
    text = json.dumps(to_jsonable(summary), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
