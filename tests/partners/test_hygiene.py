"""partners.hygiene: the checks every input from outside passes before anything reads it."""

import pytest

from partners import hygiene


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("plain", None),
        ("accents é, CJK 中, emoji 😀", None),
        ("", None),
        ("a\x00b", hygiene.NUL_CHARACTER),
        ("\ud800", hygiene.LONE_SURROGATE),
        ("x\udfffy", hygiene.LONE_SURROGATE),
    ],
)
def test_text_problem_names_what_cannot_be_stored(value, problem):
    assert hygiene.text_problem(value) == problem


def parse(raw, *, max_bytes=10_000_000, max_depth=20):
    return hygiene.json_body(raw, max_bytes=max_bytes, max_depth=max_depth)


def refusal(raw, **limits) -> str:
    with pytest.raises(hygiene.BadInput) as caught:
        parse(raw, **limits)
    return caught.value.message


def test_a_plain_json_body_is_returned_as_parsed():
    assert parse(b'{"a": [1, "\\u00e9", {"b": null}]}') == {"a": [1, "é", {"b": None}]}


@pytest.mark.parametrize("depth", [50_000, 1_001, 21])
@pytest.mark.parametrize("opener", ["[", '{"k":'])
def test_nesting_deeper_than_the_limit_is_refused_before_json_loads_recurses(depth, opener):
    closer = "]" if opener == "[" else "}"
    raw = (opener * depth + "1" + closer * depth).encode()
    assert refusal(raw) == hygiene.TOO_DEEP.format(depth=20)


def test_nesting_at_the_limit_is_accepted():
    assert parse(b"[" * 20 + b"]" * 20, max_depth=20) is not None


def test_brackets_inside_strings_are_not_nesting():
    raw = ('{"a": "' + "[{" * 500 + '\\"[", "b": ["]]]"]}').encode()
    assert parse(raw)["b"] == ["]]]"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": "x\\u0000"}', hygiene.NUL_CHARACTER),
        (b'{"a\\u0000": 1}', hygiene.NUL_CHARACTER),
        (b'[[["\\u0000"]]]', hygiene.NUL_CHARACTER),
        (b'{"a": "\\ud800"}', hygiene.LONE_SURROGATE),
        (b'{"\\udc00": 1}', hygiene.LONE_SURROGATE),
        (b'{"a": "\xed\xa0\x80"}', hygiene.NOT_UTF8),
        (b"\xff\xfe{}", hygiene.NOT_UTF8),
        (b"{nope", hygiene.NOT_JSON),
        (b"", hygiene.NOT_JSON),
        ("\ufeff{}".encode(), hygiene.NOT_JSON),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(raw, message):
    assert refusal(raw) == message


def test_a_surrogate_pair_is_one_character_and_fine():
    assert parse(b'["\\ud83d\\ude00"]') == ["😀"]


def test_a_body_over_the_size_cap_is_refused_unread():
    assert refusal(b"[" + b"1," * 100 + b"1]", max_bytes=100) == hygiene.TOO_LARGE.format(limit=100)
