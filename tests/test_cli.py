"""The command line: a bad scenario exits non-zero with one paragraph and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.cli import main
from tests.helpers import blocks_frame, sites_frame, write_scenario


def _siting(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optimizer.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_bad_scenario_file_exits_nonzero_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninputs: {blocks: nowhere.csv, sites: nothere.csv}\nbudgt: 3\n")
    proc = _siting("plan", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "'budgt' was unexpected" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_validate_lists_every_problem(tmp_path: Path) -> None:
    blocks = blocks_frame([0, 100])
    blocks.loc[0, "pop_3_5"] = 5000
    sites = sites_frame([0], floor=[0], fixed=[1])
    proc = _siting("validate", str(write_scenario(tmp_path, blocks, sites)))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "pop_3_5" in proc.stderr and "B1" in proc.stderr
    assert "floor_area_m2" in proc.stderr and "S1" in proc.stderr


def test_missing_scenario_file() -> None:
    assert main(["validate", "no/such/scenario.yaml"]) == 2


@pytest.mark.slow
def test_plan_prints_a_summary(line_city: Path, tmp_path: Path) -> None:
    proc = _siting("plan", str(line_city), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "elder_care" in proc.stdout and "OPTIMAL" in proc.stdout
    assert (tmp_path / "o" / "construction_list.csv").exists()
