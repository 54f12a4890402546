"""The public face: exactly the intended names, sorted, each documented."""

from __future__ import annotations

import inspect

import northflank_async
import northflank_async.testing

EXPECTED = {
    "DEFAULT_BASE_URL", "APIError", "AsyncCursorIterator", "AuthenticationError",
    "BadRequestError", "Branch", "BranchCommit", "BuildEvent", "BuildFollower", "BuildStatus",
    "BuildWatcher", "Builds", "ClientClosedError", "ConfigurationError", "ConflictError",
    "Coordinator", "DecodeError", "Job", "JobBranches", "JobBuild", "JobBuilds", "JobHandle",
    "JobRun", "JobRuns", "JobType", "Jobs", "LogFilter", "LogLine", "LogStream", "LogStreamError",
    "Monitor", "MonitorPlan", "NorthflankClient", "NorthflankError", "NotFoundError",
    "NotificationIntegration", "Page",
    "PaginationError", "PermissionDeniedError", "PlanEntry", "RateLimit", "RateLimitError",
    "RateLimitGateError", "RedisCoordinator", "Registry", "RequestEnd", "RequestStart",
    "RequestTimeoutError", "ResponseTooLargeError", "RunStarted", "RunStatus", "RunWatcher",
    "ScopedBranches", "ScopedBuilds", "ScopedRuns", "ServerError", "ServiceBuilds",
    "ServiceHandle", "TooManyRequestsError", "TransportError", "UnexpectedRedirectError",
    "WaitTimeoutError", "WebhookAuthError", "WebhookError", "WebhookEvent", "WebhookPayloadError",
    "WebhookPayloadTooLargeError", "WebhookReceiver", "WebhookUnavailableError", "__version__",
    "to_json",
}  # fmt: skip


def test_all_is_exactly_the_intended_names() -> None:
    """Adding or dropping a public name is a deliberate change to this list."""
    assert set(northflank_async.__all__) == EXPECTED
    assert len(northflank_async.__all__) == len(EXPECTED)


def test_all_is_sorted() -> None:
    """Sorted, as ruff's RUF022 sorts it (constants, then classes, then the rest)."""
    names = northflank_async.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))


def test_every_name_resolves_and_is_documented() -> None:
    """Every exported class and function has its own docstring, public methods included."""
    for module in (northflank_async, northflank_async.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            assert obj.__doc__ and obj.__doc__.strip(), name
            for attr, member in vars(obj).items() if inspect.isclass(obj) else ():
                if attr.startswith("_") or (
                    not callable(member) and not isinstance(member, property)
                ):
                    continue
                assert getattr(member, "__doc__", None), f"{name}.{attr}"


def test_version_has_one_source() -> None:
    """The package version is the one pyproject reads."""
    from importlib.metadata import version

    from northflank_async._version import __version__

    assert northflank_async.__version__ == __version__ == version("northflank-async")


def test_docstrings_use_one_style() -> None:
    """Markdown only: a reST role (:class:`X`) would show raw on the docs site."""
    import re
    from pathlib import Path

    role = re.compile(r":(class|meth|func|attr|exc|data|mod):`")
    package = Path(northflank_async.__file__).parent
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if role.search(line)
    ]
    assert offenders == []


def test_every_public_name_is_in_the_api_reference() -> None:
    """docs/reference.md renders each exported name (a new export needs its entry)."""
    from pathlib import Path

    reference = (Path(__file__).parent.parent.parent / "docs" / "reference.md").read_text()
    missing = [
        name
        for name in northflank_async.__all__
        if name != "__version__" and f"::: northflank_async.{name}\n" not in reference
    ]
    assert missing == []


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md stays true: each module of the package is on its map."""
    from pathlib import Path

    page = (Path(__file__).parent.parent.parent / "docs" / "architecture.md").read_text()
    package = Path(northflank_async.__file__).parent
    layers = [p for p in package.iterdir() if (p / "__init__.py").exists() and p.name != "testing"]
    modules = [p.name for p in package.glob("*.py") if p.name != "_version.py"]
    for layer in layers:
        assert f" {layer.name}/ " in page
        modules += [p.name for p in layer.glob("*.py") if p.name != "__init__.py"]
    assert sorted(name for name in modules if f" {name} " not in page) == []


def test_the_lazy_table_the_typing_imports_and_all_agree() -> None:
    """Each public name is in `__all__`, in the first-use table and under TYPE_CHECKING.

    A name missing from the table would fail only when first used; one missing from the
    TYPE_CHECKING imports would be `Any` to a type checker.
    """
    import ast
    from pathlib import Path

    tree = ast.parse(Path(northflank_async.__file__).read_text())
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    typed.update(alias.asname or alias.name for alias in statement.names)
    table = set(northflank_async._WHERE)
    public = set(northflank_async.__all__)
    assert table == public - {"__version__"}
    assert typed == public
    assert all(getattr(northflank_async, name) is not None for name in public)
