"""Normalisation of the number keys: phone number, date of birth and its parts.

Meta's rules (its ``capi-param-builder`` normalisers for ``ph`` and ``db``, its business SDKs
for ``dobd``, ``dobm``, ``doby``) except where its documentation says otherwise
(``docs/hashing.md``).

Example:
    >>> ph("+001 (616) 954-78 88", None), ph("0151 1234 5678", "49")
    ('16169547888', '4915112345678')
    >>> db("31.12.1990"), db("2/16/1997"), dobd("1"), doby("1997")
    ('19901231', '19970216', '01', '1997')
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any, Final

from ._errors import ValidationError
from ._normalise_common import Invalid, ascii_digits, js_trim

__all__ = [
    "calling_code",
    "date_text",
    "db",
    "dobd",
    "dobm",
    "doby",
    "ph",
    "phone_digits",
    "this_year",
    "today",
]

#: Today's date: birth years are checked against its year. (A module attribute, so that a
#: test can pin it.)
today: Callable[[], date] = date.today
#: This year as last read from ``today`` (year, until when, the function read), read at most
#: once a minute: ``date.today()`` costs more than the rest of a date's check.
_this_year: list[Any] = [0, 0.0, None]

_NOT_DIGITS: Final = re.compile(r"[^0-9]+")
_DIGIT_RUNS: Final = re.compile(r"[0-9]+")
_TRUNK_IN_BRACKETS: Final = re.compile(r"\(\s*0\s*\)")
#: The fewest digits of a number written with its country code (Niue, Tokelau: 3 + 4).
_MIN_PHONE_DIGITS: Final = 7
_FIRST_YEAR: Final = 1900
_ONE_OR_TWO_DIGITS: Final = re.compile(r"[0-9]{1,2}")
_FOUR_DIGITS: Final = re.compile(r"[0-9]{4}")


def calling_code(value: str | int) -> str:
    """The digits of a calling code given as ``"1"``, ``"+49"``, ``"0049"`` or ``44``.

    Raises:
        ValidationError: Not a calling code (``field`` is ``default_country_code``).
    """
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    text = text[1:] if text.startswith("+") else text[2:] if text.startswith("00") else text
    if not (text.isascii() and text.isdigit()) or not 1 <= len(text) <= 3 or text[0] == "0":
        raise ValidationError(
            "default_country_code", "must be a calling code of 1 to 3 digits, e.g. '1' or '+49'"
        )
    return text


def phone_digits(text: str, default_country_code: str | None) -> tuple[str, bool]:
    """The digits of a phone number with its country code, and whether that code is known: the
    one rule for a default country code (``d360 send``'s recipients and the hashing of ``ph``).

    ``+`` (also ``(+44)``) or ``00`` starts an international number: the prefix goes, and so
    does a trunk ``(0)`` after the country code (``+49 (0)151 ...``: never dialled from
    abroad). A number written nationally, with a trunk ``0`` (``0151 ...``) or an area code in
    brackets (``(650) 555-1212``), gets ``default_country_code`` in place of its trunk ``0``;
    without one its digits come back as written, with False. Any other digits are
    international as written: a default code is never put in front of them
    (``447700900123`` stays a UK number whatever the default). Numbers of countries without
    a trunk prefix (Spain, Italy, Denmark...) must therefore be written with their code.

    Args:
        text: The number, trimmed, with ASCII digits.
        default_country_code: Calling code digits (``"49"``) for numbers written nationally.

    Example:
        >>> phone_digits("0049 (0)151 2345678", None), phone_digits("0151 2345678", "49")
        (('491512345678', True), ('491512345678', True))
        >>> phone_digits("447700900123", "49"), phone_digits("(650) 555-1212", None)
        (('447700900123', True), ('6505551212', False))
    """
    digits = _NOT_DIGITS.sub("", text)
    plus = text.lstrip("( ").startswith("+")  # "(+44) 7700 ..." too
    if plus or digits.startswith("00"):  # international
        if "(" in text:
            digits = _NOT_DIGITS.sub("", _TRUNK_IN_BRACKETS.sub("", text))
        return (digits if plus else digits[2:]), True
    if digits.startswith("0") or text.startswith("("):  # written nationally
        if default_country_code is None:
            return digits, False
        return default_country_code + digits.lstrip("0"), True
    if "(" in text:  # international without its + (44 (0)20 ...)
        digits = _NOT_DIGITS.sub("", _TRUNK_IN_BRACKETS.sub("", text))
    return digits, True


def ph(text: str, country_code: str | None) -> str:
    """Digits only, leading zeros removed (Meta), the country code as ``phone_digits`` says:
    a number written nationally gets ``country_code`` in place of its trunk ``0``."""
    digits = phone_digits(ascii_digits(js_trim(text)), country_code)[0].lstrip("0")
    if len(digits) < _MIN_PHONE_DIGITS:
        raise Invalid(
            "has fewer than 7 digits: a number with its country code has more "
            "(pass default_country_code for numbers written without one)"
        )
    return digits


def this_year() -> int:
    """The current year (of ``today``)."""
    now = time.monotonic()
    if _this_year[2] is not today or now >= _this_year[1]:
        _this_year[:] = [today().year, now + 60.0, today]
    return int(_this_year[0])


def _checked(year: int, month: int, day: int) -> str | None:
    """YYYYMMDD when the docs accept it: year 1900 to this year, month 1-12, day 1-31."""
    if _FIRST_YEAR <= year <= this_year() and 1 <= month <= 12 and 1 <= day <= 31:
        return f"{year:04d}{month:02d}{day:02d}"
    return None


def db(text: str) -> str:
    """``YYYYMMDD`` from the first three numbers of the text, read as Meta reads them: the
    number above 31 is the year; a number above 12 is the day; otherwise month before day
    (``2/16/1997``, ``16.2.1997``, ``1997-02-16``, ``12 31 1990``). Or 8 digits, YYYYMMDD."""
    if len(text) == 8 and text.isdigit() and text.isascii():  # the common case: YYYYMMDD
        mm, dd = text[4:6], text[6:]
        in_range = "01" <= mm <= "12" and "01" <= dd <= "31"
        if in_range and _FIRST_YEAR <= int(text[:4]) <= this_year():
            return text
    runs = _DIGIT_RUNS.findall(text)
    if len(runs) >= 3:
        n1, n2, n3 = int(runs[0]), int(runs[1]), int(runs[2])
        if n1 > 31:
            year, month, day = (n1, n3, n2) if n2 > 12 else (n1, n2, n3)
        elif n2 > 31:
            year, month, day = (n2, n1, n3) if n3 > 12 else (n2, n3, n1)
        else:
            year, month, day = (n3, n2, n1) if n1 > 12 else (n3, n1, n2)
        result = _checked(year, month, day)
        if result is not None:
            return result
    elif len(runs) == 1 and len(runs[0]) == 8:
        digits = runs[0]
        result = _checked(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        if result is not None:
            return result
    raise Invalid(
        "is not a date of birth (day, month and year from 1900 to this year; "
        "e.g. YYYY-MM-DD, MM/DD/YYYY, DD.MM.YYYY or YYYYMMDD)"
    )


def date_text(day: date) -> str:
    """``YYYYMMDD`` of a ``date``, checked as ``db`` checks text."""
    result = _checked(day.year, day.month, day.day)
    if result is None:
        raise Invalid("is not a date of birth (a year from 1900 to this year)")
    return result


def _part(text: str, low: int, high: int, what: str) -> str:
    text = js_trim(text)
    if _ONE_OR_TWO_DIGITS.fullmatch(text) is None or not low <= int(text) <= high:
        raise Invalid(f"must be the {what} as 1 or 2 digits ({low} to {high})")
    return f"{int(text):02d}"


def dobd(text: str) -> str:
    """Day of birth, ``01`` to ``31``."""
    return _part(text, 1, 31, "day")


def dobm(text: str) -> str:
    """Month of birth, ``01`` to ``12``."""
    return _part(text, 1, 12, "month")


def doby(text: str) -> str:
    """Year of birth, four digits."""
    text = js_trim(text)
    if _FOUR_DIGITS.fullmatch(text) is None:
        raise Invalid("must be the year as 4 digits")
    return text
