"""The README's layout section names every module of ``optimizer/``, and only modules that exist.

The rule (issue 16: "every module named in the README's layout section exists and every module
exists in it"): the fenced code block under ``## Layout`` in ``README.md`` whose first line is
``optimizer/`` is a tree. In it

- blank lines and lines starting with ``#`` (after the indent) are headings, not entries;
- the indent is two spaces per level; the first word of a line is a folder (``distances/``)
  or a module (``base.py``) inside the nearest folder one level up;
- every further word ending in ``.py`` on a folder's line is a module of that folder (so
  ``distances/  base.py network.py`` is allowed too); the rest of a line is its description.

Every ``.py`` file under ``optimizer/`` must be named, except ``__init__.py`` files: a folder's
line stands for its package and its ``__init__.py`` (``optimizer/__init__.py``, the public API,
is listed all the same). Every module and folder named must exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGE = ROOT / "optimizer"
INDENT = 2
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
FOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*/$")


@dataclass
class Layout:
    """What the README's layout tree names, as paths relative to the repository root."""

    modules: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)


def layout_block(text: str) -> list[str]:
    """The lines of the fenced block under ``## Layout`` that starts with ``optimizer/``."""
    section = text.split("\n## Layout", 1)
    assert len(section) == 2, "README.md has no '## Layout' section"
    body = section[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    for block in blocks:
        lines = block.splitlines()
        if lines and lines[0].strip() == "optimizer/":
            return lines
    raise AssertionError("the Layout section has no code block starting with 'optimizer/'")


def parse_layout(lines: list[str]) -> Layout:
    """The modules and folders a layout tree names (see the module docstring for the rule)."""
    layout = Layout()
    stack: list[str] = []  # stack[d] is the folder at depth d
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % INDENT == 0, f"layout line {number}: indent {indent} is not even"
        depth = indent // INDENT
        assert depth <= len(stack), f"layout line {number}: indented below no folder"
        words = stripped.split()
        first = words[0]
        if FOLDER.match(first):
            stack[depth:] = [first.rstrip("/")]
            folder = "/".join(stack)
            layout.folders.add(folder)
            names = [w for w in words[1:] if MODULE.match(w)]
        else:
            assert MODULE.match(first), f"layout line {number}: {first!r} is no module or folder"
            assert depth > 0, f"layout line {number}: a module outside optimizer/"
            folder = "/".join(stack[:depth])
            names = [first]
        layout.modules.update(f"{folder}/{name}" for name in names)
    return layout


def package_modules() -> set[str]:
    """Every ``.py`` file under ``optimizer/``, relative to the repository root."""
    return {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}


def required_modules(modules: set[str]) -> set[str]:
    """The modules the layout must name: all but the packages' ``__init__.py``."""
    return {m for m in modules if not m.endswith("/__init__.py")}


def test_layout_parser_reads_folders_and_module_lists() -> None:
    lines = [
        "optimizer/",
        "  # a heading",
        "  cli.py      the command",
        "  distances/  base.py network.py  two modules on the folder's line",
        "    osm.py    walkable ways",
        "  models/",
        "    planning/",
        "      model.py  the MILP; solve.py here is a word of the description",
        "    pcenter.py  p-center",
    ]
    layout = parse_layout(lines)
    assert layout.modules == {
        "optimizer/cli.py",
        "optimizer/distances/base.py",
        "optimizer/distances/network.py",
        "optimizer/distances/osm.py",
        "optimizer/models/planning/model.py",
        "optimizer/models/pcenter.py",
    }
    assert layout.folders == {
        "optimizer",
        "optimizer/distances",
        "optimizer/models",
        "optimizer/models/planning",
    }


def test_readme_layout_lists_every_module_and_only_modules() -> None:
    layout = parse_layout(layout_block(README.read_text(encoding="utf-8")))
    actual = package_modules()
    missing = sorted(required_modules(actual) - layout.modules)
    extra = sorted(layout.modules - actual)
    assert not missing and not extra, (
        "README.md's Layout section is out of date:\n"
        f"  modules in optimizer/ it does not list: {missing}\n"
        f"  modules it lists that do not exist: {extra}"
    )


def test_readme_layout_folders_exist() -> None:
    layout = parse_layout(layout_block(README.read_text(encoding="utf-8")))
    absent = sorted(f for f in layout.folders if not (ROOT / f).is_dir())
    assert not absent, f"README.md's Layout section names folders that do not exist: {absent}"
