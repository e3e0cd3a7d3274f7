"""Shared fixtures, and the `browser` tier's check for what it needs.

A test marked ``browser`` needs a headless Chromium and a CJK font (Debian's ``chromium`` and
``fonts-noto-cjk``; ``make test-slow`` / ``make test-all`` install them through
``.ci/browser-deps`` where this machine can). Where either is still missing the test is skipped
with the reason printed in pytest's summary, except under CI (``CI=true``), where it runs and
fails with its own message: CI must never pass without having driven the browser.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from optimizer.deliverables.fonts import cjk_font
from tests.browser import find_chromium
from tests.helpers import blocks_frame, existing_frame, sites_frame, write_scenario

INSTALL_HINT = "install with `make browser-deps` (as root) or `apt-get install {}`"


def under_ci() -> bool:
    """True on CI (``CI=true``, as most CI systems and .ci/run's caller set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_browser_needs() -> list[str]:
    """The Debian packages the `browser` tier needs that this machine lacks."""
    missing = []
    if find_chromium() is None:
        missing.append("chromium")
    if cjk_font() is None:
        missing.append("fonts-noto-cjk")
    return missing


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a `browser` test, saying why, where Chromium or a CJK font is missing (not on CI)."""
    if item.get_closest_marker("browser") is None or under_ci():
        return
    missing = missing_browser_needs()
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not on this machine: "
            + INSTALL_HINT.format(" ".join(missing))
        )


@pytest.fixture
def line_city(tmp_path: Path) -> Path:
    """A hand-built line city (the planning model's optimum: 1,050,000 yuan, see
    tests/test_plan_pipeline.py).

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
