"""Print pip constraints that pin every runtime dependency to its declared lower bound.

Reads ``[project].dependencies`` and the ``redis`` and ``cli`` extras from pyproject.toml and
writes ``name==version`` for each ``>=version`` bound, one a line, for ``pip install -c``. CI
installs the project against these and runs the tests once more, so that a floor we declare
is a floor we have tested. A runtime dependency without a ``>=`` bound is an error: its
lowest version would be untested.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def pins(dependencies: list[str]) -> list[str]:
    """``name==floor`` for each requirement; ValueError for one without a ``>=`` bound."""
    result = []
    for requirement in dependencies:
        match = _REQUIREMENT.match(requirement.split(";")[0])
        if match is None:
            raise ValueError(f"cannot read requirement {requirement!r}")
        name, specifiers = match.groups()
        floors = [
            spec.strip()[2:].strip()
            for spec in specifiers.split(",")
            if spec.strip().startswith(">=")
        ]
        if len(floors) != 1:
            raise ValueError(f"{requirement!r}: declare exactly one >= lower bound")
        result.append(f"{name}=={floors[0]}")
    return result


def main() -> int:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    # The redis and cli extras are installed by the test extra too: their floors are tested
    # with the rest.
    extras = project["optional-dependencies"]
    dependencies = project["dependencies"] + extras["redis"] + extras["cli"]
    try:
        lines = pins(dependencies)
    except ValueError as exc:
        print(f"lowest_constraints: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
