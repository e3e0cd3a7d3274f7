"""Misuse, bad input and faults: every one ends in a message and an exit code (issue 15).

Each case runs the real command line in a child process on a small city and asserts the exit
code, a message naming the offending file / column / key and ids, no traceback, and that no
file outside the run's own output folder changed (a snapshot of the scenario's folder before
and after). Verification and the maps are also driven through the pipeline into the shapes
that used to crash them.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from optimizer import cli, cli_app
from optimizer.deliverables import maps
from optimizer.deliverables.layers import RunOutputs, map_layers
from optimizer.errors import EXIT_CODES, ExitCode, describe_os_error
from optimizer.pipeline import planning_data, run_plan
from optimizer.progress import capture_log
from optimizer.verify import verify_plan
from tests.helpers import Y0, blocks_frame, existing_frame, sites_frame, write_scenario

REPORTS = "reports"  # runs write under <folder>/reports/...; everything else must stay put


# --------------------------------------------------------------------------- helpers


def _siting(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optimizer.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def _snapshot(folder: Path) -> dict[str, str]:
    """Path -> content hash of every file under ``folder`` but the runs' ``reports/``."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts and rel.parts[0] == REPORTS:
            continue
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "/"
    return out


def _flat(text: str) -> str:
    return " ".join(text.split())


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three blocks, two sites, one existing store: a city that validates and plans."""
    blocks = blocks_frame([0, 100, 200])
    sites = sites_frame([0, 150], floor=[500, 500], fixed=[1000, 2000])
    existing = existing_frame([0], ["convenience"])
    return blocks, sites, existing


Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


@dataclass(frozen=True)
class Case:
    """One misuse: how to spoil the city, the command, the exit code and the words expected."""

    name: str
    spoil: Callable[[Path], None]
    code: int
    words: tuple[str, ...]
    command: tuple[str, ...] = ("validate", "scenario.yaml")
    extra: dict[str, Any] = field(default_factory=dict)


def _city(folder: Path, change: Callable[[Tables], None] | None = None, **extra: Any) -> Path:
    tables = _tables()
    if change is not None:
        change(tables)
    return write_scenario(folder, *tables, **extra)


def _table_case(name: str, change: Callable[[Tables], None], *words: str) -> Case:
    return Case(name, lambda f: _city(f, change) and None, 2, words)


def _set(table: int, row: int, col: str, value: object) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        df = tables[table]
        df[col] = df[col].astype(object)
        df.loc[row, col] = value

    return change


def _scenario_case(name: str, edit: Callable[[dict[str, Any]], None], *words: str) -> Case:
    def spoil(folder: Path) -> None:
        path = _city(folder)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    return Case(name, spoil, 2, words)


def _yaml_case(name: str, old: str, new: str, code: int, *words: str) -> Case:
    """Edit the scenario's YAML text (for spellings that a dump cannot produce, like 1e8)."""

    def spoil(folder: Path) -> None:
        path = _city(folder)
        text = path.read_text(encoding="utf-8")
        assert old in text, text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return Case(name, spoil, code, words)


def _model(**model: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.setdefault("model", {}).update(model)


def _solver(**solver: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["solver"].update(solver)


def _block_ids(*ids: str) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        tables[0]["block_id"] = list(ids)

    return change


def _degrees(tables: Tables) -> None:
    for df in tables[:2]:
        df["x"] = 116.3 + np.arange(len(df)) * 0.001
        df["y"] = 37.4


def _swapped_lon_lat(tables: Tables) -> None:
    blocks = tables[0]
    blocks["lon"] = 37.4
    blocks["lat"] = 116.3 + np.arange(len(blocks)) * 0.001
    del blocks["x"], blocks["y"]


def _encode(name: str, encoding: str, bom: bytes = b"") -> Callable[[Path], None]:
    """Write the city with Chinese names, then re-encode one file."""

    def spoil(folder: Path) -> None:
        blocks, sites, existing = _tables()
        blocks["name"] = ["一号小区", "二号小区", "三号小区"]
        write_scenario(folder, blocks, sites, existing, description="德州市 社区设施规划")
        path = folder / name
        path.write_bytes(bom + path.read_text(encoding="utf-8").encode(encoding))

    return spoil


def _solve_tables(folder: Path, demand_ids: list[str], site_ids: list[str]) -> None:
    pd.DataFrame({"demand_id": demand_ids, "w": 1}).to_csv(folder / "d.csv", index=False)
    pd.DataFrame({"site_id": site_ids, "cost": 1}).to_csv(folder / "s.csv", index=False)
    pairs = [(d, s, 10.0) for d in demand_ids for s in site_ids]
    pd.DataFrame(pairs, columns=["demand_id", "site_id", "distance"]).to_csv(
        folder / "od.csv", index=False
    )


SOLVE = ("solve", "--model", "lscp", "--demand", "d.csv", "--sites", "s.csv")
SOLVE_ARGS = (*SOLVE, "--distances", "od.csv", "--radius", "50", "--out", "reports/solve")


CASES: list[Case] = [
    # ------------------------------------------------------------ every number of every table
    _table_case(
        "population-inf",
        _set(0, 1, "population", "inf"),
        "blocks.csv",
        "population",
        "infinite",
        "B2",
    ),
    _table_case(
        "population-negative",
        _set(0, 0, "population", -5),
        "blocks.csv",
        "population",
        "negative",
        "B1",
    ),
    _table_case(
        "households-text", _set(0, 2, "households", "many"), "households", "not a number", "B3"
    ),
    _table_case("age-group-inf", _set(0, 0, "pop_60_plus", "inf"), "pop_60_plus", "infinite", "B1"),
    _table_case("age-group-negative", _set(0, 1, "pop_0_2", -1), "pop_0_2", "negative", "B2"),
    _table_case(
        "floor-area-zero",
        _set(1, 1, "floor_area_m2", 0),
        "sites.csv",
        "floor_area_m2",
        "positive",
        "S2",
    ),
    _table_case(
        "floor-area-inf", _set(1, 0, "floor_area_m2", "inf"), "floor_area_m2", "infinite", "S1"
    ),
    _table_case("fixed-cost-inf", _set(1, 0, "fixed_cost", "inf"), "fixed_cost", "infinite", "S1"),
    _table_case(
        "fixed-cost-negative", _set(1, 1, "fixed_cost", -3), "fixed_cost", "negative", "S2"
    ),
    _table_case(
        "cost-per-m2-negative",
        lambda t: t[1].insert(0, "cost_per_m2", [-1.0, 5.0]),
        "cost_per_m2",
        "negative",
        "S1",
    ),
    _table_case(
        "cost-per-m2-inf",
        lambda t: t[1].insert(0, "cost_per_m2", [1.0, np.inf]),
        "cost_per_m2",
        "infinite",
        "S2",
    ),
    _table_case(
        "available-year-1e20",
        _set(1, 0, "available_year", "1e20"),
        "available_year",
        "1900-2200",
        "S1",
    ),
    _table_case(
        "available-year-1850",
        _set(1, 1, "available_year", 1850),
        "available_year",
        "1900-2200",
        "S2",
    ),
    _table_case(
        "available-year-fraction",
        _set(1, 1, "available_year", 2026.5),
        "available_year",
        "whole year",
        "S2",
    ),
    _table_case(
        "capacity-inf", _set(2, 0, "capacity", "inf"), "existing.csv", "capacity", "infinite", "E1"
    ),
    _table_case(
        "capacity-negative",
        _set(2, 0, "capacity", -10),
        "existing.csv",
        "capacity",
        "negative",
        "E1",
    ),
    _table_case(
        "duplicate-block-ids", _set(0, 2, "block_id", "B1"), "block_id", "duplicate ids", "B1"
    ),
    _table_case(
        "duplicate-ids-keep-leading-zeros",
        _block_ids("007", "007", "7"),
        "block_id",
        "duplicate ids (1: 007)",
    ),
    _table_case("missing-site-id", _set(1, 1, "site_id", None), "site_id", "missing id", "row 2"),
    _table_case(
        "degrees-in-projected-csv",
        _degrees,
        "blocks.csv",
        "sites.csv",
        "x, y",
        "look like degrees",
        "EPSG:4548",
    ),
    _table_case("lon-lat-swapped", _swapped_lon_lat, "blocks.csv", "lon, lat", "swapped", "row 1"),
    _table_case(
        "every-problem-at-once",
        lambda t: (
            _set(0, 0, "population", "inf")(t),
            _set(1, 1, "fixed_cost", -1)(t),
            _set(2, 0, "capacity", "nan!")(t),
        ),
        "3 problems",
        "population",
        "B1",
        "fixed_cost",
        "S2",
        "capacity",
        "E1",
    ),
    # ------------------------------------------------------------ every scenario key
    _scenario_case(
        "walk-limit-inf",
        lambda d: d["catalog"]["elder_care"].update(walk_limit_m=float("inf")),
        "scenario.yaml",
        "catalog.elder_care.walk_limit_m",
        "finite",
        "inf",
    ),
    _scenario_case(
        "walk-limit-zero",
        lambda d: d["catalog"]["elder_care"].update(walk_limit_m=0),
        "catalog.elder_care.walk_limit_m",
    ),
    _scenario_case(
        "budget-nan",
        _model(objective="max_coverage", budgets=float("nan")),
        "model.budgets",
        "finite",
        "nan",
    ),
    _scenario_case(
        "year-budget-inf",
        _model(objective="max_coverage", budgets={2026: float("inf")}),
        "model.budgets.2026",
        "finite",
    ),
    _scenario_case(
        "budget-quoted",
        _model(objective="max_coverage", budgets="100000"),
        "model.budgets",
        "not the text '100000'",
    ),
    _scenario_case(
        "budget-negative",
        _model(objective="max_coverage", budgets={2026: -5}),
        "model.budgets.2026",
    ),
    _scenario_case(
        "priority-inf",
        _model(priorities={"elder_care": float("inf")}),
        "model.priorities.elder_care",
        "finite",
    ),
    _scenario_case(
        "coverage-target-above-one",
        _model(coverage_targets={2026: 1.5}),
        "model.coverage_targets.2026",
    ),
    _scenario_case("time-limit-negative", _solver(time_limit_s=-1), "solver.time_limit_s"),
    _scenario_case(
        "time-limit-inf", _solver(time_limit_s=float("inf")), "solver.time_limit_s", "finite"
    ),
    _scenario_case("mip-gap-one", _solver(mip_gap=1), "solver.mip_gap"),
    _scenario_case("mip-gap-negative", _solver(mip_gap=-0.1), "solver.mip_gap"),
    _scenario_case(
        "detour-factor-nan",
        lambda d: d["distances"].update(detour_factor=float("nan")),
        "distances.detour_factor",
        "finite",
    ),
    _scenario_case(
        "crs-unknown", lambda d: d.update(crs="EPSG:999999"), "key 'crs'", "EPSG:999999"
    ),
    _scenario_case("crs-geographic", lambda d: d.update(crs="EPSG:4326"), "key 'crs'", "projected"),
    _scenario_case(
        "input-crs-unknown",
        lambda d: d["inputs"].update(blocks={"path": "blocks.csv", "crs": "EPSG:0"}),
        "inputs.blocks.crs",
        "EPSG:0",
    ),
    _yaml_case(
        "budget-1e8-is-a-number",
        "catalog:",
        "model: {objective: max_coverage, budgets: 1e8}\ncatalog:",
        0,
        "ok",
    ),
    _yaml_case(
        "budget-2.5e7-is-a-number",
        "catalog:",
        "model: {objective: max_coverage, budgets: {2026: 2.5E+7}}\ncatalog:",
        0,
        "ok",
    ),
    Case("scenario-missing", lambda f: None, 2, ("nowhere.yaml", "not found")),
    # ------------------------------------------------------------ encodings
    Case("gbk-scenario", _encode("scenario.yaml", "gbk"), 0, ("ok", "3 blocks")),
    Case("gb18030-csv", _encode("blocks.csv", "gb18030"), 0, ("ok", "3 blocks")),
    Case("utf8-bom-scenario", _encode("scenario.yaml", "utf-8", codecs.BOM_UTF8), 0, ("ok",)),
    Case("utf16-scenario", _encode("scenario.yaml", "utf-16"), 2, ("scenario.yaml", "UTF-16")),
    Case("latin1-csv", lambda f: _latin1_blocks(f), 2, ("blocks.csv", "not UTF-8")),
    # ------------------------------------------------------------ command-line options
    Case(
        "plan-time-limit-negative",
        lambda f: _city(f) and None,
        2,
        ("--time-limit", "-5", "greater than 0"),
        ("plan", "scenario.yaml", "--time-limit", "-5"),
    ),
    Case(
        "plan-time-limit-nan",
        lambda f: _city(f) and None,
        2,
        ("--time-limit", "finite"),
        ("plan", "scenario.yaml", "--time-limit", "nan"),
    ),
    Case(
        "distances-limit-inf",
        lambda f: _city(f) and None,
        2,
        ("--limit", "finite"),
        ("distances", "scenario.yaml", "--limit", "inf"),
    ),
    Case(
        "solve-gap-negative",
        lambda f: _solve_tables(f, ["1"], ["A"]),
        2,
        ("--gap", "[0, 1)"),
        (*SOLVE_ARGS, "--gap", "-1"),
    ),
    Case(
        "solve-gap-one",
        lambda f: _solve_tables(f, ["1"], ["A"]),
        2,
        ("--gap", "[0, 1)"),
        (*SOLVE_ARGS, "--gap", "1"),
    ),
    Case(
        "solve-p-zero",
        lambda f: _solve_tables(f, ["1"], ["A"]),
        2,
        ("--p", "1 or more"),
        (*SOLVE_ARGS, "--p", "0"),
    ),
    Case(
        "solve-time-limit-text",
        lambda f: _solve_tables(f, ["1"], ["A"]),
        2,
        ("--time-limit", "not a number"),
        (*SOLVE_ARGS, "--time-limit", "soon"),
    ),
    # ------------------------------------------------------------ the solve command's tables
    Case(
        "solve-duplicate-demand-ids",
        lambda f: _solve_tables(f, ["001", "002", "001"], ["A"]),
        2,
        ("d.csv", "demand_id", "duplicate ids", "001"),
        SOLVE_ARGS,
    ),
    Case(
        "solve-duplicate-site-ids",
        lambda f: _solve_tables(f, ["1"], ["A", "A"]),
        2,
        ("s.csv", "site_id", "duplicate ids", "A"),
        SOLVE_ARGS,
    ),
    # ------------------------------------------------------------ the run catalogue
    Case(
        "runs-corrupt-catalogue",
        lambda f: _corrupt_catalogue(f),
        2,
        ("runs.sqlite", "cannot be read"),
        ("runs", "--reports", REPORTS),
    ),
    Case("runs-show-unknown", lambda f: None, 2, ("no run",), ("runs", "show", "nope")),
]


def _latin1_blocks(folder: Path) -> None:
    blocks, sites, existing = _tables()
    blocks["name"] = ["Müller-Straße Ünïcödé", "Café", "Élan"]
    write_scenario(folder, blocks, sites, existing)
    path = folder / "blocks.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))


def _corrupt_catalogue(folder: Path) -> None:
    (folder / REPORTS).mkdir(parents=True, exist_ok=True)
    (folder / REPORTS / "runs.sqlite").write_bytes(b"this is not a database\n" * 10)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.slow
def test_misuse_ends_in_a_message_and_an_exit_code(case: Case, tmp_path: Path) -> None:
    case.spoil(tmp_path)
    before = _snapshot(tmp_path)
    command = tuple(
        "nowhere.yaml" if w == "scenario.yaml" and case.name == "scenario-missing" else w
        for w in case.command
    )
    proc = _siting(*command, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == case.code, output
    assert "Traceback" not in output
    text = _flat(output)
    for word in case.words:
        assert word in text, f"{word!r} not in: {text}"
    assert _snapshot(tmp_path) == before, "a file outside the run's output folder changed"


def test_there_are_enough_misuse_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


# --------------------------------------------------------------------------- ids are text


@pytest.mark.slow
def test_leading_zero_ids_stay_as_written_in_every_output(tmp_path: Path) -> None:
    blocks, sites, existing = _tables()
    blocks["block_id"] = ["001", "002", "010"]
    sites["site_id"] = ["007", "0100"]
    existing["facility_id"] = ["0003"]
    write_scenario(tmp_path, blocks, sites, existing)
    before = _snapshot(tmp_path)
    proc = _siting("plan", "scenario.yaml", "--out", f"{REPORTS}/run", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / REPORTS / "run"
    plan = pd.read_csv(out / "construction_list.csv", dtype=str)
    coverage = pd.read_csv(out / "coverage.csv", dtype=str)
    assert set(plan["site_id"]) <= {"007", "0100"} and len(plan)
    assert set(coverage["block_id"]) == {"001", "002", "010"}
    assert _snapshot(tmp_path) == before


@pytest.mark.slow
def test_solve_keeps_leading_zero_ids(tmp_path: Path) -> None:
    _solve_tables(tmp_path, ["001", "002"], ["007"])
    proc = _siting(*SOLVE_ARGS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    selected = pd.read_csv(tmp_path / REPORTS / "solve" / "selected.csv", dtype=str)
    assert selected["site_id"].tolist() == ["007"]
    summary = json.loads((tmp_path / REPORTS / "solve" / "summary.json").read_text("utf-8"))
    assert summary["selected"] == ["007"]


@pytest.mark.slow
def test_solve_reads_gbk_tables(tmp_path: Path) -> None:
    # (a name as short as 站一 in GBK happens to be valid UTF-8 too: real files are longer)
    _solve_tables(tmp_path, ["甲区", "乙区"], ["一号站点"])
    for name in ("d.csv", "s.csv", "od.csv"):
        path = tmp_path / name
        path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    proc = _siting(*SOLVE_ARGS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / REPORTS / "solve" / "summary.json").read_text("utf-8"))
    assert summary["selected"] == ["一号站点"]


# --------------------------------------------------------------------------- faults


@pytest.mark.slow
def test_plan_survives_a_corrupt_run_catalogue_with_a_warning(tmp_path: Path) -> None:
    _city(tmp_path)
    _corrupt_catalogue(tmp_path)
    proc = _siting("plan", "scenario.yaml", "--out", f"{REPORTS}/run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "not recorded in the run catalogue" in _flat(proc.stderr)
    assert (tmp_path / REPORTS / "run" / "summary.json").is_file()


@pytest.mark.slow
def test_out_naming_an_existing_file_is_refused(tmp_path: Path) -> None:
    _city(tmp_path)
    (tmp_path / REPORTS).mkdir()
    (tmp_path / REPORTS / "taken").write_text("mine", encoding="utf-8")
    before = _snapshot(tmp_path)
    proc = _siting("plan", "scenario.yaml", "--out", f"{REPORTS}/taken", cwd=tmp_path)
    assert proc.returncode == ExitCode.CANNOT_WRITE, proc.stderr
    assert "Traceback" not in proc.stderr and "taken" in proc.stderr
    assert (tmp_path / REPORTS / "taken").read_text(encoding="utf-8") == "mine"
    assert _snapshot(tmp_path) == before


@pytest.mark.slow
def test_out_with_a_name_too_long_is_a_clear_error(tmp_path: Path) -> None:
    _city(tmp_path)
    before = _snapshot(tmp_path)
    proc = _siting("plan", "scenario.yaml", "--out", f"{REPORTS}/{'x' * 300}", cwd=tmp_path)
    assert proc.returncode == ExitCode.CANNOT_WRITE, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "too long" in _flat(proc.stderr)
    assert _snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.slow
def test_out_in_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    _city(tmp_path)
    locked = tmp_path / REPORTS
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = _siting("plan", "scenario.yaml", "--out", f"{REPORTS}/run", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == ExitCode.CANNOT_WRITE, proc.stderr
    assert "Traceback" not in proc.stderr and "permission" in _flat(proc.stderr)


@pytest.mark.slow
def test_ctrl_c_is_a_message_and_exit_130(tmp_path: Path) -> None:
    _city(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "optimizer.cli", "plan", "scenario.yaml", "--out", "reports/r"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    # wait until the run is under way (its first log line), then press Ctrl-C
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not proc.stderr.readline().strip():
        pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err and "interrupted" in err


def _fail_with(exc: BaseException) -> Callable[[Any], int]:
    def command(args: Any) -> int:
        raise exc

    return command


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "out/plan.xlsx"), 5, "disk is full"),
        (OSError(errno.EROFS, "Read-only file system", "out"), 5, "read-only"),
        (OSError(errno.ENAMETOOLONG, "File name too long", "o" * 300), 5, "too long"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (RuntimeError("boom"), 1, "internal error: RuntimeError: boom; rerun with -v"),
    ],
    ids=["disk-full", "read-only", "name-too-long", "interrupt", "bug"],
)
def test_every_failure_is_a_message_and_its_exit_code(
    exc: BaseException,
    code: int,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli_app, "_cmd_validate", _fail_with(exc))
    assert cli.main(["validate", "any.yaml"]) == code
    err = _flat(capsys.readouterr().err)
    assert words in err and "Traceback" not in err


def test_verbose_adds_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_app, "_cmd_validate", _fail_with(RuntimeError("boom")))
    assert cli.main(["validate", "any.yaml", "-v"]) == ExitCode.INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_the_exit_code_table_covers_every_code() -> None:
    assert set(EXIT_CODES) == set(ExitCode)
    assert describe_os_error(OSError(errno.ENOSPC, "No space left", "f")).startswith("f: ")


# --------------------------------------------------------------------------- verification


def _verify_city(folder: Path, case: str) -> Path:
    """A city where one type has an existing facility in reach but no candidate pair."""
    blocks = blocks_frame([0, 100, 200])
    existing = existing_frame([0], ["convenience"])
    if case == "no-site-large-enough":  # elder care fits; a store does not fit the small one
        sites = sites_frame([0, 100], floor=[400, 50], fixed=[1, 1])
        sites["allowed_types"] = ["elder_care", "convenience"]
    elif case == "only-unplanned-types":  # every site allows only a type the plan lacks
        sites = sites_frame([0, 100], floor=[400, 400], fixed=[1, 1])
        sites["allowed_types"] = ["nursery", "nursery"]
    else:  # the sites lie in another city, 90 km away
        sites = sites_frame([0, 100], floor=[400, 400], fixed=[1, 1], ys=[90_000, 90_000])
    return write_scenario(folder, blocks, sites, existing)


@pytest.mark.parametrize(
    "case", ["no-site-large-enough", "only-unplanned-types", "sites-elsewhere"]
)
@pytest.mark.slow
def test_verification_gives_a_verdict_not_a_crash(case: str, tmp_path: Path) -> None:
    _verify_city(tmp_path, case)
    before = _snapshot(tmp_path)
    proc = _siting("plan", "scenario.yaml", "--out", f"{REPORTS}/run", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads((tmp_path / REPORTS / "run" / "summary.json").read_text("utf-8"))
    assert summary["verify"]["passed"] is True, summary["verify"]
    assert any("convenience" in c for c in summary["verify"]["checks"])
    assert _snapshot(tmp_path) == before


def test_a_crashing_check_is_a_failed_check_naming_it(tmp_path: Path) -> None:
    with capture_log():
        run = run_plan(_verify_city(tmp_path, "no-site-large-enough"), write=False)
    assert run.solution is not None
    data = planning_data(run.instance, run.scenario.model)
    broken = replace(run.solution, area={k: v[:1] for k, v in run.solution.area.items()})
    report = verify_plan(run.instance, data, broken, raise_on_failure=False)
    assert not report.passed
    crashed = [f for f in report.failures if f.startswith("the check '")]
    assert crashed and all("could not run (IndexError" in f for f in crashed), report.failures


# --------------------------------------------------------------------------- maps


def test_maps_with_non_finite_coordinates_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with capture_log():
        run = run_plan(_city(tmp_path), write=False)
    outputs = RunOutputs.from_plan(
        run.scenario, run.inputs, run.plan, run.summary, engine=run.engine
    )
    layers = map_layers(outputs)
    blocks = layers.blocks.copy()
    blocks["geometry"] = shapely.points(np.full(len(blocks), np.nan), np.full(len(blocks), Y0))
    with caplog.at_level("WARNING"):
        figures = maps.render_all(outputs, replace(layers, blocks=blocks), "en")
    assert "cost_coverage" in figures.images
    assert "sites" not in figures.images and "uncovered" not in figures.images
    assert "maps skipped" in caplog.text
