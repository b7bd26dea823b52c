"""A plain ASGI application that streams an agent's answer (no framework).

uvicorn docs.examples.asgi_app:app      # POST /chat {"prompt": "..."}
"""

import json

from agents import Agent, Runner

from agentstream.frameworks import asgi_app

agent = Agent(name="assistant", instructions="Answer in one short paragraph.", model="gpt-4.1-mini")


async def read_json(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return json.loads(body or b"{}")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    request = await read_json(receive)
    result = Runner.run_streamed(agent, request.get("prompt", "Hello"))
    await asgi_app(result, idle_timeout=60)(scope, receive, send)
