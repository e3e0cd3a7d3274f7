"""`siting bench --configs`: solver configurations side by side, the table and the plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.backends import SolveOptions
from optimizer.bench import instances as benchdata
from optimizer.bench.configs import BenchConfig, load_configs
from optimizer.bench.plots import best_per_suite, png_is_blank, profile_ratios
from optimizer.bench.suites import (
    SIZES,
    PlanCase,
    generated_data,
    merged_rows,
    run_configs,
    select_instances,
    solve_model,
)
from optimizer.cli import main
from optimizer.errors import InputError
from optimizer.pipeline import planning_data, prepare, run_plan
from optimizer.scenario import load_scenario
from tests.town import write_town

HAVE_PMED = (benchdata.benchmarks_dir() / "orlib-pmed").is_dir()
PMED_OPTIMA = {"pmed1": 5819.0, "pmed2": 4093.0, "pmed3": 4250.0}
TWO = """\
- name: highs
  backend: highs
  time_limit_s: 20
- name: exact
  variant: exact
  time_limit_s: 20
"""


def _write(tmp_path: Path, text: str, name: str = "configs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.skipif(not HAVE_PMED, reason="shared benchmark instances not present")
@pytest.mark.orlib
def test_bench_configs_writes_table_and_plots(tmp_path: Path) -> None:
    configs = _write(tmp_path, TWO)
    out = tmp_path / "out"
    argv = ["bench", "-q", "--suite", "pmed", "--instances", "pmed[1-3]"]
    assert main([*argv, "--configs", str(configs), "--out", str(out)]) == 0

    df = pd.read_csv(out / "results.csv", encoding="utf-8-sig")
    assert df["instance"].tolist() == ["pmed1", "pmed1", "pmed2", "pmed2", "pmed3", "pmed3"]
    assert df["configuration"].tolist() == ["highs", "exact"] * 3
    assert df["model"].tolist() == ["pmedian-mip", "pmedian-exact"] * 3
    # 100-node instances: both configurations prove the published optimum well within 20 s
    assert (df["status"] == "OPTIMAL").all(), df["message"].tolist()
    assert (df["stop"] == "optimal").all()  # kept from the backend and the exact path
    expected = [PMED_OPTIMA[i] for i in df["instance"]]
    assert df["objective"].tolist() == pytest.approx(expected, abs=1e-6)
    assert df["bound"].tolist() == pytest.approx(expected, abs=1e-6)
    assert df["matches_known"].all() and (df["gap"] == 0).all()
    assert (df["time_s"] >= df["build_s"]).all() and (df["time_s"] < 20).all()
    assert (df["peak_rss_mb"] > 0).all()
    assert (df["cores_per_task"] >= 1).all() and (df["executor"] == "sequential").all()
    assert df["command"].iloc[0].startswith("siting bench --suite pmed --instances 'pmed[1-3]'")
    assert "highspy=" in df["versions"].iloc[0] and df["cores"].iloc[0] >= 1

    best = pd.read_csv(out / "best.csv", encoding="utf-8-sig")
    assert best["suite"].tolist() == ["pmed"] and best["proven_optimal"].tolist() == [3]
    assert best["configuration"].iloc[0] in ("highs", "exact")

    trace = pd.read_csv(out / "trace.csv", encoding="utf-8-sig")
    assert set(trace["instance"]) == {"pmed1"}  # default: the first instance
    methods = dict(zip(trace["configuration"], trace["method"], strict=False))
    assert methods == {"highs": "highs-callback", "exact": "repeated-runs"}
    last = trace[trace["configuration"] == "highs"].iloc[-1]
    assert last["incumbent"] == pytest.approx(5819.0) and last["gap"] == pytest.approx(0.0)

    for png in ("performance_profile.png", "gap_over_time.png"):
        path = out / png
        assert path.stat().st_size > 5_000 and not png_is_blank(path)
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "Machine:" in text and "cores" in text and "Versions:" in text
    assert "## Best configuration per suite" in text and "| pmed |" in text
    assert "![performance_profile.png](performance_profile.png)" in text
    assert text.count("| pmed") >= 6 + 1


@pytest.mark.skipif(not HAVE_PMED, reason="shared benchmark instances not present")
@pytest.mark.orlib
def test_bench_configs_on_dask(tmp_path: Path) -> None:
    configs = load_configs(_write(tmp_path, TWO))
    df, trace = run_configs("pmed", ["pmed1"], configs, dask="local", trace_instance=None)
    assert df["configuration"].tolist() == ["highs", "exact"]
    assert (df["status"] == "OPTIMAL").all()
    assert df["objective"].tolist() == pytest.approx([5819.0, 5819.0])
    assert (df["cores_per_task"] == 1).all() and (df["threads"] == 1).all()
    assert df["executor"].str.startswith("dask local").all()
    assert trace.empty


@pytest.mark.slow
def test_generated_suite_configs_agree() -> None:
    names = select_instances("random", ["random-XS-*"])
    assert names == ["random-XS-lscp", "random-XS-mclp", "random-XS-pmedian"]
    cfgs = [
        BenchConfig("highs-nopresolve", presolve=False, heuristics=False, time_limit_s=20),
        BenchConfig("warm", variant="warm", time_limit_s=20),
        BenchConfig("exact", variant="exact", time_limit_s=20),
    ]
    df, trace = run_configs("random", names, cfgs, trace_instance="random-XS-mclp")
    got = df.set_index(["instance", "configuration"])
    assert got.loc[("random-XS-lscp", "exact"), "status"] == "N/A"
    assert got.loc[("random-XS-pmedian", "exact"), "model"] == "pmedian-exact"
    solved = df[df["status"] != "N/A"]
    assert (solved["status"] == "OPTIMAL").all(), solved["message"].tolist()
    # every configuration that proves optimality finds the same objective
    spread = solved.groupby("instance")["objective"].agg(lambda s: s.max() - s.min())
    assert (spread.abs() < 1e-6).all()
    assert df["size"].unique().tolist() == ["XS"]
    assert (df["instance_seed"] == 0).all()
    # no exact variant of MCLP: no run, no trace
    assert trace.groupby("configuration")["method"].first().to_dict() == {
        "highs-nopresolve": "highs-callback",
        "warm": "repeated-runs",
    }


def test_generated_sizes_and_p() -> None:
    assert SIZES["random"]["S"] == (1_000, 200) and SIZES["random"]["M"] == (5_000, 1_000)
    assert SIZES["city"]["XL"] == (100_000, 20_000)
    loaded = generated_data("random", "XS", "mclp")
    assert (loaded.n_demand, loaded.n_sites, loaded.p) == (300, 60, 15.0)
    city = generated_data("city", "XS", "pmedian")
    assert city.p == 40.0 and city.data.unserved_penalty == 600.0
    with pytest.raises(InputError, match="no city instance matches 'city-Q-\\*'"):
        select_instances("city", ["city-Q-*"])


def test_config_errors_name_file_configuration_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
- name: a
  backend: nosuch
  gap: 1.5
- name: a
  backend: cbc
  presolve: false
  threads: 0
- name: b
  variant: fastest
  timelimit: 3
  models: {pmedian: lscp-warm}
- backend: highs
""",
    )
    with pytest.raises(InputError) as info:
        load_configs(path)
    text = str(info.value)
    assert str(path) in text
    for part in (
        "key 'backend': configuration 'a': unknown backend 'nosuch'",
        "key 'gap': configuration 'a': 1.5 is not in [0, 1)",
        "key 'name': configuration 'a': used twice",
        "key 'presolve': configuration 'a': supported by backend highs only, not cbc",
        "key 'threads': configuration 'a': expected a positive integer, got 0",
        "key 'variant': configuration 'b': 'fastest' is not one of",
        "key 'timelimit': configuration 'b': unknown key",
        "key 'models': configuration 'b': 'lscp-warm' is not a pmedian model",
        "key 'name': configuration 4: required",
    ):
        assert part in text, part
    assert len(info.value.problems) == 9


def test_config_file_not_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "name: lonely\n")
    code = main(
        ["bench", "--suite", "random", "--configs", str(path), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "expected a non-empty list of configurations" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_shipped_config_files_are_valid() -> None:
    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "configs"
    files = sorted(folder.glob("*.yaml"))
    assert files
    for path in files:
        assert load_configs(path)


def test_performance_ratios_and_best() -> None:
    df = pd.DataFrame(
        {
            "suite": ["s"] * 6,
            "instance": ["i1", "i1", "i2", "i2", "i3", "i3"],
            "configuration": ["a", "b"] * 3,
            "status": ["OPTIMAL", "OPTIMAL", "OPTIMAL", "FEASIBLE", "FEASIBLE", "FEASIBLE"],
            "time_s": [2.0, 1.0, 3.0, 10.0, 10.0, 10.0],
            "time_limit_s": [10.0] * 6,
            "gap": [0.0, 0.0, 0.0, 0.5, 0.2, 0.1],
        }
    )
    r = profile_ratios(df)
    assert r.loc["i1", "a"] == 2.0 and r.loc["i1", "b"] == 1.0
    assert r.loc["i2", "a"] == 1.0 and math.isinf(r.loc["i2", "b"])
    assert np.isinf(r.loc["i3"]).all()
    best = best_per_suite(df)
    assert best["configuration"].tolist() == ["a"] and best["proven_optimal"].tolist() == [2]
    assert best["runner_up"].tolist() == ["b"] and best["max_gap"].tolist() == [0.2]


def test_the_plan_suite_solves_the_planning_model_as_siting_plan_does(tmp_path: Path) -> None:
    # the ``plan`` suite lists the sample-city scenarios; its solve is the pipeline's solve,
    # checked by verify_plan, with the same objective as ``siting plan``
    assert select_instances("plan", None) == ["sample-city", "sample-city-phased"]
    path = write_town(tmp_path)
    scenario = load_scenario(path)
    instance = prepare(scenario).instance
    case = PlanCase(instance, planning_data(instance, scenario.model), scenario.model)
    answer = solve_model("plan", case, "highs", SolveOptions(time_limit_s=30, mip_gap=0.0))
    assert answer.status.value == "OPTIMAL" and answer.gap == 0.0
    assert answer.objective == pytest.approx(run_plan(path, write=False).result.objective)


def test_a_rerun_replaces_its_rows_and_keeps_the_others(tmp_path: Path) -> None:
    """``--only`` re-runs of the benchmark scripts: the rows of the same key are replaced,
    the others kept; no file yet: the new rows alone."""
    csv = tmp_path / "runs.csv"
    new = pd.DataFrame({"model": ["a", "b"], "limit": [5.0, 5.0], "wall": [9.0, 8.0]})
    assert merged_rows(csv, new, ["model", "limit"]).equals(new)
    old = pd.DataFrame({"model": ["a", "a", "c"], "limit": [5.0, 20.0, 5.0], "wall": [1, 2, 3]})
    old.to_csv(csv, index=False, encoding="utf-8-sig")
    got = merged_rows(csv, new, ["model", "limit"])
    assert sorted(zip(got["model"], got["limit"], got["wall"], strict=True)) == [
        ("a", 5.0, 9.0),
        ("a", 20.0, 2.0),
        ("b", 5.0, 8.0),
        ("c", 5.0, 3.0),
    ]
