"""`siting bench` on a tiny selection of the shared benchmark instances."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from optimizer.bench import instances as benchdata
from optimizer.bench.suites import run_suite, select_instances
from optimizer.cli import main
from optimizer.errors import InputError

pytestmark = [
    pytest.mark.orlib,
    pytest.mark.skipif(
        not (benchdata.benchmarks_dir() / "orlib-pmed").is_dir(),
        reason="shared benchmark instances not present",
    ),
]


@pytest.mark.parametrize(
    ("suite", "instance", "optimum"), [("pmed", "pmed1", 5819.0), ("scp", "scp41", 429.0)]
)
def test_bench_reproduces_published_optima(
    tmp_path: Path, suite: str, instance: str, optimum: float
) -> None:
    out = tmp_path / suite
    argv = ["bench", "-q", "--suite", suite, "--instances", instance]
    argv += ["--backends", "highs", "scip", "--time-limit", "30", "--out", str(out)]
    assert main(argv) == 0
    df = pd.read_csv(out / "results.csv", encoding="utf-8-sig")
    assert list(df["backend"]) == ["highs", "scip"]
    assert (df["instance"] == instance).all()
    assert (df["status"] == "OPTIMAL").all(), df["message"].tolist()
    assert df["objective"].tolist() == pytest.approx([optimum, optimum], abs=1e-6)
    assert df["known_optimum"].tolist() == [optimum, optimum]
    assert df["matches_known"].all()
    assert df["gap"].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    assert df["stop"].tolist() == ["optimal", "optimal"]  # the backends' stop reasons
    assert (df["peak_rss_mb"] > 0).all() and (df["cores"] >= 1).all()
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "| instance |" in text and instance in text
    assert "Machine:" in text and "highspy" in text
    assert f"siting bench --suite {suite} --instances {instance}" in text
    assert not list(out.parent.glob(".*staging*"))


def test_unknown_instance_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad"
    argv = ["bench", "--suite", "pmed", "--instances", "pmed1", "pmed99", "nope*"]
    code = main([*argv, "--backends", "highs", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "pmed99" in err and "nope*" in err
    assert not out.exists()


def test_select_instances_patterns() -> None:
    assert select_instances("pmed", ["pmed[1-3]", "pmed1"]) == ["pmed1", "pmed2", "pmed3"]
    assert select_instances("scp", ["scp4?"])[:2] == ["scp41", "scp42"]
    with pytest.raises(InputError, match="pmed0"):
        select_instances("pmed", ["pmed0"])


def test_a_failing_solve_becomes_an_error_row() -> None:
    df = run_suite("scp", ["scp41"], ["no-such-solver", "highs"], time_limit_s=10)
    assert df["status"].tolist() == ["ERROR", "OPTIMAL"]
    assert "no-such-solver" in df["message"].iloc[0]
    assert not df["matches_known"].iloc[0] and df["matches_known"].iloc[1]
