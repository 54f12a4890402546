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
    RequestTimeoutError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedRedirectError,
    WaitTimeoutError,
)
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
from ._pagination import AsyncCursorIterator
from ._resources import JobBuilds, Jobs
from ._version import __version__
from ._workflows import BuildFollower, BuildWatcher

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AsyncCursorIterator",
    "AuthenticationError",
    "BadRequestError",
    "Branch",
    "BranchCommit",
    "BuildFollower",
    "BuildStatus",
    "BuildWatcher",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "DecodeError",
    "Job",
    "JobBuild",
    "JobBuilds",
    "JobRun",
    "JobType",
    "Jobs",
    "LogLine",
    "LogStream",
    "LogStreamError",
    "NorthflankClient",
    "NorthflankError",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "Registry",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RunStarted",
    "RunStatus",
    "ServerError",
    "TransportError",
    "UnexpectedRedirectError",
    "WaitTimeoutError",
    "__version__",
]
