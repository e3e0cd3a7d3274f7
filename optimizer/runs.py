"""The run catalogue: one SQLite file beside the run folders that lists every planning run.

Each published run adds one row: its id, time, scenario (name, path, file hash), input file
hashes, parameters (the scenario's settings), software version, solver status and gap, cost,
coverage before and after, and its output folder. ``siting runs`` lists them; ``siting runs
show ID`` prints one.

The catalogue lives in the folder that holds the run's output folder: ``reports/runs.sqlite``
for the default ``reports/<scenario>``. Recording is best effort and never breaks a run: it
runs in one transaction, retries while another process holds the lock, and on any failure
logs a warning and returns None; the run's own files are already published by then.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from optimizer.errors import CatalogueError, InputError, Problem
from optimizer.outputs import to_jsonable

log = logging.getLogger(__name__)

CATALOGUE_NAME = "runs.sqlite"
SCHEMA_VERSION = 1
COLUMNS = (
    "run_id",
    "created",
    "scenario",
    "scenario_path",
    "scenario_sha256",
    "status",
    "gap",
    "objective",
    "cost",
    "coverage_before",
    "coverage_after",
    "sites",
    "facilities",
    "solver",
    "model",
    "distance_mode",
    "version",
    "out_dir",
    "inputs",
    "parameters",
    "coverage",
    "summary",
)
JSON_COLUMNS = ("inputs", "parameters", "coverage", "summary")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    scenario TEXT NOT NULL,
    scenario_path TEXT,
    scenario_sha256 TEXT,
    status TEXT,
    gap REAL,
    objective REAL,
    cost REAL,
    coverage_before REAL,
    coverage_after REAL,
    sites INTEGER,
    facilities INTEGER,
    solver TEXT,
    model TEXT,
    distance_mode TEXT,
    version TEXT,
    out_dir TEXT,
    inputs TEXT,
    parameters TEXT,
    coverage TEXT,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_scenario ON runs (scenario);
PRAGMA user_version = {SCHEMA_VERSION};
"""
LOCK_RETRIES = 5  # a locked catalogue delays a finished run by a few seconds at most
LOCK_WAIT_S = 0.2


def catalogue_path(out_dir: Path) -> Path:
    """Where the catalogue of a run written to ``out_dir`` lives: beside ``out_dir``."""
    return Path(out_dir).resolve().parent / CATALOGUE_NAME


def run_id(summary: dict[str, Any]) -> str:
    """A run's id: its creation time, scenario name and a short hash of its summary.

    The same summary always gives the same id, so the report written inside the run and the
    catalogue row written after it agree.
    """
    created = str(summary.get("created") or "")
    try:
        stamp = datetime.fromisoformat(created).strftime("%Y%m%d-%H%M%S")
    except ValueError:
        stamp = "00000000-000000"

    text = json.dumps(to_jsonable(summary), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(summary.get("scenario")))
    return f"{stamp}-{name}-{digest}"


def run_row(
    summary: dict[str, Any],
    out_dir: Path,
    scenario_path: Path | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The catalogue row of a run (JSON columns as text)."""

    totals = summary.get("totals") or {}
    per_type = totals.get("per_type") or {}
    coverage = {
        key: {
            k: row.get(k)
            for k in (
                "target_total",
                "covered_before",
                "covered_after",
                "covered_before_pct",
                "covered_after_pct",
            )
        }
        for key, row in per_type.items()
    }
    scenario_sha = None
    if scenario_path is not None and Path(scenario_path).is_file():
        scenario_sha = hashlib.sha256(Path(scenario_path).read_bytes()).hexdigest()
    row = {
        "run_id": run_id(summary),
        "created": summary.get("created") or datetime.now().astimezone().isoformat("seconds"),
        "scenario": str(summary.get("scenario")),
        "scenario_path": str(Path(scenario_path).resolve()) if scenario_path else None,
        "scenario_sha256": scenario_sha,
        "status": summary.get("status"),
        "gap": _number(summary.get("gap")),
        "objective": _number(summary.get("objective")),
        "cost": _number(totals.get("cost")),
        "coverage_before": _number(totals.get("coverage_pct_before")),
        "coverage_after": _number(totals.get("coverage_pct_after")),
        "sites": totals.get("sites_opened"),
        "facilities": totals.get("facilities_built"),
        "solver": summary.get("solver"),
        "model": summary.get("objective_kind") or summary.get("model"),
        "distance_mode": summary.get("distance_mode"),
        "version": summary.get("version"),
        "out_dir": str(Path(out_dir).resolve()),
        "inputs": summary.get("inputs") or {},
        "parameters": parameters or {},
        "coverage": coverage,
        "summary": summary,
    }
    for col in JSON_COLUMNS:
        row[col] = json.dumps(to_jsonable(row[col]), ensure_ascii=False, sort_keys=True)
    return row


def run_parameters(
    scenario: Any, solver: str | None, time_limit_s: float | None, lang: str
) -> dict[str, Any]:
    """What a run was asked for: the scenario's settings and the command line's overrides."""
    return {
        "scenario": dict(getattr(scenario, "raw", {}) or {}),
        "solver": solver,
        "time_limit_s": time_limit_s,
        "lang": lang,
    }


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and abs(out) != float("inf") else None


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, timeout=LOCK_WAIT_S * 5, isolation_level=None)) as con:
        con.row_factory = sqlite3.Row
        yield con


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for reading the catalogue; a broken file is a :class:`CatalogueError`."""
    try:
        with _connect(path) as con:
            yield con
    except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
        raise CatalogueError(
            f"the run catalogue {path} cannot be read ({exc}): it is damaged or not a run "
            "catalogue; move it aside and the next run starts a new one"
        ) from exc


def record_run(
    summary: dict[str, Any],
    out_dir: Path,
    scenario_path: Path | None = None,
    parameters: dict[str, Any] | None = None,
    catalogue: Path | None = None,
) -> str | None:
    """Add a published run to the catalogue; return its id, or None when it could not.

    Never raises: a locked, read-only or broken catalogue gives a warning, not a failed run.
    """
    path = Path(catalogue) if catalogue is not None else catalogue_path(out_dir)
    try:
        row = run_row(summary, out_dir, scenario_path, parameters)
    except Exception as exc:  # a malformed summary must not break a finished run
        log.warning("the run was not recorded in the run catalogue: %s", exc)
        return None
    placeholders = ", ".join("?" for _ in COLUMNS)
    sql = f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    for attempt in range(LOCK_RETRIES):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _connect(path) as con:
                con.executescript(SCHEMA)
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.execute(sql, [row[c] for c in COLUMNS])
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            log.info("run %s recorded in %s", row["run_id"], path)
            return str(row["run_id"])
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                time.sleep(LOCK_WAIT_S * (attempt + 1))
                continue
            log.warning("the run was not recorded in the run catalogue %s: %s", path, exc)
            return None
        except (sqlite3.Error, OSError) as exc:
            log.warning("the run was not recorded in the run catalogue %s: %s", path, exc)
            return None
    log.warning(
        "the run was not recorded in the run catalogue %s: still locked after %d tries",
        path,
        LOCK_RETRIES,
    )
    return None


@dataclass(frozen=True)
class RunRecord:
    """One row of the catalogue, JSON columns decoded."""

    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def list_runs(
    catalogue: Path, scenario: str | None = None, limit: int | None = None
) -> list[RunRecord]:
    """The catalogue's runs, newest first (none when the file does not exist)."""
    if not Path(catalogue).is_file():
        return []
    sql = "SELECT * FROM runs"
    args: list[Any] = []
    if scenario:
        sql += " WHERE scenario = ?"
        args.append(scenario)
    sql += " ORDER BY created DESC, run_id DESC"
    if limit:
        sql += " LIMIT ?"
        args.append(int(limit))
    with _reading(Path(catalogue)) as con:
        return [_record(r) for r in con.execute(sql, args)]


def get_run(catalogue: Path, key: str) -> list[RunRecord]:
    """The runs whose id is ``key`` or starts with it (several when a prefix is ambiguous)."""
    if not Path(catalogue).is_file():
        return []
    with _reading(Path(catalogue)) as con:
        exact = con.execute("SELECT * FROM runs WHERE run_id = ?", [key]).fetchall()
        rows = (
            exact
            or con.execute(
                "SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY run_id",
                [key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"],
            ).fetchall()
        )
        return [_record(r) for r in rows]


def _record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for col in JSON_COLUMNS:
        if data.get(col) is not None:
            data[col] = json.loads(data[col])
    return RunRecord(data)


# --------------------------------------------------------------------------- siting runs


def add_runs_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``siting runs`` command (list the catalogue, or ``show ID``)."""
    r = sub.add_parser(
        "runs",
        parents=[common],
        help="list earlier planning runs (the run catalogue), or show one",
        description=(
            "List the planning runs recorded in the run catalogue (runs.sqlite in the reports "
            "folder: the folder that holds the runs' output folders), newest first; "
            "`siting runs show ID` prints one run (an id prefix is enough)."
        ),
    )
    r.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    r.add_argument("run_id", nargs="?", help="the run to show (id or unique prefix)")
    r.add_argument(
        "--reports",
        type=Path,
        default=Path("reports"),
        help="folder holding the catalogue (default: reports)",
    )
    r.add_argument("--scenario", help="only runs of this scenario")
    r.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    """``siting runs``: 0 when something was listed or shown, 2 for an unknown id."""
    console = Console(width=None if sys.stdout.isatty() else 140)
    catalogue = Path(args.reports) / CATALOGUE_NAME
    if args.action == "show":
        if not args.run_id:
            raise InputError(
                [Problem("siting runs show", None, "give a run id (see `siting runs`)")],
                what="command",
            )
        found = get_run(catalogue, args.run_id)
        if len(found) != 1:
            what = "no run" if not found else f"{len(found)} runs"
            ids = ", ".join(r["run_id"] for r in found[:5])
            message = f"{what} match {args.run_id!r}" + (f": {ids}" if ids else "")
            raise InputError([Problem(str(catalogue), None, message)], what="run catalogue")
        _show_run(console, found[0], args.json)
        return 0
    runs = list_runs(catalogue, scenario=args.scenario, limit=args.limit)
    if args.json:
        print(json.dumps([_brief(r) for r in runs], indent=2, ensure_ascii=False))
    elif not runs:
        console.print(f"no runs recorded in {catalogue}")
    else:
        console.print(runs_table(runs, catalogue))
    return 0


def _brief(run: RunRecord) -> dict[str, Any]:
    return {c: run[c] for c in COLUMNS if c not in ("summary", "parameters")}


def runs_table(runs: list[RunRecord], catalogue: Path) -> Table:
    """A rich table of runs (newest first)."""
    table = Table(title=f"Planning runs in {catalogue}", title_justify="left")
    for col, right in (
        ("run id", False),
        ("created", False),
        ("scenario", False),
        ("status", False),
        ("gap", True),
        ("cost (yuan)", True),
        ("coverage", True),
        ("sites", True),
        ("output folder", False),
    ):
        table.add_column(col, justify="right" if right else "left", no_wrap=col != "output folder")
    for r in runs:
        before, after = r["coverage_before"], r["coverage_after"]
        coverage = (
            f"{before:.1f}% -> {after:.1f}%" if before is not None and after is not None else ""
        )
        table.add_row(
            r["run_id"],
            str(r["created"]).replace("T", " ")[:19],
            r["scenario"],
            _status_text(r["status"]),
            f"{r['gap']:.2%}" if r["gap"] is not None else "",
            f"{r['cost']:,.0f}" if r["cost"] is not None else "",
            coverage,
            str(r["sites"] if r["sites"] is not None else ""),
            r["out_dir"] or "",
        )
    return table


def _status_text(status: str | None) -> str:
    colour = {"OPTIMAL": "green", "FEASIBLE": "yellow"}.get(status or "", "red")
    return f"[{colour}]{status}[/]"


def _show_run(console: Console, run: RunRecord, as_json: bool) -> None:
    if as_json:
        print(json.dumps(run.data, indent=2, ensure_ascii=False))
        return
    table = Table(show_header=False, title=f"Run {run['run_id']}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for col in COLUMNS:
        if col in ("summary", "coverage", "inputs", "parameters"):
            continue
        value = run[col]
        table.add_row(col, "" if value is None else str(value))
    for key, row in (run["coverage"] or {}).items():
        table.add_row(
            f"coverage: {key}",
            f"{row.get('covered_before_pct') or 0:.1f}% -> {row.get('covered_after_pct') or 0:.1f}%"
            f" of {row.get('target_total') or 0:,.0f}",
        )
    for path, digest in (run["inputs"] or {}).items():
        table.add_row("input", f"{path}  sha256 {digest}")
    table.add_row("parameters", json.dumps(run["parameters"], ensure_ascii=False))
    console.print(table)
