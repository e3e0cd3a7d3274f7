"""End-to-end planning runs on small scenarios: outputs, ranking rules, coverage, safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import SitingError
from optimizer.outputs import _staging_prefix, staged_run, write_json
from optimizer.pipeline import run_plan
from optimizer.plan import CONSTRUCTION_COLUMNS, COVERAGE_COLUMNS
from tests.helpers import blocks_frame, sites_frame, write_scenario


def _check_outputs(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    cl = pd.read_csv(out / "construction_list.csv", encoding="utf-8-sig")
    cov = pd.read_csv(out / "coverage.csv", encoding="utf-8-sig", dtype={"served_by": str})
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert list(cl.columns) == CONSTRUCTION_COLUMNS
    assert list(cov.columns) == COVERAGE_COLUMNS
    # ranks 1..N without gaps; running cost; coverage never decreases
    assert cl["rank"].tolist() == list(range(1, len(cl) + 1))
    assert np.allclose(cl["cumulative_cost"], cl["cost"].cumsum(), atol=0.01)
    assert (np.diff(cl["cumulative_coverage_pct"]) >= -1e-9).all()
    # the site's fixed cost is counted once, on its first row
    assert cl["cost"].sum() == pytest.approx(summary["totals"]["cost"], rel=1e-9)
    assert summary["verify"]["recomputed_cost"] == pytest.approx(cl["cost"].sum(), rel=1e-7)
    # every covered block is within the limit of its serving facility
    covered = cov[cov["covered_after"]]
    assert covered["served_by"].notna().all()
    limits = {k: v["walk_limit_m"] for k, v in summary["standards"].items()}
    assert (covered["walk_m"] <= covered["facility_type"].map(limits) + 1e-6).all()
    assert summary["verify"]["passed"] is True
    return cl, cov, summary


def test_line_city_end_to_end(line_city: Path, tmp_path: Path) -> None:
    run = run_plan(line_city, out_dir=tmp_path / "out")
    cl, cov, summary = _check_outputs(tmp_path / "out")
    assert summary["status"] == "OPTIMAL" and summary["gap"] == 0
    # Facilities are sized to the need (elder care >= 350 m2: 72.2 m2 per block of 361
    # households; stores >= 50 m2: 50 m2 per 1,000 residents): S1 hosts elder care (350 m2)
    # and a 100 m2 store for B1-B2; S2 hosts elder care (350 m2) and, in its last 50 m2, the
    # store B4 needs: 2 x (100k + 350k) + 100k + 50k. (A covering model with fixed-size
    # facilities needs S5 for that store: 1,110,000.)
    assert summary["objective"] == pytest.approx(1_050_000)
    assert summary["distance_mode"] == "euclidean" and summary["detour_factor"] == 1.0
    assert set(zip(cl["site_id"], cl["facility_type"], strict=True)) == {
        ("S1", "elder_care"),
        ("S1", "convenience"),
        ("S2", "elder_care"),
        ("S2", "convenience"),
    }
    # coverage points per yuan: S1 (50 % of the 60+ at priority 2 and 50 % of residents: 150
    # points for 550k) before S2 (100 + 25 points for 500k)
    assert cl["site_id"].tolist() == ["S1", "S1", "S2", "S2"]
    assert cl["cost"].tolist() == pytest.approx([450_000, 100_000, 450_000, 50_000])
    assert cl["floor_area_m2"].tolist() == pytest.approx([350, 100, 350, 50])
    assert "only candidate site within 300 m of 1 block" in cl.loc[0, "reason"]
    assert "shares the site and its opening cost with convenience" in cl.loc[0, "reason"]
    assert summary["sites_with_several_types"] == 2
    # B3 was already served by the existing store E1 at distance 0
    b3 = cov[(cov.block_id == "B3") & (cov.facility_type == "convenience")].iloc[0]
    assert bool(b3.covered_before) and b3.served_by == "E1" and b3.walk_m == 0
    assert cov["covered_after"].all()
    assert run.result.build_s > 0 and run.result.solve_s > 0


def test_uncoverable_blocks_are_reported_not_fatal(tmp_path: Path) -> None:
    blocks = blocks_frame([0, 100, 3000])  # B3 is 2.9 km from any site
    sites = sites_frame([50], floor=[600], fixed=[1000])
    run = run_plan(write_scenario(tmp_path, blocks, sites), out_dir=tmp_path / "out")
    _, cov, summary = _check_outputs(tmp_path / "out")
    assert summary["uncoverable_blocks"] == {"elder_care": ["B3"], "convenience": ["B3"]}
    b3 = cov[cov.block_id == "B3"]
    assert not b3["covered_after"].any() and not b3["coverable"].any()
    assert summary["status"] == "OPTIMAL"
    per_type = summary["totals"]["per_type"]["elder_care"]
    assert per_type["uncoverable_blocks"] == 1 and per_type["uncoverable_residents"] == 200
    assert run.plan.construction_list["site_id"].tolist() == ["S1", "S1"]


@pytest.mark.slow
def test_a_repeated_run_keeps_the_earlier_files(line_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_plan(line_city, out_dir=out)
    first = (out / "summary.json").read_text(encoding="utf-8")
    os.utime(out / "summary.json", (1_700_000_000, 1_700_000_000))
    run_plan(line_city, out_dir=out)
    archived = list((out / "history").glob("*/summary.json"))
    assert len(archived) == 1 and archived[0].read_text(encoding="utf-8") == first
    assert (out / "construction_list.csv").exists()


def test_a_failed_run_leaves_earlier_outputs_untouched(line_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_plan(line_city, out_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    sites = line_city.parent / "sites.csv"
    df = pd.read_csv(sites)
    df.loc[0, "floor_area_m2"] = -1
    df.to_csv(sites, index=False)
    with pytest.raises(SitingError):
        run_plan(line_city, out_dir=out)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in out.parent.iterdir() if ".staging-" in p.name]


def test_ranking_prefix_prefers_coverage_per_yuan(tmp_path: Path) -> None:
    # Two separate clusters; the cheap site serving 3 blocks must rank before the dear one
    # serving 1 block.
    blocks = blocks_frame([0, 50, 100, 5000])
    sites = sites_frame([50, 5000], floor=[600, 600], fixed=[1000, 900_000])
    run = run_plan(write_scenario(tmp_path, blocks, sites), write=False)
    assert run.plan.construction_list["site_id"].tolist() == ["S1", "S1", "S2", "S2"]


SAMPLE = Path(__file__).resolve().parents[1] / "scenarios" / "sample-city.yaml"


@pytest.mark.slow
def test_sample_city_plan_meets_the_acceptance_rules(tmp_path: Path) -> None:
    run = run_plan(SAMPLE, out_dir=tmp_path / "sample")
    cl, _cov, summary = _check_outputs(tmp_path / "sample")
    assert summary["status"] == "OPTIMAL" and summary["gap"] == 0
    assert summary["counts"] == {"blocks": 800, "sites": 600, "existing": 90}
    assert len(cl) > 50 and cl["reason"].str.len().min() > 20
    # the verified cost is what the list adds up to
    assert summary["verify"]["recomputed_cost"] == pytest.approx(cl["cost"].sum(), rel=1e-9)
    # coverage never drops, and rises for every type
    for row in summary["totals"]["per_type"].values():
        assert row["covered_after"] > row["covered_before"]
    assert run.timings["inputs_s"] < 30


def test_geoparquet_and_shapefile_inputs(tmp_path: Path) -> None:
    import geopandas as gpd
    import yaml

    blocks = blocks_frame([0, 100, 3000])
    sites = sites_frame([50, 3000], floor=[600, 600], fixed=[1000, 2000])
    crs = "EPSG:4548"
    gpd.GeoDataFrame(
        blocks.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(blocks.x, blocks.y), crs=crs
    ).to_parquet(tmp_path / "blocks.parquet")
    # Shapefile field names stop at 10 characters: the scenario maps them back
    sites = sites.rename(columns={"floor_area_m2": "FLOOR", "available_year": "YEAR"})
    gpd.GeoDataFrame(
        sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites.x, sites.y), crs=crs
    ).to_file(tmp_path / "sites.shp", engine="pyogrio")
    scenario = {
        "name": "formats",
        "inputs": {
            "blocks": "blocks.parquet",
            "sites": {
                "path": "sites.shp",
                "columns": {"floor_area_m2": "FLOOR", "available_year": "YEAR"},
            },
        },
        "facility_types": ["convenience"],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    run = run_plan(path, write=False)
    # stores sized to the need: 50 m2 per 1,000 residents (S1: B1 + B2, S2: B3), 1,500 yuan/m2
    assert run.result.objective == pytest.approx(1000 + 2000 + (100 + 50) * 1500)


PHASED = SAMPLE.parent / "sample-city-phased.yaml"


@pytest.mark.slow
def test_phased_sample_city_meets_the_acceptance_rules(tmp_path: Path) -> None:
    run = run_plan(PHASED, out_dir=tmp_path / "phased")
    cl, cov, summary = _check_outputs(tmp_path / "phased")
    # each year's spending within its budget, recomputed from the list
    spent = cl.groupby("year")["cost"].sum()
    for year, entry in summary["budgets"].items():
        assert spent.get(int(year), 0.0) <= entry["budget"] + 1e-6
    assert sorted(spent.index) == [2026, 2027, 2028]
    # at least one site hosts two or more facility types
    assert (cl.groupby("site_id")["facility_type"].nunique() >= 2).any()
    assert summary["sites_with_several_types"] >= 1
    # capacities and every other rule were checked from the inputs
    assert summary["verify"]["passed"]
    assert any("capacity" in c for c in summary["verify"]["checks"])
    # coverage never drops from year to year, and the status states its gap
    per_year = run.plan.per_year
    for key in ("elder_care", "nursery", "convenience"):
        assert (np.diff(per_year[f"coverage_pct:{key}"]) >= -1e-9).all()
    assert summary["status"] in ("OPTIMAL", "FEASIBLE") and summary["gap"] <= 0.005 + 1e-9
    assert cov["covered_from_year"].dropna().isin([2026, 2027, 2028]).all()


def test_outputs_are_ordinary_files_not_private(tmp_path: Path) -> None:
    # atomic writes go through mkstemp (mode 0600); the published file gets the usual mode

    path = write_json(tmp_path / "x.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_staging_left_by_a_killed_run_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "plan"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now: a run killed outright
    abandoned = tmp_path / f"{_staging_prefix(out, dead.pid)}abc"
    live = tmp_path / f"{_staging_prefix(out, os.getpid())}xyz"
    abandoned.mkdir()
    live.mkdir()
    with staged_run(out) as stage:
        write_json(stage / "summary.json", {"ok": True})
    assert not abandoned.exists()
    assert live.exists()
    assert (out / "summary.json").is_file()
