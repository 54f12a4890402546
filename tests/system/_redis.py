"""A real ``redis-server`` for the tests: started on a free loopback port, stopped after.

Without the server (Debian's ``redis-server`` package) or the ``redis`` Python package, the
tests that need them skip with the reason, except under ``CI=true``, where they fail: CI
installs both (``.ci/run``), so a missing one there is a broken CI, not a reason to skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["RedisServer", "require_redis"]


def require_redis() -> str:
    """The path of ``redis-server``; skips (locally) or fails (``CI=true``) without it."""
    binary = shutil.which("redis-server")
    problem = None
    if binary is None:
        problem = "redis-server is not installed (apt-get install redis-server)"
    else:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            problem = "the redis package is not installed (pip install -e '.[test]')"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}: CI must run the Redis tests")
        pytest.skip(problem)
    assert binary is not None
    return binary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pong(port: int, password: str | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            auth = f"AUTH {password}\r\n".encode() if password is not None else b""
            conn.sendall(auth + b"PING\r\n")
            answer = b""
            while b"\r\n" not in answer or (auth and answer.count(b"\r\n") < 2):
                chunk = conn.recv(64)
                if not chunk:
                    break
                answer += chunk
            return answer.endswith(b"+PONG\r\n")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process with no persistence, in a temporary directory.

    :meth:`stop` and :meth:`start` may be called again (same port) to simulate an outage.
    ``persistent``: an append-only file, written before each answer, keeps the data across
    such a restart (what a group's durable positions need). ``password``: the server requires
    it (``requirepass``); `url` does not carry it.
    """

    def __init__(
        self, binary: str, *, persistent: bool = False, password: str | None = None
    ) -> None:
        self.binary = binary
        self.persistent = persistent
        self.password = password
        self.port = _free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="nf-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--dir", self._dir.name]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        argv += (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else [
                "--appendonly",
                "no",
            ]
        )
        log = Path(self._dir.name, "redis.log").open("ab")  # noqa: SIM115  (the child keeps it)
        with log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not _pong(self.port, self.password):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


@contextlib.contextmanager
def running_redis(*, persistent: bool = False) -> Iterator[RedisServer]:
    """A started ``redis-server`` on a free loopback port, stopped on leaving (a test's fixture)."""
    server = RedisServer(require_redis(), persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.close()
