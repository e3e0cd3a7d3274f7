"""Named solver configurations for ``siting bench --configs FILE.yaml``.

A configuration file is a YAML list (or a mapping with a ``configs`` list) of named solver
configurations::

    - name: highs-plain          # required, unique
      backend: highs             # highs (default), cbc, scip, cpsat
      variant: plain             # plain (default) | warm | heuristic | exact: the model's method
                                 # (plain -> lscp-mip, warm -> lscp-warm, exact -> pmedian-exact)
      time_limit_s: 60           # default 60
      gap: 0.0                   # relative MIP gap, default 0 (prove optimality)
      threads: 1                 # solver threads (default: the solver's; 1 on Dask)
      seed: 0
      presolve: true             # HiGHS only: presolve on / off
      heuristics: true           # HiGHS only: MIP primal heuristics on / off
      assignment: continuous     # continuous (default) | binary: formulation of the assignment
                                 # / coverage variables (binary = what CP-SAT needs)
      highs_options: {mip_heuristic_effort: 0.1}   # HiGHS only: any further HiGHS option
    - name: pmedian-exact
      models: {pmedian: pmedian-exact}             # explicit model per family (wins over
                                                   # variant); families: lscp, mclp, pmedian,
                                                   # cpmedian, pcenter

Warm start is the ``warm`` variant (the heuristic's solution handed to the MIP). Every error
names the file, the configuration and the key (:class:`~optimizer.errors.InputError`).

:class:`TunedHighs` is the HiGHS backend with those extra options and, when asked, a trace of
the incumbent and the bound over time from HiGHS callbacks (``cbMipImprovingSolution`` and a
throttled ``cbMipInterrupt``, highspy 1.12).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from optimizer.backends import Backend, Result, SolveOptions, backend_names, get_backend
from optimizer.backends.highs import HighsBackend
from optimizer.classic.registry import MODELS
from optimizer.errors import InputError, Problem, ProblemCollector

if TYPE_CHECKING:  # highspy is imported by the HiGHS backend when a solve runs
    import highspy

Complaint = Callable[[str, str], None]
"""Records a problem with one key of a configuration: ``bad(key, message)``."""

VARIANTS = ("plain", "warm", "heuristic", "exact")
FAMILIES = ("lscp", "mclp", "pmedian", "cpmedian", "pcenter")
HIGHS_ONLY = ("presolve", "heuristics", "highs_options")
KEYS = frozenset(
    {
        "name",
        "backend",
        "variant",
        "models",
        "time_limit_s",
        "gap",
        "threads",
        "seed",
        "presolve",
        "heuristics",
        "assignment",
        "highs_options",
        "description",
    }
)
TRACE_EVERY_S = 0.05


@dataclass(frozen=True)
class BenchConfig:
    """One named solver configuration (see the module docstring for the keys)."""

    name: str
    backend: str = "highs"
    variant: str = "plain"
    models: Mapping[str, str] = field(default_factory=dict)
    time_limit_s: float = 60.0
    gap: float = 0.0
    threads: int | None = None
    seed: int = 0
    presolve: bool | None = None
    heuristics: bool | None = None
    assignment: str = "continuous"
    highs_options: Mapping[str, object] = field(default_factory=dict)
    description: str = ""

    def model_for(self, family: str) -> str | None:
        """The model this configuration solves for an instance of ``family`` (``None``: the
        variant does not exist for that family, e.g. ``exact`` for ``lscp``)."""
        if family == "plan":  # the planning model: one way to solve it (solver.method)
            return "plan"
        if family in self.models:
            return self.models[family]
        method = "mip" if self.variant == "plain" else self.variant
        name = f"{family}-{method}"
        return name if name in MODELS else None

    def options(self, *, threads: int | None = None) -> SolveOptions:
        """The :class:`SolveOptions` of this configuration (``threads`` overrides)."""
        return SolveOptions(
            time_limit_s=self.time_limit_s,
            mip_gap=self.gap,
            threads=threads if threads is not None else self.threads,
            seed=self.seed,
        )

    def make_backend(self, trace: list[dict[str, float]] | None = None) -> Backend:
        """The backend instance: plain, or :class:`TunedHighs` with the extra options, or one
        that declares no LP support so that models build binary assignment variables."""
        tuned = self.backend == "highs" and (
            self.presolve is not None
            or self.heuristics is not None
            or bool(self.highs_options)
            or trace is not None
        )
        backend = get_backend(self.backend)
        if tuned:
            opts: dict[str, Any] = dict(self.highs_options)
            if self.presolve is not None:
                opts["presolve"] = "on" if self.presolve else "off"
            if self.heuristics is not None and "mip_heuristic_effort" not in opts:
                opts["mip_heuristic_effort"] = 0.05 if self.heuristics else 0.0
            backend = TunedHighs(opts, trace)
        if self.assignment == "binary":
            cls = type(backend)
            caps = frozenset(cls.capabilities - {"lp"})
            binary = type(f"Binary{cls.__name__}", (cls,), {"capabilities": caps})
            backend.__class__ = binary
        return backend

    def as_dict(self) -> dict[str, Any]:
        """The configuration as written back to a results table (JSON-ready)."""
        return {
            "configuration": self.name,
            "backend": self.backend,
            "variant": self.variant,
            "time_limit_s": self.time_limit_s,
            "gap_limit": self.gap,
            "threads": self.threads,
            "presolve": self.presolve,
            "heuristics": self.heuristics,
            "assignment": self.assignment,
        }


# ------------------------------------------------------------------------------ reading


def load_configs(path: Path | str) -> list[BenchConfig]:
    """Read and check a configuration file.

    Raises
    ------
    InputError
        Unreadable file, not a list, unknown keys, wrong types or values, unknown backends or
        models, options a backend does not support, repeated names; every problem is listed
        with the file, the configuration and the key.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(str(path), None, f"cannot read: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(str(path), None, f"not valid YAML: {exc}")]) from None
    if isinstance(raw, dict) and "configs" in raw:
        raw = raw["configs"]
    if not isinstance(raw, list) or not raw:
        raise InputError([Problem(str(path), None, "expected a non-empty list of configurations")])
    problems = ProblemCollector()
    configs: list[BenchConfig] = []
    seen: set[str] = set()
    for k, item in enumerate(raw):
        where = f"configuration {k + 1}"
        if not isinstance(item, dict):
            problems.add(str(path), None, f"{where}: expected a mapping, got {item!r}")
            continue
        name = item.get("name")
        if isinstance(name, str) and name.strip():
            where = f"configuration '{name}'"
            if name in seen:
                problems.add(str(path), "name", f"{where}: used twice", field_kind="key")
            seen.add(name)
        else:
            problems.add(
                str(path), "name", f"{where}: required, a non-empty string", field_kind="key"
            )
        before = len(problems.problems)
        cfg = _parse(item, _complaint(problems, path, where))
        if cfg is not None and len(problems.problems) == before:
            configs.append(cfg)
    problems.raise_if_any()
    return configs


def _complaint(problems: ProblemCollector, path: Path, where: str) -> Complaint:
    """``bad(key, message)`` for one configuration: records the problem under its key."""

    def bad(key: str, message: str) -> None:
        problems.add(str(path), key, f"{where}: {message}", field_kind="key")

    return bad


def _parse(item: dict[str, Any], bad: Complaint) -> BenchConfig | None:
    for key in sorted(set(item) - KEYS):
        bad(key, f"unknown key (known: {', '.join(sorted(KEYS))})")
    backend = item.get("backend", "highs")
    if backend not in backend_names():
        bad("backend", f"unknown backend '{backend}' (choose one of: {', '.join(backend_names())})")
    variant = item.get("variant", "plain")
    if variant not in VARIANTS:
        bad("variant", f"'{variant}' is not one of {', '.join(VARIANTS)}")
    models = item.get("models", {}) or {}
    if not isinstance(models, dict):
        bad("models", "expected a mapping family: model, e.g. {pmedian: pmedian-exact}")
        models = {}
    for fam, model in models.items():
        if fam not in FAMILIES:
            bad("models", f"unknown family '{fam}' (families: {', '.join(FAMILIES)})")
        elif model != fam and (model not in MODELS or MODELS[model].family != fam):
            bad("models", f"'{model}' is not a {fam} model")
    time_limit = _number(item, "time_limit_s", 60.0, bad, positive=True)
    gap = _number(item, "gap", 0.0, bad)
    if gap is not None and not 0.0 <= gap < 1.0:
        bad("gap", f"{gap} is not in [0, 1)")
    threads = item.get("threads")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        bad("threads", f"expected a positive integer, got {threads!r}")
    seed = item.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        bad("seed", f"expected a non-negative integer, got {seed!r}")
    for key in ("presolve", "heuristics"):
        if key in item and not isinstance(item[key], bool):
            bad(key, f"expected true or false, got {item[key]!r}")
    assignment = item.get("assignment", "continuous")
    if assignment not in ("continuous", "binary"):
        bad("assignment", f"expected continuous or binary, got {assignment!r}")
    highs_options = item.get("highs_options", {}) or {}
    if not isinstance(highs_options, dict):
        bad("highs_options", "expected a mapping of HiGHS option names to values")
        highs_options = {}
    elif highs_options:
        _check_highs_options(highs_options, bad)
    if backend != "highs":
        for key in HIGHS_ONLY:
            if item.get(key) not in (None, {}):
                bad(key, f"supported by backend highs only, not {backend}")
    try:
        return BenchConfig(
            name=str(item.get("name", "")),
            backend=str(backend),
            variant=str(variant),
            models={str(k): str(v) for k, v in models.items()},
            time_limit_s=float(time_limit if time_limit is not None else 60.0),
            gap=float(gap if gap is not None else 0.0),
            threads=threads if isinstance(threads, int) else None,
            seed=seed if isinstance(seed, int) else 0,
            presolve=item.get("presolve"),
            heuristics=item.get("heuristics"),
            assignment=str(assignment),
            highs_options=dict(highs_options),
            description=str(item.get("description", "")),
        )
    except (TypeError, ValueError):
        return None


def _number(
    item: dict[str, Any], key: str, default: float, bad: Complaint, positive: bool = False
) -> float | None:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        bad(key, f"expected a number, got {value!r}")
        return None
    if positive and value <= 0:
        bad(key, f"expected a positive number, got {value!r}")
        return None
    return float(value)


def _check_highs_options(options: dict[str, Any], bad: Complaint) -> None:
    if not HighsBackend.is_available():
        bad("highs_options", "highspy is not installed")
        return
    for key in HighsBackend.refused_options(options):
        bad("highs_options", f"HiGHS refuses option {key} = {options[key]!r}")


# ------------------------------------------------------------------------------ HiGHS


class TunedHighs(HighsBackend):
    """HiGHS with extra options, optionally tracing incumbent and bound over time.

    Parameters
    ----------
    highs_options : mapping
        HiGHS option name -> value, set after the common :class:`SolveOptions`.
    trace : list, optional
        Receives ``{"t_s", "incumbent", "bound"}`` points: every improving solution and, at
        most every :data:`TRACE_EVERY_S` seconds, the state at a MIP interrupt check; ``t_s``
        is HiGHS's running time.
    """

    def __init__(
        self, highs_options: Mapping[str, object], trace: list[dict[str, float]] | None = None
    ) -> None:
        super().__init__(highs_options)
        self.trace = trace

    def _before_run(self, h: highspy.Highs) -> None:
        if self.trace is not None:
            self._subscribe(h)

    def _after_run(self, h: highspy.Highs, result: Result) -> None:
        if self.trace is not None:
            self.trace.append(
                {"t_s": result.solve_s, "incumbent": result.objective, "bound": result.bound}
            )

    def _subscribe(self, h: highspy.Highs) -> None:
        trace = self.trace
        assert trace is not None
        last = [-math.inf]

        def point(event: Any) -> None:
            out = event.data_out
            trace.append(
                {
                    "t_s": float(out.running_time),
                    "incumbent": _finite(out.mip_primal_bound),
                    "bound": _finite(out.mip_dual_bound),
                }
            )

        def throttled(event: Any) -> None:
            if event.data_out.running_time - last[0] >= TRACE_EVERY_S:
                last[0] = float(event.data_out.running_time)
                point(event)

        h.cbMipImprovingSolution.subscribe(point)
        h.cbMipInterrupt.subscribe(throttled)


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan
