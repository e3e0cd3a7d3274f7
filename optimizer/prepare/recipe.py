"""The ``siting prepare`` recipe: which raw sources to read and which assumptions fill the gaps.

A recipe is a small YAML file. Paths in it are relative to the file. Every key is checked
against :data:`RECIPE_SCHEMA`; problems are collected and raised together. Every number an
assumption rests on has a documented default (:class:`Assumptions`), stated in the data-quality
report, and overridable under ``assumptions:``.

Example (the Haidian OpenStreetMap extract alone)
-------------------------------------------------
.. code-block:: yaml

    name: haidian
    osm: ../../shared/realdata/beijing-haidian-osm/cau_haidian_map.osm
    crs: auto                       # the CGCS2000 3-degree Gauss-Kruger zone of the data
    facility_types: [elder_care, nursery, kindergarten, convenience]
    network: {connect_gaps_m: 0}    # e.g. 40: join cut-off street pieces (flagged as assumed)
    assumptions: {m2_per_person: 36, default_floors: 6}

With ``osm:`` given, demand comes from its residential buildings, candidate sites and existing
facilities from its tags and the street network from its walkable ways, unless a section names
another source (``demand.polygons``, ``demand.buildings``, ``demand.raster``,
``sites.tables``, ``existing.tables``, ``network.lines``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jsonschema
from pyproj import CRS
from pyproj.exceptions import CRSError

from optimizer.errors import ProblemCollector, ScenarioError
from optimizer.prepare.coords import COORDINATE_SYSTEMS
from optimizer.scenario import DEFAULT_FACILITY_TYPES, NAME_PATTERN, parse_yaml
from optimizer.textfiles import TextEncodingError, read_text

# --------------------------------------------------------------------------- assumptions


@dataclass(frozen=True)
class Assumptions:
    """Numbers that fill what the raw data does not say; each is stated in the report.

    Attributes
    ----------
    m2_per_person : float
        Residential floor area per resident (m²): population = residential floor area / this.
        36 m², the urban per-capita housing floor area of the 7th census (2020) (check: local
        values run 30-40 m²; Beijing's is lower than the national one).
    default_floors : float
        Storeys of a building with neither ``building:levels`` nor ``height`` (6: the walk-up
        slab of Chinese housing estates; an assumption, check against the local stock).
    storey_height_m : float
        Metres per storey, to turn a ``height`` into storeys (3.0 m, residential norm).
    household_size : float
        Persons per household: households = population / this (2.62, national 2020 census).
    share_60_plus, share_0_2, share_3_5 : float
        Shares of the population aged 60+ (0.187, national 2020 census), 0-2 (0.021) and
        3-5 (0.028) (../shared/STANDARDS.md, 20-23 and 27-30 per 1,000 in a 2020 city),
        used where no age-band data or census column gives them.
    area_type : str
        ``new`` or ``old`` for every block without its own (the elder-care standard differs).
    site_floor_area_m2 : float
        Floor area of a candidate site whose source gives none and that has no footprint
        (points from a spreadsheet, tessellation cells), m².
    vacant_lot_far : float
        Floor area built on a vacant lot per m² of lot (plot ratio 1.0).
    max_site_floor_area_m2 : float
        Largest floor area counted for one candidate site (a whole campus building is not one
        facility's shell; 3,600 m², the largest kindergarten).
    """

    m2_per_person: float = 36.0
    default_floors: float = 6.0
    storey_height_m: float = 3.0
    household_size: float = 2.62
    share_60_plus: float = 0.187
    share_0_2: float = 0.021
    share_3_5: float = 0.028
    area_type: str = "new"
    site_floor_area_m2: float = 800.0
    vacant_lot_far: float = 1.0
    max_site_floor_area_m2: float = 3600.0


ASSUMPTION_SOURCES: dict[str, str] = {
    "m2_per_person": "urban per-capita housing floor area, 7th census 2020 (check)",
    "default_floors": "assumption: 6-storey walk-up housing (check locally)",
    "storey_height_m": "assumption: residential storey height",
    "household_size": "national 2020 census, 2.62 persons per household (firm)",
    "share_60_plus": "national 2020 census, 18.70 % aged 60+ (firm)",
    "share_0_2": "../shared/STANDARDS.md: 20-23 per 1,000 aged 0-2 (check)",
    "share_3_5": "../shared/STANDARDS.md: 27-30 per 1,000 aged 3-5 (check)",
    "area_type": "assumption: blocks count as new areas unless the data says otherwise",
    "site_floor_area_m2": "assumption: floor area of a site given as a point without area",
    "vacant_lot_far": "assumption: plot ratio 1.0 on a vacant lot",
    "max_site_floor_area_m2": "assumption: largest floor area one candidate site offers",
}

# yuan; ../shared/STANDARDS.md "Costs": no published unit costs, labelled assumptions
DEFAULT_KIND_COSTS: dict[str, dict[str, float]] = {
    "idle_building": {"fixed_cost": 300_000.0, "fixed_cost_per_m2": 0.0},
    "existing_stock": {"fixed_cost": 500_000.0, "fixed_cost_per_m2": 0.0},
    "vacant_lot": {"fixed_cost": 0.0, "fixed_cost_per_m2": 4_500.0},
    "cell": {"fixed_cost": 0.0, "fixed_cost_per_m2": 3_000.0},
}
KIND_COST_SOURCES = (
    "opening cost of a site by kind (../shared/STANDARDS.md 'Costs': no published unit costs; "
    "new construction 3,500-5,500 yuan/m², renovation 1,500-4,500): assumptions; fit-out per "
    "facility type from the catalog"
)

# ------------------------------------------------------------------------------ schema

_PATH_ENTRY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {"type": "string"},
        "layer": {"type": "string"},
        "columns": {"type": "object", "additionalProperties": {"type": "string"}},
        "crs": {"type": "string"},
        "coords": {"enum": list(COORDINATE_SYSTEMS)},
        "types": {"type": "object", "additionalProperties": {"type": "string"}},
        "kind": {"type": "string"},
    },
}
_RULE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tags"],
    "properties": {
        "tags": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "kind": {"type": "string"},
        "type": {"type": "string"},
        "capacity": {"type": "number", "minimum": 0},
    },
}
_POSITIVE: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
_SHARE: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}

RECIPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "description": {"type": "string"},
        "osm": {"type": "string"},
        "crs": {"type": "string"},
        "facility_types": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "demand": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "polygons": _PATH_ENTRY,
                "buildings": _PATH_ENTRY,
                "raster": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["bands"],
                    "properties": {
                        "bands": {
                            "type": "object",
                            "minProperties": 1,
                            "propertyNames": {
                                "enum": ["population", "pop_0_2", "pop_3_5", "pop_60_plus"]
                            },
                            "additionalProperties": {
                                "oneOf": [
                                    {"type": "string"},
                                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                                ]
                            },
                        },
                        "zones": _PATH_ENTRY,
                    },
                },
                "area": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "bbox": {
                            "type": "array",
                            "items": {"type": "number"},
                            "minItems": 4,
                            "maxItems": 4,
                        },
                        "path": {"type": "string"},
                    },
                },
                "tessellation": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "shape": {"enum": ["hexagon", "square"]},
                        "size_m": _POSITIVE,
                    },
                },
                "min_population": {"type": "number", "minimum": 0},
            },
        },
        "sites": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "osm_rules": {"type": "array", "items": _RULE},
                "tables": {"type": "array", "items": _PATH_ENTRY},
                "cells": {"type": "boolean"},
                "available_year": {"type": "integer", "minimum": 1900, "maximum": 2200},
                "costs": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "fixed_cost": {"type": "number", "minimum": 0},
                            "fixed_cost_per_m2": {"type": "number", "minimum": 0},
                        },
                    },
                },
            },
        },
        "existing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "osm_rules": {"type": "array", "items": _RULE},
                "tables": {"type": "array", "items": _PATH_ENTRY},
            },
        },
        "network": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "lines": _PATH_ENTRY,
                "use_osm": {"type": "boolean"},
                "connect_gaps_m": {"type": "number", "minimum": 0},
                "snap_tolerance_m": _POSITIVE,
            },
        },
        "assumptions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "m2_per_person": _POSITIVE,
                "default_floors": _POSITIVE,
                "storey_height_m": _POSITIVE,
                "household_size": {"type": "number", "minimum": 1},
                "share_60_plus": _SHARE,
                "share_0_2": _SHARE,
                "share_3_5": _SHARE,
                "area_type": {"enum": ["new", "old"]},
                "site_floor_area_m2": _POSITIVE,
                "vacant_lot_far": _POSITIVE,
                "max_site_floor_area_m2": _POSITIVE,
            },
        },
        "scenario": {"type": "object"},
    },
}

# ---------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class SourceSpec:
    """One raw file: where it is, which layer, how its columns map to the contract's names.

    ``columns`` maps contract names to the file's names (``{site_id: 编号}``); ``coords`` is
    the coordinate system of lon/lat columns (``wgs84`` | ``gcj02`` | ``bd09``); ``types``
    maps a file's facility-type words to catalog keys (``{幼儿园: kindergarten}``); ``kind``
    is the site kind for rows that give none.
    """

    path: Path
    layer: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    crs: str | None = None
    coords: str = "wgs84"
    types: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None

    @property
    def label(self) -> str:
        return self.path.name + (f" (layer {self.layer})" if self.layer else "")


@dataclass(frozen=True)
class TagRule:
    """An OSM tag rule: an element matches when, for every key, its value is one listed.

    The value ``"*"`` matches any value of the key. ``kind`` (sites) or ``type`` (existing
    facilities) is what a match becomes; ``capacity`` overrides the catalog's default.
    """

    tags: Mapping[str, tuple[str, ...]]
    kind: str | None = None
    type: str | None = None
    capacity: float | None = None

    def describe(self) -> str:
        cond = " and ".join(f"{k}={'|'.join(v)}" for k, v in self.tags.items())
        what = self.kind or self.type or "?"
        return f"{cond} -> {what}" + (f" (capacity {self.capacity:g})" if self.capacity else "")


# candidate sites from OSM: vacant land and non-residential stock; never plain building=yes,
# which in Chinese extracts is mostly housing
DEFAULT_SITE_RULES = (
    TagRule({"landuse": ("greenfield", "brownfield")}, kind="vacant_lot"),
    TagRule({"disused:building": ("*",)}, kind="idle_building"),
    TagRule({"abandoned:building": ("*",)}, kind="idle_building"),
    TagRule({"building": ("commercial", "office", "retail", "warehouse")}, kind="existing_stock"),
)
DEFAULT_EXISTING_RULES = (
    TagRule({"amenity": ("kindergarten",)}, type="kindergarten"),
    TagRule({"amenity": ("childcare",)}, type="nursery"),
    TagRule({"shop": ("convenience", "supermarket")}, type="convenience"),
    TagRule(
        {"amenity": ("social_facility",), "social_facility:for": ("senior",)}, type="elder_care"
    ),
    TagRule({"amenity": ("nursing_home",)}, type="elder_care"),
    TagRule({"amenity": ("clinic", "doctors")}, type="health_station"),
    TagRule({"amenity": ("community_centre",)}, type="community_service"),
)


@dataclass(frozen=True)
class RasterSpec:
    """Population rasters: each group's files are summed (age-band files such as WorldPop's)."""

    bands: Mapping[str, tuple[Path, ...]]
    zones: SourceSpec | None = None


@dataclass(frozen=True)
class Recipe:
    """A validated recipe (:data:`RECIPE_SCHEMA`), paths resolved against its folder."""

    name: str
    path: Path
    crs: str = "auto"
    osm: Path | None = None
    facility_types: tuple[str, ...] = tuple(DEFAULT_FACILITY_TYPES)
    polygons: SourceSpec | None = None
    buildings: SourceSpec | None = None
    raster: RasterSpec | None = None
    area_bbox: tuple[float, float, float, float] | None = None
    area_path: Path | None = None
    tessellation_shape: str = "hexagon"
    tessellation_size_m: float = 250.0
    min_population: float = 0.0
    site_rules: tuple[TagRule, ...] = DEFAULT_SITE_RULES
    site_tables: tuple[SourceSpec, ...] = ()
    cell_sites: bool = False
    kind_costs: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: dict(DEFAULT_KIND_COSTS)
    )
    existing_rules: tuple[TagRule, ...] = DEFAULT_EXISTING_RULES
    existing_tables: tuple[SourceSpec, ...] = ()
    network_lines: SourceSpec | None = None
    network_from_osm: bool = True
    connect_gaps_m: float = 0.0
    snap_tolerance_m: float = 200.0
    assumptions: Assumptions = field(default_factory=Assumptions)
    available_year: int = field(default_factory=lambda: datetime.date.today().year)
    scenario: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> Path:
        return self.path.parent

    @property
    def demand_source(self) -> str:
        """``polygons`` | ``buildings`` | ``raster`` | ``osm``: where the blocks come from."""
        if self.polygons is not None:
            return "polygons"
        if self.raster is not None:
            return "raster"
        if self.buildings is not None:
            return "buildings"
        return "osm"


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file.

    Raises
    ------
    ScenarioError
        Listing every problem: unknown keys, wrong types, missing files, no demand source.
    """
    path = Path(path)
    label = path.name
    problems = ProblemCollector()
    try:
        data = parse_yaml(read_text(path))
    except (OSError, TextEncodingError) as exc:
        problems.add(label, None, f"cannot read the recipe: {exc}")
        problems.raise_if_any(ScenarioError)
    except Exception as exc:  # yaml errors carry line numbers: pass them on
        problems.add(label, None, f"not valid YAML: {exc}".replace("\n", " "))
        problems.raise_if_any(ScenarioError)
    return recipe_from_data(data, path)


def recipe_from_data(data: object, path: Path) -> Recipe:
    """Build a :class:`Recipe` from parsed YAML; ``path`` anchors relative paths."""
    label = path.name
    problems = ProblemCollector()
    if not isinstance(data, dict):
        problems.add(label, None, "the recipe must be a mapping of keys to values")
        problems.raise_if_any(ScenarioError)
    assert isinstance(data, dict)
    for err in sorted(jsonschema.Draft202012Validator(RECIPE_SCHEMA).iter_errors(data), key=str):
        where = "/".join(str(p) for p in err.absolute_path) or None
        problems.add(label, where, err.message, field_kind="key")
    problems.raise_if_any(ScenarioError)
    base = path.parent
    demand = data.get("demand", {})
    sites = data.get("sites", {})
    existing = data.get("existing", {})
    network = data.get("network", {})
    area = demand.get("area", {})
    tess = demand.get("tessellation", {})
    recipe = Recipe(
        name=data["name"],
        path=path,
        crs=data.get("crs", "auto"),
        osm=_resolve(base, data["osm"]) if "osm" in data else None,
        facility_types=tuple(data.get("facility_types", DEFAULT_FACILITY_TYPES)),
        polygons=_source(demand.get("polygons"), base),
        buildings=_source(demand.get("buildings"), base),
        raster=_raster(demand.get("raster"), base),
        area_bbox=_bbox(area.get("bbox")),
        area_path=_resolve(base, area["path"]) if "path" in area else None,
        tessellation_shape=tess.get("shape", "hexagon"),
        tessellation_size_m=float(tess.get("size_m", 250.0)),
        min_population=float(demand.get("min_population", 0.0)),
        site_rules=_rules(sites.get("osm_rules"), DEFAULT_SITE_RULES),
        site_tables=_sources(sites.get("tables", []), base),
        cell_sites=bool(sites.get("cells", False)),
        kind_costs={**DEFAULT_KIND_COSTS, **sites.get("costs", {})},
        existing_rules=_rules(existing.get("osm_rules"), DEFAULT_EXISTING_RULES),
        existing_tables=_sources(existing.get("tables", []), base),
        network_lines=_source(network.get("lines"), base),
        network_from_osm=bool(network.get("use_osm", True)),
        connect_gaps_m=float(network.get("connect_gaps_m", 0.0)),
        snap_tolerance_m=float(network.get("snap_tolerance_m", 200.0)),
        assumptions=Assumptions(**data.get("assumptions", {})),
        available_year=int(sites.get("available_year", datetime.date.today().year)),
        scenario=data.get("scenario", {}),
    )
    _check_recipe(recipe, label, problems)
    problems.raise_if_any(ScenarioError)
    return recipe


def _resolve(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _source(entry: Mapping[str, Any] | None, base: Path) -> SourceSpec | None:
    if entry is None:
        return None
    return SourceSpec(
        path=_resolve(base, entry["path"]),
        layer=entry.get("layer"),
        columns=dict(entry.get("columns", {})),
        crs=entry.get("crs"),
        coords=entry.get("coords", "wgs84"),
        types=dict(entry.get("types", {})),
        kind=entry.get("kind"),
    )


def _sources(entries: Sequence[Mapping[str, Any]], base: Path) -> tuple[SourceSpec, ...]:
    return tuple(s for s in (_source(e, base) for e in entries) if s is not None)


def _bbox(values: Sequence[float] | None) -> tuple[float, float, float, float] | None:
    if values is None:
        return None
    west, south, east, north = (float(v) for v in values)
    return west, south, east, north


def _raster(entry: Mapping[str, Any] | None, base: Path) -> RasterSpec | None:
    if entry is None:
        return None
    bands = {
        group: tuple(_resolve(base, f) for f in ([files] if isinstance(files, str) else files))
        for group, files in entry["bands"].items()
    }
    return RasterSpec(bands=bands, zones=_source(entry.get("zones"), base))


def _rules(
    entries: Sequence[Mapping[str, Any]] | None, default: tuple[TagRule, ...]
) -> tuple[TagRule, ...]:
    if entries is None:
        return default
    return tuple(
        TagRule(
            tags={k: tuple(v) for k, v in e["tags"].items()},
            kind=e.get("kind"),
            type=e.get("type"),
            capacity=e.get("capacity"),
        )
        for e in entries
    )


def _check_recipe(recipe: Recipe, label: str, problems: ProblemCollector) -> None:
    """Missing files, no demand source, more than one, a raster without an area."""
    given = [
        k
        for k, v in (
            ("polygons", recipe.polygons),
            ("buildings", recipe.buildings),
            ("raster", recipe.raster),
        )
        if v is not None
    ]
    if len(given) > 1:
        problems.add(label, "demand", f"give one demand source, not {', '.join(given)}", (), "key")
    if not given and recipe.osm is None:
        problems.add(
            label,
            "demand",
            "no demand source: give `osm:` or one of demand.polygons, demand.buildings, "
            "demand.raster",
            (),
            "key",
        )
    if (
        recipe.raster is not None
        and recipe.raster.zones is None
        and (recipe.area_bbox is None and recipe.area_path is None)
    ):
        problems.add(
            label,
            "demand/area",
            "a raster needs demand.raster.zones (polygons) or demand.area (bbox or boundary "
            "file) to tessellate",
            (),
            "key",
        )
    if recipe.area_bbox is not None:
        x0, y0, x1, y1 = recipe.area_bbox
        if not (x0 < x1 and y0 < y1):
            problems.add(
                label, "demand/area/bbox", "bbox must be [west, south, east, north]", (), "key"
            )
    if recipe.crs.lower() != "auto":
        _check_crs(recipe.crs, label, problems)
    for path in _all_paths(recipe):
        if not path.exists():
            problems.add(label, None, f"file not found: {path}")


def _check_crs(text: str, label: str, problems: ProblemCollector) -> None:
    try:
        crs = CRS.from_user_input(text)
    except CRSError as exc:
        problems.add(label, "crs", f"unknown CRS {text!r}: {exc}", (), "key")
        return
    if not crs.is_projected:
        problems.add(
            label, "crs", f"{text} is not a projected CRS in metres (try `auto`)", (), "key"
        )


def _all_paths(recipe: Recipe) -> list[Path]:
    paths = [p for p in (recipe.osm, recipe.area_path) if p is not None]
    specs = [
        recipe.polygons,
        recipe.buildings,
        recipe.network_lines,
        *recipe.site_tables,
        *recipe.existing_tables,
    ]
    if recipe.raster is not None:
        paths.extend(p for files in recipe.raster.bands.values() for p in files)
        specs.append(recipe.raster.zones)
    paths.extend(s.path for s in specs if s is not None)
    return paths


def assumption_rows(assumptions: Assumptions) -> list[tuple[str, object, str]]:
    """(name, value, source) of every assumption, for the report."""
    return [
        (f.name, getattr(assumptions, f.name), ASSUMPTION_SOURCES[f.name])
        for f in fields(assumptions)
    ]
