"""Smoke test of a built distribution, run inside a fresh venv where only the wheel is installed.

Usage: python .ci/smoke.py WHEEL SDIST

Checks what a user of the published package relies on: the package imports without test
tools, its version is the wheel's, ``py.typed`` is shipped (type checkers need it), the CLI
and pytest plugin entry points are declared, the pytest plugin module imports (pytest is the
only extra thing this venv holds), and the sdist carries the sources needed to rebuild. Fast:
no network, no server. Exits non-zero with one line per failed check.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import sys
import tarfile
from pathlib import Path

DIST = "northflank-async"
PACKAGE = "northflank_async"


def main(wheel: Path, sdist: Path) -> list[str]:
    problems: list[str] = []

    def check(ok: object, message: str) -> None:
        if not ok:
            problems.append(message)

    wheel_version = wheel.name.split("-")[1]
    package = importlib.import_module(PACKAGE)
    importlib.import_module(f"{PACKAGE}.testing")
    check(
        Path(package.__file__ or "").resolve().is_relative_to(Path(sys.prefix).resolve()),
        f"{PACKAGE} imported from {package.__file__}, not from this venv ({sys.prefix})",
    )
    check("pytest" not in sys.modules, f"importing {PACKAGE} imported pytest")
    check(
        package.__version__ == wheel_version == importlib.metadata.version(DIST),
        f"__version__ {package.__version__!r}, wheel {wheel_version!r}, metadata "
        f"{importlib.metadata.version(DIST)!r} differ",
    )
    check(
        importlib.resources.files(PACKAGE).joinpath("py.typed").is_file(),
        "py.typed is not installed",
    )

    entry_points = importlib.metadata.distribution(DIST).entry_points
    declared = {(ep.group, ep.name): ep.value for ep in entry_points}
    check(
        declared.get(("console_scripts", "northflank-async")) == f"{PACKAGE}.cli:main",
        f"console script missing or wrong: {declared}",
    )
    plugin = declared.get(("pytest11", PACKAGE))
    check(plugin == f"{PACKAGE}.testing.pytest_plugin", f"pytest11 entry point: {plugin!r}")
    if plugin:
        module = importlib.import_module(plugin)
        for fixture in ("northflank_fake", "northflank_client"):
            check(hasattr(module, fixture), f"the pytest plugin has no {fixture} fixture")

    root = f"{DIST.replace('-', '_')}-{wheel_version}"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    for needed in ("pyproject.toml", "README.md", "LICENSE", f"{PACKAGE}/py.typed"):
        check(f"{root}/{needed}" in names, f"the sdist lacks {needed}")
    return problems


if __name__ == "__main__":
    wheel_path, sdist_path = (Path(arg) for arg in sys.argv[1:3])
    failures = main(wheel_path, sdist_path)
    for failure in failures:
        print(f"smoke: {failure}", file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"smoke: {wheel_path.name} and {sdist_path.name} OK")
