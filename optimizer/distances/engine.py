"""The distance engine a scenario asks for: one factory over the three distance modes.

Kept apart from the engines so that each engine module imports only :mod:`.base`, and this
module imports them all (no import circle between the factory and the engines).
"""

from __future__ import annotations

from collections.abc import Callable

from optimizer.distances.base import DistanceEngine, StraightLineEngine
from optimizer.distances.network import network_engine
from optimizer.distances.table import table_engine
from optimizer.inputs import Inputs
from optimizer.scenario import DistanceSettings


def straight_line_engine(settings: DistanceSettings, inputs: Inputs | None) -> StraightLineEngine:
    """The ``euclidean`` engine of a scenario (needs no source, so ignores the inputs)."""
    return StraightLineEngine(settings.detour_factor)


ENGINES: dict[str, Callable[[DistanceSettings, Inputs | None], DistanceEngine]] = {
    "euclidean": straight_line_engine,
    "network": network_engine,
    "table": table_engine,
}
"""Distance mode -> the factory that builds its engine from the scenario's settings."""


def make_engine(settings: DistanceSettings, inputs: Inputs | None = None) -> DistanceEngine:
    """The distance engine a scenario asks for.

    ``inputs`` (the validated tables) give the ``network`` engine the CRS to check or project
    the network to, and the ``table`` engine the ids to check its rows against; both read and
    check their source here, before any distance is computed.

    Raises
    ------
    InputError
        For a bad street network or distance table.
    """
    return ENGINES[settings.mode](settings, inputs)
