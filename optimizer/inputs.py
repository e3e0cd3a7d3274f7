"""Reading and validating the input tables (blocks, sites, existing facilities).

Readers accept GeoPackage, GeoParquet, Shapefile (any format GDAL reads) and CSV with ``x``/``y``
columns in the scenario's CRS or ``lon``/``lat``. Validation runs once, here at the boundary,
collects every problem of every table and raises one :class:`~optimizer.errors.InputError` that
names the file, the column and the offending ids.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from optimizer.errors import ProblemCollector
from optimizer.scenario import Scenario, TableSpec
from optimizer.textfiles import file_sha256, read_text

log = logging.getLogger(__name__)

AGE_COLUMNS = ("pop_0_2", "pop_3_5", "pop_60_plus")
BLOCK_COLUMNS = ("block_id", "population", "households", *AGE_COLUMNS)
SITE_COLUMNS = ("site_id", "floor_area_m2", "fixed_cost")
EXISTING_COLUMNS = ("facility_id", "type", "capacity")
POINTLIKE = {"Point", "Polygon", "MultiPolygon", "MultiPoint"}
YEAR_RANGE = (1900, 2200)  # an available_year outside it is a typo, not a plan year


@dataclass
class Inputs:
    """Validated input tables, all in one projected CRS, ids as strings.

    Each table keeps its geometry (for maps and GeoPackage output) and gains ``x``/``y``
    columns: the point used for distances (a polygon's representative point).
    """

    blocks: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    existing: gpd.GeoDataFrame
    crs: CRS
    file_hashes: dict[str, str] = field(default_factory=dict)


def read_inputs(scenario: Scenario) -> Inputs:
    """Read and validate every input table of a scenario.

    Raises
    ------
    InputError
        Listing every problem found in any table.
    """
    problems = ProblemCollector()
    scenario_crs = scenario.crs
    blocks = read_table(scenario.blocks, scenario_crs, problems)
    sites = read_table(scenario.sites, scenario_crs, problems)
    existing = (
        read_table(scenario.existing, scenario_crs, problems)
        if scenario.existing is not None
        else None
    )
    problems.raise_if_any()
    assert blocks is not None and sites is not None

    tables: list[tuple[TableSpec, gpd.GeoDataFrame]] = [
        (scenario.blocks, blocks),
        (scenario.sites, sites),
    ]
    validate_blocks(blocks, scenario.blocks.label, problems)
    validate_sites(sites, scenario.sites.label, scenario.known_types, problems)
    if existing is not None and scenario.existing is not None:
        validate_existing(existing, scenario.existing.label, scenario.known_types, problems)
        tables.append((scenario.existing, existing))
    crs = validate_crs(tables, scenario_crs, problems)
    if crs is not None:
        for spec, gdf in tables:
            column = "x, y" if spec.path.suffix.lower() == ".csv" else "geometry"
            check_coordinates(gdf, spec.label, column, crs, problems)
    problems.raise_if_any()
    assert crs is not None

    if existing is None:
        existing = gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in EXISTING_COLUMNS},
            geometry=gpd.GeoSeries([], crs=crs),
        )
    hashes = {
        str(spec.path): file_sha256(spec.path)
        for spec in (scenario.blocks, scenario.sites, scenario.existing)
        if spec is not None
    }
    return Inputs(
        blocks=_with_points(_normalise_blocks(blocks)),
        sites=_with_points(_normalise_sites(sites)),
        existing=_with_points(_normalise_existing(existing)),
        crs=crs,
        file_hashes=hashes,
    )


# --------------------------------------------------------------------------- reading


def read_table(
    spec: TableSpec, scenario_crs: str | None, problems: ProblemCollector
) -> gpd.GeoDataFrame | None:
    """Read one table into a GeoDataFrame with the contract's column names.

    Problems (unreadable file, missing layer, CSV without coordinates) are added to
    ``problems`` and ``None`` is returned.
    """
    path = spec.path
    label = spec.label
    try:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            gdf = _read_csv(path, spec, scenario_crs, label, problems)
        elif suffix in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path, layer=spec.layer, engine="pyogrio")
    except Exception as exc:  # any reader failure is the user's file: report, don't crash
        problems.add(label, None, f"cannot read the file: {exc}".replace("\n", " "))
        return None
    if gdf is None:
        return None
    if spec.columns and path.suffix.lower() != ".csv":  # _read_csv maps its own columns
        _check_mapped_columns(spec, gdf.columns, problems)
        gdf = gdf.rename(columns={src: dst for dst, src in spec.columns.items()})
    if spec.crs and gdf.crs is None:
        gdf = gdf.set_crs(spec.crs)
    if gdf.crs is not None and gdf.crs.is_geographic and scenario_crs:
        # lon/lat layers are projected like lon/lat CSV columns and OSM extracts
        log.info("%s: lon/lat (%s) reprojected to %s", label, gdf.crs.to_string(), scenario_crs)
        gdf = gdf.to_crs(scenario_crs)
    return gdf


def _check_mapped_columns(
    spec: TableSpec, found: Iterable[object], problems: ProblemCollector
) -> None:
    """Report the file's column names that ``columns:`` maps but the file lacks."""
    present = set(found)
    missing = [src for src in spec.columns.values() if src not in present]
    if missing:
        problems.add(spec.label, ", ".join(missing), "mapped column not found in the file")


def _read_csv(
    path: Path,
    spec: TableSpec,
    scenario_crs: str | None,
    label: str,
    problems: ProblemCollector,
) -> gpd.GeoDataFrame | None:
    # every column as text: ids such as 001 stay as written; numbers are parsed when checked
    df = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False, na_values=[""])
    if spec.columns:
        _check_mapped_columns(spec, df.columns, problems)
        df = df.rename(columns={src: dst for dst, src in spec.columns.items()})
    if {"x", "y"} <= set(df.columns):
        crs = spec.crs or scenario_crs
        if crs is None:
            problems.add(label, "x, y", "CSV coordinates need a CRS: set `crs:` in the scenario")
            return None
        xs, ys, cols = df["x"], df["y"], ["x", "y"]
    elif {"lon", "lat"} <= set(df.columns):
        if scenario_crs is None:
            problems.add(
                label,
                "lon, lat",
                "lon/lat need a projected target CRS: set `crs:` (e.g. EPSG:4548) in the scenario",
            )
            return None
        xs, ys, cols, crs = df["lon"], df["lat"], ["lon", "lat"], "EPSG:4326"
    else:
        problems.add(label, "x, y", "CSV needs coordinate columns x, y (or lon, lat)")
        return None
    x = pd.to_numeric(xs, errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(ys, errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        problems.add(label, ", ".join(cols), "missing or non-numeric coordinates", _ids(df, bad))
        return None
    if crs == "EPSG:4326" and not _lon_lat_in_range(x, y, label, df, problems):
        return None
    gdf = gpd.GeoDataFrame(df.drop(columns=cols), geometry=gpd.points_from_xy(x, y), crs=crs)
    if crs == "EPSG:4326":
        gdf = gdf.to_crs(scenario_crs)
    return gdf


def _lon_lat_in_range(
    lon: np.ndarray, lat: np.ndarray, label: str, df: pd.DataFrame, problems: ProblemCollector
) -> bool:
    """Longitudes within [-180, 180], latitudes within [-90, 90]; a swap is named as such."""
    bad = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if not bad.any():
        return True
    swapped = bool(np.all(np.abs(lat[bad]) <= 180) and np.all(np.abs(lon[bad]) <= 90))
    hint = "; lon and lat look swapped" if swapped else ""
    problems.add(
        label,
        "lon, lat",
        f"longitude must lie within -180..180 and latitude within -90..90{hint}",
        _ids(df, bad),
    )
    return False


def check_coordinates(
    gdf: gpd.GeoDataFrame, label: str, column: str, crs: CRS, problems: ProblemCollector
) -> None:
    """Coordinates must be finite, and not degrees written into a projected CRS's x/y.

    A table whose every coordinate lies within |x| <= 180 and |y| <= 90 while its CRS is
    projected (metres) almost surely holds longitudes and latitudes: planning on it would put
    every block within metres of every other, or out of reach of every site.
    """
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        return
    geom = gdf.geometry.to_numpy()
    present = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    if not present.any():
        return
    bounds = shapely.bounds(geom[present])
    finite = np.isfinite(bounds).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(present)[~finite]
        problems.add(label, column, "coordinates are not finite numbers", _ids_at(gdf, rows))
        return
    if (
        crs.is_projected
        and np.all(np.abs(bounds[:, [0, 2]]) <= 180)
        and np.all(np.abs(bounds[:, [1, 3]]) <= 90)
    ):
        problems.add(
            label,
            column,
            f"the coordinates look like degrees (every |x| <= 180, |y| <= 90) but the CRS "
            f"{crs.to_string()} is projected (metres): name the columns lon, lat, or give "
            "projected coordinates",
        )


def _ids_at(gdf: gpd.GeoDataFrame, rows: np.ndarray) -> list[str]:
    """Ids of the given rows (the table's id column when there is one, else row numbers)."""
    for col in ("block_id", "site_id", "facility_id"):
        if col in gdf.columns:
            return [str(v) for v in id_text(gdf[col]).to_numpy()[rows]]
    return [f"row {i + 1}" for i in rows]


# --------------------------------------------------------------------------- validation


def validate_blocks(df: pd.DataFrame, label: str, problems: ProblemCollector) -> None:
    """Blocks: ids, populations, age groups within population, area types, geometry."""
    if not _has_rows_and_columns(df, label, BLOCK_COLUMNS, problems):
        return
    ids = _check_ids(df, "block_id", label, problems)
    values = {
        c: _check_numeric(df, c, label, ids, problems, minimum=0.0) for c in BLOCK_COLUMNS[1:]
    }
    pop = values["population"]
    for col in AGE_COLUMNS:
        over = values[col] > pop
        if over.any():
            problems.add(label, col, "age group larger than the population", ids[over])
    ages = values["pop_0_2"] + values["pop_3_5"] + values["pop_60_plus"]
    over = ages > pop
    if over.any():
        problems.add(
            label,
            "pop_0_2+pop_3_5+pop_60_plus",
            "age groups add up to more than the population",
            ids[over],
        )
    over = values["households"] > pop
    if over.any():
        problems.add(label, "households", "more households than residents", ids[over])
    if "area_type" in df.columns:
        area = df["area_type"].fillna("new").astype(str).str.strip().str.lower()
        bad = ~area.isin(["new", "old", ""])
        if bad.any():
            problems.add(label, "area_type", "must be 'new' or 'old'", ids[bad.to_numpy()])
    _check_geometry(df, label, ids, POINTLIKE, problems)


def validate_sites(
    df: pd.DataFrame, label: str, known_types: Sequence[str], problems: ProblemCollector
) -> None:
    """Candidate sites: ids, floor area > 0, costs >= 0, allowed types known, geometry."""
    if not _has_rows_and_columns(df, label, SITE_COLUMNS, problems):
        return
    ids = _check_ids(df, "site_id", label, problems)
    area = _check_numeric(df, "floor_area_m2", label, ids, problems)
    nonpos = area <= 0
    if nonpos.any():
        problems.add(label, "floor_area_m2", "floor area must be positive", ids[nonpos])
    _check_numeric(df, "fixed_cost", label, ids, problems, minimum=0.0)
    if "cost_per_m2" in df.columns:
        _check_numeric(df, "cost_per_m2", label, ids, problems, minimum=0.0, allow_missing=True)
    if "available_year" in df.columns:
        _check_years(df["available_year"], label, ids, problems)
    if "allowed_types" in df.columns:
        unknown = _unknown_types(df["allowed_types"], known_types)
        if unknown:
            bad_types = sorted({t for ts in unknown.values() for t in ts})
            problems.add(
                label,
                "allowed_types",
                f"unknown facility types {', '.join(bad_types)}; known: {', '.join(known_types)}",
                [ids[i] for i in unknown],
            )
    _check_geometry(df, label, ids, POINTLIKE, problems)


def validate_existing(
    df: pd.DataFrame, label: str, known_types: Sequence[str], problems: ProblemCollector
) -> None:
    """Existing facilities: ids, known type, capacity >= 0, geometry."""
    if not _has_rows_and_columns(df, label, EXISTING_COLUMNS, problems, allow_empty=True):
        return
    ids = _check_ids(df, "facility_id", label, problems)
    types = df["type"].astype("string").str.strip()
    bad = ~types.isin(list(known_types)).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        problems.add(
            label,
            "type",
            f"unknown facility types {', '.join(sorted(set(types[bad].fillna('<missing>'))))}; "
            f"known: {', '.join(known_types)}",
            ids[bad],
        )
    _check_numeric(df, "capacity", label, ids, problems, minimum=0.0)
    _check_geometry(df, label, ids, POINTLIKE, problems)


def validate_crs(
    tables: Iterable[tuple[TableSpec, gpd.GeoDataFrame]],
    scenario_crs: str | None,
    problems: ProblemCollector,
) -> CRS | None:
    """All tables must share one projected CRS (metres), the scenario's if it names one."""
    expected = CRS.from_user_input(scenario_crs) if scenario_crs else None
    found: CRS | None = None
    for spec, gdf in tables:
        crs = gdf.crs
        if crs is None:
            problems.add(
                spec.label, "geometry", "no CRS: set `crs:` for this input in the scenario"
            )
            continue
        if crs.is_geographic:
            problems.add(
                spec.label,
                "geometry",
                f"geographic CRS {crs.to_string()}: distances need a projected CRS in metres "
                "(e.g. EPSG:4548); reproject the file",
            )
            continue
        reference = expected or found
        if reference is not None and not crs.equals(reference):
            problems.add(
                spec.label,
                "geometry",
                f"CRS {crs.to_string()} differs from {reference.to_string()}"
                + (" (the scenario's crs)" if expected is not None else " (the other inputs)"),
            )
            continue
        found = found or crs
    return expected or found


def _has_rows_and_columns(
    df: pd.DataFrame,
    label: str,
    required: Sequence[str],
    problems: ProblemCollector,
    allow_empty: bool = False,
) -> bool:
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.add(label, ", ".join(missing), "required column missing")
    if len(df) == 0 and not allow_empty:
        problems.add(label, None, "the table is empty")
        return False
    return not missing


def _ids(df: pd.DataFrame, mask: pd.Series | np.ndarray) -> list[str]:
    idx = np.flatnonzero(np.asarray(mask))
    return [f"row {i + 1}" for i in idx]


def id_text(column: pd.Series) -> pd.Series:
    """Ids as text, stripped; a number column's whole numbers without a trailing ``.0``.

    CSV ids are read as text and stay exactly as written (``001`` stays ``001``); a
    GeoPackage or Parquet file may store ids as numbers, and a float column (a number column
    with a gap) would otherwise turn ``17`` into ``17.0``.
    """
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=float)
        whole = np.isfinite(values) & (np.round(values) == values)
        text = column.astype(str).to_numpy(dtype=object)
        text[whole] = [str(int(v)) for v in values[whole]]
        return pd.Series(text, index=column.index).where(column.notna(), None).str.strip()
    return column.astype("string").str.strip().astype(object).where(column.notna(), None)


def _check_ids(df: pd.DataFrame, col: str, label: str, problems: ProblemCollector) -> np.ndarray:
    """Return ids as strings (row labels where an id is missing); report missing/duplicates."""
    text = id_text(df[col])
    missing = text.isna().to_numpy() | (text.fillna("") == "").to_numpy()
    ids = text.fillna("").to_numpy(dtype=object, copy=True)
    if missing.any():
        rows = np.flatnonzero(missing)
        ids[rows] = [f"row {i + 1}" for i in rows]
        problems.add(label, col, "missing id", ids[rows])
    dup = pd.Series(ids).duplicated(keep=False).to_numpy() & ~missing
    if dup.any():
        problems.add(label, col, "duplicate ids", sorted(set(ids[dup])))
    return ids


def _check_numeric(
    df: pd.DataFrame,
    col: str,
    label: str,
    ids: np.ndarray,
    problems: ProblemCollector,
    minimum: float | None = None,
    allow_missing: bool = False,
) -> np.ndarray:
    """Return the column as floats (NaN where bad); report missing and below-minimum values."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    nonnumeric = df[col].notna().to_numpy() & np.isnan(values)
    if nonnumeric.any():
        problems.add(label, col, "not a number", ids[nonnumeric])
    missing = df[col].isna().to_numpy()
    if missing.any() and not allow_missing:
        problems.add(label, col, "missing values", ids[missing])
    infinite = np.isinf(values)
    if infinite.any():
        problems.add(label, col, "infinite values: every number must be finite", ids[infinite])
    if minimum is not None:
        below = values < minimum
        if below.any():
            word = "negative values" if minimum == 0 else f"values below {minimum}"
            problems.add(label, col, word, ids[below])
    return values


def _check_years(
    column: pd.Series, label: str, ids: np.ndarray, problems: ProblemCollector
) -> None:
    """``available_year``: empty (available now) or a whole year within :data:`YEAR_RANGE`."""
    year = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    given = column.notna().to_numpy()
    lo, hi = YEAR_RANGE
    bad = given & ~(np.isfinite(year) & (np.round(year) == year))
    if bad.any():
        problems.add(label, "available_year", "must be a whole year", ids[bad])
    out = given & ~bad & ((year < lo) | (year > hi))
    if out.any():
        problems.add(label, "available_year", f"must lie within {lo}-{hi}", ids[out])


def _check_geometry(
    df: pd.DataFrame,
    label: str,
    ids: np.ndarray,
    allowed: set[str],
    problems: ProblemCollector,
) -> None:
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.name not in df.columns:
        problems.add(label, "geometry", "no geometry column")
        return
    geom = df.geometry
    empty = (geom.isna() | geom.is_empty).to_numpy()
    if empty.any():
        problems.add(label, "geometry", "missing or empty geometry", ids[empty])
    kinds = geom.geom_type.fillna("").to_numpy(dtype=object)
    bad = ~empty & ~np.isin(kinds, list(allowed))
    if bad.any():
        problems.add(
            label,
            "geometry",
            f"unsupported geometry types {', '.join(sorted(set(kinds[bad])))}; "
            "use points or polygons",
            ids[bad],
        )


def _unknown_types(column: pd.Series, known: Sequence[str]) -> dict[int, list[str]]:
    """Row position -> unknown type names in a comma-separated ``allowed_types`` column."""
    known_set = set(known)
    out: dict[int, list[str]] = {}
    for pos, tokens in enumerate(split_type_lists(column)):
        bad = [t for t in tokens if t not in known_set]
        if bad:
            out[pos] = bad
    return out


def split_type_lists(column: pd.Series) -> list[list[str]]:
    """Parse a comma-separated type-list column; empty or missing means 'any type' (``[]``)."""
    text = column.fillna("").astype(str)
    return [[t.strip() for t in s.split(",") if t.strip()] for s in text]


# --------------------------------------------------------------------------- normalising


def _normalise_blocks(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = df.copy()
    out["block_id"] = id_text(out["block_id"])
    for col in BLOCK_COLUMNS[1:]:
        out[col] = pd.to_numeric(out[col]).astype(float)
    area = out["area_type"] if "area_type" in out.columns else pd.Series("new", index=out.index)
    out["area_type"] = area.fillna("new").astype(str).str.strip().str.lower().replace("", "new")
    if "name" not in out.columns:
        out["name"] = out["block_id"]
    return out


def _normalise_sites(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = df.copy()
    out["site_id"] = id_text(out["site_id"])
    for col in ("floor_area_m2", "fixed_cost"):
        out[col] = pd.to_numeric(out[col]).astype(float)
    out["cost_per_m2"] = (
        pd.to_numeric(out["cost_per_m2"]).astype(float) if "cost_per_m2" in out.columns else np.nan
    )
    if "allowed_types" not in out.columns:
        out["allowed_types"] = ""
    out["allowed_types"] = out["allowed_types"].fillna("").astype(str)
    if "available_year" in out.columns:
        out["available_year"] = pd.to_numeric(out["available_year"]).astype("Int64")
    else:
        out["available_year"] = pd.array([pd.NA] * len(out), dtype="Int64")
    if "name" not in out.columns:
        out["name"] = out["site_id"]
    if "kind" not in out.columns:
        out["kind"] = ""
    return out


def _normalise_existing(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = df.copy()
    out["facility_id"] = id_text(out["facility_id"])
    out["type"] = out["type"].astype(str).str.strip()
    out["capacity"] = pd.to_numeric(out["capacity"]).astype(float)
    if "name" not in out.columns:
        out["name"] = out["facility_id"]
    return out


def _with_points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``x``/``y``: the point itself, or a polygon's representative point."""
    out = gdf.reset_index(drop=True)
    pts = shapely.point_on_surface(out.geometry.to_numpy())
    out["x"] = shapely.get_x(pts)
    out["y"] = shapely.get_y(pts)
    return out
