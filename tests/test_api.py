"""The public API (``optimizer/__init__.py``): the documented example works through
``import optimizer`` alone, every exported name resolves, and the import itself stays light."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optimizer
from tests.town import write_town


def test_documented_example_plans_the_line_city_through_the_package(line_city: Path) -> None:
    scenario = optimizer.load_scenario(line_city)
    assert isinstance(scenario, optimizer.Scenario)
    run = optimizer.run_plan(line_city, write=False)
    assert isinstance(run, optimizer.PlanRun)
    assert isinstance(run.result, optimizer.Result)
    assert run.result.status is optimizer.Status.OPTIMAL
    assert run.result.stop is optimizer.StopReason.OPTIMAL
    assert run.result.gap == 0.0
    # the hand-computed optimum of the planning model on the line city, facilities sized to
    # the need (tests/test_plan_pipeline.py): 2 x (100k + 350k) + 100k + 50k
    assert run.result.objective == pytest.approx(1_050_000)
    assert run.verify.passed and run.verify.checks
    assert run.plan.construction_list["cost"].sum() == pytest.approx(1_050_000)


@pytest.mark.slow
def test_documented_example_writes_the_town_plan(tmp_path: Path) -> None:
    scenario_path = write_town(tmp_path / "town")
    run = optimizer.run_plan(scenario_path, out_dir=tmp_path / "out", lang="en")
    assert run.result.status.has_solution
    assert run.verify.passed
    assert run.out_dir is not None and (run.out_dir / "summary.json").is_file()
    assert len(run.plan.construction_list) > 0


def test_bad_scenarios_raise_the_exported_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nunknown_key: 1\n", encoding="utf-8")
    with pytest.raises(optimizer.ScenarioError) as caught:
        optimizer.load_scenario(bad)
    assert isinstance(caught.value, optimizer.InputError)
    assert isinstance(caught.value, optimizer.SitingError)


def test_a_classic_model_solves_through_the_package() -> None:
    # p = 1 of two sites: s1 costs 1 + 2 + 5 x 9 = 48, s2 costs 10 + 8 + 5 x 1 = 23
    demand = pd.DataFrame({"demand_id": ["a", "b", "c"], "population": [1, 1, 5]})
    sites = pd.DataFrame({"site_id": ["s1", "s2"]})
    od = pd.DataFrame(
        {
            "demand_id": ["a", "a", "b", "b", "c", "c"],
            "site_id": ["s1", "s2"] * 3,
            "distance": [1.0, 10.0, 2.0, 8.0, 9.0, 1.0],
        }
    )
    tables = optimizer.from_tables("pmedian", demand, sites, od, weight="population", p=1)
    answer = optimizer.solve_classic(
        "pmedian", tables.data, "highs", optimizer.SolveOptions(time_limit_s=30)
    )
    assert isinstance(answer, optimizer.ClassicResult)
    assert answer.result.status is optimizer.Status.OPTIMAL
    assert answer.objective == pytest.approx(23.0)
    assert tables.site_ids[answer.selected].tolist() == ["s2"]
    assert answer.report.passed


def test_every_exported_name_resolves() -> None:
    for name in optimizer.__all__:
        assert getattr(optimizer, name) is not None, name
    assert set(optimizer.__all__) <= set(dir(optimizer))
    assert callable(optimizer.run_sweep) and callable(optimizer.solve_classic)
    assert any(name.startswith("pmedian") for name in optimizer.MODELS)
    left = optimizer.Deadline(10.0).remaining()
    assert left is not None and 0.0 < left <= 10.0
    with pytest.raises(AttributeError):
        _ = optimizer.no_such_name


def test_the_type_stub_names_every_export_from_its_module() -> None:
    # type checkers read __init__.pyi instead of __init__.py: the stub must re-export the
    # same names, each from the module __getattr__ imports it from
    stub = ast.parse((Path(optimizer.__file__).parent / "__init__.pyi").read_text())
    exported = {
        alias.asname: node.module
        for node in stub.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(exported) == set(optimizer.__all__)
    for name, module in exported.items():
        assert getattr(importlib.import_module(str(module)), name) is getattr(optimizer, name)


def test_import_optimizer_loads_no_solver_until_asked() -> None:
    # a fresh interpreter: this one has imported everything already
    code = (
        "import sys, optimizer; "
        "heavy = [m for m in ('optimizer.pipeline', 'highspy', 'dask', 'numba', 'matplotlib') "
        "if m in sys.modules]; "
        "print(','.join(heavy) or 'none', optimizer.__version__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "none"
    assert out[1] == optimizer.__version__
