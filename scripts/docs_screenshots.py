"""Screenshots of the docs site at a phone's and a laptop's width, to check the layout by eye.

Builds the site (``mkdocs build --strict``), serves it on a free loopback port, and has
headless Chromium take one PNG per page and width::

    python scripts/docs_screenshots.py                      # index, cli, reference
    python scripts/docs_screenshots.py --out /tmp/shots --page usage/ --width 768

Writes ``<out>/<page>-<width>.png`` (default out: ``build/docs-screenshots``, git-ignored) and
prints each path. Needs the docs extra (``pip install -e '.[docs]'``) and Chromium (Debian:
``apt-get install chromium``; or pass ``--chromium PATH``). Each shot uses a new, empty
browser profile and no network beyond the loopback server. Too slow for CI: run it by hand
after changing the theme, the navigation or a wide table or code block.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"index": "", "cli": "cli/", "reference": "reference/"}
WIDTHS = (390, 1280)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def build_site(site_dir: Path) -> None:
    """Build the docs exactly as CI does (strict: a warning fails the build)."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", site_dir],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(site_dir: Path) -> Iterator[str]:
    """Serve `site_dir` on 127.0.0.1 and a free port; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join()


def screenshot(chromium: str, url: str, out: Path, width: int, height: int) -> None:
    """One headless Chromium run, with a fresh profile, writing `out`."""
    with tempfile.TemporaryDirectory(prefix="docs-shot-profile-") as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                f"--window-size={width},{height}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot for {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "docs-screenshots")
    parser.add_argument(
        "--page",
        action="append",
        help="a page path under the site root, e.g. usage/ (repeatable; default: "
        + ", ".join(f"{name}={path or '/'}" for name, path in PAGES.items())
        + ")",
    )
    parser.add_argument(
        "--width", type=int, action="append", help="viewport width in px (repeatable)"
    )
    parser.add_argument("--height", type=int, default=1100, help="viewport height in px")
    parser.add_argument("--chromium", help="the Chromium binary (default: found on PATH)")
    args = parser.parse_args(argv)

    chromium = args.chromium or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if chromium is None:
        parser.error("no Chromium found: apt-get install chromium, or pass --chromium PATH")
    pages = (
        {path.strip("/").replace("/", "-") or "index": path for path in args.page}
        if args.page
        else PAGES
    )
    widths = args.width or WIDTHS
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="docs-shot-site-") as tmp:
        site = Path(tmp) / "site"
        build_site(site)
        with serve(site) as base_url:
            for name, path in pages.items():
                for width in widths:
                    out = args.out / f"{name}-{width}.png"
                    screenshot(chromium, base_url + path, out.resolve(), width, args.height)
                    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
