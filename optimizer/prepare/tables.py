"""Reading the raw tables a bureau holds: spreadsheets and GIS layers, any encoding and CRS.

CSV files may be UTF-8, UTF-8 with BOM, GBK or GB18030 (:mod:`optimizer.textfiles` detects
which) and have Chinese headers: a source's ``columns`` maps the contract's names to the file's
(``{site_id: 编号, floor_area_m2: 建筑面积}``). Points come from ``lon``/``lat`` columns (in
``coords``: WGS84, GCJ-02 or BD-09, converted to WGS84) or ``x``/``y`` in ``crs``. GIS layers
(GeoPackage, Shapefile, GeoJSON, GeoParquet) keep their own CRS. Every table is returned in the
target CRS.
"""

from __future__ import annotations

import io
import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from optimizer.errors import ProblemCollector
from optimizer.prepare.coords import to_wgs84
from optimizer.prepare.recipe import SourceSpec
from optimizer.textfiles import read_text

log = logging.getLogger(__name__)

SPREADSHEET_SUFFIXES = (".csv", ".xlsx", ".xls")
WGS84 = "EPSG:4326"


def read_source(
    spec: SourceSpec, target_crs: str | None, problems: ProblemCollector
) -> gpd.GeoDataFrame | None:
    """Read one raw table into the contract's column names, in ``target_crs`` (if given).

    Problems (unreadable file, mapped column absent, no coordinates) are added to
    ``problems`` and ``None`` is returned.
    """
    suffix = spec.path.suffix.lower()
    try:
        if suffix in SPREADSHEET_SUFFIXES:
            gdf = _read_spreadsheet(spec, problems)
        elif suffix in (".parquet", ".geoparquet"):
            gdf = _mapped(gpd.read_parquet(spec.path), spec, problems)
        else:
            gdf = _mapped(
                gpd.read_file(spec.path, layer=spec.layer, engine="pyogrio"), spec, problems
            )
    except Exception as exc:  # any reader failure is the user's file: report, don't crash
        problems.add(spec.label, None, f"cannot read the file: {exc}".replace("\n", " "))
        return None
    if gdf is None:
        return None
    if gdf.crs is None:
        if spec.crs is None:
            problems.add(spec.label, "geometry", "no CRS: set `crs:` for this source")
            return None
        gdf = gdf.set_crs(spec.crs)
    if target_crs is not None and not gdf.crs.equals(target_crs):
        log.info("%s: reprojected from %s to %s", spec.label, gdf.crs.to_string(), target_crs)
        gdf = gdf.to_crs(target_crs)
    return gdf


def _mapped(df: pd.DataFrame, spec: SourceSpec, problems: ProblemCollector) -> pd.DataFrame | None:
    """Rename the file's columns to the contract's; report mapped columns the file lacks."""
    missing = [src for src in spec.columns.values() if src not in df.columns]
    if missing:
        problems.add(spec.label, ", ".join(missing), "mapped column not found in the file")
        return None
    return df.rename(columns={src: dst for dst, src in spec.columns.items()})


def _read_spreadsheet(spec: SourceSpec, problems: ProblemCollector) -> gpd.GeoDataFrame | None:
    if spec.path.suffix.lower() == ".csv":
        text = read_text(spec.path)
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    else:
        raw = pd.read_excel(spec.path, sheet_name=spec.layer or 0, dtype=str)
    raw.columns = [str(c).strip() for c in raw.columns]
    df = _mapped(raw, spec, problems)
    if df is None:
        return None
    if {"lon", "lat"} <= set(df.columns):
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
        if spec.coords != "wgs84":
            log.info("%s: %s coordinates converted to WGS84", spec.label, spec.coords.upper())
        lon, lat = to_wgs84(lon, lat, spec.coords)
        xs, ys, crs, cols = lon, lat, WGS84, ["lon", "lat"]
    elif {"x", "y"} <= set(df.columns):
        if spec.crs is None:
            problems.add(spec.label, "x, y", "x/y coordinates need `crs:` for this source")
            return None
        xs = pd.to_numeric(df["x"], errors="coerce").to_numpy(dtype=float)
        ys = pd.to_numeric(df["y"], errors="coerce").to_numpy(dtype=float)
        crs, cols = spec.crs, ["x", "y"]
    else:
        problems.add(
            spec.label,
            "lon, lat",
            "the table needs lon, lat (or x, y) columns: map yours with `columns:` "
            "(e.g. {lon: 经度, lat: 纬度})",
        )
        return None
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        rows = [f"row {i + 1}" for i in np.flatnonzero(bad)]
        problems.add(spec.label, ", ".join(cols), "missing or non-numeric coordinates", rows)
        return None
    return gpd.GeoDataFrame(df.drop(columns=cols), geometry=gpd.points_from_xy(xs, ys), crs=crs)


def numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats (NaN where absent or not a number)."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
