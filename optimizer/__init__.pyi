"""Type stub of :mod:`optimizer`: the names ``__init__.py`` imports on first use (PEP 562),
for type checkers and editors. ``tests/test_api.py`` keeps this list equal to ``__all__``."""

from optimizer.backends.base import SolveOptions as SolveOptions
from optimizer.classic.registry import MODELS as MODELS
from optimizer.classic.registry import ClassicResult as ClassicResult
from optimizer.classic.registry import from_tables as from_tables
from optimizer.classic.registry import solve_classic as solve_classic
from optimizer.deadline import Deadline as Deadline
from optimizer.errors import InfeasibleError as InfeasibleError
from optimizer.errors import InputError as InputError
from optimizer.errors import ScenarioError as ScenarioError
from optimizer.errors import SitingError as SitingError
from optimizer.errors import SolverError as SolverError
from optimizer.errors import SolverNotAvailable as SolverNotAvailable
from optimizer.errors import VerificationError as VerificationError
from optimizer.pipeline import PlanRun as PlanRun
from optimizer.pipeline import plan_scenario as plan_scenario
from optimizer.pipeline import run_plan as run_plan
from optimizer.result import Result as Result
from optimizer.result import Status as Status
from optimizer.result import StopReason as StopReason
from optimizer.scenario import Scenario as Scenario
from optimizer.scenario import load_scenario as load_scenario
from optimizer.sweep import SweepResult as SweepResult
from optimizer.sweep import run_sweep as run_sweep
from optimizer.verify_report import VerifyReport as VerifyReport
from optimizer.version import __version__ as __version__

__all__: list[str]
