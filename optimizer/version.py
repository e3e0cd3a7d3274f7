"""The installed package's version, in a module of its own so that any module can import it
without importing the package's public API (``optimizer/__init__.py``), which imports them."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("community-siting-optimizer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
