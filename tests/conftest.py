"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import blocks_frame, existing_frame, sites_frame, write_scenario


@pytest.fixture
def line_city(tmp_path: Path) -> Path:
    """The hand-built instance of tests/test_covering_exact.py (optimum 1,110,000 yuan).

    Blocks at x = 0, 500, 1000, 1500; limit 300 m; elder care (350 m2, 350,000 yuan fit-out)
    and convenience (100 m2, 100,000 yuan) must cover every block; an existing store at
    x = 1000 already covers block B3 for convenience.
    """
    blocks = blocks_frame([0, 500, 1000, 1500])
    sites = sites_frame(
        xs=[250, 1250, 750, 0, 1500],
        floor=[500, 400, 1000, 200, 400],
        fixed=[100_000, 100_000, 500_000, 10_000, 10_000],
    )
    existing = existing_frame([1000], ["convenience"])
    return write_scenario(tmp_path / "line", blocks, sites, existing)
