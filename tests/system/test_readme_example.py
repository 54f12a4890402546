"""The README's test example runs as written, in a folder with no pytest configuration.

Its block is copied into an empty folder and run by a pytest of its own (a subprocess), as a
new user would: no ``asyncio_mode`` setting, so pytest-asyncio is in its default strict mode,
and the plugin comes from the package's ``pytest11`` entry point. An async test left without
a marker there fails with the plugin's message naming the marker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^## Testing your code\n(.*?)^## ", re.DOTALL | re.MULTILINE)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

pytestmark = pytest.mark.system


def readme_test_example() -> str:
    section = SECTION.search((ROOT / "README.md").read_text())
    assert section is not None, "README.md has no 'Testing your code' section"
    block = BLOCK.search(section.group(1))
    assert block is not None, "the README's 'Testing your code' section has no python block"
    return block.group(1)


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's package, whose entry point pytest loads
    # looptime (a tool of our test extra, not of a user's project) is left out, as in
    # tests/test_pytest_plugin_runners.py.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "-p", "no:looptime_plugin"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_example_passes_with_no_configuration(tmp_path: Path) -> None:
    """Copied as written into an empty folder, `pytest -q` passes it."""
    (tmp_path / "test_readme.py").write_text(readme_test_example())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_readme.py"]
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b1 passed\b", result.stdout), result.stdout


def test_an_unmarked_async_test_is_told_which_marker_it_needs(tmp_path: Path) -> None:
    """Without the marker, the failure names it (not only pytest's generic message)."""
    unmarked = readme_test_example().replace("@pytest.mark.asyncio\n", "")
    assert "mark.asyncio" not in unmarked
    (tmp_path / "test_readme.py").write_text(unmarked)
    result = run_pytest(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mark it @pytest.mark.asyncio" in result.stdout, result.stdout
