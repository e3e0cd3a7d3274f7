"""Walkable ways from OpenStreetMap extracts, read offline.

``.osm`` (XML) files are streamed with :func:`xml.etree.ElementTree.iterparse`; ``.osm.pbf``
files are read with pyosmium (``osmium``). Both give the same :class:`OsmWays`: the walkable
ways as polylines of lon/lat coordinates, ready to be projected and turned into a street
network (:mod:`optimizer.distances.network`).

Which ways are walkable
-----------------------
Walking is undirected: ``oneway`` tags are ignored. A way is kept when it has a ``highway`` tag
and

* its ``highway`` value is in :data:`WALKABLE_HIGHWAYS` (footway, pedestrian, path, steps,
  living_street, residential, service, unclassified, road, track, tertiary, secondary, primary
  and their ``_link`` ramps), or
* its value is in :data:`FOOT_ACCESS_HIGHWAYS` (cycleway, bridleway) and ``foot`` grants
  access (:data:`FOOT_YES`), or
* its value is in :data:`SIDEWALK_HIGHWAYS` (trunk, trunk_link) and ``foot`` grants access or a
  sidewalk is tagged on it (``sidewalk``/``sidewalk:both``/``:left``/``:right`` other than
  ``no``/``none``/``separate``), or
* its value is in :data:`MOTORWAY_HIGHWAYS` (motorway, motorway_link) and ``foot`` grants access;

and it is none of: ``area=yes`` (pedestrian squares mapped as polygons), ``foot`` in
:data:`FOOT_NO` (no, private, use_sidepath), ``access`` in :data:`ACCESS_NO` (no, private)
without ``foot`` granting access. Every other ``highway`` value (construction, proposed,
platform, raceway, bus_guideway, escape, corridor, elevator, ...) is left out.

Nodes a way refers to but the extract lacks split the way there (the pieces on either side are
kept); pieces with fewer than two nodes are dropped.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WALKABLE_HIGHWAYS = frozenset(
    {
        "footway",
        "pedestrian",
        "path",
        "steps",
        "living_street",
        "residential",
        "service",
        "unclassified",
        "road",
        "track",
        "tertiary",
        "tertiary_link",
        "secondary",
        "secondary_link",
        "primary",
        "primary_link",
    }
)
FOOT_ACCESS_HIGHWAYS = frozenset({"cycleway", "bridleway"})
SIDEWALK_HIGHWAYS = frozenset({"trunk", "trunk_link"})
MOTORWAY_HIGHWAYS = frozenset({"motorway", "motorway_link"})
FOOT_YES = frozenset({"yes", "designated", "permissive", "official", "destination"})
FOOT_NO = frozenset({"no", "private", "use_sidepath"})
ACCESS_NO = frozenset({"no", "private"})
SIDEWALK_KEYS = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")
NO_SIDEWALK = frozenset({"no", "none", "separate"})


def is_walkable(tags: Mapping[str, str]) -> bool:
    """Whether an OSM way with these tags is a street people can walk along (module doc)."""
    highway = tags.get("highway")
    if highway is None or tags.get("area") == "yes":
        return False
    foot = tags.get("foot")
    if foot in FOOT_NO:
        return False
    foot_yes = foot in FOOT_YES
    if tags.get("access") in ACCESS_NO and not foot_yes:
        return False
    if highway in WALKABLE_HIGHWAYS:
        return True
    if highway in FOOT_ACCESS_HIGHWAYS or highway in MOTORWAY_HIGHWAYS:
        return foot_yes
    if highway in SIDEWALK_HIGHWAYS:
        sidewalk = any(k in tags and tags[k] not in NO_SIDEWALK for k in SIDEWALK_KEYS)
        return foot_yes or sidewalk
    return False


@dataclass(frozen=True)
class OsmWays:
    """Walkable OSM ways as polylines in lon/lat.

    Attributes
    ----------
    lon, lat : ndarray (n_coords,)
        Coordinates of every way node, line after line.
    part : ndarray of int (n_coords,)
        Which line each coordinate belongs to (non-decreasing, ``0 .. n_lines - 1``).
    way_id : ndarray of int (n_lines,)
        The OSM way id of each line (a way split at missing nodes gives several lines).
    highway : ndarray of str (n_lines,)
        The way's ``highway`` tag.
    highway_counts : Counter
        ``highway`` values of every way read, walkable or not (for messages).
    """

    lon: np.ndarray
    lat: np.ndarray
    part: np.ndarray
    way_id: np.ndarray
    highway: np.ndarray
    highway_counts: Counter[str] = field(default_factory=Counter)

    @property
    def n_lines(self) -> int:
        return int(self.way_id.shape[0])


class OsmReadError(ValueError):
    """The file could not be read as an OSM extract."""


def is_osm_path(path: Path) -> bool:
    """``.osm`` or ``.pbf`` (``.osm.pbf``) files are OpenStreetMap extracts."""
    return path.suffix.lower() in (".osm", ".pbf")


def read_osm_ways(path: Path) -> OsmWays:
    """Read the walkable ways of an ``.osm`` (XML) or ``.osm.pbf`` extract.

    Raises
    ------
    OsmReadError
        When the file is not a readable OSM extract.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".pbf":
            node_ids, lon, lat, ways, counts = _read_pbf(path)
        else:
            node_ids, lon, lat, ways, counts = _read_xml(path)
    except (ET.ParseError, RuntimeError, OSError, ValueError) as exc:
        raise OsmReadError(str(exc).replace("\n", " ")) from exc
    result = _assemble(node_ids, lon, lat, ways, counts)
    log.info(
        "%s: %d walkable ways of %d with a highway tag (%d lines, %d way nodes)",
        path.name,
        len(ways),
        sum(counts.values()),
        result.n_lines,
        result.lon.shape[0],
    )
    return result


_Way = tuple[int, str, list[int]]


def _read_xml(
    path: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[_Way], Counter[str]]:
    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    ways: list[_Way] = []
    counts: Counter[str] = Counter()
    root: ET.Element | None = None
    for event, elem in ET.iterparse(path, events=("start", "end")):
        if root is None:
            root = elem
        if event == "start":
            continue
        tag = elem.tag
        if tag == "node":
            lon, lat = elem.get("lon"), elem.get("lat")
            if lon is not None and lat is not None:
                node_ids.append(int(elem.attrib["id"]))
                lons.append(float(lon))
                lats.append(float(lat))
            elem.clear()
            root.clear()
        elif tag == "way":
            tags = {t.attrib["k"]: t.attrib.get("v", "") for t in elem.iter("tag")}
            if "highway" in tags:
                counts[tags["highway"]] += 1
                if is_walkable(tags):
                    refs = [int(nd.attrib["ref"]) for nd in elem.iter("nd")]
                    ways.append((int(elem.attrib["id"]), tags["highway"], refs))
            elem.clear()
            root.clear()
        elif tag == "relation":
            elem.clear()
            root.clear()
    if root is None or root.tag != "osm":
        raise OsmReadError("not an OSM XML file (no <osm> root element)")
    return (
        np.asarray(node_ids, dtype=np.int64),
        np.asarray(lons, dtype=float),
        np.asarray(lats, dtype=float),
        ways,
        counts,
    )


def _read_pbf(
    path: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[_Way], Counter[str]]:
    try:
        import osmium
    except ImportError as exc:  # a declared dependency, but say what to install if absent
        raise OsmReadError("reading .osm.pbf needs pyosmium: pip install osmium") from exc

    ways: list[_Way] = []
    counts: Counter[str] = Counter()
    coords: dict[int, tuple[float, float]] = {}
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        if not isinstance(way, osmium.osm.Way):
            continue
        tags = {t.k: t.v for t in way.tags}
        counts[tags["highway"]] += 1
        if not is_walkable(tags):
            continue
        refs = []
        for nd in way.nodes:
            refs.append(nd.ref)
            if nd.location.valid():
                coords[nd.ref] = (nd.location.lon, nd.location.lat)
        ways.append((way.id, tags["highway"], refs))
    ids = np.fromiter(coords, dtype=np.int64, count=len(coords))
    lonlat = np.array(list(coords.values()), dtype=float).reshape(-1, 2)
    return ids, lonlat[:, 0], lonlat[:, 1], ways, counts


def _assemble(
    node_ids: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    ways: Iterable[_Way],
    counts: Counter[str],
) -> OsmWays:
    """Look way node refs up (whole arrays), splitting ways where a node is missing."""
    ways = list(ways)
    if not ways:
        empty = np.zeros(0)
        return OsmWays(
            empty, empty, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, object), counts
        )
    lengths = np.fromiter((len(w[2]) for w in ways), dtype=np.int64, count=len(ways))
    refs = np.fromiter((r for w in ways for r in w[2]), dtype=np.int64, count=int(lengths.sum()))
    way_of = np.repeat(np.arange(len(ways)), lengths)
    order = np.argsort(node_ids, kind="stable")
    sorted_ids = node_ids[order]
    pos = np.searchsorted(sorted_ids, refs).clip(0, max(sorted_ids.size - 1, 0))
    found = sorted_ids.size > 0
    present = (sorted_ids[pos] == refs) if found else np.zeros(refs.size, dtype=bool)
    # a new line starts at each way's first node and after every missing node
    start = np.r_[True, way_of[1:] != way_of[:-1]]
    start |= np.r_[False, ~present[:-1]]
    line = np.cumsum(start) - 1
    line, way_of, pos = line[present], way_of[present], pos[present]
    sizes = np.bincount(line, minlength=int(line.max(initial=-1)) + 1)
    keep = sizes[line] >= 2
    line, way_of, pos = line[keep], way_of[keep], pos[keep]
    _, first, part = np.unique(line, return_index=True, return_inverse=True)
    src = order[pos] if found else pos
    way_id = np.fromiter((w[0] for w in ways), dtype=np.int64, count=len(ways))
    highway = np.array([w[1] for w in ways], dtype=object)
    return OsmWays(
        lon=lon[src],
        lat=lat[src],
        part=part.astype(np.int64),
        way_id=way_id[way_of[first]],
        highway=highway[way_of[first]],
        highway_counts=counts,
    )
