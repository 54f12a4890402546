"""``python -m northflank_async.cli``: the ``northflank-async`` command."""

from . import main

raise SystemExit(main())
