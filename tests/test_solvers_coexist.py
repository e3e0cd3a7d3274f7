"""highspy and OR-Tools must load into one process, in either order, and agree.

Both wheels carry HiGHS; highspy 1.15.x next to ortools 9.15 fails to import with undefined
symbols, while highspy 1.12.0 works. This test guards the pins in ``pyproject.toml``: it runs
each import order in a fresh interpreter (so the order is really the one named) and solves the
same small MIP with the ``highs`` and ``scip`` backends there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
for module in sys.argv[1:]:
    __import__(module)
import numpy as np
import scipy.sparse as sp
from optimizer.backends import SolveOptions, get_backend
from optimizer.milp import MILP

# max 5a + 4b + 3c  s.t.  2a + 3b + c <= 5,  4a + b + 2c <= 11,  3a + 4b + 2c <= 8,  integer >= 0
milp = MILP(
    c=np.array([5.0, 4.0, 3.0]),
    A=sp.csr_matrix(np.array([[2.0, 3.0, 1.0], [4.0, 1.0, 2.0], [3.0, 4.0, 2.0]])),
    row_lower=-np.inf,
    row_upper=np.array([5.0, 11.0, 8.0]),
    col_lower=0.0,
    col_upper=np.inf,
    integrality=True,
    sense="max",
)
out = {}
for name in ("highs", "scip"):
    r = get_backend(name).solve(milp, SolveOptions(time_limit_s=30.0))
    out[name] = {"status": r.status.value, "objective": r.objective}
out["loaded"] = sorted(m for m in ("highspy", "ortools") if m in sys.modules)
print(json.dumps(out))
"""


def _versions() -> str:
    found = []
    for dist in ("highspy", "ortools"):
        try:
            found.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} missing")
    return ", ".join(found)


@pytest.mark.parametrize(
    "order",
    [("highspy", "ortools.linear_solver.pywraplp"), ("ortools.linear_solver.pywraplp", "highspy")],
    ids=["highspy-first", "ortools-first"],
)
def test_highspy_and_ortools_share_a_process(order: tuple[str, str]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *order],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"importing {' then '.join(order)} in one process failed ({_versions()}); "
        f"highspy must stay pinned to a release that coexists with ortools:\n{proc.stderr}"
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded"] == ["highspy", "ortools"]
    assert out["highs"]["status"] == "OPTIMAL"
    assert out["scip"]["status"] == "OPTIMAL"
    assert out["highs"]["objective"] == pytest.approx(13.0, abs=1e-6)
    assert out["scip"]["objective"] == pytest.approx(out["highs"]["objective"], abs=1e-6)
