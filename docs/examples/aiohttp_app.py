"""aiohttp: a handler that streams an agent's answer as SSE.

python -m aiohttp.web -H 127.0.0.1 -P 8000 docs.examples.aiohttp_app:make_app
"""

from agents import Agent, Runner
from aiohttp import web

from agentstream.frameworks import aiohttp_response

agent = Agent(name="assistant", instructions="Answer in one short paragraph.", model="gpt-4.1-mini")


async def chat(request: web.Request) -> web.StreamResponse:
    data = await request.json()
    result = Runner.run_streamed(agent, data.get("prompt", "Hello"))
    return await aiohttp_response(request, result, idle_timeout=60)


def make_app(argv=None) -> web.Application:
    app = web.Application()
    app.router.add_post("/chat", chat)
    return app
