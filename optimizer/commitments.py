"""Builds already decided and sites not to use: checked against the site table, turned into the
planning model's fixed columns, and carried from one year's plan to the next.

Three sources of committed builds, merged per site:

- the scenario key ``model.committed`` (``{site, types, sizes, year}`` entries);
- the table ``inputs.committed`` (``site_id, facility_type, floor_area_m2, year``; one row per
  facility; an empty floor area or year is "not given");
- an earlier run's ``construction_list.csv`` through ``siting plan --continue-from RUN_DIR
  [--adopt-through YEAR]``: its rows up to that year (default: its first plan year), with the
  floor areas it listed.

Excluded sites come from ``model.excluded_sites`` and the table ``inputs.excluded_sites``
(a ``site_id`` column).

Every problem (unknown site ids, types not allowed at a site or not planned, sizes outside the
type's limits or the site's floor area, a year before the site is available or outside the
plan) is collected and raised together as one :class:`~optimizer.errors.InputError` naming the
file or key and the ids (exit 2). A committed set that alone costs more than a year's budget
is an infeasible request (:class:`~optimizer.errors.InfeasibleError`, exit 3), raised before
any solver runs.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from optimizer.errors import InfeasibleError, InputError, ProblemCollector, preview_ids
from optimizer.instance import PlanningInstance
from optimizer.models.planning.model import Commitments, PlanningData
from optimizer.scenario import CommittedEntry, Scenario, TableSpec
from optimizer.textfiles import read_text

log = logging.getLogger(__name__)

COMMITTED_COLUMNS = ("site_id", "facility_type", "floor_area_m2", "year")
"""Columns of a committed table (``floor_area_m2`` and ``year`` may be empty or absent)."""
TABLE_FIELDS = {"site": "site_id", "types": "facility_type", "sizes": "floor_area_m2"}
SIZE_TOL = 1e-6
"""Relative slack on size limits: a listed 350.0 m2 is the 350 m2 minimum."""


# --------------------------------------------------------------------------- reading tables


def read_plain_table(spec: TableSpec, problems: ProblemCollector) -> pd.DataFrame | None:
    """A table without geometry (CSV read as text; Parquet; a GeoPackage / Excel layer), with
    the scenario's column mapping applied; ``None`` (and a problem) when it cannot be read."""
    path = spec.path
    try:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            df = pd.read_csv(
                io.StringIO(read_text(path)), dtype=str, keep_default_na=False, na_values=[""]
            )
        elif suffix in (".parquet", ".geoparquet"):
            df = pd.read_parquet(path)
        elif suffix in (".xlsx", ".xls"):
            df = pd.read_excel(path, sheet_name=spec.layer or 0, dtype=str)
        else:
            df = pd.DataFrame(gpd.read_file(path, layer=spec.layer, engine="pyogrio"))
    except Exception as exc:  # any reader failure is the user's file: report, don't crash
        problems.add(spec.label, None, f"cannot read the file: {exc}".replace("\n", " "))
        return None
    if spec.columns:
        missing = [src for src in spec.columns.values() if src not in df.columns]
        if missing:
            problems.add(spec.label, ", ".join(missing), "mapped column not found in the file")
        df = df.rename(columns={src: dst for dst, src in spec.columns.items()})
    return df


def committed_from_table(
    df: pd.DataFrame, source: str, problems: ProblemCollector
) -> list[CommittedEntry]:
    """Committed entries from a table of one row per facility (see :data:`COMMITTED_COLUMNS`),
    grouped by site; rows are numbered as in the file (header = row 1)."""
    missing = [c for c in ("site_id", "facility_type") if c not in df.columns]
    if missing:
        problems.add(source, ", ".join(missing), "missing column")
        return []
    if df.empty:
        return []
    site = df["site_id"].astype("string").str.strip()
    ftype = df["facility_type"].astype("string").str.strip()
    area = _numbers(df, "floor_area_m2", source, problems)
    year = _numbers(df, "year", source, problems)
    blank = site.isna() | (site == "") | ftype.isna() | (ftype == "")
    if blank.any():
        problems.add(source, "site_id, facility_type", "empty", _rows(np.flatnonzero(blank)))
    whole = np.isnan(year) | (np.round(year) == year)
    if not whole.all():
        problems.add(source, "year", "not a whole year", _rows(np.flatnonzero(~whole)))
    entries = []
    keep = ~blank.to_numpy()
    for s in pd.unique(site[keep]):
        idx = np.flatnonzero((site == s).to_numpy() & keep)
        years = {int(y) for y in year[idx] if np.isfinite(y) and round(y) == y}
        if len(years) > 1:
            problems.add(source, "year", f"site {s} has rows with different years", _rows(idx))
        types = [str(ftype.iloc[i]) for i in idx]
        dup = sorted({t for t in types if types.count(t) > 1})
        if dup:
            problems.add(source, "facility_type", f"site {s} lists a type twice", dup)
        sizes = {str(ftype.iloc[i]): float(area[i]) for i in idx if np.isfinite(area[i])}
        entries.append(
            CommittedEntry(
                site=str(s),
                types=tuple(dict.fromkeys(types)),
                sizes=sizes,
                year=min(years) if years else None,
                source=source,
                where=_rows(idx)[0] if idx.size == 1 else f"rows {', '.join(_rows(idx))}",
            )
        )
    return entries


def _numbers(df: pd.DataFrame, column: str, source: str, problems: ProblemCollector) -> np.ndarray:
    """A numeric column (NaN where empty or absent); text that is not a number is reported."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "")
    if bad.any():
        problems.add(source, column, "not a number", _rows(np.flatnonzero(bad)))
    return values


def _rows(idx: Iterable[int]) -> list[str]:
    """File row numbers (the header is row 1)."""
    return [f"row {int(i) + 2}" for i in idx]


def excluded_from_table(df: pd.DataFrame, source: str, problems: ProblemCollector) -> list[str]:
    """Site ids of an excluded-sites table (column ``site_id``)."""
    if "site_id" not in df.columns:
        problems.add(source, "site_id", "missing column")
        return []
    ids = df["site_id"].astype("string").str.strip()
    return [str(s) for s in ids[ids.notna() & (ids != "")]]


# --------------------------------------------------------------------------- resolving


@dataclass(frozen=True)
class Decided:
    """What a scenario fixes before solving: committed entries and excluded site ids."""

    committed: tuple[CommittedEntry, ...]
    excluded: tuple[tuple[str, str], ...]  # (site id, where it was named)

    @property
    def empty(self) -> bool:
        return not self.committed and not self.excluded


def gather(scenario: Scenario) -> Decided:
    """The scenario's committed entries and excluded sites from its keys and tables.

    Raises
    ------
    InputError
        When a table cannot be read or lacks its columns.
    """
    problems = ProblemCollector()
    committed = list(scenario.model.committed)
    label = str(scenario.path)
    excluded = [(s, f"{label}, key 'model.excluded_sites'") for s in scenario.model.excluded_sites]
    if scenario.committed_table is not None:
        df = read_plain_table(scenario.committed_table, problems)
        if df is not None:
            committed += committed_from_table(df, scenario.committed_table.label, problems)
    if scenario.excluded_table is not None:
        df = read_plain_table(scenario.excluded_table, problems)
        if df is not None:
            table = scenario.excluded_table.label
            excluded += [(s, table) for s in excluded_from_table(df, table, problems)]
    problems.raise_if_any(InputError)
    return Decided(tuple(committed), tuple(excluded))


def commitments(
    decided: Decided, instance: PlanningInstance, years: Sequence[int] | None
) -> Commitments | None:
    """The model's :class:`Commitments` of the decided builds and excluded sites, after
    checking them against the site table, the catalog and the plan years (``None`` when
    nothing is decided).

    Raises
    ------
    InputError
        With every problem found, naming the file or key and the ids.
    """
    if decided.empty:
        return None
    problems = ProblemCollector()
    S = instance.n_sites
    index = {str(s): i for i, s in enumerate(instance.site_ids)}
    com = Commitments(
        period=np.full(S, -1, dtype=np.int64),
        prior=np.zeros(S, dtype=bool),
        year=np.full(S, np.nan),
        built={k: np.zeros(S, dtype=bool) for k in instance.types},
        area={k: np.full(S, np.nan) for k in instance.types},
        excluded=np.zeros(S, dtype=bool),
    )
    claimed: dict[int, CommittedEntry] = {}
    for entry in decided.committed:
        s = index.get(entry.site)
        if s is None:
            _add(problems, entry, "site", "unknown site id (not in the sites table)")
            continue
        if _check_entry(entry, s, instance, years, problems, claimed.get(s)):
            _commit(com, entry, s, years)
            claimed[s] = entry
    _exclude(com, decided.excluded, index, instance.site_ids, problems)
    problems.raise_if_any(InputError)
    n = int(com.committed.sum())
    log.info(
        "%d committed sites (%d facilities), %d excluded sites",
        n,
        sum(int(b.sum()) for b in com.built.values()),
        int(com.excluded.sum()),
    )
    return com


def _add(problems: ProblemCollector, entry: CommittedEntry, field: str, message: str) -> None:
    """A problem with one committed entry, under its scenario key or its table column."""
    if entry.where.startswith("model."):
        problems.add(entry.source, f"{entry.where}.{field}", message, [entry.site], "key")
    else:
        column = TABLE_FIELDS.get(field, field)
        problems.add(entry.source, column, f"{message} ({entry.where})", [entry.site])


def _check_entry(
    entry: CommittedEntry,
    s: int,
    instance: PlanningInstance,
    years: Sequence[int] | None,
    problems: ProblemCollector,
    earlier: CommittedEntry | None,
) -> bool:
    """Check one entry at site index ``s``; report every problem; True when it can be fixed."""
    before = len(problems.problems)
    if earlier is not None:
        _add(problems, entry, "site", f"site committed twice (also {earlier.where})")
        return False
    unplanned = [t for t in entry.types if t not in instance.types]
    if unplanned:
        _add(problems, entry, "types", f"not among the scenario's facility_types: {unplanned}")
    types = [t for t in entry.types if t in instance.types]
    barred = [t for t in types if not instance.types[t].eligible[s]]
    if barred:
        _add(
            problems,
            entry,
            "types",
            f"type not allowed at the site (allowed_types, or floor area below the type's "
            f"build size): {', '.join(barred)}",
        )
    floor = float(instance.floor_area[s])
    used = 0.0
    for t in types:
        f = instance.types[t].ftype
        size = entry.sizes.get(t)
        if size is None:
            used += f.min_area_m2
            continue
        used += size
        lo, hi = f.min_area_m2, min(f.max_area_m2, floor)
        if size < lo * (1 - SIZE_TOL) or size > hi * (1 + SIZE_TOL):
            _add(
                problems,
                entry,
                "sizes",
                f"{t} size {size:g} m2 outside {lo:g}-{hi:g} m2 (the type's limits and the "
                f"site's floor area {floor:g} m2)",
            )
    if used > floor * (1 + SIZE_TOL):
        _add(
            problems,
            entry,
            "sizes",
            f"the committed types need {used:g} m2 (given sizes, else each type's minimum); "
            f"the site's floor area is {floor:g} m2",
        )
    _check_year(entry, s, instance, years, problems)
    return len(problems.problems) == before


def _check_year(
    entry: CommittedEntry,
    s: int,
    instance: PlanningInstance,
    years: Sequence[int] | None,
    problems: ProblemCollector,
) -> None:
    avail = _float(instance.site_years[s])
    if entry.year is not None and np.isfinite(avail) and entry.year < avail:
        _add(
            problems,
            entry,
            "year",
            f"committed in {entry.year}, before the site's available_year {avail:g}",
        )
    if not years:
        return
    if entry.year is None:
        _add(
            problems,
            entry,
            "year",
            f"a phased plan ({years[0]}-{years[-1]}) needs the year the site is converted",
        )
    elif entry.year > years[-1]:
        _add(problems, entry, "year", f"{entry.year} is after the last plan year {years[-1]}")
    elif entry.year >= years[0] and entry.year not in years:
        _add(problems, entry, "year", f"{entry.year} is not a plan year ({list(years)})")


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _commit(com: Commitments, entry: CommittedEntry, s: int, years: Sequence[int] | None) -> None:
    """Write one checked entry into the arrays (prior: a year before the first plan year)."""
    year = entry.year
    if years and year is not None and year in years:
        com.period[s] = list(years).index(year)
    else:
        com.period[s] = 0
        com.prior[s] = bool(years) and year is not None and year < years[0]  # type: ignore[index]
    com.year[s] = np.nan if year is None else float(year)
    for t in entry.types:
        com.built[t][s] = True
        com.area[t][s] = entry.sizes.get(t, np.nan)


def _exclude(
    com: Commitments,
    excluded: Sequence[tuple[str, str]],
    index: dict[str, int],
    site_ids: np.ndarray,
    problems: ProblemCollector,
) -> None:
    """Mark excluded sites; unknown ids and sites also committed are reported."""
    by_source: dict[str, list[str]] = {}
    for site, where in excluded:
        by_source.setdefault(where, []).append(site)
    for where, sites in by_source.items():
        unknown = [x for x in sites if x not in index]
        if unknown:
            problems.add(where, None, "unknown site ids (not in the sites table)", unknown)
        known = np.array([index[x] for x in sites if x in index], dtype=np.int64)
        both = known[com.committed[known]]
        if both.size:
            problems.add(where, None, "sites both excluded and committed", site_ids[both])
        com.excluded[known] = True


# --------------------------------------------------------------------------- budgets


def committed_spending(data: PlanningData) -> np.ndarray:
    """The least each plan year must spend on its committed builds: fixed costs, committed
    sizes, the type's minimum size where the model sizes it (builds before the first plan
    year are paid from earlier budgets and count nothing)."""
    out = np.zeros(data.n_periods)
    com = data.committed
    if com is None:
        return out
    here = com.committed & ~com.prior
    np.add.at(out, com.period[here], data.fixed_cost[here])
    for t in data.types:
        b = com.built[t.key] & here
        size = np.where(np.isnan(com.area[t.key]), t.min_area, com.area[t.key])
        np.add.at(out, com.period[b], (t.rate * size)[b])
    return out


def check_committed_budgets(data: PlanningData, site_ids: np.ndarray) -> None:
    """Raise when the committed builds alone cost more than a year's budget (with carry-over:
    than the budgets through that year).

    Raises
    ------
    InfeasibleError
        Naming each such year, the committed cost, the budget and the sites.
    """
    if data.committed is None or data.budgets is None:
        return
    spent = committed_spending(data)
    use = np.cumsum(spent) if data.carry_over else spent
    cap = np.cumsum(data.budgets) if data.carry_over else np.asarray(data.budgets, dtype=float)
    years: list[Any] = list(data.years) if data.years else ["plan"]
    com = data.committed
    messages = []
    for k in np.flatnonzero(use > cap * (1 + 1e-9) + 1e-6):
        sites = (
            com.committed & ~com.prior & (com.period <= k if data.carry_over else com.period == k)
        )
        through = " through" if data.carry_over else ""
        messages.append(
            f"the committed builds alone cost {use[k]:,.0f} yuan in {years[k]}, more than the "
            f"budget{through} {years[k]} of {cap[k]:,.0f} yuan (committed sites "
            f"{preview_ids(site_ids[sites])})"
        )
    if messages:
        raise InfeasibleError(
            "; ".join(messages) + ": raise the budget or commit fewer or smaller builds"
        )


# --------------------------------------------------------------------------- continuing


@dataclass(frozen=True)
class Continuation:
    """An earlier run a new plan continues from (``siting plan --continue-from``).

    Attributes
    ----------
    run_dir : Path
        The earlier run's folder (read only).
    adopt_through : int
        Its rows up to this year are committed.
    entries : tuple of CommittedEntry
        Those rows, per site.
    sites : int or None
        How many candidate sites the earlier run planned (from its ``summary.json``).
    """

    run_dir: Path
    adopt_through: int
    entries: tuple[CommittedEntry, ...]
    sites: int | None

    def summary(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "adopt_through": self.adopt_through,
            "sites": [e.site for e in self.entries],
            "facilities": sum(len(e.types) for e in self.entries),
        }


def read_continuation(run_dir: Path, adopt_through: int | None = None) -> Continuation:
    """The rows of an earlier run's construction list to commit: those with ``year`` up to
    ``adopt_through`` (default: the earlier plan's first year). Nothing is written there.

    Raises
    ------
    InputError
        When the folder is not a complete run or its list cannot be read.
    """
    problems = ProblemCollector()
    label = str(run_dir)
    summary_path, list_path = run_dir / "summary.json", run_dir / "construction_list.csv"
    if not summary_path.is_file() or not list_path.is_file():
        problems.add(
            label,
            None,
            "not a complete planning run: --continue-from needs a run folder with "
            "summary.json and construction_list.csv",
        )
        problems.raise_if_any(InputError)
    try:
        summary = json.loads(read_text(summary_path))
    except (OSError, ValueError) as exc:
        problems.add(str(summary_path), None, f"cannot read the run summary: {exc}")
        problems.raise_if_any(InputError)
    df = read_plain_table(TableSpec(path=list_path), problems)
    problems.raise_if_any(InputError)
    assert df is not None
    year = _numbers(df, "year", str(list_path), problems)
    problems.raise_if_any(InputError)
    first = _first_plan_year(summary, year)
    adopt = adopt_through if adopt_through is not None else first
    if adopt is None:
        problems.add(label, "year", "the earlier plan has no years: give --adopt-through YEAR")
        problems.raise_if_any(InputError)
    assert adopt is not None
    rows = df[np.isfinite(year) & (year <= adopt)]
    if "floor_area_m2" not in rows.columns:
        problems.add(str(list_path), "floor_area_m2", "missing column")
    entries = committed_from_table(rows, str(list_path), problems)
    problems.raise_if_any(InputError)
    counts = summary.get("counts") if isinstance(summary, dict) else None
    n_sites = counts.get("sites") if isinstance(counts, dict) else None
    log.info(
        "continuing from %s: %d facilities at %d sites adopted through %d",
        run_dir,
        len(rows),
        len(entries),
        adopt,
    )
    if not entries:
        log.warning("the earlier plan in %s builds nothing through %d", run_dir, adopt)
    return Continuation(run_dir, int(adopt), tuple(entries), n_sites)


def _first_plan_year(summary: object, year: np.ndarray) -> int | None:
    """The earlier plan's first year: from its per-year totals, else its list's years."""
    per_year = summary.get("per_year") if isinstance(summary, dict) else None
    if isinstance(per_year, list) and per_year and isinstance(per_year[0], dict):
        first = per_year[0].get("year")
        if isinstance(first, int):
            return first
    finite = year[np.isfinite(year)]
    return int(finite.min()) if finite.size else None


def continue_scenario(scenario: Scenario, cont: Continuation) -> Scenario:
    """The scenario with the earlier run's adopted rows added to its committed builds."""
    model = replace(scenario.model, committed=(*scenario.model.committed, *cont.entries))
    return replace(scenario, model=model)


def check_continuation(cont: Continuation, instance: PlanningInstance) -> None:
    """The earlier run must have planned the same candidate sites.

    Raises
    ------
    InputError
        When its site count differs (site ids are checked with the committed rows).
    """
    if cont.sites is not None and int(cont.sites) != instance.n_sites:
        problems = ProblemCollector()
        problems.add(
            str(cont.run_dir / "summary.json"),
            "counts.sites",
            f"the earlier run planned {cont.sites} candidate sites, this scenario has "
            f"{instance.n_sites}: --continue-from needs the same sites table",
            field_kind="key",
        )
        problems.raise_if_any(InputError)
