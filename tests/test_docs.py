"""The docs' code: every Python block compiles, and the complete examples (the files in
docs/examples/, shown verbatim by the docs) run under their real servers against a local
OpenAI-compatible server, with the SDK's own OpenAI model over HTTP."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import socket
import sys
from pathlib import Path

import httpx
import pytest

from agentstream import Done, from_sse
from agentstream.testing import OpenAIServer, text

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
EXAMPLES = REPO / "docs" / "examples"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks() -> list[tuple[str, str]]:
    return [
        (f"{path.relative_to(REPO)}#{n}", match.group(1))
        for path in DOCS
        for n, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8")))
    ]


@pytest.mark.parametrize(("where", "source"), python_blocks(), ids=lambda v: str(v)[:40])
def test_every_python_block_of_the_docs_compiles(where: str, source: str) -> None:
    compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


SHOWN = {
    "litestar_app.py": "frameworks.md",
    "django_app.py": "frameworks.md",
    "quart_app.py": "frameworks.md",
    "aiohttp_app.py": "frameworks.md",
    "asgi_app.py": "frameworks.md",
}


@pytest.mark.parametrize(("example", "page"), sorted(SHOWN.items()))
def test_the_docs_show_the_examples_as_they_are(example: str, page: str) -> None:
    shown = [m.group(1) for m in BLOCK.finditer((REPO / "docs" / page).read_text("utf-8"))]
    assert (EXAMPLES / example).read_text("utf-8") in shown


def test_the_logging_example_is_the_documented_configuration() -> None:
    source = (EXAMPLES / "logging_app.py").read_text("utf-8")
    config = source[source.index("LOGGING = {") : source.index("logging.config.dictConfig")]
    page = (REPO / "docs" / "operations.md").read_text("utf-8")
    assert config.strip() in page


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SERVERS = {
    "asgi_app": ["-m", "uvicorn", "docs.examples.asgi_app:app"],
    "litestar_app": ["-m", "uvicorn", "docs.examples.litestar_app:app"],
    "django_app": ["-m", "uvicorn", "docs.examples.django_app:app"],
    "quart_app": ["-m", "uvicorn", "docs.examples.quart_app:app"],
    "aiohttp_app": ["-m", "aiohttp.web", "docs.examples.aiohttp_app:make_app"],
}


@pytest.mark.parametrize("example", sorted(SERVERS))
async def test_the_framework_examples_stream_an_agents_answer(example: str) -> None:
    async with OpenAIServer([text("Streams work everywhere.")], per_run=True) as model:
        port = free_port()
        where = (
            ["-H", "127.0.0.1", "-P"]
            if example == "aiohttp_app"
            else ["--host", "127.0.0.1", "--port"]
        )
        env = {
            **os.environ,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-local-test",
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
        }
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            *SERVERS[example],
            *where,
            str(port),
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
                for _ in range(150):  # until the server listens
                    try:
                        response = await client.post("/chat", json={"prompt": "Do streams work?"})
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.1)
                else:
                    pytest.fail(f"{example} did not start")
        finally:
            server.terminate()
            _, err = await asyncio.wait_for(server.communicate(), 20)
        assert response.status_code == 200, (response.text, err.decode()[-2000:])
        events = [event async for event in from_sse([response.text])]
        done = events[-1]
        assert isinstance(done, Done) and done.status == "completed", err.decode()[-2000:]
        assert done.final_output == "Streams work everywhere."
        assert [r.path for r in model.model_requests] == ["/v1/responses"]
