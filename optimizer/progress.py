"""Progress bars on the terminal and the run's log file.

Library code reports long steps with :func:`task` (a no-op unless a display is active), so it
never prints by itself; the command line turns a display on with :func:`progress_display`:
a spinner that shows the step the run is in (the latest log message of ``optimizer``) and a
bar per long step. :func:`capture_log` keeps the run's log records in memory so that the
deliverables can write them to ``run.log`` inside the run folder (which is published only
when the run succeeded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_progress: ContextVar[Progress | None] = ContextVar("siting_progress", default=None)
_captures: ContextVar[tuple[LogCapture, ...]] = ContextVar("siting_log_captures", default=())


class _StepHandler(logging.Handler):
    """Shows the latest INFO message as the spinner's text."""

    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        super().__init__(logging.INFO)
        self.progress, self.task_id = progress, task_id

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().splitlines()[0]
        self.progress.update(self.task_id, description=text[:70] + "…" * (len(text) > 70))


@contextmanager
def progress_display(console: Console, enabled: bool = True) -> Iterator[None]:
    """Show a spinner with the current step, and the bars of :func:`task`, while inside."""
    if not enabled:
        yield
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        main = progress.add_task("starting", total=None)
        handler = _StepHandler(progress, main)
        logger = logging.getLogger("optimizer")
        logger.addHandler(handler)
        token = _progress.set(progress)
        try:
            yield
        finally:
            _progress.reset(token)
            logger.removeHandler(handler)


@contextmanager
def task(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar for a long step; yields ``advance(n=1)``. Silent without a display."""
    progress = _progress.get()
    if progress is None:

        def ignore(n: int = 1) -> None:
            return None

        yield ignore
        return
    task_id = progress.add_task(description, total=total)

    def advance(n: int = 1) -> None:
        progress.advance(task_id, n)

    try:
        yield advance
    finally:
        progress.remove_task(task_id)


class LogCapture(logging.Handler):
    """Keeps formatted log records in memory (for ``run.log``)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log line must never break a run
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


@contextmanager
def capture_log(level: int = logging.INFO, logger: str = "optimizer") -> Iterator[LogCapture]:
    """Capture ``logger``'s records at ``level`` and above while inside.

    The logger's own level is lowered to ``level`` if needed (so ``--quiet`` on the terminal
    still leaves a full ``run.log``); terminal handlers keep their own levels.
    """
    log = logging.getLogger(logger)
    handler = LogCapture(level)
    old_level = log.level
    if log.getEffectiveLevel() > level:
        log.setLevel(level)
    log.addHandler(handler)
    token = _captures.set((*_captures.get(), handler))
    try:
        yield handler
    finally:
        _captures.reset(token)
        log.removeHandler(handler)
        log.setLevel(old_level)


def captured_log() -> str | None:
    """The text captured so far by the innermost active :func:`capture_log`, else None."""
    active = _captures.get()
    return active[-1].text() if active else None
