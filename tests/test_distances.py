"""Straight-line distances: the sparse k-d tree result equals a dense computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.distances.base import DistancePairs, StraightLineEngine
from optimizer.distances.table import read_distance_table
from optimizer.errors import ProblemCollector
from optimizer.scenario import TableSpec


def test_pairs_equal_dense_computation() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 2000, (300, 2))
    b = rng.uniform(0, 2000, (120, 2))
    b[0] = a[0]  # a block at a site's door: distance 0 must be kept
    engine = StraightLineEngine(detour_factor=1.3)
    pairs = engine.pairs(a, b, cutoff=300)
    dense = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]) * 1.3
    expect = {(int(i), int(j)) for i, j in zip(*np.nonzero(dense <= 300), strict=True)}
    got = set(zip(pairs.rows.tolist(), pairs.cols.tolist(), strict=True))
    assert got == expect
    assert np.allclose(pairs.dist, dense[pairs.rows, pairs.cols])
    assert (0, 0) in got and pairs.dist[(pairs.rows == 0) & (pairs.cols == 0)][0] == 0.0


def test_filter_and_nearest() -> None:
    pairs = DistancePairs(
        rows=np.array([0, 0, 1, 2]),
        cols=np.array([1, 2, 2, 0]),
        dist=np.array([250.0, 100.0, 299.0, 310.0]),
        shape=(4, 3),
        cutoff=500.0,
    )
    near = pairs.filter(300)
    assert len(near) == 3 and near.cutoff == 300
    idx, dist = near.nearest()
    assert idx.tolist() == [2, 2, -1, -1]
    assert dist[:2].tolist() == [100.0, 299.0] and np.isnan(dist[2:]).all()
    assert pairs.filter(col_mask=np.array([True, True, False])).rows.tolist() == [0, 2]
    with pytest.raises(ValueError, match="exceeds the computed cutoff"):
        pairs.filter(600)


def test_empty_sets() -> None:
    engine = StraightLineEngine()
    assert len(engine.pairs(np.zeros((0, 2)), np.ones((3, 2)), 300)) == 0
    assert engine.pairs(np.ones((2, 2)), np.zeros((0, 2)), 300).shape == (2, 0)


def test_distance_table_in_gbk_keeps_chinese_ids(tmp_path: Path) -> None:
    # planners' OD tables come from Excel on Chinese Windows: GBK, like every other table
    path = tmp_path / "od.csv"
    text = (
        "demand_id,site_id,distance\n幸福小区一期,东风路站点,120.5\n幸福小区二期,东风路站点,300\n"
    )
    path.write_bytes(text.encode("gbk"))
    problems = ProblemCollector()
    table = read_distance_table(
        TableSpec(path), ["幸福小区一期", "幸福小区二期"], ["东风路站点"], [], problems
    )
    assert not problems.problems
    assert table is not None
    assert list(table["demand_id"]) == ["幸福小区一期", "幸福小区二期"]
    assert list(table["distance"]) == [120.5, 300.0]
