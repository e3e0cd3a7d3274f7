"""Community facility siting optimizer (complete communities, 5/10/15-minute life circles).

The pipeline flows one way::

    scenario -> inputs -> demand -> distances -> instance -> model (MILP)
             -> backend -> result -> verify -> plan -> outputs
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("community-siting-optimizer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
