"""Typed answers: the schema sent, and JSON found in what real models write."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from hmas.llm import Completion, Message, ToolCall, Usage
from hmas.llm.structured import (
    InvalidAnswerError,
    answer_format,
    clip,
    extract_json,
    parse_answer,
    with_instructions,
)
from tests.llm.helpers import City


class Loose(BaseModel):
    city: str
    note: str | None = None


def done(text: str | None, *calls: ToolCall) -> Completion:
    return Completion(text=text, usage=Usage(), model="m", tool_calls=calls)


@pytest.mark.parametrize(
    "text",
    [
        '{"city": "Paris", "country": "France"}',
        '\n\n   {"city": "Paris", "country": "France"}  ',
        'Here it is:\n```json\n{"city": "Paris", "country": "France"}\n```\nDone.',
        '<think>Paris, surely.</think>{"city": "Paris", "country": "France"}',
        'The answer is {"city": "Paris", "country": "France"} as asked.',
    ],
)
def test_json_is_found(text: str) -> None:
    assert parse_answer(City, done(text)) == City(city="Paris", country="France")


def test_an_answer_in_a_tool_call() -> None:
    call = ToolCall("call_0", "final_result", '{"city": "Lima", "country": "Peru"}')
    assert parse_answer(City, done(None, call)).city == "Lima"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "the answer is empty"),
        ("", "the answer is empty"),
        ("I cannot help", "the answer is not JSON"),
        ("[1, 2]", "the answer is JSON but not an object (list)"),
        ('{"city": "Paris"}', "the answer does not fit City: country: Field required"),
        ('{"city": "P", "country": "F", "x": 1}', "the answer does not fit City: x: Extra inputs"),
    ],
)
def test_bad_answers_say_why(text: str | None, reason: str) -> None:
    class Strict(City):
        model_config = ConfigDict(extra="forbid")

    with pytest.raises(InvalidAnswerError) as info:
        parse_answer(Strict, done(text))
    assert info.value.reason.startswith(reason.replace("City", "Strict")), info.value.reason


def test_schema_is_closed_and_strict_only_when_all_fields_are_required() -> None:
    strict = answer_format(City, "json_schema")
    assert strict.strict and strict.schema["additionalProperties"] is False
    loose = answer_format(Loose, "json_schema")
    assert not loose.strict


def test_instructions_go_into_the_system_turn_except_for_native_schemas() -> None:
    msgs = [Message("system", "Judge."), Message("user", "data")]
    assert with_instructions(msgs, answer_format(City, "json_schema")) == msgs
    prompted = with_instructions(msgs, answer_format(City, "prompt"))
    assert prompted[0].content.startswith("Judge.\n\nAnswer with one JSON object")
    assert '"country"' in prompted[0].content and prompted[1] == msgs[1]


def test_a_huge_raw_answer_is_clipped() -> None:
    raw = "x" * 200_000
    kept = clip(raw)
    assert kept is not None and len(kept) < 20_100 and kept.endswith("200000 characters in all]")
    with pytest.raises(InvalidAnswerError):
        extract_json(raw)
