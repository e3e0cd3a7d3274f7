"""The facility catalog: built-in numbers from the standards, overrides, need rules."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.catalog import load_catalog
from optimizer.errors import ScenarioError


def test_builtin_numbers_follow_the_standards() -> None:
    cat = load_catalog()
    for key in ("elder_care", "nursery", "kindergarten", "convenience"):
        assert cat[key].walk_limit_m == 300
        assert cat[key].sources, f"{key} must cite its sources"
    assert cat["elder_care"].target_group == "pop_60_plus"
    assert cat["elder_care"].min_area_m2 == 350
    assert cat["nursery"].target_group == "pop_0_2"
    assert cat["kindergarten"].target_group == "pop_3_5"
    assert cat["care_home"].walk_limit_m == 1000


def test_need_rules() -> None:
    cat = load_catalog()
    hh = np.array([1000.0, 1000.0])
    pop = np.array([2770.0, 2770.0])
    old = np.array([False, True])
    # elder care: 20 m2 per 100 households in new areas, 15 in old areas
    need = cat["elder_care"].need(hh, pop, pop * 0.2, old)
    assert need.tolist() == [200.0, 150.0]
    # nursery: 4.5 places per 1000 residents
    assert cat["nursery"].need(hh, pop, pop, old)[0] == pytest.approx(4.5 * 2.77)
    # care home: 40 beds per 1000 residents aged 60+
    assert cat["care_home"].need(hh, pop, np.array([500.0, 500.0]), old)[0] == 20


def test_fitout_uses_site_rate_or_default() -> None:
    ec = load_catalog()["elder_care"]
    cost = ec.fitout_cost(np.array([2000.0, np.nan]))
    assert cost.tolist() == [2000.0 * ec.fitout_multiplier * 350, ec.fitout_cost_per_m2 * 350]


def test_new_type_needs_every_field() -> None:
    with pytest.raises(ScenarioError, match="a new type must give every field"):
        load_catalog({"library": {"walk_limit_m": 500}})


def test_sizes_must_be_ordered() -> None:
    with pytest.raises(ScenarioError, match="min_area_m2 <= build_area_m2 <= max_area_m2"):
        load_catalog({"elder_care": {"build_area_m2": 100}})
