"""A request as the handlers see it, and what the fake accepts of it.

A routed request is a `Call`; its body was parsed by `parse_json` (a `BadBody` says why it
could not be). Each check of a start body or an integer query parameter raises an `ApiError`
(400, ``Invalid request body`` with the field at fault in ``details``, as the API does) or
returns what the handler needs. Pure: no aiohttp (`._answers` renders the errors).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "ApiError",
    "BadBody",
    "Call",
    "check_run_body",
    "check_service_start_body",
    "check_start_body",
    "int_param",
    "parse_json",
]

_SHA_RE: Final = re.compile(r"[0-9a-fA-F]{40}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")


class ApiError(Exception):
    """An error answer, rendered as the API's JSON error envelope (a status, a message, the
    ``details`` naming what is at fault, extra headers); a refused log query too."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


@dataclasses.dataclass(frozen=True, slots=True)
class BadBody:
    """A request body that could not be parsed, and why."""

    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """A routed, authenticated API call: decoded path parameters plus query and body."""

    params: tuple[str, ...]  # projectId, then jobId (serviceId), then the build or run id
    query: Mapping[str, str]
    body: Any
    segment: str = "jobs"  # the owner's route segment: "jobs" or "services"

    @property
    def project_id(self) -> str:
        return self.params[0]

    @property
    def job_id(self) -> str:
        return self.params[1]

    @property
    def item_id(self) -> str:
        return self.params[2]


def parse_json(raw: bytes) -> Any:
    """Parse a body: None when empty, a `BadBody` when it is not usable JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except RecursionError:
        return BadBody("Request body is nested too deeply")
    except ValueError:
        return BadBody("Request body is not valid JSON")


def _body_object(body: Any) -> dict[str, Any] | None:
    """Check that a body is a JSON object (or absent) and return it."""
    if isinstance(body, BadBody):
        raise ApiError(400, body.message)
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _refuse_unknown(body: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        details = {f"{prefix}{key}": "not allowed" for key in unknown}
        raise ApiError(400, "Invalid request body", details=details)


def _invalid(field: str, complaint: str) -> ApiError:
    return ApiError(400, "Invalid request body", details={field: complaint})


def check_start_body(body: Any) -> str | None:
    """Check a start-build body and return the requested sha, if any."""
    checked = _body_object(body)
    if checked is None:
        return None  # no body at all: start the branch head
    _refuse_unknown(checked, {"sha", "overrides"})
    sha = checked.get("sha")
    if sha is not None and not (isinstance(sha, str) and _SHA_RE.fullmatch(sha)):
        raise _invalid("sha", "must be 40 hex characters")
    if "overrides" in checked and not isinstance(checked["overrides"], dict):
        raise _invalid("overrides", "must be an object")
    return sha


def check_service_start_body(body: Any) -> dict[str, Any]:
    """Check a service's start-build body: sha, branch or pullRequestId (not both), overrides."""
    checked = _body_object(body)
    if checked is None:
        return {}
    _refuse_unknown(checked, {"sha", "branch", "pullRequestId", "overrides"})
    check_start_body({k: v for k, v in checked.items() if k in ("sha", "overrides")})
    if "branch" in checked and "pullRequestId" in checked:
        raise _invalid("pullRequestId", "not allowed with branch")
    branch, pull = checked.get("branch"), checked.get("pullRequestId")
    if "branch" in checked and not (isinstance(branch, str) and branch):
        raise _invalid("branch", "must be a non-empty string")
    if "pullRequestId" in checked and (isinstance(pull, bool) or not isinstance(pull, int | str)):
        raise _invalid("pullRequestId", "must be an integer or a string")
    return {k: checked[k] for k in ("sha", "branch", "pullRequestId") if k in checked}


_RUN_OBJECTS: Final = frozenset({"runtimeEnvironment", "runtimeFiles", "billing", "docker"})
_RUN_KEYS: Final = _RUN_OBJECTS | {"deployment", "storage"}
_INTERNAL_KEYS: Final = frozenset({"id", "branch", "buildSHA", "buildId"})


def check_run_body(body: Any) -> dict[str, Any] | None:
    """Check a start-run body and return its ``deployment``, if any."""
    checked = _body_object(body)
    if checked is None:
        return None
    _refuse_unknown(checked, set(_RUN_KEYS))
    for key in sorted(_RUN_OBJECTS | {"storage"}):
        if key in checked and not isinstance(checked[key], dict):
            raise _invalid(key, "must be an object")
    if "deployment" not in checked:
        return None
    deployment = checked["deployment"]
    if not isinstance(deployment, dict) or len(deployment) != 1:
        raise _invalid("deployment", 'must be an object with one of "internal" or "external"')
    _refuse_unknown(deployment, {"internal", "external"}, "deployment.")
    if "internal" in deployment:
        internal = deployment["internal"]
        if not isinstance(internal, dict):
            raise _invalid("deployment.internal", "must be an object")
        _refuse_unknown(internal, set(_INTERNAL_KEYS), "deployment.internal.")
        for key, value in internal.items():
            if not isinstance(value, str) or not value:
                raise _invalid(f"deployment.internal.{key}", "must be a non-empty string")
        sha = internal.get("buildSHA")
        if sha is not None and sha != "latest" and not _SHA_RE.fullmatch(sha):
            raise _invalid("deployment.internal.buildSHA", '40 hex characters or "latest"')
    else:
        external = deployment["external"]
        if not isinstance(external, dict):
            raise _invalid("deployment.external", "must be an object")
        _refuse_unknown(external, {"imagePath", "credentials"}, "deployment.external.")
        if not isinstance(external.get("imagePath"), str) or not external["imagePath"]:
            raise _invalid("deployment.external.imagePath", "must be a non-empty string")
        if "credentials" in external and not isinstance(external["credentials"], str):
            raise _invalid("deployment.external.credentials", "must be a string")
    return deployment


def int_param(query: Mapping[str, str], name: str, *, default: int, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if _DIGITS_RE.fullmatch(raw) else 0
    except ValueError:  # more digits than int() accepts
        value = 0
    if value < 1 or (high is not None and value > high):
        bounds = f"between 1 and {high}" if high is not None else ">= 1"
        raise ApiError(400, f"Invalid {name}", details={name: f"must be an integer {bounds}"})
    return value
