"""One deadline per run: every phase, re-assignment, check and probe draws on the same clock.

A run makes one :class:`Deadline` from its time limit (``solver.time_limit_s`` or
``--time-limit``) and passes it down; each solver call gets what is left
(:meth:`Deadline.remaining`), optionally a share of it, so the run as a whole ends by its limit
instead of each call taking the full limit again. :meth:`Deadline.spent` records how the time
went, phase by phase, for the summary.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class Deadline:
    """An absolute wall-clock deadline (``time.monotonic`` seconds), or none.

    Parameters
    ----------
    limit_s : float or None
        Seconds from now; None (or ``inf``) for no limit.
    """

    limit_s: float | None = None
    start: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit_s is not None and not math.isfinite(self.limit_s):
            self.limit_s = None
        if self.limit_s is not None and self.limit_s < 0:
            raise ValueError(f"a time limit must be >= 0 s, got {self.limit_s}")

    @property
    def end(self) -> float:
        """The absolute deadline (``inf`` when unlimited)."""
        return math.inf if self.limit_s is None else self.start + self.limit_s

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.start

    def remaining(self, share: float = 1.0, reserve_s: float = 0.0) -> float | None:
        """Seconds left for the next step: ``share`` of what is left after ``reserve_s``.

        None when the run has no limit; never below 0.
        """
        if self.limit_s is None:
            return None
        left = self.end - time.monotonic() - reserve_s
        return max(0.0, left * share)

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.end

    def cap(self, limit_s: float | None, share: float = 1.0) -> float | None:
        """The smaller of ``limit_s`` and ``share`` of the time left (None: no limit at all)."""
        left = self.remaining(share)
        if left is None:
            return limit_s
        return left if limit_s is None else min(limit_s, left)

    def spent(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` to the time recorded for ``phase`` (for the run's summary)."""
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def sub(self, share: float = 1.0, reserve_s: float = 0.0) -> Deadline:
        """A deadline for one step of the run: ``share`` of what is left after ``reserve_s``.

        It records its phases in this deadline's table, so the run's summary shows them all;
        unlimited when this one is.
        """
        return Deadline(self.remaining(share, reserve_s), phases=self.phases)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Record the wall time of the ``with`` body under ``phase`` (see :meth:`spent`)."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.spent(phase, time.monotonic() - t0)

    def summary(self) -> dict[str, object]:
        """The limit, the time used so far and the time per phase (for ``summary.json``)."""
        return {
            "limit_s": self.limit_s,
            "elapsed_s": round(self.elapsed(), 3),
            "phases_s": {k: round(v, 3) for k, v in self.phases.items()},
        }


_RUNNING: set[threading.Thread] = set()
"""The :class:`Background` calls that have not returned yet."""


def left_behind() -> int:
    """How many :class:`Background` calls are still running (left behind at a deadline)."""
    return sum(t.is_alive() for t in list(_RUNNING))


@atexit.register
def _wait_for_left_behind() -> None:
    # a thread still inside native solver code when the interpreter shuts down can crash
    # the process: a library user's process waits for it at exit (the command line does
    # not: exit_process)
    for thread in list(_RUNNING):
        thread.join()


def exit_process(code: int) -> NoReturn:
    """End the process with ``code``. Where a solver call left behind by :class:`Background`
    still runs, end it without waiting for that call (its answer was dropped and the run's
    outputs are published): Python would otherwise wait for it at exit, or crash on it."""
    if left_behind():
        log.info("a solver call left behind at its deadline is still running; exiting without it")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


class Background(Generic[T]):
    """A call run in a daemon thread that the caller stops waiting for at a deadline.

    Some solver phases never read their clock (HiGHS's presolve and parts of its root node):
    a MIP meant for 54 s has run 128 s there. The caller cannot stop such a call, but it need
    not wait for it: :meth:`result` returns None once the deadline has passed, and the run
    goes on with what it has (the thread ends by itself, or with the process).

    Parameters
    ----------
    call : callable
        Run once, in the thread.
    """

    def __init__(self, call: Callable[[], T]) -> None:
        self._out: list[T] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        _RUNNING.add(self._thread)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._out.append(call())
        except BaseException as exc:  # handed to the caller in result()
            self._error.append(exc)
        finally:
            _RUNNING.discard(threading.current_thread())

    def done(self) -> bool:
        """True once the call has returned (or raised)."""
        return not self._thread.is_alive()

    def peek(self) -> T | None:
        """The call's value if it has returned, else None (never waits)."""
        return self._out[0] if self._out else None

    def result(self, wait_s: float | None) -> T | None:
        """The call's value, waiting at most ``wait_s`` seconds (None: as long as it takes);
        None when it has not returned by then. An exception of the call is raised here."""
        self._thread.join(None if wait_s is None else max(0.0, wait_s))
        if self._error:
            raise self._error[0]
        if not self._out:
            log.warning("a solver call did not return by its deadline; its answer is dropped")
            return None
        return self._out[0]
