"""The project's exception hierarchy.

Every error a user can cause derives from :class:`SitingError`; the command line turns these
into a one-paragraph message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def preview_ids(ids: Iterable[object], limit: int = 10) -> str:
    """Return ``"B017, B018, … (+12 more)"`` for an id list, keeping messages short."""
    items = [str(i) for i in ids]
    head = ", ".join(items[:limit])
    if len(items) > limit:
        head += f", … (+{len(items) - limit} more)"
    return head


class SitingError(Exception):
    """Base class of every error raised on purpose by the optimizer."""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating an input.

    Attributes
    ----------
    source : str
        The file (or scenario key) the problem is in.
    column : str or None
        The column concerned, if any.
    message : str
        What is wrong, in words.
    ids : tuple of str
        The offending record ids, if any.
    """

    source: str
    column: str | None
    message: str
    ids: tuple[str, ...] = field(default_factory=tuple)
    field_kind: str = "column"

    def __str__(self) -> str:
        where = self.source + (f", {self.field_kind} '{self.column}'" if self.column else "")
        text = f"{where}: {self.message}"
        if self.ids:
            text += f" ({len(self.ids)}: {preview_ids(self.ids)})"
        return text


class InputError(SitingError):
    """Bad input: carries every problem found, so the user can fix them all at once."""

    def __init__(self, problems: Sequence[Problem], what: str = "input") -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the {what}:\n{lines}")


class ScenarioError(InputError):
    """The scenario file itself is malformed (unknown key, wrong type, missing file)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, what="scenario")


class InfeasibleError(SitingError):
    """A request that cannot be met; the message says why."""


class SolverNotAvailable(SitingError):
    """The chosen solver backend is not installed; the message names what to install."""


class SolverError(SitingError):
    """A solver failed in a way that is not the user's input."""


class VerificationError(SitingError):
    """A solution failed the independent feasibility or objective check."""


class ProblemCollector:
    """Collects validation problems, then raises them together.

    Examples
    --------
    >>> problems = ProblemCollector()
    >>> problems.add("blocks.csv", "population", "negative values", ["B1"])
    >>> problems.raise_if_any()
    Traceback (most recent call last):
    ...
    optimizer.errors.InputError: 1 problem in the input:
      - blocks.csv, column 'population': negative values (1: B1)
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        source: str,
        column: str | None,
        message: str,
        ids: Iterable[object] = (),
        field_kind: str = "column",
    ) -> None:
        self.problems.append(
            Problem(source, column, message, tuple(str(i) for i in ids), field_kind)
        )

    def extend(self, other: ProblemCollector) -> None:
        self.problems.extend(other.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self, error: type[InputError] = InputError) -> None:
        """Raise ``error`` carrying every collected problem, if there is any."""
        if self.problems:
            raise error(self.problems)
