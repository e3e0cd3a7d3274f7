"""``siting prepare``: from the data a bureau holds to a ready scenario, with no code.

A YAML recipe (:mod:`optimizer.prepare.recipe`) names raw sources (an OSM extract, building
footprints, community polygons, population rasters, spreadsheets of idle buildings and POIs,
street lines) and the assumptions that fill their gaps; :func:`prepare` writes the input
GeoPackage, a scenario for ``siting plan`` and a data-quality report.
"""

from optimizer.prepare.recipe import Assumptions, Recipe, load_recipe
from optimizer.prepare.run import PrepareResult, prepare

__all__ = ["Assumptions", "PrepareResult", "Recipe", "load_recipe", "prepare"]
