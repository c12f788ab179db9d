"""Answer parsers: the expected answer from typical output, and "" (never an exception) from malformed output."""

from __future__ import annotations

import pytest

from advisor.core.answers import MAX_CHARS, clean, parse
from advisor.errors import SpecError
from advisor.spec.schema import AnswerSpec as AnswerParserSpec
from advisor.spec.schema import parse as parse_spec


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("Paris", "Paris"),
        ("  Paris.\n", "Paris"),
        ("Answer: Paris", "Paris"),
        ("answer:Paris", "Paris"),
        ("A: Paris", "Paris"),
        ("ANSWER : Paris!", "Paris"),
        ("**Answer:** Paris", "Paris"),
        ("Final answer: 1963", "1963"),
        ("\n\n  Richard Nixon\nHe was the 37th president.", "Richard Nixon"),
        ("Answer:\nEdwin Hubble", "Edwin Hubble"),
        ('"Sputnik 1".', "Sputnik 1"),
        ("\u201cEcholocation\u201d", "Echolocation"),
        ("'22'", "22"),
        ("Richard Nixon\r\nQuestion: next", "Richard Nixon"),
        ("Answers are hard", "Answers are hard"),  # a word that merely starts with 'answer' stays
        ("Apple: a fruit", "Apple: a fruit"),
        ("U.S.A.", "U.S.A"),
    ],
)
def test_first_line(raw, answer):
    assert parse(raw, "first_line") == answer


def test_full_collapses_whitespace():
    assert parse("  The cat\n\nsat   on\tthe mat. ", "full") == "The cat sat on the mat."


def test_regex_takes_the_first_group():
    assert parse("I think the answer is 42, or 43.", "regex", r"answer is (\d+)") == "42"
    assert parse("no number here", "regex", r"answer is (\d+)") == ""
    assert parse("x", "regex", r"(y)?x") == ""  # the group did not take part in the match


MALFORMED = [
    None,
    "",
    "   \n\t  ",
    "\x00\x01\x02\x7f",
    b"\xff\xfe\x00\x00",
    12345,
    object(),
    ["Paris"],
    "\ufffd\ufffd\ufffd",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=lambda r: repr(r)[:20])
@pytest.mark.parametrize("strategy", ["first_line", "full", "regex"])
def test_malformed_output_gives_empty_answer(raw, strategy):
    assert parse(raw, strategy, r"(\w+)") == ""


@pytest.mark.parametrize("raw", ['"".', "Answer:", "Answer: \n\n", "A:\n'"])
def test_first_line_with_nothing_after_the_label_is_empty(raw):
    assert parse(raw, "first_line") == ""


@pytest.mark.parametrize("strategy", ["first_line", "full", "regex"])
def test_huge_and_binaryish_output_never_raises(strategy):
    huge = "word " * 1_000_000
    out = parse(huge, strategy, r"(\w+)")
    assert isinstance(out, str) and len(out) <= MAX_CHARS
    mixed = "Paris\x00\x1b[31m\ufffd" + "\x00" * 1000
    assert parse(mixed, strategy, r"(\w+)").startswith("Paris")
    assert parse(b"Paris\xff\n", strategy, r"(\w+)").startswith("Paris")


def test_bad_inputs_to_parse_itself_give_empty_answer():
    assert parse("text", "regex", "(unclosed") == ""
    assert parse("text", "regex", None) == ""
    assert parse("text", "no-such-strategy") == ""  # type: ignore[arg-type]


def test_clean():
    assert clean(None) == "" and clean(3) == ""
    assert clean(b"caf\xc3\xa9") == "caf\u00e9"
    assert clean("a\x00b\r\nc") == "ab\nc"


def test_spec_parses_with_its_strategy():
    assert AnswerParserSpec().parse("Answer: Paris.") == "Paris"
    assert AnswerParserSpec(strategy="full").parse(" a \n b ") == "a b"
    spec = AnswerParserSpec(strategy="regex", pattern=r"\((\w+)\)")
    assert spec.parse("the answer (B) it is") == "B"
    assert spec.parse(None) == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"strategy": "regex"}, "strategy 'regex' needs 'pattern'"),
        ({"strategy": "regex", "pattern": "(unclosed"}, "does not compile: missing ), unterminated subpattern at position 0"),
        ({"strategy": "regex", "pattern": r"\d+"}, "has no group"),
        ({"strategy": "full", "pattern": "(x)"}, "'pattern' only applies to strategy 'regex'"),
        ({"strategy": "first-line"}, "did you mean 'first_line'"),
        ({"stratgy": "full"}, "did you mean 'strategy'"),
    ],
)
def test_spec_errors_are_one_line(data, message):
    with pytest.raises(SpecError) as err:
        parse_spec(AnswerParserSpec, data, "task.yaml", prefix="answer")
    text = str(err.value)
    assert message in text
    assert "\n" not in text and text.startswith("task.yaml: answer")


def test_spec_error_for_multiline_pattern_stays_one_line():
    with pytest.raises(SpecError) as err:
        parse_spec(AnswerParserSpec, {"strategy": "regex", "pattern": "a\n(b"}, None)
    assert "\n" not in str(err.value)
