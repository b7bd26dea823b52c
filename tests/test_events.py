"""The event union: JSON in, JSON out, schema, and clear errors for bad input."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from pydantic import TypeAdapter

import agentstream
from agentstream import (
    SCHEMA_VERSION,
    DecodeError,
    Done,
    Event,
    TextDelta,
    event_json_schema,
    parse_event,
)

from .support.strategies import events

ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


@given(events)
def test_every_event_survives_json_and_parse_event(event: Event) -> None:
    wire = event.model_dump_json()
    assert parse_event(wire) == event
    assert parse_event(wire.encode()) == event
    assert parse_event(json.loads(wire)) == event
    assert ADAPTER.validate_json(wire) == event


SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(event_json_schema())


@given(events)
def test_every_event_matches_the_published_schema(event: Event) -> None:
    SCHEMA_VALIDATOR.validate(json.loads(event.model_dump_json()))


def test_events_are_frozen_and_strict() -> None:
    event = TextDelta(seq=0, run_id="r", timestamp=1, delta="hi")
    with pytest.raises(ValueError, match="frozen"):
        event.delta = "changed"  # type: ignore[misc]
    with pytest.raises(DecodeError, match="surprise"):
        parse_event({**event.model_dump(), "surprise": 1})


def test_unknown_fields_from_a_newer_server_can_be_ignored() -> None:
    newer = {
        "type": "done",
        "seq": 4,
        "run_id": "r",
        "timestamp": 1,
        "status": "completed",
        "sentiment": "happy",
        "usage": {"requests": 1, "cached_tokens": 7},
        "error": None,
    }
    with pytest.raises(DecodeError, match="sentiment"):
        parse_event(newer)
    event = parse_event(json.dumps(newer), ignore_unknown_fields=True)
    assert isinstance(event, Done)
    assert event.usage.requests == 1 and event.seq == 4
    # A status added after this version is read as a run that did not complete, naming it;
    # strict decoding refuses it, and a status that is not a string is refused either way.
    with pytest.raises(DecodeError, match="status"):
        parse_event({**newer, "status": "exploded"})
    later = parse_event({**newer, "status": "exploded"}, ignore_unknown_fields=True)
    assert isinstance(later, Done)
    assert later.status == "error"
    assert later.error is not None and later.error.type == "UnknownStatus"
    assert "'exploded'" in later.error.message
    with pytest.raises(DecodeError, match="status"):
        parse_event({**newer, "status": 3}, ignore_unknown_fields=True)


def test_wire_shape_of_a_text_delta() -> None:
    event = TextDelta(seq=3, run_id="run_1", agent="triage", timestamp=1700000000000, delta="Hi")
    assert json.loads(event.model_dump_json()) == {
        "type": "text_delta",
        "seq": 3,
        "run_id": "run_1",
        "agent": "triage",
        "timestamp": 1700000000000,
        "delta": "Hi",
        "message_id": None,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        ("[1, 2]", "JSON object, got list"),
        ('"text"', "JSON object, got str"),
        ("{}", "no string 'type'"),
        ('{"type": 3}', "no string 'type'"),
        ('{"type": "telepathy"}', "unknown event type 'telepathy'"),
        (
            '{"type": "tool_output", "seq": 0, "run_id": "r", "timestamp": 1, "call_id": "c", '
            '"output": NaN}',
            "NaN is not a JSON value",
        ),
        (
            '{"type": "text_delta", "seq": 0, "run_id": "r", "timestamp": 1}',
            "delta: Field required",
        ),
        (
            '{"type": "text_delta", "seq": -1, "run_id": "r", "timestamp": 1, "delta": ""}',
            "seq: Input should be greater than or equal to 0",
        ),
        (
            '{"type": "done", "seq": 0, "run_id": "r", "timestamp": 1, "status": "exploded"}',
            "invalid 'done' event: status",
        ),
    ],
)
def test_bad_input_raises_decode_error_saying_what_is_wrong(
    data: str | bytes, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_event(data)


def test_decode_error_is_an_agentstream_error_and_a_value_error() -> None:
    with pytest.raises(agentstream.AgentStreamError):
        parse_event("nope")
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_event("nope")


def test_decode_error_does_not_echo_long_input() -> None:
    secret = "x" * 10_000
    with pytest.raises(DecodeError) as info:
        parse_event(secret)
    assert len(str(info.value)) < 300


def test_parse_event_rejects_other_types() -> None:
    with pytest.raises(DecodeError, match="got int"):
        parse_event(42)  # type: ignore[arg-type]


def test_schema_names_every_event_and_its_version() -> None:
    schema = event_json_schema()
    assert schema["x-schema-version"] == SCHEMA_VERSION
    tags = set(schema["discriminator"]["mapping"])
    assert tags == {
        "text_delta",
        "message_output",
        "reasoning_delta",
        "reasoning_output",
        "tool_call_started",
        "tool_arguments_delta",
        "tool_called",
        "tool_output",
        "handoff",
        "approval_requested",
        "usage_updated",
        "tool_progress",
        "custom",
        "nested_run_started",
        "nested_run_finished",
        "done",
    }
    jsonschema.Draft202012Validator.check_schema(schema)


def test_done_defaults() -> None:
    done = Done(seq=0, run_id="r", timestamp=1, status="completed")
    assert done.usage.total_tokens == 0 and done.pending_approvals == ()


def test_the_published_schema_file_is_current() -> None:
    """`docs/event-schema.json` is what `event_json_schema()` returns (regenerate it with
    `python -c "import json, agentstream; print(json.dumps(agentstream.event_json_schema(),
    indent=2, ensure_ascii=False))" > docs/event-schema.json`)."""
    from pathlib import Path

    published = Path(__file__).parent.parent / "docs" / "event-schema.json"
    assert json.loads(published.read_text(encoding="utf-8")) == event_json_schema()


def test_events_of_a_plain_run_read_as_in_schema_1_1() -> None:
    """Fields added in 1.2 stay out of the JSON at their defaults; set, they are written."""
    plain = TextDelta(seq=0, run_id="r", timestamp=1, delta="hi")
    assert json.loads(plain.model_dump_json()) == {
        "type": "text_delta",
        "seq": 0,
        "run_id": "r",
        "agent": None,
        "timestamp": 1,
        "delta": "hi",
        "message_id": None,
    }
    nested = plain.model_copy(update={"parent_call_id": "c", "path": ("c",)})
    wire = json.loads(nested.model_dump_json())
    assert wire["parent_call_id"] == "c" and wire["path"] == ["c"]
    assert parse_event(nested.model_dump_json()) == nested
