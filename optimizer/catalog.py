"""The facility catalog: what each facility type serves, how far residents walk, how big it is.

The catalog is data (``catalog.yaml`` in this package); this module loads it, applies a
scenario's overrides and validates the result. Model code reads the resulting
:class:`FacilityType` objects, never the YAML.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema
import numpy as np
import yaml

from optimizer.errors import ProblemCollector, ScenarioError

POPULATION_COLUMNS = ("population", "pop_0_2", "pop_3_5", "pop_60_plus")
NEED_BASES = ("households", "population", "target")
AREA_TYPES = ("new", "old")

_NUMBER = {"type": "number"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_NONNEG = {"type": "number", "minimum": 0}

TYPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "label_en": {"type": "string"},
        "label_zh": {"type": "string"},
        "level": {"enum": ["5min", "10min", "15min"]},
        "target_group": {"enum": list(POPULATION_COLUMNS)},
        "target_label": {"type": "string"},
        "walk_limit_m": _POSITIVE,
        "capacity_unit": {"type": "string"},
        "need": {
            "type": "object",
            "additionalProperties": False,
            "required": ["basis", "per", "amount"],
            "properties": {
                "basis": {"enum": list(NEED_BASES)},
                "per": _POSITIVE,
                "amount": {
                    "oneOf": [
                        _NONNEG,
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": list(AREA_TYPES),
                            "properties": {k: _NONNEG for k in AREA_TYPES},
                        },
                    ]
                },
            },
        },
        "area_per_unit_m2": _POSITIVE,
        "min_area_m2": _NONNEG,
        "max_area_m2": _POSITIVE,
        "build_area_m2": _POSITIVE,
        "fitout_cost_per_m2": _NONNEG,
        "fitout_multiplier": _NONNEG,
        "priority": _POSITIVE,
        "split_demand": {"type": "boolean"},
        "sources": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
OPTIONAL_FIELDS = ("sources", "priority", "split_demand")
REQUIRED_FIELDS = [k for k in TYPE_SCHEMA["properties"] if k not in OPTIONAL_FIELDS]


@dataclass(frozen=True)
class FacilityType:
    """One facility type of the catalog (all numbers after scenario overrides).

    Attributes
    ----------
    key : str
        Identifier, e.g. ``"elder_care"``.
    target_group : str
        Population column of the blocks that this type serves.
    walk_limit_m : float
        Walking limit from a block to a facility of this type.
    need_basis, need_per, need_amount
        Capacity a block needs: ``need_amount[area_type] / need_per * basis``.
    build_area_m2 : float
        Floor area of a standard facility (the classic covering models build this size; the
        planning model sizes each facility between ``min_area_m2`` and ``max_area_m2``).
    priority : float
        Weight of one covered target resident of this type in coverage objectives (default 1;
        the built-in catalog gives elder care and childcare 2, "一老一小" first).
    split_demand : bool
        Whether one block's demand may be shared between several facilities of this type
        (otherwise each block is served by one facility: single sourcing).
    """

    key: str
    label_en: str
    label_zh: str
    level: str
    target_group: str
    target_label: str
    walk_limit_m: float
    capacity_unit: str
    need_basis: str
    need_per: float
    need_amount: Mapping[str, float]
    area_per_unit_m2: float
    min_area_m2: float
    max_area_m2: float
    build_area_m2: float
    fitout_cost_per_m2: float
    fitout_multiplier: float
    sources: Mapping[str, str]
    priority: float = 1.0
    split_demand: bool = True

    @property
    def build_capacity(self) -> float:
        """Capacity of one facility built at ``build_area_m2``, in ``capacity_unit``."""
        return self.build_area_m2 / self.area_per_unit_m2

    def need(
        self,
        households: np.ndarray,
        population: np.ndarray,
        target: np.ndarray,
        is_old: np.ndarray,
    ) -> np.ndarray:
        """Capacity each block needs, in ``capacity_unit``, vectorised over blocks."""
        basis = {"households": households, "population": population, "target": target}[
            self.need_basis
        ]
        rate = np.where(is_old, self.need_amount["old"], self.need_amount["new"])
        return np.asarray(basis, dtype=float) * rate / self.need_per

    def fitout_rate(self, site_cost_per_m2: np.ndarray) -> np.ndarray:
        """Fit-out cost per m2 of this type at each site (NaN site rate -> catalog default)."""
        rate = np.where(
            np.isnan(site_cost_per_m2),
            self.fitout_cost_per_m2,
            site_cost_per_m2 * self.fitout_multiplier,
        )
        return np.asarray(rate, dtype=float)

    def fitout_cost(self, site_cost_per_m2: np.ndarray) -> np.ndarray:
        """Fit-out cost of one standard facility (``build_area_m2``) at each site."""
        return self.fitout_rate(site_cost_per_m2) * self.build_area_m2


class Catalog(Mapping[str, FacilityType]):
    """An immutable mapping from type key to :class:`FacilityType`."""

    def __init__(self, types: Mapping[str, FacilityType]) -> None:
        self._types = dict(types)

    def __getitem__(self, key: str) -> FacilityType:
        return self._types[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def subset(self, keys: list[str]) -> Catalog:
        return Catalog({k: self._types[k] for k in keys})


def builtin_catalog_data() -> dict[str, Any]:
    """The built-in catalog as plain data (a fresh copy)."""
    text = resources.files("optimizer").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text)["types"])


def load_catalog(overrides: Mapping[str, Any] | None = None, source: str = "catalog") -> Catalog:
    """Load the built-in catalog and apply overrides.

    Parameters
    ----------
    overrides : mapping, optional
        ``{type_key: {field: value, ...}}``. A key not in the built-in catalog defines a new
        type and must then give every field.
    source : str
        Where the overrides come from, for error messages.

    Raises
    ------
    ScenarioError
        Listing every unknown field, wrong value or incomplete new type.
    """
    data = builtin_catalog_data()
    problems = ProblemCollector()
    for key, patch in (overrides or {}).items():
        if not isinstance(patch, Mapping):
            problems.add(
                source, f"catalog.{key}", "must be a mapping of field: value", field_kind="key"
            )
            continue
        base = copy.deepcopy(data.get(key, {}))
        base.update(copy.deepcopy(dict(patch)))
        data[key] = base
    for key, entry in data.items():
        validator = jsonschema.Draft202012Validator(TYPE_SCHEMA)
        for err in sorted(validator.iter_errors(entry), key=lambda e: list(e.path)):
            field_path = ".".join(str(p) for p in err.path)
            column = f"catalog.{key}" + (f".{field_path}" if field_path else "")
            problems.add(source, column, err.message, field_kind="key")
        for field_path, value in _non_finite(entry):
            problems.add(
                source,
                f"catalog.{key}.{field_path}",
                f"must be a finite number, not {value}",
                field_kind="key",
            )
        missing = [f for f in REQUIRED_FIELDS if f not in entry]
        if missing:
            problems.add(
                source,
                f"catalog.{key}",
                f"a new type must give every field; missing: {', '.join(missing)}",
                field_kind="key",
            )
        elif _all_finite(entry) and (
            entry["min_area_m2"] > entry["max_area_m2"]
            or not (entry["min_area_m2"] <= entry["build_area_m2"] <= entry["max_area_m2"])
        ):
            problems.add(
                source,
                f"catalog.{key}",
                "need min_area_m2 <= build_area_m2 <= max_area_m2",
                field_kind="key",
            )
    problems.raise_if_any(ScenarioError)
    return Catalog({key: _facility_type(key, entry) for key, entry in data.items()})


def _non_finite(entry: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """(field, value) of every infinite or NaN number of one type's entry (nested too)."""
    for name, value in entry.items():
        if isinstance(value, Mapping):
            yield from _non_finite(value, f"{prefix}{name}.")
        elif isinstance(value, float) and not math.isfinite(value):
            yield f"{prefix}{name}", value


def _all_finite(entry: Mapping[str, Any]) -> bool:
    return next(_non_finite(entry), None) is None


def _facility_type(key: str, entry: Mapping[str, Any]) -> FacilityType:
    need = entry["need"]
    amount = need["amount"]
    if not isinstance(amount, Mapping):
        amount = {a: float(amount) for a in AREA_TYPES}
    return FacilityType(
        key=key,
        label_en=entry["label_en"],
        label_zh=entry["label_zh"],
        level=entry["level"],
        target_group=entry["target_group"],
        target_label=entry["target_label"],
        walk_limit_m=float(entry["walk_limit_m"]),
        capacity_unit=entry["capacity_unit"],
        need_basis=need["basis"],
        need_per=float(need["per"]),
        need_amount={k: float(v) for k, v in amount.items()},
        area_per_unit_m2=float(entry["area_per_unit_m2"]),
        min_area_m2=float(entry["min_area_m2"]),
        max_area_m2=float(entry["max_area_m2"]),
        build_area_m2=float(entry["build_area_m2"]),
        fitout_cost_per_m2=float(entry["fitout_cost_per_m2"]),
        fitout_multiplier=float(entry["fitout_multiplier"]),
        sources=dict(entry.get("sources", {})),
        priority=float(entry.get("priority", 1.0)),
        split_demand=bool(entry.get("split_demand", True)),
    )
