"""``prepare(recipe, out_dir)``: raw sources to an input GeoPackage, a scenario and a report.

Steps, each in its own module: read the OSM extract's tagged areas and points once
(:mod:`~optimizer.prepare.osm_features`); choose the CRS (``auto``: the CGCS2000 3-degree
Gauss-Kruger zone of the data's centre, :mod:`~optimizer.prepare.coords`); build the blocks
(:mod:`~optimizer.prepare.demand`), candidate sites (:mod:`~optimizer.prepare.sites`) and
existing facilities (:mod:`~optimizer.prepare.existing`); analyse and optionally join the street
network's pieces (:mod:`~optimizer.prepare.network`); write ``inputs.gpkg`` (layers ``blocks``,
``sites``, ``existing``, ``streets``, ``network_pieces``), ``scenario.yaml`` and the data-quality
report (:mod:`~optimizer.prepare.quality`). The scenario is then read back and validated by the
same code as ``siting validate``: what ``prepare`` writes, ``plan`` reads.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import yaml

from optimizer.catalog import load_catalog
from optimizer.distances.engine import make_engine
from optimizer.errors import ProblemCollector
from optimizer.inputs import read_inputs
from optimizer.outputs import atomic_write, check_output_folder, staged_run
from optimizer.prepare.coords import gauss_kruger_zone_epsg
from optimizer.prepare.demand import (
    AGE_GROUPS,
    DemandResult,
    area_polygon,
    blocks_from_building_file,
    blocks_from_osm_buildings,
    blocks_from_polygons,
    blocks_from_raster,
)
from optimizer.prepare.existing import (
    ExistingResult,
    existing_from_osm,
    existing_from_table,
    finish_existing,
)
from optimizer.prepare.network import NetworkResult, analyse_network, load_network
from optimizer.prepare.osm_features import read_osm_features
from optimizer.prepare.quality import QualityReport, write_quality
from optimizer.prepare.recipe import Recipe, load_recipe
from optimizer.prepare.sites import (
    SitesResult,
    finish_sites,
    sites_from_cells,
    sites_from_osm,
    sites_from_table,
)
from optimizer.prepare.tables import read_source
from optimizer.scenario import load_scenario

log = logging.getLogger(__name__)

GPKG_NAME = "inputs.gpkg"
WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` wrote, and the figures its report gives."""

    out_dir: Path
    gpkg: Path
    scenario: Path
    report_md: Path
    report_json: Path
    report: QualityReport


def recipe_files(recipe: Recipe) -> list[Path]:
    """The recipe file and every source file it names (an output folder may hold none)."""
    found: list[Path] = [recipe.path]

    def collect(value: object) -> None:
        if isinstance(value, Path):
            found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                collect(getattr(value, f.name))

    for f in dataclasses.fields(recipe):
        collect(getattr(recipe, f.name))
    return found


def prepare(recipe: Recipe | str | Path, out_dir: str | Path) -> PrepareResult:
    """Turn a recipe's raw sources into ``inputs.gpkg``, ``scenario.yaml`` and the report.

    Raises
    ------
    ScenarioError
        A malformed recipe (every problem listed).
    InputError
        Unreadable sources or a prepared scenario that does not validate.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    protected = recipe_files(recipe)
    out = check_output_folder(out_dir, protected)  # refused before any work (see outputs)
    problems = ProblemCollector()
    features = read_osm_features(recipe.osm) if recipe.osm is not None else None
    crs, crs_reason = choose_crs(recipe, features, problems)
    problems.raise_if_any()
    catalog = load_catalog(recipe.scenario.get("catalog")).subset(list(recipe.facility_types))

    demand = build_demand(recipe, features, crs, problems)
    problems.raise_if_any()
    assert demand is not None
    sites = build_sites(recipe, features, demand, crs, problems)
    existing = build_existing(recipe, features, catalog, crs, problems)
    problems.raise_if_any()

    network: NetworkResult | None = None
    if recipe.network_lines is not None or (recipe.osm is not None and recipe.network_from_osm):
        street = load_network(recipe, crs, problems)
        problems.raise_if_any()
        assert street is not None
        network = analyse_network(
            street, demand.blocks, sites.sites, recipe.connect_gaps_m, recipe.snap_tolerance_m
        )
    report = QualityReport(
        recipe=recipe,
        crs=crs,
        crs_reason=crs_reason,
        demand_notes=demand.notes,
        demand_stats=demand.stats,
        totals={
            c: float(demand.blocks[c].sum()) for c in ("population", "households", *AGE_GROUPS)
        },
        n_blocks=len(demand.blocks),
        site_notes=sites.notes,
        sites_by_kind=sites.sites["kind"].value_counts().to_dict(),
        existing_notes=existing.notes,
        existing_by_type=existing.existing["type"].value_counts().to_dict(),
        network=network.facts if network is not None else None,
        pieces=network.pieces.drop(columns="geometry").to_dict("records")
        if network is not None
        else (),
    )
    # Built in a staging folder and published whole, like every run (optimizer.outputs).
    with staged_run(out, protected) as stage:
        write_geopackage(stage / GPKG_NAME, demand, sites, existing, network)
        staged_scenario = write_scenario(stage / "scenario.yaml", recipe, crs, existing, network)
        validate_prepared(staged_scenario)
        md_staged, js_staged = write_quality(report, stage)
    gpkg, scenario_path = out / GPKG_NAME, out / staged_scenario.name
    md, js = out / md_staged.name, out / js_staged.name
    log.info(
        "prepared %s: %d blocks (%.0f residents), %d candidate sites, %d existing facilities%s",
        out,
        report.n_blocks,
        report.totals["population"],
        len(sites.sites),
        len(existing.existing),
        f", {network.facts['pieces']} network pieces" if network is not None else "",
    )
    return PrepareResult(out, gpkg, scenario_path, md, js, report)


# --------------------------------------------------------------------------- the CRS


def choose_crs(
    recipe: Recipe, features: gpd.GeoDataFrame | None, problems: ProblemCollector
) -> tuple[str, str]:
    """The target CRS and why: the recipe's, or the Gauss-Kruger zone of the data's centre."""
    if recipe.crs.lower() != "auto":
        return recipe.crs, "named in the recipe"
    lon = centre_longitude(recipe, features, problems)
    if lon is None:
        problems.add(recipe.path.name, "crs", "crs: auto found no data to locate", (), "key")
        return "", ""
    epsg = gauss_kruger_zone_epsg(lon, recipe.path.name)
    return epsg, (
        f"crs: auto: CGCS2000 3-degree Gauss-Kruger zone of the data's centre, longitude {lon:.3f}"
    )


def centre_longitude(
    recipe: Recipe, features: gpd.GeoDataFrame | None, problems: ProblemCollector
) -> float | None:
    """Longitude of the centre of the demand data's extent (WGS84)."""
    if recipe.area_bbox is not None:
        return (recipe.area_bbox[0] + recipe.area_bbox[2]) / 2
    if recipe.area_path is not None:
        area = area_polygon(recipe, WGS84, problems)
        return None if area is None else float(area.centroid.x)
    spec = recipe.polygons or recipe.buildings or (recipe.raster.zones if recipe.raster else None)
    if spec is not None:
        gdf = read_source(spec, WGS84, problems)
        return None if gdf is None else float(sum(gdf.total_bounds[[0, 2]]) / 2)
    if features is not None and len(features):
        return float(sum(features.total_bounds[[0, 2]]) / 2)
    return None


# ------------------------------------------------------------------------ the tables


def build_demand(
    recipe: Recipe, features: gpd.GeoDataFrame | None, crs: str, problems: ProblemCollector
) -> DemandResult | None:
    """Blocks from the recipe's demand source."""
    source = recipe.demand_source
    if source == "polygons":
        return blocks_from_polygons(recipe, crs, problems)
    if source == "raster":
        return blocks_from_raster(recipe, crs, problems)
    if source == "buildings":
        return blocks_from_building_file(recipe, crs, problems)
    assert features is not None
    return blocks_from_osm_buildings(features, recipe, crs)


def build_sites(
    recipe: Recipe,
    features: gpd.GeoDataFrame | None,
    demand: DemandResult,
    crs: str,
    problems: ProblemCollector,
) -> SitesResult:
    """Candidate sites from OSM rules, tables and (if asked) tessellation cells."""
    parts: list[SitesResult] = []
    if features is not None and recipe.site_rules:
        parts.append(sites_from_osm(features, recipe.site_rules, recipe, crs))
    for i in range(len(recipe.site_tables)):
        table = sites_from_table(i, recipe, crs, problems)
        if table is not None:
            parts.append(table)
    if recipe.cell_sites:
        parts.append(sites_from_cells(demand.blocks, recipe.assumptions))
    result = finish_sites(parts, recipe)
    if len(result.sites) == 0:
        problems.add(
            recipe.path.name,
            "sites",
            "no candidate sites: add sites.tables, sites.osm_rules or `sites: {cells: true}`",
            (),
            "key",
        )
    return result


def build_existing(
    recipe: Recipe,
    features: gpd.GeoDataFrame | None,
    catalog: Mapping[str, Any],
    crs: str,
    problems: ProblemCollector,
) -> ExistingResult:
    """Existing facilities from OSM rules and POI tables."""
    parts: list[ExistingResult] = []
    if features is not None and recipe.existing_rules:
        parts.append(existing_from_osm(features, recipe.existing_rules, crs))
    for spec in recipe.existing_tables:
        table = existing_from_table(spec, crs, problems)
        if table is not None:
            parts.append(table)
    return finish_existing(parts, catalog, crs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- writing


def write_geopackage(
    path: Path,
    demand: DemandResult,
    sites: SitesResult,
    existing: ExistingResult,
    network: NetworkResult | None,
) -> None:
    """All layers into one GeoPackage, written beside and renamed into place."""
    layers: list[tuple[str, gpd.GeoDataFrame]] = [
        ("blocks", demand.blocks),
        ("sites", sites.sites),
    ]
    if len(existing.existing):
        layers.append(("existing", existing.existing))
    if network is not None:
        layers += [("streets", network.streets), ("network_pieces", network.pieces)]

    # GDAL wants a GeoPackage to end in .gpkg: the staging file does too
    tmp = path.with_name(f".{path.stem}.staging.gpkg")
    tmp.unlink(missing_ok=True)
    try:
        for name, gdf in layers:
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, mappings merged key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_scenario(
    path: Path,
    recipe: Recipe,
    crs: str,
    existing: ExistingResult,
    network: NetworkResult | None,
) -> Path:
    """A ready scenario reading the GeoPackage; the recipe's ``scenario:`` keys added."""
    inputs: dict[str, Any] = {
        "blocks": {"path": GPKG_NAME, "layer": "blocks"},
        "sites": {"path": GPKG_NAME, "layer": "sites"},
    }
    if len(existing.existing):
        inputs["existing"] = {"path": GPKG_NAME, "layer": "existing"}
    distances: dict[str, Any] = {"mode": "euclidean"}
    if network is not None:
        inputs["network"] = {"path": GPKG_NAME, "layer": "streets"}
        distances = {"mode": "network", "snap_tolerance_m": recipe.snap_tolerance_m}
    data: dict[str, Any] = {
        "name": recipe.name,
        "description": f"prepared by siting prepare from {recipe.path.name}; see quality.md",
        "crs": crs,
        "inputs": inputs,
        "facility_types": list(recipe.facility_types),
        "distances": distances,
    }
    data = deep_merge(data, recipe.scenario)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def validate_prepared(scenario_path: Path) -> None:
    """Read the prepared scenario back as ``siting validate`` does (raises on any problem)."""
    scenario = load_scenario(scenario_path)
    inputs = read_inputs(scenario)
    make_engine(scenario.distances, inputs)
