"""Scenario files: what a planning run reads, which standards it uses and how it solves.

A scenario is a YAML file. Paths in it are relative to the file. Every key is checked against
a schema; unknown keys, wrong types and missing files are collected and raised together as
one :class:`~optimizer.errors.ScenarioError`.

Example
-------
.. code-block:: yaml

    name: sample-city
    crs: EPSG:4548
    inputs:
      blocks:   {path: ../data/sample_city.gpkg, layer: blocks}
      sites:    {path: ../data/sample_city.gpkg, layer: sites}
      existing: {path: ../data/sample_city.gpkg, layer: existing}
    facility_types: [elder_care, nursery, kindergarten, convenience]
    distances: {mode: euclidean, detour_factor: 1.3}
    catalog: {elder_care: {walk_limit_m: 300}}
    solver: {name: highs, time_limit_s: 120, mip_gap: 0}

For walking distances along streets add ``network: {path: streets.gpkg, layer: streets}`` (or
an OSM ``.osm``/``.osm.pbf`` extract) under ``inputs`` and ``distances: {mode: network,
snap_tolerance_m: 200}``; for an OD matrix from another GIS, ``distances: {mode: table, table:
od.csv}`` (columns ``demand_id, site_id, distance``).

``catalog`` overrides any field of a type (checked against the catalog's own schema,
:data:`optimizer.catalog.TYPE_SCHEMA`), e.g. ``{kindergarten: {size_classes_m2: [1800, 2700],
max_cost_per_resident: 500000}, convenience: {size_step_m2: null, cost_per_resident_flag:
2000}}``: standard sizes (a step or classes; ``null`` lets the type take any size), the most a
facility may cost per target resident it serves, and the threshold above which a
construction-list row is flagged.

Builds already decided and sites not to use (defaults: none):

.. code-block:: yaml

    model:
      committed:                      # fixed in the model, listed as "committed"
        - {site: S012, types: [elder_care, nursery], sizes: {elder_care: 400}, year: 2026}
      excluded_sites: [S003]
    inputs:
      committed: committed.csv        # or a table: site_id, facility_type, floor_area_m2, year
      excluded_sites: excluded.csv    # or a table with a site_id column

``sizes`` and ``year`` are optional (a type without a size is sized by the model within its
limits; ``year`` is required in a phased plan). A committed site hosts exactly its types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml
from pyproj import CRS
from pyproj.exceptions import CRSError

from optimizer.catalog import Catalog, builtin_catalog_data, load_catalog
from optimizer.errors import ProblemCollector, ScenarioError
from optimizer.textfiles import TextEncodingError, read_text


class ScenarioLoader(yaml.SafeLoader):
    """A safe YAML loader that reads ``1e8`` as a number, as YAML 1.2 does.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e8``); a budget written ``1e8``
    would otherwise arrive as the text ``'1e8'``.
    """


ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text with :class:`ScenarioLoader` (safe; ``1e8`` is a number)."""
    return yaml.load(text, Loader=ScenarioLoader)  # a SafeLoader subclass: safe


TABLE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": {"type": "string"},
                "layer": {"type": "string"},
                "columns": {"type": "object", "additionalProperties": {"type": "string"}},
                "crs": {"type": "string"},
            },
        },
    ]
}

DISTANCE_MODES = ("euclidean", "network", "table")
OBJECTIVES = ("min_cost_cover", "max_coverage")
_SHARE: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}

COMMITTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["site", "types"],
    "properties": {
        "site": {"type": ["string", "integer"]},
        "types": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "sizes": {
            "type": "object",
            "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
        },
        "year": {"type": "integer", "minimum": 1900, "maximum": 2200},
    },
}
"""One entry of ``model.committed``: a site already approved, the types built there, their
floor areas (optional: the model sizes a type without one within its limits) and the year the
site is converted (required in a phased plan)."""

# the name becomes a folder name (reports/<name>, <name>-distances): a plain file name
NAME_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,200}$"

SCENARIO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "inputs"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "description": {"type": "string"},
        "crs": {"type": "string"},
        "inputs": {
            "type": "object",
            "additionalProperties": False,
            "required": ["blocks", "sites"],
            "properties": {
                "blocks": TABLE_SCHEMA,
                "sites": TABLE_SCHEMA,
                "existing": TABLE_SCHEMA,
                "network": TABLE_SCHEMA,
                # optional tables: site_id, facility_type, floor_area_m2, year / site_id
                "committed": TABLE_SCHEMA,
                "excluded_sites": TABLE_SCHEMA,
            },
        },
        "facility_types": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "catalog": {"type": "object"},
        "distances": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mode": {"enum": list(DISTANCE_MODES)},
                "detour_factor": {"type": "number", "minimum": 1.0},
                "snap_tolerance_m": {"type": "number", "exclusiveMinimum": 0},
                "table": TABLE_SCHEMA,
                "cache": {"type": "boolean"},
                "cache_dir": {"type": "string"},
            },
        },
        "model": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "objective": {"enum": list(OBJECTIVES)},
                "years": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1900, "maximum": 2200},
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "budgets": {
                    "oneOf": [
                        {"type": "number", "exclusiveMinimum": 0},
                        {
                            "type": "object",
                            "minProperties": 1,
                            "propertyNames": {"pattern": "^[0-9]{4}$"},
                            "additionalProperties": {"type": "number", "minimum": 0},
                        },
                    ]
                },
                "carry_over": {"type": "boolean"},
                "coverage_targets": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[0-9]{4}$"},
                    "additionalProperties": {
                        "oneOf": [
                            _SHARE,
                            {"type": "object", "additionalProperties": _SHARE},
                        ]
                    },
                },
                "priorities": {
                    "type": "object",
                    "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                },
                "secondary": {"enum": ["none", "cost", "coverage", "walk"]},
                "essential_checks": {"type": "integer", "minimum": 0},
                "committed": {
                    "type": "array",
                    "items": COMMITTED_SCHEMA,
                    "default": [],
                    "description": "builds already decided, fixed in the model and listed as "
                    "committed: [{site, types, sizes (optional), year (phased plans)}]",
                },
                "excluded_sites": {
                    "type": "array",
                    "items": {"type": ["string", "integer"]},
                    "uniqueItems": True,
                    "default": [],
                    "description": "candidate site ids the plan may not use",
                },
            },
        },
        "solver": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "time_limit_s": {"type": "number", "exclusiveMinimum": 0},
                "mip_gap": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                "threads": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer"},
                "method": {"enum": ["auto", "mip", "decomposition"]},
            },
        },
        "output": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"dir": {"type": "string"}},
        },
    },
}

DEFAULT_FACILITY_TYPES = ["elder_care", "nursery", "kindergarten", "convenience"]


@dataclass(frozen=True)
class TableSpec:
    """Where one input table lives and how its columns map to the contract's names.

    ``columns`` maps contract names to the file's names, e.g. ``{"block_id": "ID"}``.
    """

    path: Path
    layer: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    crs: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path.name}" + (f" (layer {self.layer})" if self.layer else "")


@dataclass(frozen=True)
class DistanceSettings:
    """How walking distances are measured.

    ``euclidean``: straight-line distance times ``detour_factor`` (default 1.3, stated in
    every output). ``network``: metres along the street network ``network`` (a line layer or
    an OSM extract), points joining the nearest street within ``snap_tolerance_m``; results
    are cached in ``cache_dir`` (default ``.cache/distances`` under the working folder) unless
    ``cache`` is false. ``table``: a precomputed ``demand_id, site_id, distance`` table.

    The default mode is ``table`` when a table is given, else ``network`` when the scenario
    has ``inputs.network``, else ``euclidean``.
    """

    mode: str = "euclidean"
    detour_factor: float = 1.3
    snap_tolerance_m: float = 200.0
    network: TableSpec | None = None
    table: TableSpec | None = None
    cache: bool = True
    cache_dir: Path | None = None


@dataclass(frozen=True)
class SolverSettings:
    """Which backend solves the model and with which limits.

    ``method`` (``auto`` | ``mip`` | ``decomposition``): how a ``max_coverage`` plan under
    budgets is solved; ``auto`` uses the Lagrangian decomposition for city-sized models
    (:mod:`optimizer.models.planning.decomposition`) and one MIP otherwise.
    """

    name: str = "highs"
    time_limit_s: float = 120.0
    mip_gap: float = 0.0
    threads: int | None = None
    seed: int = 0
    method: Literal["auto", "mip", "decomposition"] = "auto"


@dataclass(frozen=True)
class CommittedEntry:
    """A build already decided (scenario key ``model.committed``, the ``inputs.committed``
    table, or an earlier run's construction list through ``siting plan --continue-from``).

    Attributes
    ----------
    site : str
        The candidate site's id.
    types : tuple of str
        The facility types built there (the site hosts exactly these).
    sizes : dict type -> m2
        Floor area of some of the types; the model sizes the others within their limits.
    year : int or None
        The year the site is converted (None: unphased plan).
    source : str
        Where the entry comes from (the scenario or table file), for error messages.
    where : str
        The scenario key (``model.committed.0``) or the table rows (``rows 2, 3``).
    """

    site: str
    types: tuple[str, ...]
    sizes: Mapping[str, float] = field(default_factory=dict)
    year: int | None = None
    source: str = ""
    where: str = ""


@dataclass(frozen=True)
class ModelSettings:
    """What the plan optimises (scenario key ``model``).

    Attributes
    ----------
    objective : {"min_cost_cover", "max_coverage"}
        ``min_cost_cover``: serve every coverable target resident at least cost (if that is
        impossible, serve the most, then at least cost). ``max_coverage``: serve the most
        target residents (priority-weighted coverage points) within the budgets.
    years : list of int or None
        Plan years; default: the years of ``budgets``. None = one unphased plan.
    budgets : dict year -> yuan, or None
        Spending limit per year (a single number = one budget for the whole plan).
    carry_over : bool
        Unspent budget carries over to the next year (default false).
    coverage_targets : dict year -> {type: share}
        Minimum share (0-1) of each type's coverable target residents served by that year.
    priorities : dict type -> weight
        Overrides of the catalog's priorities.
    secondary : {"none", "cost", "coverage", "walk"}
        An exact second objective at no loss in the first (default none: cost, or early
        coverage, only breaks ties).
    essential_checks : int
        How many chosen sites to re-solve without, to price doing without them (default 5).
    committed : tuple of CommittedEntry
        Builds already decided (``model.committed``; default none): fixed in the model, their
        cost counted in their year's budget (or, before the first plan year, in earlier ones).
    excluded_sites : tuple of str
        Candidate sites the plan may not use (``model.excluded_sites``; default none).
    """

    objective: str = "min_cost_cover"
    years: list[int] | None = None
    budgets: dict[int, float] | None = None
    carry_over: bool = False
    coverage_targets: dict[int, dict[str, float]] = field(default_factory=dict)
    priorities: dict[str, float] = field(default_factory=dict)
    secondary: str = "none"
    essential_checks: int = 5
    single_budget: float | None = None
    committed: tuple[CommittedEntry, ...] = ()
    excluded_sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: resolved paths, the catalog after overrides, settings."""

    name: str
    path: Path
    crs: str | None
    blocks: TableSpec
    sites: TableSpec
    existing: TableSpec | None
    facility_types: list[str]
    catalog: Catalog
    known_types: tuple[str, ...]
    distances: DistanceSettings
    solver: SolverSettings
    model: ModelSettings = field(default_factory=ModelSettings)
    output_dir: Path | None = None
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)
    committed_table: TableSpec | None = None
    excluded_table: TableSpec | None = None


def load_scenario(path: str | Path) -> Scenario:
    """Read, check and resolve a scenario file.

    Raises
    ------
    ScenarioError
        With every problem found: unreadable YAML, unknown keys, wrong types, missing input
        files, unknown facility types.
    """
    path = Path(path)
    label = str(path)
    problems = ProblemCollector()
    if not path.is_file():
        problems.add(label, None, "scenario file not found")
        problems.raise_if_any(ScenarioError)
    try:
        data = parse_yaml(read_text(path))
    except TextEncodingError as exc:
        problems.add(label, None, str(exc))
        problems.raise_if_any(ScenarioError)
    except OSError as exc:
        problems.add(label, None, f"cannot read the file: {exc.strerror or exc}")
        problems.raise_if_any(ScenarioError)
    except yaml.YAMLError as exc:
        problems.add(label, None, f"not valid YAML: {exc}".replace("\n", " "))
        problems.raise_if_any(ScenarioError)
    if not isinstance(data, dict):
        problems.add(label, None, "must be a YAML mapping of keys to values")
        problems.raise_if_any(ScenarioError)
    return scenario_from_data(data, path)


def scenario_from_data(data: dict[str, Any], path: Path, label: str | None = None) -> Scenario:
    """Check and resolve scenario ``data`` as if read from the file at ``path`` (relative
    paths are taken from its folder); problems are reported under ``label`` (default: the
    path). ``siting sweep`` uses it for changed copies of a scenario.

    Raises
    ------
    ScenarioError
        With every problem found.
    """
    path = Path(path)
    label = label or str(path)
    problems = ProblemCollector()
    validator = jsonschema.Draft202012Validator(SCENARIO_SCHEMA)
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        if _is_non_finite(err.instance):
            continue  # reported once below, as not finite
        err = _most_relevant(err)
        key = ".".join(str(p) for p in err.absolute_path) or None
        problems.add(label, key, _schema_message(err), field_kind="key")
    # values with the right structure but unusable numbers: reported with everything else
    values = ProblemCollector()
    for key, value in _non_finite_numbers(data):
        values.add(label, key, f"must be a finite number, not {value}", field_kind="key")
    if isinstance(data, Mapping):
        _check_crs_keys(data, label, values)
    if problems:
        problems.extend(values)
        problems.raise_if_any(ScenarioError)
    problems.extend(values)

    base = path.parent
    inputs = data["inputs"]
    specs = {name: _table_spec(inputs[name], base) for name in inputs}
    for name, spec in specs.items():
        if not spec.path.exists():
            problems.add(label, f"inputs.{name}", f"file not found: {spec.path}", field_kind="key")

    catalog: Catalog | None = None
    try:
        catalog = load_catalog(data.get("catalog"), source=label)
    except ScenarioError as exc:  # a non-finite catalog number is already reported above
        problems.problems.extend(p for p in exc.problems if p not in problems.problems)
    types = list(data.get("facility_types", DEFAULT_FACILITY_TYPES))
    known = (
        list(catalog)
        if catalog is not None
        else [*builtin_catalog_data(), *data.get("catalog", {})]
    )
    unknown = [t for t in types if t not in known]
    if unknown:
        problems.add(
            label,
            "facility_types",
            f"unknown facility types; the catalog has {', '.join(dict.fromkeys(known))}",
            unknown,
            field_kind="key",
        )
    model = _model_settings(data.get("model", {}), types, label, problems)
    model = replace(
        model,
        committed=_committed_entries(data.get("model", {}), types, model.years, label, problems),
        excluded_sites=tuple(str(s) for s in data.get("model", {}).get("excluded_sites", [])),
    )
    distances = _distance_settings(data.get("distances", {}), specs.get("network"), base)
    _check_distance_sources(distances, label, problems)
    problems.raise_if_any(ScenarioError)
    assert catalog is not None

    out = data.get("output", {}).get("dir")
    return Scenario(
        name=data["name"],
        path=path,
        crs=data.get("crs"),
        blocks=specs["blocks"],
        sites=specs["sites"],
        existing=specs.get("existing"),
        facility_types=types,
        catalog=catalog.subset(types),
        known_types=tuple(catalog),
        distances=distances,
        solver=SolverSettings(**data.get("solver", {})),
        model=model,
        output_dir=(base / out) if out else None,
        description=data.get("description", ""),
        raw=data,
        committed_table=specs.get("committed"),
        excluded_table=specs.get("excluded_sites"),
    )


def _model_settings(
    entry: Mapping[str, Any], types: list[str], label: str, problems: ProblemCollector
) -> ModelSettings:
    """Settings of the ``model`` key, with the checks that span several of its keys."""
    budgets_raw = entry.get("budgets")
    single = float(budgets_raw) if isinstance(budgets_raw, int | float) else None
    budgets = (
        {int(y): float(v) for y, v in budgets_raw.items()}
        if isinstance(budgets_raw, dict)
        else None
    )
    years = sorted(entry["years"]) if "years" in entry else (sorted(budgets) if budgets else None)
    if budgets is not None and years is not None:
        stray = sorted(set(budgets) - set(years))
        if stray:
            problems.add(
                label, "model.budgets", "years not in model.years", stray, field_kind="key"
            )
        budgets = {y: budgets.get(y, 0.0) for y in years}
    targets: dict[int, dict[str, float]] = {}
    for year, value in (entry.get("coverage_targets") or {}).items():
        per_type = value if isinstance(value, dict) else dict.fromkeys(types, value)
        unknown = sorted(set(per_type) - set(types))
        if unknown:
            problems.add(
                label,
                f"model.coverage_targets.{year}",
                "not among the scenario's facility_types",
                unknown,
                field_kind="key",
            )
        targets[int(year)] = {k: float(v) for k, v in per_type.items() if k in types}
    if targets and years is None:
        years = sorted(targets)
    if targets and years is not None:
        stray = sorted(set(targets) - set(years))
        if stray:
            problems.add(
                label,
                "model.coverage_targets",
                "years not in the plan years",
                stray,
                field_kind="key",
            )
    unknown_p = sorted(set(entry.get("priorities", {})) - set(types))
    if unknown_p:
        problems.add(
            label,
            "model.priorities",
            "not among the scenario's facility_types",
            unknown_p,
            field_kind="key",
        )
    objective = entry.get("objective", "min_cost_cover")
    if objective == "max_coverage" and budgets is None and single is None:
        problems.add(
            label,
            "model.budgets",
            "objective max_coverage needs a budget: a number, or {year: yuan, ...}",
            field_kind="key",
        )
    if single is not None and years is not None and len(years) > 1:
        problems.add(
            label,
            "model.budgets",
            "a single budget number needs a one-year plan; give {year: yuan} per year",
            field_kind="key",
        )
    if single is not None:
        budgets = {years[0]: single} if years else None
    return ModelSettings(
        objective=objective,
        years=years,
        budgets=budgets,
        carry_over=bool(entry.get("carry_over", False)),
        coverage_targets=targets,
        priorities={k: float(v) for k, v in entry.get("priorities", {}).items()},
        secondary=entry.get("secondary", "none"),
        essential_checks=int(entry.get("essential_checks", 5)),
        single_budget=single,
    )


def _committed_entries(
    entry: Mapping[str, Any],
    types: list[str],
    years: list[int] | None,
    label: str,
    problems: ProblemCollector,
) -> tuple[CommittedEntry, ...]:
    """The entries of ``model.committed``; types outside ``facility_types``, sizes of types
    not committed and a phased plan's missing year are reported (site ids, sizes and years
    are checked against the site table by :mod:`optimizer.commitments`)."""
    out = []
    for i, item in enumerate(entry.get("committed", [])):
        key = f"model.committed.{i}"
        unknown = [t for t in item["types"] if t not in types]
        if unknown:
            problems.add(
                label, f"{key}.types", "not among the scenario's facility_types", unknown, "key"
            )
        stray = [t for t in item.get("sizes", {}) if t not in item["types"]]
        if stray:
            problems.add(label, f"{key}.sizes", "sizes of types not in its types", stray, "key")
        if years and "year" not in item:
            problems.add(
                label,
                f"{key}.year",
                f"a phased plan ({years[0]}-{years[-1]}) needs the year the site is converted",
                [item["site"]],
                "key",
            )
        out.append(
            CommittedEntry(
                site=str(item["site"]),
                types=tuple(item["types"]),
                sizes={k: float(v) for k, v in item.get("sizes", {}).items()},
                year=item.get("year"),
                source=label,
                where=key,
            )
        )
    return tuple(out)


def _distance_settings(
    entry: Mapping[str, Any], network: TableSpec | None, base: Path
) -> DistanceSettings:
    """Settings of the ``distances`` key; the mode defaults from the sources given."""
    table = _table_spec(entry["table"], base) if "table" in entry else None
    default = "table" if table is not None else "network" if network is not None else "euclidean"
    cache_dir = entry.get("cache_dir")
    return DistanceSettings(
        mode=entry.get("mode", default),
        detour_factor=float(entry.get("detour_factor", 1.3)),
        snap_tolerance_m=float(entry.get("snap_tolerance_m", 200.0)),
        network=network,
        table=table,
        cache=bool(entry.get("cache", True)),
        cache_dir=(base / cache_dir) if cache_dir else None,
    )


def _check_distance_sources(
    settings: DistanceSettings, label: str, problems: ProblemCollector
) -> None:
    if settings.mode == "network" and settings.network is None:
        problems.add(
            label,
            "distances.mode",
            "mode 'network' needs a street network: add inputs.network (a line layer or an "
            "OSM .osm/.osm.pbf extract)",
            field_kind="key",
        )
    if settings.mode == "table" and settings.table is None:
        problems.add(
            label,
            "distances.mode",
            "mode 'table' needs distances.table (a CSV/Parquet file with demand_id, site_id, "
            "distance)",
            field_kind="key",
        )
    if settings.table is not None and not settings.table.path.exists():
        problems.add(
            label, "distances.table", f"file not found: {settings.table.path}", field_kind="key"
        )


def _table_spec(entry: str | Mapping[str, Any], base: Path) -> TableSpec:
    if isinstance(entry, str):
        file_part, _, layer = entry.partition("#")
        return TableSpec(path=(base / file_part), layer=layer or None)
    return TableSpec(
        path=base / entry["path"],
        layer=entry.get("layer"),
        columns=dict(entry.get("columns", {})),
        crs=entry.get("crs"),
    )


def _is_non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _non_finite_numbers(data: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, float]]:
    """Every ``.inf`` / ``.nan`` in the scenario data, as (dotted key, value).

    No scenario number may be infinite or NaN: ``walk_limit_m: .inf`` crashes the solver and
    ``budgets: .nan`` silently builds nothing.
    """
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _non_finite_numbers(value, (*path, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _non_finite_numbers(value, (*path, str(i)))
    elif _is_non_finite(data):
        assert isinstance(data, float)
        yield ".".join(path), data


def _check_crs_keys(data: Mapping[str, Any], label: str, problems: ProblemCollector) -> None:
    """``crs`` and each input's ``crs`` must name a known CRS; the scenario's a projected one."""
    keys: list[tuple[str, object]] = [("crs", data.get("crs"))]
    inputs = data.get("inputs")
    if isinstance(inputs, Mapping):
        keys += [
            (f"inputs.{name}.crs", entry.get("crs"))
            for name, entry in inputs.items()
            if isinstance(entry, Mapping)
        ]
    for key, value in keys:
        if not isinstance(value, str):
            continue  # absent, or a wrong type the schema reports
        try:
            crs = CRS.from_user_input(value)
        except CRSError:
            problems.add(
                label,
                key,
                f"unknown CRS {value!r}: give an EPSG code such as EPSG:4548 (CGCS2000 / "
                "3-degree Gauss-Kruger CM 117E) or a WKT / PROJ string",
                field_kind="key",
            )
            continue
        if key == "crs" and crs.is_geographic:
            problems.add(
                label,
                key,
                f"{value} is a geographic CRS (degrees); distances need a projected CRS in "
                "metres, e.g. EPSG:4548",
                field_kind="key",
            )


def _schema_message(err: jsonschema.ValidationError) -> str:
    text = err.instance if isinstance(err.instance, str) else None
    if err.validator == "pattern" and list(err.path) == ["name"]:
        return (
            f"{text!r} is not a plain file name (it names the output folder): letters, digits, "
            "'_', '.' and '-', not '.' or '..', at most 200 characters"
        )
    if err.validator in ("type", "oneOf") and text is not None and _numeric_text(text):
        return f"must be a number, not the text {text!r}: remove the quotes"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        return f"{err.message}; allowed keys: {', '.join(allowed)}"
    if err.validator == "oneOf" and err.path and err.path[0] in ("inputs", "distances"):
        return "must be a file path or a mapping with 'path' (and optional layer, columns, crs)"
    return str(err.message)


def _most_relevant(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For "none of the given schemas" on a mapping (a budget per year, say), the error inside
    it: ``model.budgets.2026: -5 is less than the minimum of 0``, not the whole mapping."""
    if err.validator == "oneOf" and err.context and isinstance(err.instance, Mapping):
        inner = max(err.context, key=lambda e: len(e.absolute_path))
        if len(inner.absolute_path) > len(err.absolute_path):
            return _most_relevant(inner)
    return err


def _numeric_text(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True
