"""The command's exit statuses: what a shell script or CI step gates on (see `registry.EPILOG`).

Their one list is `__all__` here; `northflank_async.cli` offers every one of them.
"""

from __future__ import annotations

__all__ = [
    "EXIT_ABORTED",
    "EXIT_AUTH",
    "EXIT_BUILD_FAILED",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_RATE_LIMITED",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
]

EXIT_OK, EXIT_BUILD_FAILED, EXIT_USAGE, EXIT_ABORTED, EXIT_ERROR, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_NOT_FOUND, EXIT_AUTH, EXIT_RATE_LIMITED = 6, 7, 8
EXIT_INTERRUPTED = 130
