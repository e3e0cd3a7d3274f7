"""Community facility siting optimizer (complete communities, 5/10/15-minute life circles).

The pipeline flows one way::

    scenario -> inputs -> demand -> distances -> instance -> model (MILP)
             -> backend -> result -> verify -> plan -> outputs

The public API is what this package exports (``__all__``), after ``import optimizer``::

    scenario = optimizer.load_scenario("scenarios/sample-city.yaml")   # checked, nothing solved
    run = optimizer.run_plan("scenarios/sample-city.yaml", out_dir="reports/try1")
    run.result.status            # optimizer.Status.OPTIMAL (FEASIBLE at a limit, never OPTIMAL)
    run.result.gap, run.result.stop  # the relative gap, why it stopped (StopReason)
    run.verify.passed            # the plan re-checked from the input tables
    run.plan.construction_list   # the ranked list, a DataFrame

    sweep = optimizer.run_sweep("scenarios/sample-city.yaml", budgets=[40e6, 60e6])
    # a classic model on generic tables (demand_id / site_id / distance), checked independently
    tables = optimizer.from_tables("pmedian", demand, sites, od, weight="population", p=5)
    answer = optimizer.solve_classic(
        "pmedian", tables.data, "highs", optimizer.SolveOptions(time_limit_s=60)
    )

Bad input raises :class:`InputError` (a :class:`ScenarioError` for the scenario file); no plan
raises :class:`InfeasibleError` or :class:`SolverError`; all are :class:`SitingError`.

The names are imported on first use (PEP 562): ``import optimizer`` stays fast, and the
solver packages load only when a plan, sweep or classic model needs them. Type checkers and
editors read them from the stub ``__init__.pyi`` beside this file (as SPEC 1's lazy loading
does); a test keeps the two lists equal.
"""

from __future__ import annotations

import importlib

from optimizer.version import __version__

# exported name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # scenarios and plans
    "load_scenario": "optimizer.scenario",
    "Scenario": "optimizer.scenario",
    "run_plan": "optimizer.pipeline",
    "plan_scenario": "optimizer.pipeline",
    "PlanRun": "optimizer.pipeline",
    "VerifyReport": "optimizer.verify_report",
    # sweeps
    "run_sweep": "optimizer.sweep",
    "SweepResult": "optimizer.sweep",
    # classic models
    "solve_classic": "optimizer.classic.registry",
    "from_tables": "optimizer.classic.registry",
    "ClassicResult": "optimizer.classic.registry",
    "MODELS": "optimizer.classic.registry",
    "SolveOptions": "optimizer.backends.base",
    # results, status and time
    "Result": "optimizer.result",
    "Status": "optimizer.result",
    "StopReason": "optimizer.result",
    "Deadline": "optimizer.deadline",
    # errors
    "SitingError": "optimizer.errors",
    "InputError": "optimizer.errors",
    "ScenarioError": "optimizer.errors",
    "InfeasibleError": "optimizer.errors",
    "SolverError": "optimizer.errors",
    "SolverNotAvailable": "optimizer.errors",
    "VerificationError": "optimizer.errors",
}

__all__ = [
    "MODELS",
    "ClassicResult",
    "Deadline",
    "InfeasibleError",
    "InputError",
    "PlanRun",
    "Result",
    "Scenario",
    "ScenarioError",
    "SitingError",
    "SolveOptions",
    "SolverError",
    "SolverNotAvailable",
    "Status",
    "StopReason",
    "SweepResult",
    "VerificationError",
    "VerifyReport",
    "__version__",
    "from_tables",
    "load_scenario",
    "plan_scenario",
    "run_plan",
    "run_sweep",
    "solve_classic",
]


def __getattr__(name: str) -> object:
    """Import an exported name's module on first use and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
