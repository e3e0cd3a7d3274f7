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


class RowBuilder:
    """Collects constraint blocks as COO parts and turns them into one CSR matrix.

    Each :meth:`add` appends ``n_new`` rows; ``r`` indexes rows within the block.
    """

    def __init__(self, n_cols: int) -> None:
        self.n_cols = n_cols
        self.n_rows = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._up: list[np.ndarray] = []

    def add(
        self,
        r: np.ndarray,
        c: np.ndarray,
        v: np.ndarray,
        n_new: int,
        lower: float | np.ndarray,
        upper: float | np.ndarray,
    ) -> slice:
        """Append ``n_new`` rows; return their slice in the final matrix."""
        start = self.n_rows
        self._r.append(np.asarray(r, dtype=np.int64) + start)
        self._c.append(np.asarray(c, dtype=np.int64))
        self._v.append(np.asarray(v, dtype=float))
        self._lo.append(np.broadcast_to(np.asarray(lower, dtype=float), (n_new,)))
        self._up.append(np.broadcast_to(np.asarray(upper, dtype=float), (n_new,)))
        self.n_rows += n_new
        return slice(start, self.n_rows)

    def build(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The CSR matrix and the row bound vectors."""
        if not self._r:
            return sp.csr_matrix((0, self.n_cols)), np.zeros(0), np.zeros(0)
        a = sp.csr_matrix(
            (np.concatenate(self._v), (np.concatenate(self._r), np.concatenate(self._c))),
            shape=(self.n_rows, self.n_cols),
        )
        return a, np.concatenate(self._lo), np.concatenate(self._up)
