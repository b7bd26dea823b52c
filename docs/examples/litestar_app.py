"""Litestar: a route that streams an agent's answer as SSE.

uvicorn docs.examples.litestar_app:app      # POST /chat {"prompt": "..."}
"""

from agents import Agent, Runner
from litestar import Litestar, post
from litestar.response import Stream

from agentstream.frameworks import litestar_response

agent = Agent(name="assistant", instructions="Answer in one short paragraph.", model="gpt-4.1-mini")


@post("/chat")
async def chat(data: dict[str, str]) -> Stream:
    result = Runner.run_streamed(agent, data.get("prompt", "Hello"))
    return litestar_response(result, idle_timeout=60)


app = Litestar([chat])
