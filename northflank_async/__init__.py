"""northflank-async: an asyncio client for the Northflank API.

::

    from northflank_async import NorthflankClient

    async with NorthflankClient() as nf:  # token from NORTHFLANK_API_TOKEN
        async for build in nf.jobs.builds.list(project_id="my-project", job_id="nightly"):
            print(build.id, build.status, build.created_at)
"""

from ._api.builds import Builds, ScopedBuilds, ServiceBuilds
from ._api.client import DEFAULT_BASE_URL, NorthflankClient
from ._api.flat import JobBranches, JobBuilds, JobRuns, Jobs
from ._api.handles import JobHandle, ServiceHandle
from ._api.runs import ScopedBranches, ScopedRuns
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
from ._engine.log_streams import LogStream
from ._engine.monitor import Monitor
from ._engine.pagination import AsyncCursorIterator
from ._engine.workflows import BuildFollower, BuildWatcher, RunWatcher
from ._transport.redis_store import RedisCoordinator  # imports redis only when it connects
from ._version import __version__

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
    "__version__",
    "to_json",
]
