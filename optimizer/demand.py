"""Demand per facility type: who each type serves, and how much capacity they need.

Vectorised over blocks; reads the block table's columns and the catalog, nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.catalog import FacilityType


def target_population(blocks: pd.DataFrame, ftype: FacilityType) -> np.ndarray:
    """Residents of each block in the type's target group (e.g. aged 60+ for elder care)."""
    return blocks[ftype.target_group].to_numpy(dtype=float)


def required_capacity(blocks: pd.DataFrame, ftype: FacilityType) -> np.ndarray:
    """Capacity each block needs under the standard, in the type's unit (m2, places, seats)."""
    return ftype.need(
        households=blocks["households"].to_numpy(dtype=float),
        population=blocks["population"].to_numpy(dtype=float),
        target=target_population(blocks, ftype),
        is_old=(blocks["area_type"] == "old").to_numpy(),
    )
