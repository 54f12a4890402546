"""Methods declared by their signature, their bodies derived from one definition.

A resource's public signatures are its contract (type checkers, the reference pages and
keyword callers read them), so each is declared where users look for it. What they do is
written once:

- `item_method(impl)`: builds and runs share every definition but ``start``; only the name of
  the item's id differs (``build_id``, ``run_id``). The declared method's first parameter is
  that id; a call is bound to the declared signature (its defaults applied) and runs
  ``impl(self, item_id, **keywords)``. A definition that takes ``**keywords`` (the logs calls:
  `log_query` checks the window and the filter, in one place) receives the declared keywords
  it does not name.
- `flat_method(scoped)`: the flat form (``nf.jobs.builds.get(project_id=..., job_id=...,
  build_id=...)``) names the owner on every call; a call makes the owner from those ids (the
  client's default team applied) and runs the scoped method with the rest.

Each decorator checks, when the class is made, that the declaration and the definition take
the same parameters (names, kinds, defaults, annotations), so the forms cannot drift apart; a
definition with ``**keywords`` must name only parameters the declaration has.
A declared body is never run.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from .._core.owners import Owner, OwnerKind

__all__ = ["FlatResource", "flat_method", "item_method"]

P = ParamSpec("P")
R = TypeVar("R")
_OWNER_KEYWORDS = ("project_id", "team_id")


def _parameters(function: Callable[..., Any], skip: int) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())[skip:]


def _agree(declared: list[inspect.Parameter], defined: list[inspect.Parameter], where: str) -> None:
    def shape(p: inspect.Parameter) -> tuple[Any, ...]:
        return (p.name, p.default, str(p.annotation))

    if [shape(p) for p in declared] != [shape(p) for p in defined]:
        raise TypeError(f"{where}: the declared parameters differ from the definition's")


def _like(declared: Callable[..., Any], call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` dressed as ``declared`` (name, docstring, signature), async if it is."""

    async def awaited(*args: Any, **kwargs: Any) -> Any:
        return await call(*args, **kwargs)

    def returned(*args: Any, **kwargs: Any) -> Any:
        return call(*args, **kwargs)

    method = awaited if inspect.iscoroutinefunction(declared) else returned
    return functools.update_wrapper(method, declared)


def item_method(impl: Callable[..., Any]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run ``impl(self, item_id, **keywords)`` for the declared ``(self, <id>, *, ...)``."""

    def decorate(declared: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(declared)
        self_name, id_name = list(signature.parameters)[:2]
        options, defined = _parameters(declared, 2), _parameters(impl, 2)
        if defined and defined[-1].kind is inspect.Parameter.VAR_KEYWORD:
            defined = defined[:-1]  # the declaration's other keywords go to ``**keywords``
            options = [p for p in options if p.name in {d.name for d in defined}]
        _agree(options, defined, declared.__qualname__)

        def call(self: object, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            keywords = bound.arguments
            del keywords[self_name]
            return impl(self, keywords.pop(id_name), **keywords)

        return cast(Callable[P, R], _like(declared, call))

    return decorate


class FlatResource(Protocol):
    """A flat resource: it names an owner (default team applied) and makes its resource."""

    _kind: OwnerKind

    def _owner(self, project_id: str, owner_id: str, team_id: str | None) -> Owner: ...

    def _scoped(self, owner: Owner) -> Any: ...


def flat_method(scoped: Callable[..., Any]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the scoped method for the declared flat ``(self, *, project_id, <owner id>, ...)``."""

    def decorate(declared: Callable[P, R]) -> Callable[P, R]:
        params = _parameters(declared, 1)
        owner_names = {params[1].name, *_OWNER_KEYWORDS}
        rest = [p for p in params if p.name not in owner_names]
        defined = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in _parameters(scoped, 1)]
        _agree(rest, defined, declared.__qualname__)

        def call(self: FlatResource, *args: Any, **kwargs: Any) -> Any:
            id_name = self._kind.id_name
            missing = [name for name in ("project_id", id_name) if name not in kwargs]
            if args or missing:
                raise TypeError(
                    f"{declared.__name__}() takes keyword arguments only, project_id and "
                    f"{id_name} required"
                )
            owner = self._owner(
                kwargs.pop("project_id"), kwargs.pop(id_name), kwargs.pop("team_id", None)
            )
            return scoped(self._scoped(owner), **kwargs)

        return cast(Callable[P, R], _like(declared, call))

    return decorate
