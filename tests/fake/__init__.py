"""Tests of the fake API itself (northflank_async.testing), spoken to over loopback."""
