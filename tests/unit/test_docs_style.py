"""The README's and the guides' examples agree with each other and stand on their own.

tests/test_docs_examples.py runs every block with a few names already in scope (a client
``nf``, a concluded ``build``, ...). The README's blocks are read first, out of context, so
each must define what it uses besides ``nf``; every guide shows the scoped form
(``nf.job(project, job)``) in its examples and the flat form in prose at most once.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

import northflank_async

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(?:python|py)\n(.*?)^```", re.DOTALL | re.MULTILINE)
GUIDES = ["README.md", "docs/quickstart.md", "docs/usage.md", "docs/bots.md", "docs/logs.md"]
GUIDES += ["docs/errors.md", "docs/resilience.md", "docs/fleet.md", "docs/testing.md"]
FLAT = re.compile(r"\bnf\.jobs\.(builds|runs|branches)\.")


def blocks(name: str) -> list[str]:
    return [match.group(1) for match in BLOCK.finditer((ROOT / name).read_text())]


def free_names(source: str) -> set[str]:
    """Names a block reads that it neither defines, imports nor gets from builtins."""
    tree = ast.parse(source)
    defined = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            defined.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - defined


@pytest.mark.parametrize("index", range(len(blocks("README.md"))))
def test_a_readme_block_defines_what_it_uses(index: int) -> None:
    """Besides the client ``nf`` and the public API, a README block names only its own names."""
    source = blocks("README.md")[index]
    assert free_names(source) - {"nf"} - set(northflank_async.__all__) == set(), source


@pytest.mark.parametrize("name", GUIDES)
def test_examples_use_the_scoped_form(name: str) -> None:
    """No example calls the flat form; the prose shows it at most once a page."""
    text = (ROOT / name).read_text()
    for source in blocks(name):
        assert not FLAT.search(source), source
    assert len(FLAT.findall(text)) <= 1, name
