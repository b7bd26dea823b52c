"""Django (an async view, served over ASGI): a view that streams an agent's answer as SSE.

    uvicorn docs.examples.django_app:app      # POST /chat {"prompt": "..."}

In a project, the settings live in settings.py and the view in views.py; here they share a file.
"""

import json

import django
from agents import Agent, Runner
from django.conf import settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from agentstream.frameworks import django_response

settings.configure(
    ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="change me", MIDDLEWARE=[]
)
django.setup()

agent = Agent(name="assistant", instructions="Answer in one short paragraph.", model="gpt-4.1-mini")


@csrf_exempt
async def chat(request):
    prompt = json.loads(request.body or b"{}").get("prompt", "Hello")
    result = Runner.run_streamed(agent, prompt)
    return django_response(result, idle_timeout=60)


urlpatterns = [path("chat", chat)]

from django.core.asgi import get_asgi_application  # noqa: E402 - after the settings

app = get_asgi_application()
