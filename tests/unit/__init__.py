"""Unit tests of the pure core (northflank_async._core): no socket, no server."""
