"""The one mixed-integer linear program object that every model builds and every backend takes.

A model is compiled once into whole arrays::

    min / max  c @ x + offset
    s.t.       row_lower <= A @ x <= row_upper      (A in CSR)
               col_lower <=     x <= col_upper
               x[j] integer where integrality[j]

Backends read these arrays in bulk; no backend sees the model's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

Sense = Literal["min", "max"]


@dataclass
class MILP:
    """A mixed-integer linear program in array form.

    Attributes
    ----------
    c : ndarray, shape (n,)
        Objective coefficients.
    A : scipy.sparse.csr_matrix, shape (m, n)
        Constraint matrix.
    row_lower, row_upper : ndarray, shape (m,)
        Row bounds; ``-inf`` / ``inf`` where a side is open.
    col_lower, col_upper : ndarray, shape (n,)
        Variable bounds.
    integrality : ndarray of bool, shape (n,)
        True where the variable must be integer.
    sense : {"min", "max"}
        Objective sense.
    offset : float
        Constant added to the objective.
    blocks : dict of str to slice
        Named ranges of variables (e.g. ``"open"``, ``"assign"``) so models can decode ``x``.
    name : str
        A label for logs and benchmark tables.
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    sense: Sense = "min"
    offset: float = 0.0
    blocks: dict[str, slice] = field(default_factory=dict)
    name: str = "model"

    def __post_init__(self) -> None:
        self.c = np.asarray(self.c, dtype=float)
        n = self.c.shape[0]
        self.A = sp.csr_matrix(self.A, dtype=float)
        self.A.sum_duplicates()  # backends read the CSR arrays as they are
        m = self.A.shape[0]
        if self.A.shape[1] != n:
            raise ValueError(f"A has {self.A.shape[1]} columns, c has {n}")
        self.row_lower = _vector(self.row_lower, m, "row_lower")
        self.row_upper = _vector(self.row_upper, m, "row_upper")
        self.col_lower = _vector(self.col_lower, n, "col_lower")
        self.col_upper = _vector(self.col_upper, n, "col_upper")
        self.integrality = np.broadcast_to(np.asarray(self.integrality, dtype=bool), (n,)).copy()

    @property
    def num_vars(self) -> int:
        return int(self.c.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.A.shape[0])

    def objective_value(self, x: np.ndarray) -> float:
        """Objective of ``x`` recomputed from the arrays."""
        return float(self.c @ x + self.offset)

    def max_violation(self, x: np.ndarray) -> float:
        """Largest violation of any row, bound or integrality requirement by ``x``."""
        ax = self.A @ x
        worst = [
            np.max(self.row_lower - ax, initial=0.0),
            np.max(ax - self.row_upper, initial=0.0),
            np.max(self.col_lower - x, initial=0.0),
            np.max(x - self.col_upper, initial=0.0),
        ]
        xi = x[self.integrality]
        worst.append(float(np.max(np.abs(xi - np.round(xi)), initial=0.0)))
        return float(max(worst))


def _vector(values: np.ndarray | float, size: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(values, dtype=float), (size,)).copy()
    if arr.shape != (size,):
        raise ValueError(f"{name} must have length {size}")
    return arr


def stack_rows(
    parts: list[tuple[sp.spmatrix, np.ndarray | float, np.ndarray | float]],
    n: int,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Stack constraint blocks ``(A_k, lower_k, upper_k)`` into one CSR matrix and bound vectors."""
    mats, lows, ups = [], [], []
    for a, lo, up in parts:
        a = sp.csr_matrix(a)
        if a.shape[1] != n:
            raise ValueError(f"constraint block has {a.shape[1]} columns, expected {n}")
        mats.append(a)
        lows.append(np.broadcast_to(np.asarray(lo, dtype=float), (a.shape[0],)))
        ups.append(np.broadcast_to(np.asarray(up, dtype=float), (a.shape[0],)))
    if not mats:
        return sp.csr_matrix((0, n)), np.zeros(0), np.zeros(0)
    return (
        sp.vstack(mats, format="csr"),
        np.concatenate(lows),
        np.concatenate(ups),
    )
