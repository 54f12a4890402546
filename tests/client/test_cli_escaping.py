"""What the API writes never drives the terminal or a spreadsheet through the command line.

A branch, a job's name, a status, a log line or a server's error message may hold escape
sequences (``ESC ] 0 ; ... BEL`` retitles the terminal, ``ESC [ 2 J`` clears it), a bare CR
(it overwrites the row, forging another), C1 controls (U+009B is a CSI) and bidi overrides.
Tables, text and error lines show them escaped; CSV cells that would be formulas get a
``'``; JSON stays exact.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from northflank_async import LogStreamError
from northflank_async._core.escape import bounded, csv_cell, json_line, visible
from northflank_async._core.logwire import read_frame
from northflank_async.cli import main

from .._support import ThreadedFake

EVIL = "x\x1b]0;pwned\x07\x1b[2J\rFORGED\x9b31m\u202eevil\u2066\u200b\x00\x7f"
# What a reader sees of EVIL: every such character as an escape.
SHOWN = "x\\x1b]0;pwned\\x07\\x1b[2J\\rFORGED\\x9b31m\\u202eevil\\u2066\\u200b\\x00\\x7f"
# Anything a terminal would act on, or a reader could not see.
RAW = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\u2066", "\u200b", "\x00", "\x7f"]
FORMULAS = ['=HYPERLINK("http://evil")', "@SUM(A1)", "+1+1", "-2+3", "\tx", "\rx"]


def no_raw_controls(text: str, *, keep: str = "\n") -> None:
    for char in RAW:
        if char not in keep:
            assert char not in text, f"{char!r} reached the output"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        builds: list[dict[str, Any]] = [
            {"id": "b-evil", "status": "SUCC\x1b[8mESS", "branch": EVIL, "concluded": True,
             "message": EVIL, "sha": "0" * 40},
            *({"id": f"b-{n}", "status": "SUCCESS", "branch": branch, "concluded": True}
              for n, branch in enumerate(FORMULAS)),
        ]  # fmt: skip
        threaded.call(
            lambda: threaded.fake.add_job("p", "j", builds=builds, name=EVIL, description=EVIL)
        )
        threaded.call(
            lambda: threaded.fake.add_log_lines(
                "p",
                "j",
                "b-evil",
                [EVIL + "\tcolumn\nsecond row", {"log": "plain", "containerId": "c\x1b[2J"}],
            )
        )
        yield threaded


def run(*args: str) -> int:
    job = [] if args[:2] == ("jobs", "list") else ["--job", "j"]
    return main([*args, "--project", "p", *job])


# -- the pure pieces ----------------------------------------------------------------------------


def test_visible_escapes_controls_format_and_bidi_characters_only() -> None:
    assert visible(EVIL) == SHOWN
    assert visible("tab\tand\nnewline", keep="\t\n") == "tab\tand\nnewline"
    assert visible("tab\tand\nnewline") == "tab\\tand\\nnewline"
    for text in ("plain", "naïve café ✓ 日本語 🎉", "a\u00a0b", "C:\\path\\x1b"):
        assert visible(text) == text  # other text, any script or emoji, is left alone
    assert visible("\u2028\u2029\ud800\U000e0001") == "\\u2028\\u2029\\ud800\\U000e0001"


def test_bounded_cuts_long_messages_and_counts_what_it_cut() -> None:
    assert bounded("short \x1b") == "short \\x1b"
    cut = bounded("\x1b" * 10_000)
    assert cut == "\\x1b" * 500 + "... (9500 more characters)"


def test_csv_cell_quotes_what_a_spreadsheet_would_evaluate() -> None:
    for text in FORMULAS:
        assert csv_cell(text) == "'" + text
    for value in ("main", "a=b", "", None, -1, 2.5, True, "'quoted"):
        assert csv_cell(value) == value


def test_json_line_is_exact_and_writes_no_raw_control() -> None:
    value = {"log": EVIL + "\u2028\ud83d\U000e0001 日本語", "n": 1}
    line = json_line(value)
    assert json.loads(line) == value
    no_raw_controls(line, keep="")
    assert "日本語" in line  # readable text stays readable


def test_a_log_stream_error_is_bounded_and_escaped() -> None:
    frame = json.dumps({"type": "error", "data": {"message": EVIL + "y" * 5000}})
    with pytest.raises(LogStreamError) as caught:
        read_frame(frame, path="/x")
    assert caught.value.message.startswith(SHOWN)
    assert caught.value.message.endswith(f"... ({len(EVIL) + 4500} more characters)")
    assert len(str(caught.value)) < 700
    no_raw_controls(str(caught.value), keep="")


# -- the command line, against the fake ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["builds", "list"],
        ["builds", "get", "--build", "b-evil"],
        ["builds", "watch", "--build", "b-evil"],
        ["jobs", "list"],
        ["jobs", "get"],
    ],
)
def test_tables_show_controls_escaped(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    # watch exits by the outcome: a status it does not know is no success (1)
    assert run(*args) == (1 if args[1] == "watch" else 0)
    out = capsys.readouterr().out
    no_raw_controls(out)
    assert SHOWN in out or "SUCC\\x1b[8mESS" in out
    if args[0] == "builds":
        assert "SUCC\\x1b[8mESS" in out


def test_builds_logs_text_escapes_all_but_tab_and_newline(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("builds", "logs", "--build", "b-evil") == 0
    out = capsys.readouterr().out
    no_raw_controls(out)
    assert f"  b-evil-builder  {SHOWN}\tcolumn\nsecond row\n" in out
    assert "  c\\x1b[2J  plain\n" in out


def test_builds_logs_jsonl_is_exact(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("builds", "logs", "--build", "b-evil", "--format", "jsonl") == 0
    out = capsys.readouterr().out
    no_raw_controls(out)
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == served.call(lambda: served.fake.build_logs("p", "j", "b-evil"))
    assert rows[-2]["log"] == EVIL + "\tcolumn\nsecond row"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_listings_are_exact(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    assert run("builds", "list", "--format", fmt) == 0
    out = capsys.readouterr().out
    no_raw_controls(out)
    rows = json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()]
    assert rows[0]["branch"] == EVIL and rows[0]["message"] == EVIL
    assert [row["branch"] for row in rows[1:]] == FORMULAS


def test_csv_cells_that_would_be_formulas_get_a_quote(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("builds", "list", "--format", "csv") == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [row["branch"] for row in rows[1:]] == ["'" + text for text in FORMULAS]
    assert rows[0]["branch"] == EVIL  # data, exact: only a would-be formula changes
    assert len(rows) == 1 + len(FORMULAS)  # a CR inside a cell forged no row
    assert rows[0]["sha"] == "0" * 40 and rows[0]["concluded"] == "true"


class _ThreadedApp:
    """An aiohttp app served on 127.0.0.1 from a thread, for main()'s own event loop."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()

        async def start() -> str:
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def test_a_tail_error_and_an_api_error_print_escaped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's message in an error line: one line on stderr, bounded, shown escaped."""
    prefix = "/v1/projects/p/jobs/j"

    async def build(request: web.Request) -> web.Response:
        if request.match_info["id"] != "b":
            body = {"error": {"status": 404, "message": EVIL, "id": "e\x1b[2J"}}
            return web.json_response(body, status=404)
        return web.json_response({"data": {"id": "b", "status": "RUNNING", "concluded": False}})

    async def tail(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # the init frame
        await ws.send_json({"type": "init", "data": {"auth": "successful"}})
        await ws.send_json({"type": "error", "data": {"message": EVIL + "y" * 5000}})
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get(prefix + "/build/{id}", build)
    app.router.add_get(prefix + "/build-logs", tail)
    with _ThreadedApp(app) as base_url:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", "nf-escaping-token")
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", base_url)
        assert run("builds", "logs", "--build", "b", "--follow") == 4
        tail_err = capsys.readouterr().err
        assert run("builds", "get", "--build", "x") == 6  # not found (404): exit 6 (issue 21)
        api_err = capsys.readouterr().err
    for err in (tail_err, api_err):
        assert err.count("\n") == 1 and err.endswith("\n")
        no_raw_controls(err[:-1], keep="")
        assert SHOWN in err
    assert tail_err.endswith(f"... ({len(EVIL) + 4500} more characters)\n") and len(tail_err) < 800
    assert "error id e\\x1b[2J" in api_err


def test_monitor_lines_show_controls_escaped() -> None:
    from northflank_async._core.events import BuildEvent
    from northflank_async._core.models import JobBuild
    from northflank_async.cli.monitor import _line

    event = BuildEvent("concluded", JobBuild(id=EVIL, status=EVIL), "p", "j")
    line = _line(event, "table")
    no_raw_controls(line, keep="")
    assert line.count(SHOWN) == 2
    assert json.loads(_line(event, "jsonl"))["build_id"] == EVIL
