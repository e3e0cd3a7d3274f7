"""The install-time warm-up compiles every Numba kernel of the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.warmup import numba_kernels

UNCOMPILED = """
from optimizer.warmup import compile_kernels, numba_kernels
compile_kernels()
print("\\n".join(sorted(n for n, k in numba_kernels().items() if not k.signatures)))
"""


def test_the_package_has_kernels_to_compile() -> None:
    kernels = numba_kernels()
    assert "optimizer.models.pmedian.swap._ils_rounds" in kernels
    assert "optimizer.models.covering.search.cover_local_search" not in kernels  # Python


@pytest.mark.slow
def test_warm_up_compiles_every_kernel_into_an_empty_cache(tmp_path: Path) -> None:
    """In a fresh process with an empty cache, every kernel is compiled (~30 s)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", UNCOMPILED], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == []
    assert any(tmp_path.rglob("*.nbi")), "the kernels were cached in NUMBA_CACHE_DIR"
