"""Quart: a route that streams an agent's answer as SSE.

uvicorn docs.examples.quart_app:app      # POST /chat {"prompt": "..."}
"""

from agents import Agent, Runner
from quart import Quart, request

from agentstream.frameworks import quart_response

agent = Agent(name="assistant", instructions="Answer in one short paragraph.", model="gpt-4.1-mini")
app = Quart(__name__)


@app.post("/chat")
async def chat():
    data = await request.get_json()
    result = Runner.run_streamed(agent, data.get("prompt", "Hello"))
    return quart_response(result, idle_timeout=60)
