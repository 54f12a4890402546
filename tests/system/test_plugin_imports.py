"""Loading the pytest plugin is cheap: pytest loads it in every run of any project that
installs the package, so it imports neither aiohttp nor the client until a fixture is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import pytest  # loaded before any plugin in a pytest run
before = set(sys.modules)
import northflank_async.testing.pytest_plugin
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _loaded_by_plugin() -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def test_the_plugin_imports_neither_aiohttp_nor_the_client() -> None:
    """A fresh interpreter: importing the plugin loads only the package's light shell."""
    loaded = _loaded_by_plugin()
    ours = [name for name in loaded if name.startswith("northflank_async")]
    assert ours == [
        "northflank_async",
        "northflank_async._version",
        "northflank_async.testing",
        "northflank_async.testing.pytest_plugin",
    ]
    assert not [name for name in loaded if name.split(".")[0] in {"aiohttp", "yarl", "attrs"}]


def test_the_testing_package_still_offers_its_names() -> None:
    """The lazy package gives the same names, and dir() lists them."""
    import northflank_async.testing as testing
    from northflank_async.testing import FakeNorthflank, ManualClock

    assert testing.FakeNorthflank is FakeNorthflank
    assert testing.ManualClock is ManualClock
    assert set(testing.__all__) <= set(dir(testing))
