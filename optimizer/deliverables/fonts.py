"""A font with Chinese glyphs for the maps, found without asking the machine for one.

The install brings one: the ``pylopdf-fonts-zh-cn`` package ships Noto Sans SC (SIL Open
Font License), so a fresh machine draws Chinese map labels with no system font installed.
:func:`cjk_font` looks, in order, at ``$SITING_CJK_FONT`` (a font file chosen by the user),
the packaged Noto Sans SC, the CJK fonts matplotlib already knows, and CJK font files on the
system that matplotlib's cache has not seen yet (a font installed after the cache was built).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import pylopdf_fonts_zh_cn
from matplotlib import font_manager

log = logging.getLogger(__name__)

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Sarasa Gothic SC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)
CJK_FILE_HINTS = (
    "notosanscjk",
    "sourcehansans",
    "wqy",
    "msyh",
    "simhei",
    "pingfang",
    "droidsansfallback",
)


def add_font_file(path: Path) -> str | None:
    """Register a font file with matplotlib; its family name, or None when it cannot be read."""
    manager = font_manager.fontManager
    try:
        manager.addfont(str(path))
        return str(font_manager.FontProperties(fname=str(path)).get_name())
    except Exception:  # an unreadable or unsupported font file: the caller looks elsewhere
        log.debug("font file %s could not be read", path, exc_info=True)
        return None


def packaged_font_file() -> Path | None:
    """The Noto Sans SC file the install ships (None when the package lost it)."""
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return path if path.is_file() else None


def _user_font() -> str | None:
    """The family of ``$SITING_CJK_FONT``, when it names a readable font file."""
    env = os.environ.get("SITING_CJK_FONT")
    if not env:
        return None
    if not Path(env).is_file():
        log.warning("SITING_CJK_FONT=%s is not a file; looking for a CJK font elsewhere", env)
        return None
    return add_font_file(Path(env))


def _system_font() -> str | None:
    """A CJK family matplotlib knows, or one from font files its cache has not seen yet."""
    manager = font_manager.fontManager
    known = {f.name for f in manager.ttflist}
    found = next((f for f in CJK_FAMILIES if f in known), None)
    if found is not None:
        return found
    for path in font_manager.findSystemFonts():
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(h in stem for h in CJK_FILE_HINTS):
            add_font_file(Path(path))
    known = {f.name for f in manager.ttflist}
    return next((f for f in CJK_FAMILIES if f in known), None)


class _SingleWeightFilter(logging.Filter):
    """Drops matplotlib's "Failed to find font weight bold for FAMILY" for a font that ships
    a single weight (the regular face stands in for bold)."""

    def __init__(self, family: str) -> None:
        super().__init__()
        self.family = family

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Failed to find font weight" in message and self.family in message)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs that matplotlib can use, or None.

    The user's ``$SITING_CJK_FONT`` first, then the font the install ships, then system fonts
    (only a damaged install reaches those).
    """
    user = _user_font()
    if user is not None:
        return user
    packaged = packaged_font_file()
    family = add_font_file(packaged) if packaged is not None else None
    if family is not None:
        # the packaged font has one weight: bold titles use it, which is all we need, so
        # matplotlib's warning on every bold label would only be noise in a planner's log
        manager_log = logging.getLogger("matplotlib.font_manager")
        if not any(isinstance(f, _SingleWeightFilter) for f in manager_log.filters):
            manager_log.addFilter(_SingleWeightFilter(family))
        return family
    log.warning("the packaged CJK font (pylopdf-fonts-zh-cn) is missing; trying system fonts")
    return _system_font()
