"""Classic location models (LSCP, MCLP, p-median, capacitated p-median, p-center, backup
coverage) against brute force on tiny instances, across backends, and through ``siting solve``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, StopReason, available_backends
from optimizer.classic.registry import (
    PMEDIAN_BENDERS_FROM_POINTS,
    default_method,
    from_tables,
    resolve_model,
    solve_classic,
)
from optimizer.classic.verify import verify_mclp, verify_pcenter, verify_pmedian
from optimizer.cli import main
from optimizer.errors import InputError, VerificationError
from optimizer.models import pcenter
from optimizer.models.common import Pairs
from optimizer.models.covering.backup import BackupData
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.mclp import MclpData
from optimizer.models.pcenter import PCenterData
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.model import PMedianData
from tests.oracles import (
    brute_force_backup,
    brute_force_lscp,
    brute_force_mclp,
    brute_force_pcenter,
    brute_force_pmedian,
)

SEEDS = range(8)
OPTS = SolveOptions(time_limit_s=30)


def _instance(seed: int, n: int = 7, m: int = 5) -> dict:
    """Integer Manhattan distances, integer weights and costs, and site rules by seed."""
    rng = np.random.default_rng(seed)
    dxy = rng.integers(0, 100, (n, 2))
    sxy = rng.integers(0, 100, (m, 2))
    dist = np.abs(dxy[:, None, :] - sxy[None, :, :]).sum(axis=2).astype(float)
    required = (int(rng.integers(m)),) if seed % 3 == 0 else ()
    forb = int(rng.integers(m))
    forbidden = (forb,) if seed % 2 == 0 and forb not in required else ()
    return {
        "dist": dist,
        "weight": rng.integers(1, 10, n).astype(float),
        "cost": rng.integers(1, 20, m).astype(float),
        "radius": float(np.median(dist)),
        "required": required,
        "forbidden": forbidden,
    }


def _assert_matches(res, expected: float) -> None:  # type: ignore[no-untyped-def]
    if math.isinf(expected):
        assert res.status is Status.INFEASIBLE, res.result.message
        return
    assert res.status is Status.OPTIMAL, res.result.message
    assert res.objective == pytest.approx(expected, abs=1e-6)
    assert res.bound == pytest.approx(expected, abs=1e-6)
    assert res.report.passed


# --------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_matches_brute_force(seed: int) -> None:
    inst = _instance(seed)
    cover = inst["dist"] <= inst["radius"] * 0.8
    data = LscpData.from_arrays(
        cover, inst["cost"], required=inst["required"], forbidden=inst["forbidden"]
    )
    res = solve_classic("lscp", data, options=OPTS, method="mip")
    expected = brute_force_lscp(cover, inst["cost"], inst["required"], inst["forbidden"])
    _assert_matches(res, expected)
    if res.status is Status.OPTIMAL:
        assert set(inst["required"]) <= set(res.selected.tolist())
        assert not set(inst["forbidden"]) & set(res.selected.tolist())


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_matches_brute_force(seed: int) -> None:
    inst = _instance(seed)
    cover = inst["dist"] <= inst["radius"] * 0.6
    rules = {"required": inst["required"], "forbidden": inst["forbidden"]}
    exact = MclpData.from_arrays(cover, inst["weight"], 2, **rules)
    _assert_matches(
        solve_classic("mclp", exact, options=OPTS, method="mip"),
        brute_force_mclp(cover, inst["weight"], 2, **rules),
    )
    budget = float(np.sort(inst["cost"])[:3].sum())
    both = MclpData.from_arrays(
        cover, inst["weight"], 3, cost=inst["cost"], budget=budget, p_exact=False, **rules
    )
    _assert_matches(
        solve_classic("mclp", both, options=OPTS, method="mip"),
        brute_force_mclp(cover, inst["weight"], 3, False, inst["cost"], budget, **rules),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_matches_brute_force(seed: int) -> None:
    inst = _instance(seed)
    rules = {"required": inst["required"], "forbidden": inst["forbidden"]}
    plain = PMedianData.from_arrays(inst["dist"], 2, inst["weight"], **rules)
    res = solve_classic("pmedian", plain, options=OPTS, method="mip")
    _assert_matches(res, brute_force_pmedian(inst["dist"], inst["weight"], 2, **rules))
    assert res.assignment is not None and np.all(np.isin(res.assignment, res.selected))

    cap = inst["radius"]
    penalty = cap * 1.5
    capped = PMedianData.from_arrays(
        inst["dist"], 2, inst["weight"], max_distance=cap, unserved_penalty=penalty, **rules
    )
    dist_capped = np.where(inst["dist"] <= cap, inst["dist"], np.inf)
    _assert_matches(
        solve_classic("pmedian", capped, options=OPTS, method="mip"),
        brute_force_pmedian(dist_capped, inst["weight"], 2, penalty=penalty, **rules),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_capacitated_pmedian_matches_brute_force(seed: int) -> None:
    inst = _instance(seed, n=6, m=4)
    rng = np.random.default_rng(100 + seed)
    demand = rng.integers(1, 10, 6).astype(float)
    capacity = np.full(4, math.ceil(demand.sum() / 2 * 0.8))
    rules = {"required": inst["required"], "forbidden": inst["forbidden"]}
    data = PMedianData.from_arrays(inst["dist"], 2, demand=demand, capacity=capacity, **rules)
    expected = brute_force_pmedian(
        inst["dist"], np.ones(6), 2, demand=demand, capacity=capacity, **rules
    )
    res = solve_classic("cpmedian", data, options=OPTS)
    _assert_matches(res, expected)
    # with a penalty nobody is forced into an overloaded site: always feasible
    soft = PMedianData.from_arrays(
        inst["dist"], 2, demand=demand, capacity=capacity, unserved_penalty=150.0, **rules
    )
    _assert_matches(
        solve_classic("cpmedian", soft, options=OPTS),
        brute_force_pmedian(
            inst["dist"], np.ones(6), 2, penalty=150.0, demand=demand, capacity=capacity, **rules
        ),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_pcenter_matches_brute_force(seed: int) -> None:
    inst = _instance(seed)
    rules = {"required": inst["required"], "forbidden": inst["forbidden"]}
    weight = inst["weight"] if seed % 2 else None
    data = PCenterData.from_arrays(inst["dist"], 2, weight, **rules)
    w = np.ones(7) if weight is None else weight
    expected = brute_force_pcenter(inst["dist"], w, 2, **rules)
    search = solve_classic("pcenter", data, options=OPTS)
    _assert_matches(search, expected)
    stop = StopReason.INFEASIBLE if math.isinf(expected) else StopReason.OPTIMAL
    assert search.result.stop is stop
    assert search.method == "exact" and search.result.extra["method"] == "exact"
    _assert_matches(solve_classic("pcenter-mip", data, options=OPTS), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_backup_matches_brute_force(seed: int) -> None:
    inst = _instance(seed)
    cover = inst["dist"] <= inst["radius"]
    rules = {"required": inst["required"], "forbidden": inst["forbidden"]}
    data = BackupData.from_arrays(cover, inst["weight"], 3, **rules)
    _assert_matches(
        solve_classic("backup", data, options=OPTS),
        brute_force_backup(cover, inst["weight"], 3, **rules),
    )


# --------------------------------------------------------------------------- backends


def _small_cases() -> dict[str, tuple[object, float]]:
    inst = _instance(3)
    dist, w, cost = inst["dist"], inst["weight"], inst["cost"]
    cover = dist <= inst["radius"]
    rng = np.random.default_rng(7)
    demand = rng.integers(1, 10, 6).astype(float)
    capacity = np.full(4, math.ceil(demand.sum() * 0.6))  # binding: the split matters
    small = dist[:6, :4]
    return {
        "lscp-mip": (LscpData.from_arrays(cover, cost), brute_force_lscp(cover, cost)),
        "mclp-mip": (MclpData.from_arrays(cover, w, 2), brute_force_mclp(cover, w, 2)),
        "pmedian-mip": (
            PMedianData.from_arrays(dist, 2, w, required=[1]),
            brute_force_pmedian(dist, w, 2, required=(1,)),
        ),
        "cpmedian-mip": (
            PMedianData.from_arrays(small, 2, demand=demand, capacity=capacity),
            brute_force_pmedian(small, np.ones(6), 2, demand=demand, capacity=capacity),
        ),
        "pcenter": (PCenterData.from_arrays(dist, 2, w), brute_force_pcenter(dist, w, 2)),
        "pcenter-mip": (PCenterData.from_arrays(dist, 2, w), brute_force_pcenter(dist, w, 2)),
        "backup": (BackupData.from_arrays(cover, w, 3), brute_force_backup(cover, w, 3)),
    }


CASES = _small_cases()


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("model", sorted(CASES))
def test_every_backend_finds_the_same_optimum(backend: str, model: str) -> None:
    data, expected = CASES[model]
    assert math.isfinite(expected)
    res = solve_classic(model, data, backend=backend, options=OPTS)
    assert res.result.solver == backend
    _assert_matches(res, expected)


# --------------------------------------------------------------------------- details


@pytest.mark.parametrize("method", ["mip", "heuristic", "warm"])
def test_lscp_methods_report_covers_and_counts(method: str) -> None:
    reach = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]]))
    data = LscpData.from_arrays(reach, [2.0, 3.0, 2.0])
    res = solve_classic("lscp", data, method=method)
    assert res.status is Status.OPTIMAL and res.objective == 4.0
    assert res.selected.tolist() == [0, 2]
    assert res.cover_count is not None and res.cover_count.tolist() == [1, 1, 2]
    assert res.method == method and res.result.extra["method"] == method


def test_the_strongest_method_runs_by_default_and_old_names_still_work() -> None:
    inst = _instance(3)
    data, expected = _small_cases()["lscp-mip"]
    assert isinstance(data, LscpData) and math.isfinite(expected)
    best = solve_classic("lscp", data, options=OPTS)
    assert (best.model, best.method) == ("lscp", "warm")
    assert best.result.solver == "highs+lagrangian+rwls"
    mip = solve_classic("lscp", data, options=OPTS, method="mip")
    assert mip.result.solver == "highs" and mip.name == "lscp-mip"
    alias = solve_classic("lscp-warm", data, options=OPTS)
    assert alias.method == "warm"
    assert alias.objective == mip.objective == best.objective == pytest.approx(expected)
    assert solve_classic("lscp-warm", data, options=OPTS, method="mip").method == "mip"
    pm = PMedianData.from_arrays(inst["dist"], 2)
    small = solve_classic("pmedian", pm, options=OPTS)
    assert small.method == "exact" and small.method_choice.startswith("default for fewer")
    named = solve_classic("pmedian-exact", pm, options=OPTS)
    assert named.method == "exact" and named.method_choice == "named"
    pc = PCenterData.from_arrays(inst["dist"], 2)
    assert solve_classic("pcenter", pc, options=OPTS).method == "exact"
    assert solve_classic("pcenter-mip", pc, options=OPTS).method == "mip"
    with pytest.raises(ValueError, match="cpmedian has no method 'warm'"):
        solve_classic("cpmedian", pm, method="warm")


def test_pmedian_default_is_chosen_by_size() -> None:
    """From PMEDIAN_BENDERS_FROM_POINTS demand points the p-median default is benders (and
    says so); a named method always wins."""
    rng = np.random.default_rng(4)
    n = PMEDIAN_BENDERS_FROM_POINTS
    big = PMedianData.from_arrays(rng.uniform(1, 100, size=(n, 3)), 2)
    below = PMedianData.from_arrays(rng.uniform(1, 100, size=(n - 1, 3)), 2)
    method, why = default_method("pmedian", big)
    assert method == "benders" and f"{n:,} demand points" in why
    assert default_method("pmedian", below)[0] == "exact"
    assert resolve_model("pmedian", data=big).name == "pmedian-benders"
    assert resolve_model("pmedian", "exact", data=big).name == "pmedian-exact"
    assert resolve_model("cpmedian", data=big).name == "cpmedian-exact"
    res = solve_classic("pmedian", big, options=OPTS)
    assert res.name == "pmedian-benders" and res.status is Status.OPTIMAL
    assert res.method_choice == why


def test_build_and_solve_times_are_reported_separately() -> None:
    inst = _instance(1)
    res = solve_classic("pmedian", PMedianData.from_arrays(inst["dist"], 2), method="mip")
    assert res.build_s > 0 and res.solve_s > 0
    summary = res.as_dict()
    assert {"status", "objective", "bound", "gap", "build_s", "solve_s"} <= set(summary)


def test_pmedian_strong_formulation_shape() -> None:
    data = PMedianData.from_arrays(np.arange(12.0).reshape(3, 4), 2)
    milp = pmedian.build_model(data)
    assert milp.num_vars == 4 + 12
    assert milp.num_rows == 3 + 12 + 1  # assign, one link per pair, count
    assert not milp.integrality[milp.blocks["assign"]].any()  # x continuous
    assert pmedian.build_model(data, integral=True).integrality.all()


def test_distance_cap_drops_pairs() -> None:
    dist = np.array([[0.0, 5.0, 3.0], [6.0, 0.0, 3.0], [1.0, 9.0, 3.0]])
    assert solve_classic("pmedian", PMedianData.from_arrays(dist, 1)).selected.tolist() == [0]
    data = PMedianData.from_arrays(dist, 1, max_distance=5.0)
    assert data.pairs.size == 7
    res = solve_classic("pmedian", data)  # site 0 no longer reaches point 1, site 1 point 2
    assert res.selected.tolist() == [2] and res.objective == 9.0


def test_pcenter_search_agrees_with_mip_on_a_larger_instance() -> None:
    rng = np.random.default_rng(5)
    xy = rng.integers(0, 1000, (25, 2))
    dist = np.floor(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)))
    data = PCenterData.from_arrays(dist, 3)
    search = solve_classic("pcenter", data)
    mip = solve_classic("pcenter-mip", data)
    assert search.status is Status.OPTIMAL and mip.status is Status.OPTIMAL
    assert search.objective == mip.objective
    assert len(search.result.extra["iterations"]) < 12


def test_pcenter_search_reports_infeasible_when_a_point_has_no_site() -> None:
    dist = np.array([[1.0, np.inf], [np.inf, 2.0], [np.inf, np.inf]])
    res = solve_classic("pcenter", PCenterData.from_arrays(dist, 2))
    assert res.status is Status.INFEASIBLE and res.selected.size == 0


def test_pcenter_greedy_respects_rules() -> None:
    inst = _instance(0)
    data = PCenterData.from_arrays(inst["dist"], 3, required=[4], forbidden=[0])
    sel = pcenter.greedy_centers(data)
    assert sel.sum() == 3 and sel[4] and not sel[0]


def test_bad_arrays_raise_value_errors() -> None:
    dist = np.ones((3, 3))
    with pytest.raises(ValueError, match="both required and forbidden"):
        PMedianData.from_arrays(dist, 2, required=[1], forbidden=[1])
    with pytest.raises(ValueError, match="smaller than"):
        PMedianData.from_arrays(dist, 1, required=[0, 1])
    with pytest.raises(ValueError, match="budget"):
        MclpData.from_arrays(np.eye(3), np.ones(3))
    with pytest.raises(ValueError, match="cpmedian"):
        solve_classic("pmedian", PMedianData.from_arrays(dist, 1, capacity=5.0))
    with pytest.raises(ValueError, match="unknown model"):
        solve_classic("nope", PMedianData.from_arrays(dist, 1))
    with pytest.raises(ValueError, match="listed twice"):
        Pairs.from_coo([0, 0], [1, 1], [1.0, 2.0], (2, 2))


# --------------------------------------------------------------------------- verification


def test_verification_catches_wrong_solutions() -> None:
    dist = np.array([[0.0, 3.0], [3.0, 0.0], [1.0, 2.0]])
    data = PMedianData.from_arrays(dist, 1, capacity=2.0)
    ok = verify_pmedian(data, np.array([True, False]), np.array([0, 0, 0]), raise_on_failure=False)
    assert "capacity exceeded" in " ".join(ok.failures)
    with pytest.raises(VerificationError, match="closed sites"):
        verify_pmedian(data, np.array([True, False]), np.array([0, 1, 0]))
    with pytest.raises(VerificationError, match="worse than reported"):
        verify_pcenter(
            PCenterData.from_arrays(dist, 1),
            np.array([True, False]),
            np.array([0, 0, 0]),
            reported=2.0,
        )
    with pytest.raises(VerificationError, match="beats the proven bound"):
        verify_mclp(
            MclpData.from_arrays(np.eye(3, 2), np.ones(3), 1),
            np.array([True, False]),
            bound=0.5,
        )


# --------------------------------------------------------------------------- tables


def _tables(tmp: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    demand = pd.DataFrame({"demand_id": ["D1", "D2", "D3", "D4"], "pop": [10, 20, 30, 40]})
    sites = pd.DataFrame({"site_id": ["S1", "S2", "S3"], "price": [5, 7, 6], "cap": [60, 60, 60]})
    xs_d, xs_s = np.array([0, 100, 200, 300]), np.array([50, 150, 300])
    rows = [
        (d, s, float(abs(xd - xs)))
        for d, xd in zip(demand["demand_id"], xs_d, strict=True)
        for s, xs in zip(sites["site_id"], xs_s, strict=True)
    ]
    od = pd.DataFrame(rows, columns=["demand_id", "site_id", "distance"])
    if tmp is not None:
        demand.to_csv(tmp / "demand.csv", index=False)
        sites.to_csv(tmp / "sites.csv", index=False)
        od.to_csv(tmp / "od.csv", index=False)
    return demand, sites, od


def test_from_tables_builds_the_same_problem_as_arrays() -> None:
    demand, sites, od = _tables()
    t = from_tables("pmedian", demand, sites, od, weight="pop", p=2)
    res = solve_classic("pmedian", t.data)
    dist = od["distance"].to_numpy().reshape(4, 3)
    expected = brute_force_pmedian(dist, demand["pop"].to_numpy(float), 2)
    assert res.objective == pytest.approx(expected)
    mclp = from_tables("mclp", demand, sites, od, weight="pop", radius=60, p=1)
    assert solve_classic("mclp", mclp.data).objective == 50.0  # S2 covers D2 and D3


def test_from_tables_lists_every_problem() -> None:
    demand, sites, od = _tables()
    od.loc[0, "demand_id"] = "D9"
    od.loc[1, "site_id"] = "S7"
    od.loc[2, "distance"] = -4.0
    od.loc[3, "distance"] = None
    demand.loc[1, "pop"] = -1
    with pytest.raises(InputError) as err:
        from_tables(
            "cpmedian",
            demand,
            sites,
            od,
            weight="pop",
            labels={"distances": "od.csv", "demand": "demand.csv"},
        )
    text = str(err.value)
    for fragment in (
        "od.csv",
        "D9",
        "S7",
        "negative distances",
        "D1->S3",
        "missing distances",
        "D2->S1",
        "demand.csv, column 'pop'",
        "'p'",
        "capacity",
    ):
        assert fragment in text, fragment


def test_from_tables_flags_points_nothing_covers() -> None:
    demand, sites, od = _tables()
    with pytest.raises(InputError, match=r"within the radius 40 \(3: D1, D2, D3\)"):
        from_tables("lscp", demand, sites, od, radius=40)


# --------------------------------------------------------------------------- siting solve


def test_siting_solve_pmedian_and_lscp(tmp_path: Path) -> None:
    _tables(tmp_path)
    base = [
        "--demand",
        str(tmp_path / "demand.csv"),
        "--sites",
        str(tmp_path / "sites.csv"),
        "--distances",
        str(tmp_path / "od.csv"),
        "-q",
    ]
    out = tmp_path / "pm"
    assert (
        main(
            ["solve", "--model", "pmedian", "--weight", "pop", "--p", "2", "--out", str(out), *base]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "OPTIMAL" and summary["gap"] == 0
    assert {"model", "solver", "objective", "bound", "build_s", "solve_s"} <= set(summary)
    assert summary["method"] == "exact"  # the strongest p-median method by default
    assert summary["method_choice"].startswith("default for fewer than")
    assert len(summary["selected"]) == 2
    assign = pd.read_csv(out / "assignment.csv", encoding="utf-8-sig")
    assert len(assign) == 4 and set(assign["site_id"]) <= set(summary["selected"])
    total = float((assign["distance"] * assign["weight"]).sum())
    assert total == pytest.approx(summary["objective"])

    # The other methods reach the same optimum on this small case, and say how they know.
    out_mip = tmp_path / "pm-mip"
    argv = ["solve", "--model", "pmedian", "--method", "mip", "--weight", "pop", "--p", "2"]
    assert main([*argv, "--out", str(out_mip), *base]) == 0
    got = json.loads((out_mip / "summary.json").read_text())
    assert got["method"] == "mip" and got["solver"] == "highs"
    assert got["objective"] == pytest.approx(summary["objective"])
    argv = ["solve", "--model", "cpmedian", "--method", "warm", "--p", "2"]
    assert main([*argv, "--capacity", "cap", "--out", str(tmp_path / "no"), *base]) == 2
    for variant in ("pmedian-heuristic", "pmedian-warm"):
        out_v = tmp_path / variant
        argv = ["solve", "--model", variant, "--weight", "pop", "--p", "2", "--out", str(out_v)]
        assert main([*argv, *base]) == 0
        got = json.loads((out_v / "summary.json").read_text())
        assert got["objective"] == pytest.approx(summary["objective"])
        assert got["bound"] <= got["objective"] + 1e-9

    out2 = tmp_path / "lscp"
    assert (
        main(
            [
                "solve",
                "--model",
                "lscp",
                "--cost",
                "price",
                "--radius",
                "100",
                "--out",
                str(out2),
                *base,
            ]
        )
        == 0
    )
    summary = json.loads((out2 / "summary.json").read_text())
    assert summary["method"] == "warm"
    selected = pd.read_csv(out2 / "selected.csv", encoding="utf-8-sig")
    assert summary["objective"] == selected["cost"].sum()
    assert sorted(selected["site_id"]) == sorted(summary["selected"])


@pytest.mark.slow
def test_siting_solve_bad_distance_table_exits_2(tmp_path: Path) -> None:
    _, _, od = _tables(tmp_path)
    od.loc[0, "demand_id"] = "D99"
    od.loc[5, "site_id"] = "S42"
    od.to_csv(tmp_path / "od.csv", index=False)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "optimizer.cli",
            "solve",
            "--model",
            "pmedian",
            "--p",
            "2",
            "--demand",
            str(tmp_path / "demand.csv"),
            "--sites",
            str(tmp_path / "sites.csv"),
            "--distances",
            str(tmp_path / "od.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "od.csv" in proc.stderr and "D99" in proc.stderr and "S42" in proc.stderr
    assert not (tmp_path / "o").exists()
