"""The facility catalog: what each facility type serves, how far residents walk, how big it is.

The catalog is data (``catalog.yaml`` in this package); this module loads it, applies a
scenario's overrides and validates the result. Model code reads the resulting
:class:`FacilityType` objects, never the YAML.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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
        "size_step_m2": {"oneOf": [_POSITIVE, {"type": "null"}]},
        "size_classes_m2": {
            "oneOf": [
                {"type": "array", "items": _POSITIVE, "minItems": 1, "uniqueItems": True},
                {"type": "null"},
            ]
        },
        "max_cost_per_resident": {"oneOf": [_POSITIVE, {"type": "null"}]},
        "cost_per_resident_flag": {"oneOf": [_POSITIVE, {"type": "null"}]},
        "sources": {"type": "object", "additionalProperties": {"type": "string"}},
        "sources_zh": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
OPTIONAL_FIELDS = (
    "sources",
    "sources_zh",
    "priority",
    "split_demand",
    "size_step_m2",
    "size_classes_m2",
    "max_cost_per_resident",
    "cost_per_resident_flag",
)
SIZE_RTOL = 1e-6
"""A size within this relative tolerance of a standard size is that size (solver rounding)."""
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
    size_step_m2 : float or None
        Facilities are built in multiples of this floor area (standard sizes); None: any size.
    size_classes_m2 : tuple of float
        The standard sizes of the type (e.g. 6, 9 and 12 kindergarten classes); when given they
        are the only sizes, and ``size_step_m2`` is not used.
    max_cost_per_resident : float or None
        Most a facility may cost (its fit-out plus its site's opening cost) per target resident
        it serves; the planning model holds every facility to it. None: no limit.
    cost_per_resident_flag : float or None
        Cost per resident newly served above which a construction-list row is flagged; None:
        the plan's own 90th percentile for the type (see :mod:`optimizer.plan`).
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
    size_step_m2: float | None = None
    size_classes_m2: tuple[float, ...] = ()
    max_cost_per_resident: float | None = None
    cost_per_resident_flag: float | None = None
    sources_zh: Mapping[str, str] = field(default_factory=dict)
    """``sources`` in Chinese (per field; a field without one is shown in English)."""

    @property
    def has_standard_sizes(self) -> bool:
        """Whether facilities of this type are built in standard sizes only."""
        return bool(self.size_classes_m2) or self.size_step_m2 is not None

    def standard_sizes(self, upper: float | None = None) -> np.ndarray:
        """The standard sizes (m²) between ``min_area_m2`` and ``max_area_m2`` (and ``upper``,
        e.g. a site's floor area), ascending; empty when the type has no standard sizes."""
        top = self.max_area_m2 if upper is None else min(self.max_area_m2, upper)
        return standard_sizes(self.size_step_m2, self.size_classes_m2, self.min_area_m2, top)

    def size_rule(self) -> str:
        """The standard sizes in words, e.g. ``"multiples of 50 m²"``; "" when none."""
        if self.size_classes_m2:
            return "sizes " + ", ".join(f"{a:g}" for a in self.size_classes_m2) + " m²"
        if self.size_step_m2 is not None:
            return f"multiples of {self.size_step_m2:g} m²"
        return ""

    def is_standard(self, area: np.ndarray) -> np.ndarray:
        """Mask: which of ``area`` are standard sizes (all True for a type without them)."""
        return is_standard_size(
            np.asarray(area, dtype=float), self.size_step_m2, self.size_classes_m2
        )

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


def standard_sizes(
    step: float | None, classes: tuple[float, ...], lower: float, upper: float
) -> np.ndarray:
    """Standard sizes within ``[lower, upper]``: the classes, else the multiples of ``step``
    (empty when neither is given or none fits)."""
    slack = SIZE_RTOL * max(upper, 1.0)
    if classes:
        sizes = np.unique(np.asarray(classes, dtype=float))
    elif step is not None:
        sizes = step * np.arange(
            math.ceil(lower / step - SIZE_RTOL), math.floor(upper / step + SIZE_RTOL) + 1
        )
    else:
        return np.zeros(0)
    return sizes[(sizes >= lower - slack) & (sizes <= upper + slack)]


def is_standard_size(
    area: np.ndarray, step: float | None, classes: tuple[float, ...]
) -> np.ndarray:
    """Mask: which areas are a class (when classes are given) or a multiple of ``step``."""
    tol = SIZE_RTOL * np.maximum(np.abs(area), 1.0)
    if classes:
        c = np.asarray(classes, dtype=float)
        return np.asarray(np.abs(area[..., None] - c).min(axis=-1) <= tol)
    if step is not None:
        return np.asarray(np.abs(area - step * np.round(area / step)) <= tol)
    return np.ones(area.shape, dtype=bool)


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
        elif _all_finite(entry) and validator.is_valid(entry):
            # only a well-formed entry: a schema problem is reported above
            _check_standard_sizes(key, entry, source, problems)
    problems.raise_if_any(ScenarioError)
    return Catalog({key: _facility_type(key, entry) for key, entry in data.items()})


def _check_standard_sizes(
    key: str, entry: Mapping[str, Any], source: str, problems: ProblemCollector
) -> None:
    """Standard sizes must fit the size bounds, and the standard facility must be one of them."""
    step, classes = entry.get("size_step_m2"), tuple(entry.get("size_classes_m2") or ())
    if step is None and not classes:
        return
    lo, hi, build = entry["min_area_m2"], entry["max_area_m2"], entry["build_area_m2"]
    rule = "size_classes_m2" if classes else f"multiples of size_step_m2 ({step:g})"
    if classes and any(not lo <= c <= hi for c in classes):
        problems.add(
            source,
            f"catalog.{key}.size_classes_m2",
            f"every size class must lie within min_area_m2 {lo:g} and max_area_m2 {hi:g}",
            field_kind="key",
        )
    elif standard_sizes(step, classes, lo, hi).size == 0:
        problems.add(
            source,
            f"catalog.{key}.size_step_m2",
            f"no multiple of {step:g} m2 lies within min_area_m2 {lo:g} and max_area_m2 {hi:g}",
            field_kind="key",
        )
    elif not bool(is_standard_size(np.asarray([float(build)]), step, classes)[0]):
        problems.add(
            source,
            f"catalog.{key}.build_area_m2",
            f"build_area_m2 {build:g} is not a standard size ({rule})",
            field_kind="key",
        )


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
        sources_zh=dict(entry.get("sources_zh", {})),
        priority=float(entry.get("priority", 1.0)),
        split_demand=bool(entry.get("split_demand", True)),
        size_step_m2=_optional_float(entry.get("size_step_m2")),
        size_classes_m2=tuple(sorted(float(a) for a in entry.get("size_classes_m2") or ())),
        max_cost_per_resident=_optional_float(entry.get("max_cost_per_resident")),
        cost_per_resident_flag=_optional_float(entry.get("cost_per_resident_flag")),
    )


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
