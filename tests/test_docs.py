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


MARKED = re.compile(r"<!-- (example|fragment)(?::\s*(.*?))? -->\n```python\n(.*?)```", re.DOTALL)


def marked_blocks() -> list[tuple[str, str, str, str]]:
    """The blocks the docs mark: (where, `example` or `fragment`, what follows, the code)."""
    return [
        (
            f"{path.relative_to(REPO)}:{m.group(3).splitlines()[0][:30]}",
            m.group(1),
            m.group(2) or "",
            m.group(3),
        )
        for path in DOCS
        for m in MARKED.finditer(path.read_text(encoding="utf-8"))
    ]


def test_every_block_that_looks_complete_is_marked_an_example_or_a_fragment() -> None:
    """A block that makes an `app` or runs `asyncio.run(...)` is run (`<!-- example -->`) or
    says why it is not complete (`<!-- fragment: ... -->`)."""
    marked = {code for _, _, _, code in marked_blocks()}
    shown = {(EXAMPLES / name).read_text("utf-8") for name in SHOWN}
    unmarked = [
        where
        for where, code in python_blocks()
        if re.search(r"^app = |^asyncio\.run\(", code, re.MULTILINE)
        and code not in marked
        and code not in shown
    ]
    assert unmarked == []


RUNNER = """
import asyncio, json, sys, types
import httpx
path, request = sys.argv[1], json.loads(sys.argv[2])
module = types.ModuleType("example")
module.__file__ = path
sys.modules["example"] = module
exec(compile(open(path, encoding="utf-8").read(), path, "exec"), module.__dict__)
async def main():
    if request is None:
        return
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        method, path = request["method"], request["path"]
        response = await client.request(method, path, json=request.get("json"))
        print(response.status_code)
        print(response.text)
asyncio.run(main())
"""


EXAMPLE_BLOCKS = [
    (where, what, code) for where, kind, what, code in marked_blocks() if kind == "example"
]


@pytest.mark.parametrize(
    ("where", "request_json", "code"), EXAMPLE_BLOCKS, ids=[b[0] for b in EXAMPLE_BLOCKS]
)
async def test_the_examples_of_the_docs_run(
    where: str, request_json: str, code: str, tmp_path: Path
) -> None:
    """Each example runs as a program (its module executed, an app answering its request) with
    the SDK's default OpenAI client on a local OpenAI-compatible server."""
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    (tmp_path / "runner.py").write_text(RUNNER, encoding="utf-8")
    request = request_json.strip() or "null"
    async with OpenAIServer([text("It is sunny.")], per_run=True) as model:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-local-test",
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
            "PYTHONPATH": str(REPO / "src"),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "runner.py",
            "example.py",
            request,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()[-3000:]
    if request != "null":
        status, _, body = out.decode().partition("\n")
        assert status == "200", body[-2000:]
        # each protocol's last word: a done, RUN_FINISHED, or the AI SDK's [DONE]
        assert '"type":"done"' in body or "RUN_FINISHED" in body or "data: [DONE]" in body, body[
            -2000:
        ]
        assert "sunny." in body
