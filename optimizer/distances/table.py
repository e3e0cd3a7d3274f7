"""Precomputed walking distances: an OD table read, checked and used as given (mode ``table``).

The table (:class:`TableEngine`) is an OD matrix computed elsewhere: ``demand_id, site_id,
distance`` rows (``block_id`` and ``distance_m`` are accepted as the same columns), where
``site_id`` holds candidate site ids and existing facility ids alike. A pair missing from the
table is out of walking range. :func:`block_site_table` writes such a table from any engine.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from optimizer.distances.base import (
    DistanceEngine,
    DistancePairs,
    Ids,
    missing_source,
    point_arrays,
)
from optimizer.errors import InputError, ProblemCollector, preview_ids
from optimizer.inputs import Inputs
from optimizer.scenario import DistanceSettings, TableSpec
from optimizer.textfiles import read_text

log = logging.getLogger(__name__)


TABLE_COLUMNS = {
    "demand_id": ("demand_id", "block_id"),
    "site_id": ("site_id",),
    "distance": ("distance", "distance_m"),
}
"""The table's columns and the names each may go by in a file."""


# --------------------------------------------------------------------------- the engine


class TableEngine:
    """Distances from a precomputed OD table (distance mode ``table``), used as given.

    ``table`` has string columns ``demand_id`` and ``site_id`` and a float ``distance``,
    already validated (:func:`read_distance_table`); ``site_id`` may hold candidate sites and
    existing facilities. A pair the table lacks is out of reach.
    """

    mode = "table"

    def __init__(self, table: pd.DataFrame, source: str = "distance table") -> None:
        self.table = table
        self.source = source

    def describe(self) -> str:
        return f"precomputed walking distances from {self.source} ({len(self.table):,} pairs)"

    def pairs(
        self,
        origins: np.ndarray,
        dests: np.ndarray,
        cutoff: float,
        *,
        origin_ids: Ids | None = None,
        dest_ids: Ids | None = None,
        names: tuple[str, str] = ("origins", "destinations"),
    ) -> DistancePairs:
        """The table's pairs between these ids within ``cutoff`` (ids are required)."""
        _, _, shape = point_arrays(origins, dests)
        if origin_ids is None or dest_ids is None:
            raise ValueError("distance mode 'table' needs origin_ids and dest_ids")
        rows = pd.Index(np.asarray(origin_ids, dtype=str)).get_indexer(self.table["demand_id"])
        cols = pd.Index(np.asarray(dest_ids, dtype=str)).get_indexer(self.table["site_id"])
        dist = self.table["distance"].to_numpy(dtype=float)
        keep = (rows >= 0) & (cols >= 0) & (dist <= cutoff)
        order = np.lexsort((cols[keep], rows[keep]))
        return DistancePairs(
            rows[keep][order].astype(np.int64),
            cols[keep][order].astype(np.int64),
            dist[keep][order],
            shape,
            float(cutoff),
        )


# --------------------------------------------------------------------------- reading


def read_distance_table(
    spec: TableSpec,
    block_ids: Sequence[object],
    site_ids: Sequence[object],
    existing_ids: Sequence[object],
    problems: ProblemCollector,
) -> pd.DataFrame | None:
    """Read and check an OD table (CSV or Parquet): every problem goes to ``problems``.

    Checks: required columns, missing ids, ids that are neither a block (``demand_id``) nor a
    candidate site or existing facility (``site_id``), ids that are both a site and an existing
    facility, missing, non-numeric, non-finite or negative distances, duplicate pairs.
    """
    label = spec.label
    try:
        if spec.path.suffix.lower() in (".parquet", ".geoparquet"):
            raw = pd.read_parquet(spec.path)
        else:
            # the same encodings as every other table: UTF-8 (BOM), GBK, GB18030
            text = io.StringIO(read_text(spec.path))
            raw = pd.read_csv(text, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # a reader failure is the user's file: report, don't crash
        problems.add(label, None, f"cannot read the distance table: {exc}".replace("\n", " "))
        return None
    raw = raw.rename(columns={src: dst for dst, src in spec.columns.items()})
    names: dict[str, str] = {}
    for contract, aliases in TABLE_COLUMNS.items():
        hit = next((a for a in aliases if a in raw.columns), None)
        if hit is None:
            problems.add(label, contract, "required column missing (" + " or ".join(aliases) + ")")
        else:
            names[contract] = hit
    if len(names) < len(TABLE_COLUMNS):
        return None
    table = pd.DataFrame(
        {
            "demand_id": _id_column(raw[names["demand_id"]]),
            "site_id": _id_column(raw[names["site_id"]]),
            "distance": pd.to_numeric(raw[names["distance"]], errors="coerce"),
        }
    )
    before = len(problems.problems)
    _check_table_ids(table, names, label, block_ids, site_ids, existing_ids, problems)
    _check_table_distances(table, raw[names["distance"]], names, label, problems)
    if len(problems.problems) > before:
        return None
    return table


def _id_column(col: pd.Series) -> pd.Series:
    text = col.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _pair_labels(table: pd.DataFrame, mask: np.ndarray) -> list[str]:
    sub = table.loc[mask, ["demand_id", "site_id"]].astype(str)
    return [f"{d}->{s}" for d, s in zip(sub["demand_id"], sub["site_id"], strict=True)]


def _check_table_ids(
    table: pd.DataFrame,
    names: dict[str, str],
    label: str,
    block_ids: Sequence[object],
    site_ids: Sequence[object],
    existing_ids: Sequence[object],
    problems: ProblemCollector,
) -> None:
    for contract in ("demand_id", "site_id"):
        missing = table[contract].isna().to_numpy()
        if missing.any():
            rows = [f"row {i + 1}" for i in np.flatnonzero(missing)]
            problems.add(label, names[contract], "missing id", rows)
    blocks, sites, existing = (
        np.asarray(ids, dtype=str) for ids in (block_ids, site_ids, existing_ids)
    )
    demand = np.asarray(table["demand_id"].dropna().unique(), dtype=str)
    unknown = np.sort(demand[~np.isin(demand, blocks)])
    if unknown.size:
        problems.add(
            label, names["demand_id"], "unknown block ids (not in the blocks table)", unknown
        )
    targets = np.asarray(table["site_id"].dropna().unique(), dtype=str)
    in_sites, in_existing = np.isin(targets, sites), np.isin(targets, existing)
    unknown = np.sort(targets[~in_sites & ~in_existing])
    if unknown.size:
        problems.add(
            label,
            names["site_id"],
            "unknown ids (neither a candidate site nor an existing facility)",
            unknown,
        )
    both = np.sort(targets[in_sites & in_existing])
    if both.size:
        problems.add(
            label,
            names["site_id"],
            "ambiguous ids: both a candidate site and an existing facility; rename one",
            both,
        )
    dup = table.duplicated(["demand_id", "site_id"], keep=False).to_numpy() & (
        table[["demand_id", "site_id"]].notna().all(axis=1).to_numpy()
    )
    if dup.any():
        problems.add(
            label,
            f"{names['demand_id']}, {names['site_id']}",
            "duplicate pairs",
            sorted(set(_pair_labels(table, dup))),
        )


def _check_table_distances(
    table: pd.DataFrame,
    raw: pd.Series,
    names: dict[str, str],
    label: str,
    problems: ProblemCollector,
) -> None:
    col = names["distance"]
    value = table["distance"].to_numpy(dtype=float)
    given = raw.notna().to_numpy() & (raw.astype("string").str.strip() != "").fillna(False)
    given = np.asarray(given, dtype=bool)
    checks = (
        (~given, "missing distances"),
        (given & np.isnan(value), "not a number"),
        (np.isinf(value), "infinite distances"),
        (value < 0, "negative distances"),
    )
    for mask, message in checks:
        if mask.any():
            problems.add(label, col, message, _pair_labels(table, mask))


# --------------------------------------------------------------------------- writing


def block_site_table(inputs: Inputs, engine: DistanceEngine, cutoff: float) -> pd.DataFrame:
    """Every block x candidate site pair within ``cutoff``: ``block_id, site_id, distance_m``.

    Any engine's distances, in the columns :func:`read_distance_table` reads back (``siting
    distances`` exports it so that a slow network run can be reused as mode ``table``).
    """
    blocks, sites = inputs.blocks, inputs.sites
    block_ids = blocks["block_id"].to_numpy(dtype=object)
    site_ids = sites["site_id"].to_numpy(dtype=object)
    pairs = engine.pairs(
        blocks[["x", "y"]].to_numpy(dtype=float),
        sites[["x", "y"]].to_numpy(dtype=float),
        cutoff,
        origin_ids=block_ids,
        dest_ids=site_ids,
        names=("blocks", "candidate sites"),
    )
    return pd.DataFrame(
        {
            "block_id": block_ids[pairs.rows].astype(str),
            "site_id": site_ids[pairs.cols].astype(str),
            "distance_m": np.round(pairs.dist, 3),
        }
    )


# --------------------------------------------------------------------------- factory


def table_engine(settings: DistanceSettings, inputs: Inputs | None) -> TableEngine:
    """The ``table`` engine of a scenario; the table is checked against the inputs' ids.

    Raises
    ------
    InputError
        Listing unknown ids, missing or negative distances, duplicate pairs.
    """
    spec = settings.table
    if spec is None:
        raise InputError([missing_source("table", "distances.table")], what="scenario")
    if inputs is None:
        raise ValueError("distance mode 'table' needs the inputs to check the table's ids")
    problems = ProblemCollector()
    table = read_distance_table(
        spec,
        inputs.blocks["block_id"].to_numpy(),
        inputs.sites["site_id"].to_numpy(),
        inputs.existing["facility_id"].to_numpy(),
        problems,
    )
    problems.raise_if_any()
    assert table is not None
    _warn_missing_targets(table, inputs, spec.label)
    return TableEngine(table, spec.label)


def _warn_missing_targets(table: pd.DataFrame, inputs: Inputs, label: str) -> None:
    listed = table["site_id"].to_numpy(dtype=str)
    for what, ids in (
        ("candidate sites", inputs.sites["site_id"]),
        ("existing facilities", inputs.existing["facility_id"]),
    ):
        known = ids.to_numpy(dtype=str)
        absent = known[~np.isin(known, listed)]
        if absent.size:
            log.warning(
                "%s: %d %s have no row in the distance table and reach no block: %s",
                label,
                len(absent),
                what,
                preview_ids(absent),
            )
