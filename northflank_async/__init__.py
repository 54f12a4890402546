"""northflank-async: an asyncio client for the Northflank API.

::

    from northflank_async import NorthflankClient

    async with NorthflankClient() as nf:  # token from NORTHFLANK_API_TOKEN
        async for build in nf.jobs.builds.list(project_id="my-project", job_id="nightly"):
            print(build.id, build.status, build.created_at)
"""

from ._client import DEFAULT_BASE_URL, NorthflankClient
from ._errors import (
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
from ._fleet import Coordinator
from ._json import to_json
from ._log_streams import LogStream
from ._models import (
    Branch,
    BranchCommit,
    BuildStatus,
    Job,
    JobBuild,
    JobRun,
    JobType,
    LogLine,
    Page,
    RateLimit,
    Registry,
    RunStarted,
    RunStatus,
)
from ._monitor import Monitor
from ._monitoring import BuildEvent, MonitorPlan, PlanEntry
from ._observe import RequestEnd, RequestStart
from ._pagination import AsyncCursorIterator
from ._redis import RedisCoordinator  # imports redis only when it connects
from ._resources import (
    JobBranches,
    JobBuilds,
    JobHandle,
    JobRuns,
    Jobs,
    ScopedBranches,
    ScopedBuilds,
    ScopedRuns,
)
from ._version import __version__
from ._workflows import BuildFollower, BuildWatcher, RunWatcher

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
    "LogLine",
    "LogStream",
    "LogStreamError",
    "Monitor",
    "MonitorPlan",
    "NorthflankClient",
    "NorthflankError",
    "NotFoundError",
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
    "RunStarted",
    "RunStatus",
    "RunWatcher",
    "ScopedBranches",
    "ScopedBuilds",
    "ScopedRuns",
    "ServerError",
    "TooManyRequestsError",
    "TransportError",
    "UnexpectedRedirectError",
    "WaitTimeoutError",
    "__version__",
    "to_json",
]
