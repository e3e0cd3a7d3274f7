"""The project's exception hierarchy and the command line's exit codes.

Every error a user can cause derives from :class:`SitingError`; the command line turns these
into a one-paragraph message and the error's ``exit_code``, never a traceback (``-v`` adds it).

Exit codes (one table, :data:`EXIT_CODES`; the README repeats it):

===  =====================================================================================
0    success
1    internal error (a bug: the message asks to rerun with ``-v`` for the traceback)
2    bad input: scenario file, input tables, command-line options, run catalogue
3    infeasible: the request cannot be met (the message says why)
4    solver failure: no solution within the limits, solver missing, or a failed verification
5    cannot write outputs: file-system errors (not a folder, no permission, name too long,
     disk full)
130  interrupted (Ctrl-C)
===  =====================================================================================
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Exit codes of the ``siting`` command."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    INFEASIBLE = 3
    SOLVER = 4
    CANNOT_WRITE = 5
    INTERRUPTED = 130


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "internal error (a bug; rerun with -v for the traceback)",
    ExitCode.BAD_INPUT: "bad input: scenario file, input tables, command-line options, run "
    "catalogue",
    ExitCode.INFEASIBLE: "infeasible: the request cannot be met (the message says why)",
    ExitCode.SOLVER: "solver failure: no solution within the limits, solver not installed, "
    "or the plan failed verification",
    ExitCode.CANNOT_WRITE: "cannot write outputs: not a folder, no permission, name too long, "
    "disk full",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def preview_ids(ids: Iterable[object], limit: int = 10) -> str:
    """Return ``"B017, B018, … (+12 more)"`` for an id list, keeping messages short."""
    items = [str(i) for i in ids]
    head = ", ".join(items[:limit])
    if len(items) > limit:
        head += f", … (+{len(items) - limit} more)"
    return head


class SitingError(Exception):
    """Base class of every error raised on purpose by the optimizer.

    ``exit_code`` is what the command line exits with when this error ends a run.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.SOLVER


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

    exit_code: ClassVar[ExitCode] = ExitCode.BAD_INPUT

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

    exit_code: ClassVar[ExitCode] = ExitCode.INFEASIBLE


class SolverNotAvailable(SitingError):
    """The chosen solver backend is not installed; the message names what to install."""


class SolverError(SitingError):
    """A solver failed in a way that is not the user's input."""


class VerificationError(SitingError):
    """A solution failed the independent feasibility or objective check."""


class OutputError(SitingError):
    """The outputs cannot be written (file-system error); the message names the path."""

    exit_code: ClassVar[ExitCode] = ExitCode.CANNOT_WRITE


class CatalogueError(SitingError):
    """The run catalogue (``runs.sqlite``) cannot be read; the message names the file."""

    exit_code: ClassVar[ExitCode] = ExitCode.BAD_INPUT


_OS_REASONS: dict[int, str] = {
    errno.EEXIST: "a file of that name is in the way",
    errno.ENOTDIR: "a file stands where a folder is needed",
    errno.EISDIR: "a folder stands where a file is needed",
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENOENT: "no such file or folder",
}


def describe_os_error(exc: OSError) -> str:
    """A one-line, plain-words account of a file-system error, naming the path.

    Examples
    --------
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "out/plan.xlsx"))
    'out/plan.xlsx: the disk is full (No space left on device)'
    """
    reason = _OS_REASONS.get(exc.errno or -1)
    detail = exc.strerror or str(exc)
    text = f"{reason} ({detail})" if reason else detail
    where = exc.filename if exc.filename is not None else None
    if where is not None and exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {text}" if where is not None else text


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
