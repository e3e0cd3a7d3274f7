"""The planning instance: everything the models need, as arrays and sparse pairs.

This is the last stage that sees tables; it turns validated inputs, the catalog and a distance
engine into plain arrays. Model code reads a :class:`PlanningInstance` and nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from optimizer.catalog import Catalog, FacilityType
from optimizer.demand import required_capacity, target_population
from optimizer.distances.base import DistanceEngine, DistancePairs
from optimizer.inputs import Inputs, split_type_lists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TypeArrays:
    """One facility type's data over all blocks and candidate sites.

    Attributes
    ----------
    target : ndarray (n_blocks,)
        Residents of the target group per block.
    need : ndarray (n_blocks,)
        Capacity needed per block, in the type's unit.
    eligible : ndarray of bool (n_sites,)
        Sites allowed to host this type and large enough for one facility.
    fitout_cost : ndarray (n_sites,)
        Fit-out cost of one standard facility (``build_area_m2``) of this type at each site.
    fitout_rate : ndarray (n_sites,)
        Fit-out cost per m2 of this type at each site.
    reach : DistancePairs
        Block x site pairs within the walking limit, eligible sites only.
    existing_reach : DistancePairs
        Block x existing-facility pairs within the limit (existing facilities of this type).
    covered_before : ndarray of bool (n_blocks,)
        Blocks already within the limit of an existing facility of this type.
    """

    ftype: FacilityType
    target: np.ndarray
    need: np.ndarray
    eligible: np.ndarray
    fitout_cost: np.ndarray
    fitout_rate: np.ndarray
    reach: DistancePairs
    existing_reach: DistancePairs
    covered_before: np.ndarray

    @property
    def key(self) -> str:
        return self.ftype.key

    @property
    def unserved(self) -> np.ndarray:
        """Blocks with target residents not yet covered by an existing facility."""
        return (self.target > 0) & ~self.covered_before

    @property
    def coverable(self) -> np.ndarray:
        """Unserved blocks that at least one eligible candidate site reaches."""
        reached = np.zeros(self.target.shape[0], dtype=bool)
        reached[self.reach.rows] = True
        return self.unserved & reached

    @property
    def uncoverable(self) -> np.ndarray:
        """Unserved blocks that no eligible candidate site reaches (reported, not a failure)."""
        return self.unserved & ~self.coverable


@dataclass(frozen=True)
class PlanningInstance:
    """Arrays for one planning run (blocks, candidate sites, existing facilities, types)."""

    block_ids: np.ndarray
    site_ids: np.ndarray
    site_names: np.ndarray
    site_years: np.ndarray
    existing_ids: np.ndarray
    existing_capacity: np.ndarray
    fixed_cost: np.ndarray
    floor_area: np.ndarray
    types: dict[str, TypeArrays]
    distance_mode: str
    distance_note: str

    @property
    def n_blocks(self) -> int:
        return int(self.block_ids.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.site_ids.shape[0])


def build_instance(inputs: Inputs, catalog: Catalog, engine: DistanceEngine) -> PlanningInstance:
    """Turn validated inputs into a :class:`PlanningInstance`.

    Distances are computed once per point set at the largest walking limit in play, then
    filtered per type.
    """
    blocks, sites, existing = inputs.blocks, inputs.sites, inputs.existing
    block_xy = blocks[["x", "y"]].to_numpy(dtype=float)
    site_xy = sites[["x", "y"]].to_numpy(dtype=float)
    existing_xy = existing[["x", "y"]].to_numpy(dtype=float).reshape(-1, 2)
    cutoff = max(t.walk_limit_m for t in catalog.values())
    block_ids = blocks["block_id"].to_numpy(dtype=object)
    to_sites = engine.pairs(
        block_xy,
        site_xy,
        cutoff,
        origin_ids=block_ids,
        dest_ids=sites["site_id"].to_numpy(dtype=object),
        names=("blocks", "candidate sites"),
    )
    to_existing = engine.pairs(
        block_xy,
        existing_xy,
        cutoff,
        origin_ids=block_ids,
        dest_ids=existing["facility_id"].to_numpy(dtype=object),
        names=("blocks", "existing facilities"),
    )
    log.info(
        "distances (%s): %d block-site and %d block-existing pairs within %.0f m",
        engine.mode,
        len(to_sites),
        len(to_existing),
        cutoff,
    )

    floor = sites["floor_area_m2"].to_numpy(dtype=float)
    rate = sites["cost_per_m2"].to_numpy(dtype=float)
    allowed = split_type_lists(sites["allowed_types"])
    existing_type = existing["type"].to_numpy(dtype=object)

    types: dict[str, TypeArrays] = {}
    for key, ftype in catalog.items():
        permitted = np.array([not a or key in a for a in allowed], dtype=bool)
        eligible = permitted & (floor >= ftype.build_area_m2)
        reach = to_sites.filter(ftype.walk_limit_m, col_mask=eligible)
        existing_reach = to_existing.filter(ftype.walk_limit_m, col_mask=existing_type == key)
        covered_before = np.zeros(len(blocks), dtype=bool)
        covered_before[existing_reach.rows] = True
        types[key] = TypeArrays(
            ftype=ftype,
            target=target_population(blocks, ftype),
            need=required_capacity(blocks, ftype),
            eligible=eligible,
            fitout_cost=ftype.fitout_cost(rate),
            fitout_rate=ftype.fitout_rate(rate),
            reach=reach,
            existing_reach=existing_reach,
            covered_before=covered_before,
        )
    return PlanningInstance(
        block_ids=blocks["block_id"].to_numpy(dtype=object),
        site_ids=sites["site_id"].to_numpy(dtype=object),
        site_names=sites["name"].astype(str).to_numpy(dtype=object),
        site_years=sites["available_year"].to_numpy(dtype=object),
        existing_ids=existing["facility_id"].to_numpy(dtype=object),
        existing_capacity=existing["capacity"].to_numpy(dtype=float),
        fixed_cost=sites["fixed_cost"].to_numpy(dtype=float),
        floor_area=floor,
        types=types,
        distance_mode=engine.mode,
        distance_note=engine.describe(),
    )
