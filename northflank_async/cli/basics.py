"""What every module of the command line may import: the usage error, the output formats and
the pointer to the top help. Imports nothing of the package, so no module of ``cli`` has to
import another sideways for these (``registry``, ``demo`` and ``output`` did, in a circle).
"""

from __future__ import annotations

__all__ = ["FORMATS", "SEE_TOP_HELP", "UsageError"]

#: The ``-o/--format`` choices of the commands that print items.
FORMATS = ("table", "json", "jsonl", "csv")

#: The epilog of every command below the top: the environment and exit-status block is shown
#: once, at the top.
SEE_TOP_HELP = "environment variables and exit statuses: northflank-async --help"


class UsageError(Exception):
    """The caller's input is wrong (exit 2): found before anything was sent."""
