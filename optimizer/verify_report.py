"""The report of an independent check: what was checked, what failed, the recomputed cost.

Its own light module so that the classic models' checks (:mod:`optimizer.classic.verify`,
imported by ``siting solve``) share the report type with the planning checks
(:mod:`optimizer.verify`) without importing the planning instance, its input readers and
GeoPandas: a third of a second of start-up that a solve under a time limit must not pay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optimizer.messages import Message


@dataclass
class VerifyReport:
    """What was checked and what failed (empty ``failures`` = passed)."""

    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    recomputed_cost: float = math.nan
    check_messages: list[Message] = field(default_factory=list)
    """The checks as messages (``checks`` holds them in English), for translated reports."""

    def checked(self, msg: Message) -> None:
        """Record a check that was made (in ``checks`` in English, and as its message)."""
        self.checks.append(msg.en)
        self.check_messages.append(msg)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "checks": self.checks,
            "failures": self.failures,
            "recomputed_cost": self.recomputed_cost,
        }
