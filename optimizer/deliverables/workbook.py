"""``plan.xlsx`` (formatted for reading) and ``plan.gpkg`` (layers for QGIS / ArcGIS).

The workbook's sheets hold the same columns as the CSV files (so a sheet and its CSV match
cell for cell; a Chinese workbook names each column in Chinese above its contract key, see
:func:`~optimizer.deliverables.labels.column_key`, and gives the reasons in Chinese), with a
bold frozen header, an auto-filter, column widths and number formats
(yuan with thousands separators, percentages, metres). The ``assumptions`` sheet lists the
standards, distance mode, costs, solver and input hashes, and what each column means.

The GeoPackage's layers, in the scenario CRS:

``blocks``
    every block with, per facility type, ``<type>_target``, ``<type>_before``,
    ``<type>_after``, ``<type>_walk_m``, ``<type>_served_by`` (and served shares);
``chosen_sites``
    the construction list (same rows and columns as ``construction_list.csv``) at the sites;
``existing``
    the existing facilities;
``uncovered_blocks``
    the blocks some type still does not serve after the plan, with those types listed;
``service_areas``
    the walking reach of each new and existing facility of the planned types.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from optimizer.deliverables.labels import (
    Lang,
    column_header,
    display_names,
    distance_text,
    fitout_text,
    group_label,
    headline_text,
    label,
    level_label,
    localized,
    need_text,
    size_text,
    status_word,
    type_label,
    type_sources,
)
from optimizer.deliverables.layers import MapLayers, RunOutputs, coverage_wide, per_area_table
from optimizer.outputs import atomic_write

log = logging.getLogger(__name__)

SHEETS = ("construction_list", "coverage", "per_type", "per_area", "assumptions", "comparison")
YUAN = "#,##0"
NUMBER = "#,##0.0"
INTEGER = "0"
PCT_VALUE = '0.00"%"'  # values already in percent (0-100)
SHARE = "0.0%"  # values as shares (0-1)
HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
HEADER_FONT = Font(bold=True, color="FFFFFF")
SECTION_FONT = Font(bold=True, size=12, color="1F3A5F")
FLAG_FILL = PatternFill("solid", fgColor="FFF1D6")  # a row flagged for its cost per resident

# number format by column name (any sheet)
FORMATS = {
    "cost": YUAN,
    "cumulative_cost": YUAN,
    "cost_per_resident": YUAN,
    "fitout_cost": YUAN,
    "budget": YUAN,
    "spent": YUAN,
    "floor_area_m2": NUMBER,
    "capacity": NUMBER,
    "capacity_built": NUMBER,
    "capacity_needed": NUMBER,
    "newly_covered": NUMBER,
    "target_population": NUMBER,
    "target_total": NUMBER,
    "covered_before": NUMBER,
    "covered_after": NUMBER,
    "uncoverable_residents": NUMBER,
    "need": NUMBER,
    "walk_m": NUMBER,
    "cumulative_coverage_pct": PCT_VALUE,
    "covered_before_pct": PCT_VALUE,
    "covered_after_pct": PCT_VALUE,
    "coverage_pct": PCT_VALUE,
    "served_share_before": SHARE,
    "served_share_after": SHARE,
    "gap": "0.00%",
    "rank": INTEGER,
    "year": INTEGER,
}
WIDTHS = {"reason": 70, "site_name": 24, "target_group": 20, "served_by": 12}


def _excel_value(value: Any) -> Any:
    """A cell value openpyxl accepts (no NaN, NA, numpy scalars or objects)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (str, int)):
        return value
    return str(value)


def write_frame(ws: Worksheet, df: pd.DataFrame, lang: Lang = "en") -> None:
    """A DataFrame as a formatted table: header, values, formats, widths, freeze, filter.

    The header holds the contract keys; in Chinese each key's name above it (see
    :func:`optimizer.deliverables.labels.column_header`).
    """
    ws.append([column_header(str(c), lang) for c in df.columns])
    for row in df.itertuples(index=False, name=None):
        ws.append([_excel_value(v) for v in row])
    n = len(df)
    for j, col in enumerate(df.columns, start=1):
        cell = ws.cell(row=1, column=j)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        fmt = FORMATS.get(str(col).split(":")[0])
        if str(col).startswith("coverage_pct"):
            fmt = PCT_VALUE
        if fmt and n:
            for (c,) in ws.iter_rows(min_row=2, max_row=n + 1, min_col=j, max_col=j):
                c.number_format = fmt
        ws.column_dimensions[get_column_letter(j)].width = _width(str(col), df[col])
    _mark_cost_flags(ws, df)
    ws.freeze_panes = "A2"
    if len(df.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{n + 1}"


def _mark_cost_flags(ws: Worksheet, df: pd.DataFrame) -> None:
    """Shade the cost-per-resident and flag cells of rows flagged for their cost per resident."""
    if "cost_flag" not in df.columns:
        return
    cols = [j for j, c in enumerate(df.columns, start=1) if c in ("cost_per_resident", "cost_flag")]
    flagged = np.flatnonzero(df["cost_flag"].fillna(False).astype(bool).to_numpy())
    for i in flagged:
        for j in cols:
            ws.cell(row=int(i) + 2, column=j).fill = FLAG_FILL


def _width(name: str, values: pd.Series) -> float:
    if name in WIDTHS:
        return WIDTHS[name]
    sample = ["" if v is None or v is pd.NA else str(v) for v in values.head(200).tolist()]
    # CJK characters are about twice as wide as Latin ones
    longest = max((len(v) + sum(ord(ch) > 0x2E80 for ch in v) for v in sample), default=0)
    return float(min(max(len(name) + 2, longest + 2, 8), 40))


def assumption_rows(run: RunOutputs, lang: Lang) -> list[tuple[str, list[list[Any]]]]:
    """The assumptions as (section title, rows of cells)."""
    s = run.summary
    names = display_names({key: run.ftype(key) for key in run.types}, lang)
    standards: list[list[Any]] = [
        [
            label("facility_type", lang),
            "编号" if lang == "zh" else "key",
            label("level", lang),
            label("target_group", lang),
            label("walk_limit", lang) + " (m)",
            label("need_rule", lang),
            label("size_range", lang),
            label("standard_sizes", lang),
            label("fitout_rule", lang),
            label("priority", lang),
            label("sources", lang),
        ]
    ]
    for key in run.types:
        t = run.ftype(key)
        if t is None:
            continue
        standards.append(
            [
                type_label(t, key, lang),
                key,
                level_label(t.level, lang),
                group_label(t.target_group, lang),
                t.walk_limit_m,
                need_text(t, lang),
                f"{t.min_area_m2:g}–{t.max_area_m2:g}",
                size_text(t, lang),
                fitout_text(t, lang),
                t.priority,
                "; ".join(f"{k}: {v}" for k, v in type_sources(t, lang).items()),
            ]
        )
    distance: list[list[Any]] = [
        [label("distance_mode", lang), s.get("distance_mode")],
        ["", distance_text(s, run.engine, lang)],
    ]
    if s.get("detour_factor") is not None:
        distance.append([label("detour_factor", lang), s.get("detour_factor")])
    solver: list[list[Any]] = [
        [label("model", lang), localized(s.get("model"), lang, s, names)],
        [label("solver", lang), s.get("solver")],
        [label("status", lang), status_word(str(s.get("status")), lang)],
        [label("solver_status", lang), headline_text(s, lang)],
        [label("gap", lang), s.get("gap")],
        [label("objective", lang), s.get("objective")],
        [label("bound", lang), s.get("bound")],
        [label("verify", lang), (s.get("verify") or {}).get("passed")],
    ]
    solver += [
        [label("notes", lang), localized(note, lang, s, names)] for note in s.get("notes") or []
    ]
    run_rows: list[list[Any]] = [
        [label("run_id", lang), run.run_id],
        [label("scenario", lang), s.get("scenario")],
        [label("created", lang), s.get("created")],
        [label("version", lang), s.get("version")],
        [label("crs", lang), s.get("crs")],
    ]
    inputs = [[path, digest] for path, digest in (s.get("inputs") or {}).items()]
    budgets: list[list[Any]] = [
        [year, (b or {}).get("budget"), (b or {}).get("spent")]
        for year, b in (s.get("budgets") or {}).items()
    ]
    sections: list[tuple[str, list[list[Any]]]] = [
        (label("standards", lang), standards),
        (label("distance", lang), distance),
        (label("costs", lang), [[label("cost_rule", lang)]]),
        (label("solver", lang), solver),
        (label("run", lang), run_rows),
        (label("inputs", lang), inputs),
    ]
    if budgets:
        header = [label("year", lang), label("budget", lang), label("spent", lang)]
        sections.insert(3, (label("budget", lang), [header, *budgets]))
    sections.append((label("fields", lang), [[k, v] for k, v in field_notes(lang).items()]))
    return sections


def field_notes(lang: Lang) -> dict[str, str]:
    """What each column of the construction list and coverage sheets means."""
    zh = lang == "zh"
    return {
        "rank": "排序（同一年度内按每元投资新增覆盖）"
        if zh
        else "order: year, then coverage per yuan",
        "year": "建设年度" if zh else "plan year",
        "cost": "投资（元）：装修改造费，站点第一行另计开办费"
        if zh
        else "yuan: fit-out, plus the site's fixed cost on its first row",
        "newly_covered": "新增服务的目标人口" if zh else "target residents newly served",
        "cost_per_resident": "每新增服务一人的投资（元）= 投资 ÷ 新增服务人口；无新增时为空"
        if zh
        else "yuan per target resident newly served = cost / newly_covered; blank when none",
        "cost_flag": "人均投资偏高：高于该类设施的阈值（见报告），或未新增服务人口"
        if zh
        else "cost per resident above the type's threshold (see the report), or none served",
        "cumulative_coverage_pct": "累计平均覆盖率（%）"
        if zh
        else "mean coverage over types after this row (%)",
        "covered_before / covered_after": "规划前/后是否完全覆盖"
        if zh
        else "served in full before / after the plan",
        "served_share_before / after": "规划前/后服务比例（考虑容量）"
        if zh
        else "share served before / after (capacity-aware)",
        "walk_m": "到服务设施的步行距离（米）" if zh else "walk to the serving facility (m)",
        "served_by": "主要服务设施编号" if zh else "id of the main serving facility",
    }


def localized_reasons(run: RunOutputs, lang: Lang) -> pd.DataFrame:
    """The construction list with its reasons in ``lang`` (the CSV keeps them in English)."""
    cl = run.construction_list
    if lang == "en" or "reason" not in cl.columns:
        return cl
    names = display_names({key: run.ftype(key) for key in run.types}, lang)
    return cl.assign(reason=[localized(r, lang, run.summary, names) for r in cl["reason"]])


def write_workbook(path: Path, run: RunOutputs, lang: Lang) -> Path:
    """Write ``plan.xlsx`` atomically; return its path."""
    wb = Workbook()
    default = wb.active
    if default is not None:
        wb.remove(default)
    tables: list[tuple[str, pd.DataFrame]] = [
        ("construction_list", localized_reasons(run, lang)),
        ("coverage", run.coverage),
        ("per_type", run.per_type),
        ("per_area", per_area_table(run)),
    ]
    for name, df in tables:
        write_frame(wb.create_sheet(name), df, lang)
    ws = wb.create_sheet("assumptions")
    _write_sections(ws, assumption_rows(run, lang))
    if run.comparison is not None:
        write_frame(wb.create_sheet("comparison"), run.comparison, lang)
    wb.properties.title = f"{label('title', lang)} — {run.summary.get('scenario')}"
    wb.properties.creator = f"siting {run.summary.get('version')}"
    return atomic_write(path, lambda p: wb.save(p))


def _write_sections(ws: Worksheet, sections: Iterable[tuple[str, list[list[Any]]]]) -> None:
    r = 1
    for title, rows in sections:
        ws.cell(row=r, column=1, value=title).font = SECTION_FONT
        r += 1
        for row in rows:
            for j, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=j, value=_excel_value(value))
                cell.alignment = Alignment(vertical="top", wrap_text=j > 1)
            r += 1
        r += 1
    widths = [24, 40, 16, 18, 12, 34, 14, 26, 8, 80]
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w


# --------------------------------------------------------------------------- GeoPackage


def geopackage_layers(run: RunOutputs, layers: MapLayers) -> dict[str, gpd.GeoDataFrame]:
    """The GeoPackage's layers by name (see the module docstring)."""
    wide = coverage_wide(run)
    blocks = layers.blocks.merge(wide, on="block_id", how="left")
    missing = []
    for key in run.types:
        target = pd.to_numeric(blocks[f"{key}_target"], errors="coerce").fillna(0.0)
        missing.append(np.where((target > 0) & ~blocks[f"{key}_after"], key, ""))
    lists = [",".join(t for t in row if t) for row in zip(*missing, strict=True)] if missing else []
    uncovered = blocks[["block_id", "name", "area_type", "geometry"]].assign(
        types_not_served=lists if lists else "",
    )
    uncovered = uncovered[uncovered["types_not_served"] != ""]
    uncovered = uncovered.assign(n_types=uncovered["types_not_served"].str.count(",") + 1)
    chosen = layers.chosen.drop(columns=["kind"], errors="ignore")
    return {
        "blocks": blocks,
        "chosen_sites": chosen,
        "existing": layers.existing,
        "uncovered_blocks": gpd.GeoDataFrame(uncovered, geometry="geometry", crs=layers.blocks.crs),
        "service_areas": layers.service_areas,
    }


def _gpkg_safe(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GDAL can store: nullable integers as float, objects as text."""
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if isinstance(s.dtype, pd.Int64Dtype) or str(s.dtype) in ("Int32", "Int64"):
            out[col] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif s.dtype == object:
            out[col] = s.map(lambda v: None if v is None or v is pd.NA else str(v))
        elif isinstance(s.dtype, pd.BooleanDtype):
            out[col] = s.astype(object).map(lambda v: None if v is pd.NA else bool(v))
    return out


def write_geopackage(path: Path, run: RunOutputs, layers: MapLayers) -> Path:
    """Write ``plan.gpkg`` (every layer) atomically; return its path."""
    frames = geopackage_layers(run, layers)

    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")  # GDAL wants the .gpkg suffix
    tmp.unlink(missing_ok=True)
    try:
        for name, gdf in frames.items():
            _gpkg_safe(gdf).to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
