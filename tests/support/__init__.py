"""What the tests share, one idea a module.

- `checks`: the envelope rules every event stream obeys (`assert_well_formed`).
- `scenarios`: real SDK workflows on scripted models, tools that hold a run still (`Gate`), and
  replays of given events.
- `strategies`: hypothesis strategies for events and for valid event sequences.
- `compat`: what the installed openai-agents release has, for tests that need a newer one.
- `http`: a real uvicorn server on a random port, and ASGI helpers.
- `wire`: real runs of the SDK's OpenAI models over HTTP against a scripted `OpenAIServer`.
- `node`: the real JavaScript clients in `clients/`.
- `agui`, `ai_sdk`: reading and checking each bridge protocol's frames.
- `bridges`: one adapter a protocol, so that the tests both bridges share run on each.
- `redis_server`: a real `redis-server`, and the helper processes the Redis tests start.
"""
