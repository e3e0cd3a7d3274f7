"""plan.xlsx opens with openpyxl, has the named sheets and matches the CSVs; plan.gpkg's layers
open with geopandas and match the CSVs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook

from optimizer.deliverables.labels import Lang, column_key, display_names, localized
from optimizer.deliverables.layers import RunOutputs, map_layers
from optimizer.deliverables.workbook import write_workbook
from optimizer.pipeline import PlanRun, run_plan
from tests.conftest import line_city
from tests.town import write_town

SHEETS = ["construction_list", "coverage", "per_type", "per_area", "assumptions"]
LAYERS = {"blocks", "chosen_sites", "existing", "uncovered_blocks", "service_areas"}


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanRun, Path]:
    folder = tmp_path_factory.mktemp("town")
    run = run_plan(write_town(folder), out_dir=folder / "out", lang="en")
    assert run.out_dir is not None
    return run, run.out_dir


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanRun, Path]:
    """The line city of conftest (CSV points, straight-line distances, no years)."""
    folder = tmp_path_factory.mktemp("line")
    scenario = line_city.__wrapped__(folder)  # type: ignore[attr-defined]
    run = run_plan(scenario, out_dir=folder / "out", lang="zh")
    assert run.out_dir is not None
    return run, run.out_dir


def _csv(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", encoding="utf-8-sig")


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns and values: numbers to 1e-9 (ints and floats alike), the rest as text."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for col in expected.columns:
        a, b = got[col], expected[col]
        if pd.api.types.is_bool_dtype(b) or pd.api.types.is_bool_dtype(a):
            assert a.astype(bool).tolist() == b.astype(bool).tolist(), col
        elif pd.api.types.is_numeric_dtype(b):
            np.testing.assert_allclose(
                pd.to_numeric(a).to_numpy(float), b.to_numpy(float), rtol=1e-9, err_msg=col
            )
        else:
            text = [("" if pd.isna(v) else str(v)) for v in a]
            assert text == [("" if pd.isna(v) else str(v)) for v in b], col


def _sheet(out: Path, name: str) -> pd.DataFrame:
    """A sheet with its columns named by their contract keys (a Chinese header names each
    column above its key)."""
    sheet = pd.read_excel(out / "plan.xlsx", sheet_name=name)
    return sheet.rename(columns=lambda c: column_key(str(c)))


def _in_language(run: PlanRun, table: pd.DataFrame, lang: Lang) -> pd.DataFrame:
    """The CSV's construction list as the workbook shows it: reasons in ``lang``."""
    names = display_names(
        {k: run.scenario.catalog.get(k) for k in run.scenario.facility_types}, lang
    )
    return table.assign(reason=[localized(r, lang, run.summary, names) for r in table["reason"]])


@pytest.mark.parametrize(("which", "lang"), [("town", "en"), ("line", "zh")])
def test_workbook_sheets_match_the_csvs(
    which: str, lang: Lang, request: pytest.FixtureRequest
) -> None:
    run, out = request.getfixturevalue(which)
    wb = load_workbook(out / "plan.xlsx")
    assert wb.sheetnames == SHEETS
    for name in ("construction_list", "coverage"):
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref is not None
        assert all(cell.font.bold for cell in ws[1])
        expected = _csv(out, name)
        if name == "construction_list":
            expected = _in_language(run, expected, lang)
        assert_same_table(_sheet(out, name), expected)
    assert_same_table(_sheet(out, "per_type"), run.plan.per_type.reset_index(drop=True))


def test_workbook_is_formatted_for_reading(town: tuple[PlanRun, Path]) -> None:
    _, out = town
    wb = load_workbook(out / "plan.xlsx")
    ws = wb["construction_list"]
    header = {cell.value: cell.column_letter for cell in ws[1]}
    assert ws[f"{header['cost']}2"].number_format == "#,##0"
    assert ws[f"{header['cumulative_coverage_pct']}2"].number_format == '0.00"%"'
    assert ws.column_dimensions[header["reason"]].width == 70
    cov = wb["coverage"]
    cov_header = {cell.value: cell.column_letter for cell in cov[1]}
    assert cov[f"{cov_header['served_share_after']}2"].number_format == "0.0%"
    text = " ".join(
        str(c.value) for row in wb["assumptions"].iter_rows() for c in row if c.value is not None
    )
    for needle in ("Standards used", "elder_care", "GB 50180-2018", "network", "Budget"):
        assert needle in text, needle


def test_comparison_sheet_when_a_sweep_gives_one(
    town: tuple[PlanRun, Path], tmp_path: Path
) -> None:
    run, _ = town
    outputs = RunOutputs.from_plan(run.scenario, run.inputs, run.plan, run.summary)
    outputs.comparison = pd.DataFrame({"budget": [1e6, 2e6], "coverage_pct": [20.0, 40.0]})
    write_workbook(tmp_path / "plan.xlsx", outputs, "en")
    wb = load_workbook(tmp_path / "plan.xlsx")
    assert wb.sheetnames == [*SHEETS, "comparison"]
    assert wb["comparison"]["A2"].number_format == "#,##0"


@pytest.mark.parametrize("which", ["town", "line"])
def test_geopackage_layers_match_the_csvs(which: str, request: pytest.FixtureRequest) -> None:
    run, out = request.getfixturevalue(which)
    path = out / "plan.gpkg"
    assert {name for name, _ in pyogrio.list_layers(path)} == LAYERS
    crs = run.inputs.crs

    chosen = gpd.read_file(path, layer="chosen_sites")
    assert chosen.crs == crs
    assert (chosen.geom_type == "Point").all()
    expected = _csv(out, "construction_list")
    assert_same_table(pd.DataFrame(chosen.drop(columns="geometry")), expected)
    sites = run.inputs.sites.set_index("site_id")
    np.testing.assert_allclose(chosen.geometry.x, sites.loc[chosen["site_id"], "x"])

    blocks = gpd.read_file(path, layer="blocks")
    assert blocks.crs == crs and len(blocks) == len(run.inputs.blocks)
    coverage = _csv(out, "coverage")
    for key, part in coverage.groupby("facility_type"):
        merged = part.merge(blocks, on="block_id", how="left", validate="one_to_one")
        assert merged[f"{key}_after"].astype(bool).tolist() == part["covered_after"].tolist()
        assert merged[f"{key}_before"].astype(bool).tolist() == part["covered_before"].tolist()
        np.testing.assert_allclose(merged[f"{key}_target"], part["target_population"])

    missing = coverage[(coverage["target_population"] > 0) & ~coverage["covered_after"]]
    uncovered = gpd.read_file(path, layer="uncovered_blocks")
    assert set(uncovered["block_id"]) == set(missing["block_id"])
    for row in uncovered.itertuples():
        types = set(missing.loc[missing["block_id"] == row.block_id, "facility_type"])
        assert set(row.types_not_served.split(",")) == types

    existing = gpd.read_file(path, layer="existing")
    assert list(existing["facility_id"]) == list(run.inputs.existing["facility_id"])

    areas = gpd.read_file(path, layer="service_areas")
    assert set(areas["kind"]) <= {"new", "existing"}
    assert set(areas.loc[areas["kind"] == "new", "facility_type"]) == set(expected["facility_type"])
    assert (areas.area > 0).all()


def test_town_blocks_are_polygons_and_service_areas_follow_the_streets(
    town: tuple[PlanRun, Path],
) -> None:
    run, out = town
    blocks = gpd.read_file(out / "plan.gpkg", layer="blocks")
    assert (blocks.geom_type == "Polygon").all()
    areas = gpd.read_file(out / "plan.gpkg", layer="service_areas")
    assert set(areas["method"]) == {"network"}
    # walking 300 m along the streets reaches less than a 300 m disc around the same sites
    outputs = RunOutputs.from_plan(
        run.scenario, run.inputs, run.plan, run.summary, engine=run.engine
    )
    chosen = map_layers(outputs).chosen
    for row in areas[areas["kind"] == "new"].itertuples():
        pts = chosen[chosen["facility_type"] == row.facility_type].geometry
        disc = pts.buffer(row.walk_limit_m + 25).union_all()
        assert row.geometry.difference(disc).area < 1.0
        assert row.geometry.area < 0.8 * disc.area
