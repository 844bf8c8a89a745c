"""A value that is not valid Unicode text (a lone surrogate, as a broken decoder leaves) is a
value that breaks its key's rule: left out and named, never a raw UnicodeEncodeError (F12)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d360_async import D360Client, ValidationError
from d360_async.hashing import (
    HASHED_KEYS,
    hash_user_data,
    hash_value,
    normalize,
    prepare_user_data,
)

from .conftest import NODE

BROKEN = "Jo\ud800hn"
REASON = "is not valid Unicode text"


#: Keys whose rule keeps only ASCII letters (or the first one): the surrogate goes with the
#: rest of what is not a letter, and the value is valid text.
LETTERS_ONLY = {"ct", "st", "fi"}


@pytest.mark.parametrize("key", sorted(HASHED_KEYS))
def test_one_value_is_a_validation_error(key: str) -> None:
    for call in (normalize, hash_value):
        if key in LETTERS_ONLY:
            assert "\ud800" not in call(key, BROKEN)
            continue
        with pytest.raises(ValidationError) as caught:
            call(key, BROKEN)
        assert caught.value.field == key
        assert "\ud800" not in str(caught.value)


def test_the_value_is_left_out_and_the_others_kept() -> None:
    prepared = prepare_user_data({"em": "a@b.com", "fn": BROKEN, "ln": ["Doe", "D\udfffoe"]})

    assert sorted(prepared.user_data) == ["em", "ln"] and len(prepared.user_data["ln"]) == 1
    assert [(d.key, d.reason, d.position) for d in prepared.dropped] == [
        ("fn", REASON, None),
        ("ln", REASON, 1),
    ]
    assert sorted(hash_user_data({"em": "a@b.com", "fn": BROKEN})) == ["em"]


@given(
    key=st.sampled_from(sorted(HASHED_KEYS)),
    text=st.text(st.characters(categories=["Cs", "L", "Nd"]), min_size=1, max_size=20),
)
def test_any_text_is_hashed_or_named(key: str, text: str) -> None:
    prepared = prepare_user_data({key: text})
    assert bool(prepared.user_data) != bool(prepared.dropped) or not text.strip()


async def test_an_event_with_such_a_value_is_still_sent(d360_client: D360Client) -> None:
    event = {
        "event_name": "LeadSubmitted",
        "event_time": int(time.time()) - 60,
        "user_data": {"em": "a@b.com", "fn": BROKEN},
    }

    report = await d360_client.send_conversion_events(NODE, [event]).run()

    assert (report.received, report.rejected, report.dropped_by_key) == (1, 0, {"fn": 1})
