"""northflank-async: an asyncio client for the Northflank API.

::

    from northflank_async import NorthflankClient

    async with NorthflankClient() as nf:  # token from NORTHFLANK_API_TOKEN
        async for build in nf.jobs.builds.list(project_id="my-project", job_id="nightly"):
            print(build.id, build.status, build.created_at)

Importing the package is cheap: each public name is imported from its module on first use
(PEP 562), so that ``northflank-async --help`` loads neither aiohttp nor the client. Type
checkers read the imports under ``TYPE_CHECKING`` as plain imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._api.builds import Builds, ScopedBuilds, ServiceBuilds
    from ._api.client import DEFAULT_BASE_URL, NorthflankClient
    from ._api.flat import JobBranches, JobBuilds, JobRuns, Jobs
    from ._api.handles import JobHandle, ServiceHandle
    from ._api.runs import ScopedBranches, ScopedRuns
    from ._api.webhooks import WebhookReceiver
    from ._core.errors import (
        APIError,
        AuthenticationError,
        BadRequestError,
        ClientClosedError,
        ConfigurationError,
        ConflictError,
        DecodeError,
        LogStreamError,
        NorthflankError,
        NotFoundError,
        PaginationError,
        PermissionDeniedError,
        RateLimitError,
        RateLimitGateError,
        RequestTimeoutError,
        ResponseTooLargeError,
        ServerError,
        TooManyRequestsError,
        TransportError,
        UnexpectedRedirectError,
        WaitTimeoutError,
        WebhookAuthError,
        WebhookError,
        WebhookPayloadError,
        WebhookPayloadTooLargeError,
        WebhookUnavailableError,
    )
    from ._core.events import BuildEvent, RunEvent
    from ._core.fleet import Coordinator
    from ._core.jsonable import to_json
    from ._core.logfilter import LogFilter
    from ._core.models import (
        Branch,
        BranchCommit,
        BuildStatus,
        Job,
        JobBuild,
        JobRun,
        JobType,
        LogLine,
        NotificationIntegration,
        Page,
        RateLimit,
        Registry,
        RunStarted,
        RunStatus,
    )
    from ._core.observe import RequestEnd, RequestStart
    from ._core.planning import MonitorPlan, PlanEntry
    from ._core.webhooks import WebhookEvent
    from ._engine.log_streams import LogStream
    from ._engine.monitor import Monitor
    from ._engine.pagination import AsyncCursorIterator
    from ._engine.workflows import BuildFollower, BuildWatcher, RunWatcher
    from ._transport.redis_store import RedisCoordinator  # imports redis only when it connects
    from ._version import __version__

# Where each public name lives: imported on first use (`__getattr__`).
_WHERE: dict[str, str] = {
    "Builds": "._api.builds",
    "ScopedBuilds": "._api.builds",
    "ServiceBuilds": "._api.builds",
    "DEFAULT_BASE_URL": "._api.client",
    "NorthflankClient": "._api.client",
    "JobBranches": "._api.flat",
    "JobBuilds": "._api.flat",
    "JobRuns": "._api.flat",
    "Jobs": "._api.flat",
    "JobHandle": "._api.handles",
    "ServiceHandle": "._api.handles",
    "ScopedBranches": "._api.runs",
    "ScopedRuns": "._api.runs",
    "WebhookReceiver": "._api.webhooks",
    "APIError": "._core.errors",
    "AuthenticationError": "._core.errors",
    "BadRequestError": "._core.errors",
    "ClientClosedError": "._core.errors",
    "ConfigurationError": "._core.errors",
    "ConflictError": "._core.errors",
    "DecodeError": "._core.errors",
    "LogStreamError": "._core.errors",
    "NorthflankError": "._core.errors",
    "NotFoundError": "._core.errors",
    "PaginationError": "._core.errors",
    "PermissionDeniedError": "._core.errors",
    "RateLimitError": "._core.errors",
    "RateLimitGateError": "._core.errors",
    "RequestTimeoutError": "._core.errors",
    "ResponseTooLargeError": "._core.errors",
    "ServerError": "._core.errors",
    "TooManyRequestsError": "._core.errors",
    "TransportError": "._core.errors",
    "UnexpectedRedirectError": "._core.errors",
    "WaitTimeoutError": "._core.errors",
    "WebhookAuthError": "._core.errors",
    "WebhookError": "._core.errors",
    "WebhookPayloadError": "._core.errors",
    "WebhookPayloadTooLargeError": "._core.errors",
    "WebhookUnavailableError": "._core.errors",
    "BuildEvent": "._core.events",
    "RunEvent": "._core.events",
    "Coordinator": "._core.fleet",
    "to_json": "._core.jsonable",
    "LogFilter": "._core.logfilter",
    "Branch": "._core.models",
    "BranchCommit": "._core.models",
    "BuildStatus": "._core.models",
    "Job": "._core.models",
    "JobBuild": "._core.models",
    "JobRun": "._core.models",
    "JobType": "._core.models",
    "LogLine": "._core.models",
    "NotificationIntegration": "._core.models",
    "Page": "._core.models",
    "RateLimit": "._core.models",
    "Registry": "._core.models",
    "RunStarted": "._core.models",
    "RunStatus": "._core.models",
    "RequestEnd": "._core.observe",
    "RequestStart": "._core.observe",
    "MonitorPlan": "._core.planning",
    "PlanEntry": "._core.planning",
    "WebhookEvent": "._core.webhooks",
    "LogStream": "._engine.log_streams",
    "Monitor": "._engine.monitor",
    "AsyncCursorIterator": "._engine.pagination",
    "BuildFollower": "._engine.workflows",
    "BuildWatcher": "._engine.workflows",
    "RunWatcher": "._engine.workflows",
    "RedisCoordinator": "._transport.redis_store",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AsyncCursorIterator",
    "AuthenticationError",
    "BadRequestError",
    "Branch",
    "BranchCommit",
    "BuildEvent",
    "BuildFollower",
    "BuildStatus",
    "BuildWatcher",
    "Builds",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "Coordinator",
    "DecodeError",
    "Job",
    "JobBranches",
    "JobBuild",
    "JobBuilds",
    "JobHandle",
    "JobRun",
    "JobRuns",
    "JobType",
    "Jobs",
    "LogFilter",
    "LogLine",
    "LogStream",
    "LogStreamError",
    "Monitor",
    "MonitorPlan",
    "NorthflankClient",
    "NorthflankError",
    "NotFoundError",
    "NotificationIntegration",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "PlanEntry",
    "RateLimit",
    "RateLimitError",
    "RateLimitGateError",
    "RedisCoordinator",
    "Registry",
    "RequestEnd",
    "RequestStart",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RunEvent",
    "RunStarted",
    "RunStatus",
    "RunWatcher",
    "ScopedBranches",
    "ScopedBuilds",
    "ScopedRuns",
    "ServerError",
    "ServiceBuilds",
    "ServiceHandle",
    "TooManyRequestsError",
    "TransportError",
    "UnexpectedRedirectError",
    "WaitTimeoutError",
    "WebhookAuthError",
    "WebhookError",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookPayloadTooLargeError",
    "WebhookReceiver",
    "WebhookUnavailableError",
    "__version__",
    "to_json",
]
