"""The real JavaScript clients in `clients/` (the protocols' own client code), run with Node."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
"""The client scripts and their `node_modules`."""
HAVE_NODE = shutil.which("node") is not None and (CLIENTS / "node_modules").is_dir()
"""Whether Node and the clients' npm packages are installed."""
node = pytest.mark.node
"""Mark a test that runs a client script (deselect them with `-m "not node"`)."""
needs_node = pytest.mark.skipif(not HAVE_NODE, reason="needs node and clients/node_modules")
"""Skip a test that runs a client script where Node or the npm packages are missing."""


async def run_node(script: str, *args: str, stdin: bytes | None = None) -> dict[str, Any]:
    """Run one of the client scripts in clients/ and return its JSON report."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        *args,
        "--timeout",
        "60",
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 90)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}: {err.decode()[-2000:]}"
    report: dict[str, Any] = json.loads(out)
    return report


async def run_node_batch(script: str, bodies: list[str]) -> list[dict[str, Any]]:
    """Run a batch client script on many SSE bodies at once; one report per body."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(bodies).encode()), 150)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}: {err.decode()[-2000:]}"
    reports: list[dict[str, Any]] = json.loads(out)
    assert len(reports) == len(bodies)
    return reports
