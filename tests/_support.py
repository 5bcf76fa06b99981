"""Helpers shared by the test modules (import as ``from _support import ...``)."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
#: The test servers (see tests/conftest.py).
POSTGRES_URL = os.environ.get(
    "FINDIG_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FINDIG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI, where every server must be up."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(path: Path) -> list[str]:
    """The ``.. code-block:: python`` blocks of a reST page, dedented and
    preceded by blank lines so that line numbers in tracebacks match the
    page's."""
    blocks = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == ".. code-block:: python":
            body = []
            for following in lines[i + 2 :]:
                if following and not following.startswith("    "):
                    break
                body.append(following)
            blocks.append("\n" * (i + 2) + textwrap.dedent("\n".join(body)))
    return blocks


def run_guide(name: str, min_blocks: int) -> dict[str, Any]:
    """Run the Python blocks of ``docs/guide/<name>.rst`` as one script.

    :param name: The page's name.
    :param min_blocks: How many blocks the page has at least (so that a
        change in markup cannot make the test pass by running nothing).
    :returns: The script's namespace.
    """
    path = DOCS / "guide" / f"{name}.rst"
    blocks = python_blocks(path)
    assert len(blocks) >= min_blocks, f"{path} has only {len(blocks)} blocks"
    namespace: dict[str, Any] = {"__name__": f"guide_{name}"}
    for block in blocks:
        exec(compile(block, str(path), "exec"), namespace)
    return namespace
