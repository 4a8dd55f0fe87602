"""The quick tests in front of each redaction step never skip a text the step would change.

`redact` asks each step a cheap question first (a literal, a key word in any case) and skips the
step's regexes when the answer is no. That is only a speed-up if the answer is never a wrong no:
every step here runs on texts full of secrets, look-alikes and case-folding traps, and wherever
the step changes a text its test must have said yes; the whole guarded pipeline must equal the
unguarded one.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awoooi.core import redact as redaction
from tests.core.test_redact import CASES

STEPS = redaction._STEPS


def unguarded_pass(text: str) -> str:
    """One pass of every step, asking no question first."""
    for step in STEPS:
        text = step.apply(text)
    return text


def variants(text: str) -> list[str]:
    """The text, its lines, and its case-changed forms (IGNORECASE patterns must still be seen)."""
    forms = [text, text.upper(), text.lower(), text.swapcase()]
    # Letters that IGNORECASE folds onto ASCII although str.lower() does not.
    forms.append(text.replace("s", "\u017f").replace("i", "\u0131").replace("k", "\u212a"))
    lines = [line for form in forms for line in form.splitlines()]
    return forms + lines


CORPUS = [text for case in CASES for text in variants(case.text)]


@pytest.mark.parametrize("step", STEPS, ids=[step.apply.__name__ for step in STEPS])
def test_each_step_is_asked_before_it_changes_a_corpus_text(step: redaction._Step) -> None:
    changed = 0
    for text in CORPUS:
        # Also what the text looks like when this step's turn comes in the pipeline.
        before = text
        for earlier in itertools.takewhile(lambda other: other is not step, STEPS):
            before = earlier.apply(before)
        for candidate in (text, before):
            if step.apply(candidate) != candidate:
                changed += 1
                assert step.could_change(redaction._Probe(candidate)), (
                    step.apply.__name__,
                    candidate[:200],
                )
    # Every step has work in the corpus, or this test would prove nothing about it.
    assert changed > 0, step.apply.__name__


@pytest.mark.parametrize("text", CORPUS[:: max(len(CORPUS) // 400, 1)])
def test_the_guarded_pass_equals_the_unguarded_one_on_the_corpus(text: str) -> None:
    assert redaction._redact_once(text) == unguarded_pass(text)


FRAGMENTS = st.sampled_from(
    [
        "password", "PassWord", "pa\u017f\u017fword", "api_key", "client-secret", "token",
        "T\u00f8ken", "credential\u0131", "Authorization", "COOKIE", "bearer ", "sig=", "://",
        "user:", "@", "=", ":", " ", "\n", "\"", "'", "<", ">", "-u ", "--password ", "mysql -p",
        "redis-cli -a ", "eyJ", "AKIA", "gh", "p_", "xox", "sk-", "Q~", "hooks.slack.com/",
        "client-key-data: ", "-----BEGIN ", "PRIVATE KEY-----", "Secret", "kind: ", "data:",
        "\u212aey", "s\u212a-", "secret\u0130",
    ]
)  # fmt: skip
TEXTS = st.lists(
    st.one_of(FRAGMENTS, st.text(alphabet="abcXYZ019_-./+=", min_size=1, max_size=40)),
    max_size=30,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_the_guarded_pass_equals_the_unguarded_one_on_generated_text(text: str) -> None:
    assert redaction._redact_once(text) == unguarded_pass(text)
    for step in STEPS:
        if step.apply(text) != text:
            assert step.could_change(redaction._Probe(text)), step.apply.__name__
