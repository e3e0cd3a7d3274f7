"""Tagged areas and points of an OpenStreetMap extract, read offline with pyosmium.

Closed ways and multipolygon relations are assembled into (multi)polygons by osmium's area
handler (``FileProcessor.with_areas()``): a relation whose members the extract lacks is left
out (osmium logs nothing; the count of areas read is logged here). Tagged nodes become points.
The street network is read separately (:mod:`optimizer.distances.osm`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
# keys worth keeping: the ones demand, site and facility rules look at
FEATURE_KEYS = frozenset(
    {
        "building",
        "landuse",
        "amenity",
        "shop",
        "healthcare",
        "social_facility",
        "leisure",
        "office",
        "tourism",
    }
)


def _interesting(tags: dict[str, str]) -> bool:
    return any(k in FEATURE_KEYS or k.startswith(("disused:", "abandoned:")) for k in tags)


def read_osm_features(path: Path) -> gpd.GeoDataFrame:
    """Areas (polygons) and tagged nodes (points) of an ``.osm``/``.osm.pbf`` extract.

    Returns
    -------
    GeoDataFrame in EPSG:4326 with columns ``osm_id`` (``way/123``, ``relation/45``,
    ``node/6``), ``tags`` (dict), ``name`` and geometry.
    """
    factory = osmium.geom.WKBFactory()
    ids: list[str] = []
    tags_out: list[dict[str, str]] = []
    wkbs: list[str] = []
    processor = osmium.FileProcessor(str(path)).with_areas().with_locations()
    for obj in processor:
        if isinstance(obj, osmium.osm.Area):
            tags = {t.k: t.v for t in obj.tags}
            if not _interesting(tags):
                continue
            try:
                wkb = factory.create_multipolygon(obj)
            except RuntimeError:  # an invalid ring: leave the area out
                continue
            ids.append(f"{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}")
        elif isinstance(obj, osmium.osm.Node):
            tags = {t.k: t.v for t in obj.tags}
            if not tags or not _interesting(tags) or not obj.location.valid():
                continue
            wkb = factory.create_point(obj)
            ids.append(f"node/{obj.id}")
        else:
            continue
        tags_out.append(tags)
        wkbs.append(wkb)
    geoms = shapely.from_wkb(np.asarray(wkbs, dtype=object)) if wkbs else np.zeros(0, object)
    gdf = gpd.GeoDataFrame(
        {
            "osm_id": ids,
            "tags": tags_out,
            "name": [t.get("name", "") for t in tags_out],
        },
        geometry=gpd.GeoSeries(geoms, crs=WGS84),
    )
    n_areas = int((gdf.geom_type != "Point").sum())
    log.info("%s: %d tagged areas and %d tagged points", path.name, n_areas, len(gdf) - n_areas)
    return gdf


def tag_values(features: gpd.GeoDataFrame, key: str) -> np.ndarray:
    """The value of ``key`` on each feature (empty text where absent)."""
    return np.array([t.get(key, "") for t in features["tags"]], dtype=object)


def matches(features: gpd.GeoDataFrame, tags: dict[str, Iterable[str]]) -> np.ndarray:
    """Whether each feature carries, for every key, one of the listed values (``*``: any)."""
    hit = np.ones(len(features), dtype=bool)
    for key, values in tags.items():
        allowed = set(values)
        column = tag_values(features, key)
        present = column != ""
        hit &= present if "*" in allowed else np.isin(column, list(allowed))
    return hit
