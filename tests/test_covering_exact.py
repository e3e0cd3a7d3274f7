"""Exact optima of the location set covering model (:mod:`optimizer.models.covering.lscp`):
hand-built instances with known optima, random tiny instances against brute force, the count
row of the p-center search, and the model's shape.

The multi-type covering with shared sites and floor areas is the planning model's
(``tests/test_planning.py``: co-location, floor areas and a brute-force oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.models.covering import lscp
from optimizer.models.covering.lscp import LscpData
from tests.oracles import brute_force_lscp

HIGHS = get_backend("highs")
EXACT = SolveOptions(time_limit_s=30, mip_gap=0.0)


def _solve(data: LscpData, max_open: int | None = None) -> tuple[Status, float, np.ndarray]:
    milp = lscp.build_model(data, max_open=max_open)
    res = HIGHS.solve(milp, EXACT)
    if not res.status.has_solution or res.x is None:
        return res.status, float("inf"), np.zeros(data.n_sites, dtype=bool)
    sol = lscp.decode(data, milp, res.x)
    assert sol.objective == pytest.approx(res.objective)
    return res.status, sol.objective, sol.selected


def test_classic_lscp_from_arrays() -> None:
    # 4 demand points, 3 sites: site 2 alone covers everything but costs more than 0 + 1
    reach = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]]))
    status, cost, selected = _solve(LscpData.from_arrays(reach, cost=[2.0, 3.0, 6.0]))
    assert status is Status.OPTIMAL and cost == pytest.approx(5.0)
    assert selected.tolist() == [True, True, False]
    status, cost, selected = _solve(LscpData.from_arrays(reach, cost=[2.0, 3.0, 4.5]))
    assert cost == pytest.approx(4.5) and selected.tolist() == [False, False, True]


def test_site_rules_and_unit_costs() -> None:
    reach = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]])
    # unit costs: site 2 alone; forbidding it needs both others; requiring 0 adds it
    assert _solve(LscpData.from_arrays(reach))[1] == 1.0
    assert _solve(LscpData.from_arrays(reach, forbidden=[2]))[1] == 2.0
    _, cost, selected = _solve(LscpData.from_arrays(reach, required=[0]))
    assert cost == 2.0 and selected[0]
    # a row with no allowed site: infeasible
    assert _solve(LscpData.from_arrays(reach, forbidden=[0, 2]))[0] is Status.INFEASIBLE


def test_count_row_decides_whether_p_sites_cover() -> None:
    reach = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])
    data = LscpData.from_arrays(reach)
    assert _solve(data, max_open=3)[1] == 3.0
    assert _solve(data, max_open=2)[0] is Status.INFEASIBLE


@pytest.mark.parametrize("seed", range(8))
def test_random_tiny_instances_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows, n_sites = 9, 6
    a = (rng.random((n_rows, n_sites)) < 0.35).astype(np.int8)
    cost = rng.integers(1, 20, n_sites).astype(float)
    required = (int(rng.integers(n_sites)),) if seed % 3 == 0 else ()
    forbidden = (int((seed + 1) % n_sites),) if seed % 2 == 0 else ()
    forbidden = tuple(f for f in forbidden if f not in required)
    expected = brute_force_lscp(a, cost, required, forbidden)
    data = LscpData.from_arrays(a, cost, required=required, forbidden=forbidden)
    status, value, selected = _solve(data)
    if np.isinf(expected):
        assert status is Status.INFEASIBLE
        return
    assert status is Status.OPTIMAL and value == pytest.approx(expected)
    assert a[:, selected].any(axis=1).all()
    assert selected[list(required)].all() and not selected[list(forbidden)].any()


def test_data_is_binary_and_checked() -> None:
    # 2 and -1 are pairs; the explicit zero at (0, 1) is not
    reach = sp.csr_matrix(([2.0, 0.0, -1.0], ([0, 0, 1], [0, 1, 1])), shape=(2, 2))
    data = LscpData.from_arrays(reach)
    assert data.reach.toarray().tolist() == [[1, 0], [0, 1]]
    assert data.cost.tolist() == [1.0, 1.0]
    milp = lscp.build_model(data)
    assert milp.num_vars == 2 and milp.num_rows == 2 and milp.integrality.all()
    assert lscp.build_model(data, max_open=1).num_rows == 3
    with pytest.raises(ValueError, match="one finite, non-negative value per site"):
        LscpData.from_arrays(reach, [1.0, -1.0])
    with pytest.raises(ValueError, match="both required and forbidden"):
        LscpData.from_arrays(reach, required=[0], forbidden=[0])
