"""The planning run, stage by stage: scenario -> inputs -> instance -> model -> solve -> verify
-> plan -> outputs. Each stage is timed; model build and solve are measured separately."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optimizer import __version__
from optimizer.backends import Result, SolveOptions, Status, get_backend
from optimizer.distances import make_engine
from optimizer.errors import InfeasibleError, SolverError, preview_ids
from optimizer.inputs import Inputs, file_sha256, read_inputs
from optimizer.instance import PlanningInstance, build_instance
from optimizer.models import covering
from optimizer.outputs import staged_run, write_csv, write_json
from optimizer.plan import Plan, make_plan
from optimizer.scenario import Scenario, load_scenario
from optimizer.verify import VerifyReport, verify_covering_plan

log = logging.getLogger(__name__)

MODEL_LABEL = "min_cost_cover: multi-type set covering with shared sites"


@dataclass
class PlanRun:
    """Everything a planning run produced (kept in memory for tests and the CLI)."""

    scenario: Scenario
    inputs: Inputs
    instance: PlanningInstance
    result: Result
    plan: Plan
    verify: VerifyReport
    summary: dict[str, Any]
    out_dir: Path | None
    timings: dict[str, float] = field(default_factory=dict)


def default_out_dir(scenario: Scenario) -> Path:
    """``output.dir`` from the scenario, else ``reports/<scenario name>`` under the cwd."""
    return scenario.output_dir or Path("reports") / scenario.name


def run_plan(
    scenario_path: str | Path,
    out_dir: str | Path | None = None,
    solver: str | None = None,
    time_limit_s: float | None = None,
    write: bool = True,
) -> PlanRun:
    """Run the planning pipeline on a scenario file and (by default) write its outputs.

    Raises
    ------
    ScenarioError, InputError
        For a bad scenario or bad input tables, before any solver runs.
    InfeasibleError, SolverError
        When no plan can be produced; the message says why.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scenario = load_scenario(scenario_path)
    inputs = read_inputs(scenario)
    timings["inputs_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    engine = make_engine(scenario.distances, inputs)
    inputs.file_hashes.update(distance_source_hashes(scenario))
    instance = build_instance(inputs, scenario.catalog, engine)
    timings["distances_s"] = time.perf_counter() - t0
    _log_uncoverable(instance)

    data = covering.CoveringData.from_instance(instance)
    settings = scenario.solver
    options = SolveOptions(
        time_limit_s=time_limit_s if time_limit_s is not None else settings.time_limit_s,
        mip_gap=settings.mip_gap,
        threads=settings.threads,
        seed=settings.seed,
    )
    backend = get_backend(solver or settings.name)
    outcome = covering.solve(
        data,
        backend,
        options,
        shortfall_weight=coverage_points(instance, data),
        name=f"{scenario.name}:{scenario.objective}",
    )
    result = outcome.result
    log.info(
        "model %s: %d variables, %d rows, %d nonzeros; built in %.3f s",
        outcome.milp.name,
        outcome.milp.num_vars,
        outcome.milp.num_rows,
        outcome.milp.A.nnz,
        result.build_s,
    )
    log.info(
        "solved by %s in %.2f s: %s, objective %.2f, bound %.2f, gap %.4g",
        result.solver,
        result.solve_s,
        result.status.value,
        result.objective,
        result.bound,
        result.gap,
    )
    _raise_without_solution(result, options)
    solution = outcome.solution
    left = {k: np.isin(np.arange(instance.n_blocks), v) for k, v in outcome.left_uncovered.items()}
    for key, mask in left.items():
        if mask.any():
            log.warning(
                "%s: %d coverable blocks left uncovered: the candidate sites near them lack the "
                "floor area to host every type these blocks need: %s",
                key,
                int(mask.sum()),
                preview_ids(instance.block_ids[mask]),
            )
    report = verify_covering_plan(
        instance, solution.opened, solution.built, result.objective, left_uncovered=left
    )
    plan = make_plan(instance, solution.opened, solution.built)
    summary = build_summary(scenario, inputs, instance, result, plan, report, timings)
    summary["left_uncovered_blocks"] = {
        k: [str(b) for b in instance.block_ids[m]] for k, m in left.items() if m.any()
    }

    target = Path(out_dir) if out_dir is not None else default_out_dir(scenario)
    if write:
        with staged_run(target) as stage:
            write_csv(stage / "construction_list.csv", plan.construction_list)
            write_csv(stage / "coverage.csv", plan.coverage)
            write_json(stage / "summary.json", summary)
        log.info("outputs written to %s", target)
    return PlanRun(
        scenario=scenario,
        inputs=inputs,
        instance=instance,
        result=result,
        plan=plan,
        verify=report,
        summary=summary,
        out_dir=target if write else None,
        timings=timings,
    )


def distance_source_hashes(scenario: Scenario) -> dict[str, str]:
    """SHA-256 of the street network or distance table the scenario's distance mode reads."""
    settings = scenario.distances
    source = {"network": settings.network, "table": settings.table}.get(settings.mode)
    return {str(source.path): file_sha256(source.path)} if source is not None else {}


def coverage_points(instance: PlanningInstance, data: covering.CoveringData) -> list[np.ndarray]:
    """Weight of each cover row: its target residents as a percentage of the type's total."""
    weights = []
    for key, rows in zip(data.type_keys, data.cover_rows, strict=True):
        t = instance.types[key]
        total = float(t.target.sum())
        weights.append(100.0 * t.target[rows] / total if total > 0 else np.zeros(rows.size))
    return weights


def _log_uncoverable(instance: PlanningInstance) -> None:
    for key, t in instance.types.items():
        bad = t.uncoverable
        if bad.any():
            log.warning(
                "%s: %d blocks (%s %s) have no candidate site within %g m and stay uncovered: %s",
                key,
                int(bad.sum()),
                f"{t.target[bad].sum():,.0f}",
                t.ftype.target_label,
                t.ftype.walk_limit_m,
                preview_ids(instance.block_ids[bad]),
            )


def _raise_without_solution(result: Result, options: SolveOptions) -> None:
    if result.status.has_solution:
        return
    if result.status is Status.INFEASIBLE:
        raise InfeasibleError(
            "no plan satisfies the constraints (every coverable block covered within the "
            "sites' floor areas); check allowed_types and floor areas of the candidate sites"
        )
    if result.status is Status.NO_SOLUTION:
        raise SolverError(
            f"the solver found no plan within {options.time_limit_s} s; raise "
            "solver.time_limit_s in the scenario or pass --time-limit"
        )
    raise SolverError(f"the solver failed: {result.status.value} {result.message}")


def build_summary(
    scenario: Scenario,
    inputs: Inputs,
    instance: PlanningInstance,
    result: Result,
    plan: Plan,
    report: VerifyReport,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The ``summary.json`` contract of DESIGN.md, plus details planners and analysts use."""
    per_type = {row["facility_type"]: row for row in plan.per_type.to_dict(orient="records")}
    cl = plan.construction_list
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "model": MODEL_LABEL,
        "solver": result.solver,
        "status": result.status.value,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "build_s": round(result.build_s, 4),
        "solve_s": round(result.solve_s, 4),
        "nodes": result.nodes,
        "distance_mode": instance.distance_mode,
        "distance_note": instance.distance_note,
        "detour_factor": scenario.distances.detour_factor
        if instance.distance_mode == "euclidean"
        else None,
        "totals": {
            "cost": float(cl["cost"].sum()),
            "sites_opened": int(cl["site_id"].nunique()),
            "facilities_built": len(cl),
            "coverage_pct_before": plan.baseline_coverage_pct,
            "coverage_pct_after": float(cl["cumulative_coverage_pct"].iloc[-1])
            if len(cl)
            else plan.baseline_coverage_pct,
            "per_type": per_type,
        },
        "uncoverable_blocks": {
            key: [str(b) for b in instance.block_ids[t.uncoverable]]
            for key, t in instance.types.items()
        },
        "budgets": None,
        "standards": {
            key: {
                "walk_limit_m": t.ftype.walk_limit_m,
                "target_group": t.ftype.target_group,
                "build_area_m2": t.ftype.build_area_m2,
                "capacity": t.ftype.build_capacity,
                "capacity_unit": t.ftype.capacity_unit,
            }
            for key, t in instance.types.items()
        },
        "verify": report.as_dict(),
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "counts": {
            "blocks": instance.n_blocks,
            "sites": instance.n_sites,
            "existing": int(np.asarray(instance.existing_ids).size),
        },
        "inputs": inputs.file_hashes,
        "crs": inputs.crs.to_string(),
        "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
