"""The compact de-duplication set agrees with a plain ``set`` of recipient keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async._recipients import RecipientSet, recipient_key

digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
formatted = st.builds(
    lambda prefix, number, sep: prefix + sep.join(number[i : i + 3] for i in range(0, 99, 3)),
    st.sampled_from(["", "+", "(", " "]),
    digits,
    st.sampled_from(["", " ", "-", "."]),
)
ARABIC_INDIC_123 = "\u0661\u0662\u0663"
odd = st.text(alphabet="0123456789\u00b2+ -abc" + ARABIC_INDIC_123, min_size=0, max_size=8)
recipients = st.lists(st.one_of(digits, formatted, odd), max_size=300)


@settings(max_examples=200, deadline=None)  # timing is not what this checks
@given(recipients)
def test_agrees_with_a_set_of_keys(numbers: list[str]) -> None:
    seen = RecipientSet()
    model: set[str] = set()
    for to in numbers:
        key = recipient_key(to)
        assert seen.add(to) == (key not in model), to
        model.add(key)
    assert len(seen) == len(model)


def test_unicode_digits_are_not_ascii_digits() -> None:
    seen = RecipientSet()
    assert seen.add("123")
    assert seen.add(ARABIC_INDIC_123)  # int() would read 123; WhatsApp would not
    assert seen.add("\u00b2")  # superscript two: isdigit() but int() cannot read it
    assert not seen.add("\u00b2")
    assert len(seen) == 3


def test_many_numbers_grow_every_table_and_stay_exact() -> None:
    seen = RecipientSet()
    numbers = [f"49151{i:08d}" for i in range(0, 200_000, 7)]
    assert all(seen.add(n) for n in numbers)
    assert not any(seen.add("+" + n) for n in numbers)
    assert seen.add("4915100000001")  # 1 is not a multiple of 7: never added
    assert len(seen) == len(numbers) + 1
