"""Run ``python -m northflank_async.testing`` in a child process for the benchmarks.

The fake API lives in its own process so that its CPU time (building pages, encoding JSON)
never counts as the client's, and so that its memory never shows in the client's RSS.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO

__all__ = ["FakeProcess"]


class FakeProcess:
    """A ``FakeNorthflank`` served by a child process, as a context manager.

    ``with FakeProcess(builds=10_000) as fake:`` starts it, waits for its one line
    (``base_url=... token=... project=... job=... builds=...``) and exposes those fields;
    leaving the block stops it with SIGTERM (SIGKILL if it does not exit in time).
    """

    def __init__(
        self,
        *,
        builds: int,
        latency: float = 0.0,
        rate_limit: bool = False,
        python: str = sys.executable,
        start_timeout: float = 180.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.builds = builds
        self._argv = [
            python,
            "-m",
            "northflank_async.testing",
            "--port",
            "0",
            "--builds",
            str(builds),
            "--latency",
            repr(latency),
            *(() if rate_limit else ("--no-rate-limit",)),
            *extra_args,
        ]
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.base_url = ""
        self.token = ""
        self.project = ""
        self.job = ""

    @classmethod
    def static_pages(
        cls, *, builds: int, per_page: int, shape: str = "fake", python: str = sys.executable
    ) -> FakeProcess:
        """A server whose answers cost nothing (``_static_pages.py``): pages serialised once."""
        proc = cls(builds=builds, python=python)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_static_pages.py")
        proc._argv = [python, script, "--builds", str(builds), "--per-page", str(per_page),
                      "--shape", shape]  # fmt: skip
        return proc

    def start(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self._proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            fields = self._read_banner()
        except BaseException:
            self.stop()
            raise
        self.base_url = fields["base_url"]
        self.token = fields["token"]
        self.project = fields["project"]
        self.job = fields["job"]

    def _read_banner(self) -> dict[str, str]:
        assert self._proc is not None
        assert self._proc.stdout is not None
        stdout = self._proc.stdout
        deadline = time.monotonic() + self._start_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the fake API did not start within {self._start_timeout}s")
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
            if ready:
                break
            if self._proc.poll() is not None:
                break
        line = stdout.readline().decode().strip()
        if not line.startswith("base_url="):
            raise RuntimeError(
                f"the fake API did not start (exit {self._proc.poll()}): {line!r} "
                f"{self._stderr_text()}"
            )
        return dict(part.split("=", 1) for part in line.split())

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s) and reap it. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> FakeProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
