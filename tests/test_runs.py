"""The run catalogue: every published run is recorded; `siting runs` lists and shows them;
recording never breaks or blocks a run."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from optimizer import runs
from optimizer.cli import main
from optimizer.pipeline import run_plan


def _summary(created: str, scenario: str = "city", **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "status": "OPTIMAL",
        "gap": 0.0,
        "objective": 1110000.0,
        "solver": "highs",
        "distance_mode": "euclidean",
        "version": "0.1.0",
        "created": created,
        "inputs": {"blocks.csv": "ab" * 32},
        "totals": {
            "cost": 1110000.0,
            "sites_opened": 3,
            "facilities_built": 4,
            "coverage_pct_before": 12.5,
            "coverage_pct_after": 100.0,
            "per_type": {
                "elder_care": {
                    "target_total": 800.0,
                    "covered_before": 0.0,
                    "covered_after": 800.0,
                    "covered_before_pct": 0.0,
                    "covered_after_pct": 100.0,
                }
            },
        },
    } | extra


def test_record_list_and_show(tmp_path: Path) -> None:
    first = runs.record_run(_summary("2026-01-02T03:04:05+00:00"), tmp_path / "a")
    second = runs.record_run(
        _summary("2026-01-03T03:04:05+00:00", scenario="other", status="FEASIBLE", gap=0.02),
        tmp_path / "b",
        parameters={"solver": "highs", "time_limit_s": 5},
    )
    assert first is not None and first.startswith("20260102-030405-city-")
    assert second is not None and second != first
    catalogue = tmp_path / "runs.sqlite"
    listed = runs.list_runs(catalogue)
    assert [r["run_id"] for r in listed] == [second, first]  # newest first
    assert listed[0]["status"] == "FEASIBLE" and listed[0]["gap"] == pytest.approx(0.02)
    assert listed[1]["cost"] == 1110000.0 and listed[1]["coverage_after"] == 100.0
    assert listed[1]["out_dir"] == str((tmp_path / "a").resolve())
    assert listed[1]["inputs"] == {"blocks.csv": "ab" * 32}
    assert listed[0]["parameters"] == {"solver": "highs", "time_limit_s": 5}
    assert listed[1]["coverage"]["elder_care"]["covered_after_pct"] == 100.0
    assert [r["run_id"] for r in runs.list_runs(catalogue, scenario="city")] == [first]
    assert [r["run_id"] for r in runs.get_run(catalogue, first[:20])] == [first]
    assert len(runs.get_run(catalogue, "2026")) == 2


def test_the_same_summary_gives_the_same_id() -> None:
    summary = _summary("2026-01-02T03:04:05+00:00")
    assert runs.run_id(summary) == runs.run_id(json.loads(json.dumps(summary)))
    assert runs.run_id(summary) != runs.run_id(_summary("2026-01-02T03:04:05+00:00", gap=0.1))


def test_recording_waits_for_a_lock_and_then_succeeds(tmp_path: Path) -> None:
    runs.record_run(_summary("2026-01-01T00:00:00+00:00"), tmp_path / "a")
    holder = sqlite3.connect(
        tmp_path / "runs.sqlite", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.6, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        started = time.perf_counter()
        got = runs.record_run(_summary("2026-01-02T00:00:00+00:00"), tmp_path / "b")
        assert got is not None and time.perf_counter() - started >= 0.5
    finally:
        release.join()
        holder.close()
    assert len(runs.list_runs(tmp_path / "runs.sqlite")) == 2


def test_a_locked_or_broken_catalogue_never_breaks_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runs, "LOCK_RETRIES", 2)
    monkeypatch.setattr(runs, "LOCK_WAIT_S", 0.02)
    runs.record_run(_summary("2026-01-01T00:00:00+00:00"), tmp_path / "a")
    holder = sqlite3.connect(tmp_path / "runs.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.WARNING, logger="optimizer.runs"):
            assert runs.record_run(_summary("2026-01-02T00:00:00+00:00"), tmp_path / "b") is None
        assert "not recorded" in caplog.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(runs.list_runs(tmp_path / "runs.sqlite")) == 1  # the earlier row is intact

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "runs.sqlite").write_bytes(b"this is not a database" * 100)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="optimizer.runs"):
        assert runs.record_run(_summary("2026-01-03T00:00:00+00:00"), broken / "out") is None
    assert "not recorded" in caplog.text
    assert (broken / "runs.sqlite").read_bytes() == b"this is not a database" * 100


def test_a_planning_run_is_recorded_beside_its_folder(line_city: Path, tmp_path: Path) -> None:
    run = run_plan(line_city, out_dir=tmp_path / "reports" / "line", lang="en")
    listed = runs.list_runs(tmp_path / "reports" / "runs.sqlite")
    assert len(listed) == 1
    record = listed[0]
    assert record["run_id"] == runs.run_id(run.summary)
    assert record["scenario"] == "test" and record["status"] == "OPTIMAL"
    assert record["cost"] == pytest.approx(run.summary["totals"]["cost"])
    assert record["out_dir"] == str((tmp_path / "reports" / "line").resolve())
    assert record["scenario_path"] == str(line_city.resolve())
    assert record["parameters"]["lang"] == "en"
    assert record["parameters"]["scenario"]["name"] == "test"
    assert record["inputs"] == run.summary["inputs"]
    # the report names the same run id
    html = (tmp_path / "reports" / "line" / "report.html").read_text(encoding="utf-8")
    assert record["run_id"] in html


def test_siting_runs_lists_and_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = runs.record_run(_summary("2026-01-02T03:04:05+00:00"), tmp_path / "a")
    b = runs.record_run(_summary("2026-02-02T03:04:05+00:00", scenario="town"), tmp_path / "b")
    assert a and b
    assert main(["runs", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert a in out and b in out and out.index(b) < out.index(a)
    assert "OPTIMAL" in out and "1,110,000" in out and "12.5% -> 100.0%" in out
    assert main(["runs", "show", a[:22], "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert a in out and "blocks.csv" in out and "elder_care" in out
    assert main(["runs", "--reports", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == [b, a]
    assert main(["runs", "show", "nope", "--reports", str(tmp_path)]) == 2
    assert main(["runs", "--reports", str(tmp_path / "empty")]) == 0
    assert "no runs recorded" in capsys.readouterr().out
