"""One rule for a phone number's country code, used by ``d360 send``'s recipient check and by the
hashing of ``ph``: only a number written nationally (a trunk ``0``, or an area code in brackets)
gets the default country code; digits without ``+``/``00``/``0`` are international as written,
never another country's number with the default code in front."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d360_async._normalise_numbers import phone_digits
from d360_async.cli._checks import recipient_number
from d360_async.hashing import normalize

#: (as written, default country code, the number's digits with its country code)
NUMBERS = [
    ("447700900123", "49", "447700900123"),  # a UK number written without its +
    ("33612345678", "49", "33612345678"),  # a French one
    ("1 650 555 1212", "49", "16505551212"),
    ("44 (0)20 7946 0958", "49", "442079460958"),  # international, trunk in brackets
    ("0151 2345678", "49", "491512345678"),  # national: the trunk 0 becomes the code
    ("(0151) 2345678", "49", "491512345678"),
    ("(650) 555-1212", "1", "16505551212"),  # national: an area code in brackets
    ("+44 7700 900123", "49", "447700900123"),
    ("0044 7700 900123", "49", "447700900123"),
    ("+49 (0)151 2345678", "1", "491512345678"),
    ("491512345678", "49", "491512345678"),
    ("(+44) 7700 900123", "49", "447700900123"),
    ("(0044) 7700 900123", "49", "447700900123"),
]


@pytest.mark.parametrize(("written", "code", "digits"), NUMBERS)
def test_the_cli_sends_to_the_number_written(written: str, code: str, digits: str) -> None:
    assert recipient_number(written, code) == f"+{digits}"


@pytest.mark.parametrize(("written", "code", "digits"), NUMBERS)
def test_hashing_normalises_to_the_same_number(written: str, code: str, digits: str) -> None:
    assert normalize("ph", written, default_country_code=code) == digits


def test_the_rule_itself() -> None:
    assert phone_digits("447700900123", "49") == ("447700900123", True)
    assert phone_digits("0151 2345678", "49") == ("491512345678", True)
    assert phone_digits("0151 2345678", None) == ("01512345678", False)
    assert phone_digits("(650) 555-1212", None) == ("6505551212", False)


@given(
    code=st.sampled_from(["1", "33", "44", "49", "353"]),
    number=st.from_regex(r"[1-9][0-9]{6,13}", fullmatch=True),
)
def test_a_default_code_never_changes_an_international_number(code: str, number: str) -> None:
    assert recipient_number(number, code) == recipient_number(number) == f"+{number}"
    assert normalize("ph", number, default_country_code=code) == normalize("ph", number) == number
