"""Normalisation of the text keys: e-mail, names and initials, gender, external ids.

Each rule takes the value as given (a ``str``) and returns the normalised text, or raises
``Invalid`` with a reason that never quotes the value. The rules are Meta's (its
``capi-param-builder`` normalisers, which its business SDKs call), except where Meta's
documentation says otherwise: ``docs/hashing.md`` lists each difference and why.

Example:
    >>> em(" John_Smith@Gmail.com "), name("Mary-Jane O'Neil"), ge(" Woman ")
    ('john_smith@gmail.com', 'maryjaneoneil', 'f')
    >>> external_id(" User 123 ABC "), f5("George"), fi("George")
    ('user123abc', 'georg', 'g')
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final

from ._normalise_common import JS_SPACE, Invalid, js_trim, without_js_space

__all__ = ["app_user_id", "em", "external_id", "f5", "fi", "ge", "name"]

# Meta's e-mail pattern ("a good approximation of RFC 2822"), ASCII-only as in JavaScript; the
# ``:?`` before each dot of the local part is Meta's too. Meta matches it case-insensitively
# after lowercasing: matching the lowercased text is the same, and faster.
_EMAIL: Final = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?::?\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
    re.ASCII,
)
#: Deleted from names: whitespace and ASCII punctuation (Meta), and, for the docs' "no
#: punctuation", every other punctuation character (below, by Unicode category).
_NAME_DROP: Final = dict.fromkeys(map(ord, JS_SPACE + string.punctuation))

# The words Meta's gender normaliser maps (after trimming and lowercasing).
_MALE: Final = frozenset(
    {
        "bloke",
        "boy",
        "boyfriend",
        "brother",
        "chap",
        "count",
        "dad",
        "daddy",
        "dude",
        "duke",
        "emperor",
        "father",
        "fellow",
        "gentleman",
        "god",
        "groom",
        "guy",
        "he",
        "him",
        "himself",
        "his",
        "husband",
        "king",
        "lad",
        "lord",
        "m",
        "male",
        "man",
        "mister",
        "mr",
        "nephew",
        "papa",
        "prince",
        "sir",
        "son",
        "uncle",
        "widower",
    }
)
_FEMALE: Final = frozenset(
    {
        "aunt",
        "belle",
        "bride",
        "chick",
        "countess",
        "dame",
        "daughter",
        "duchess",
        "empress",
        "f",
        "female",
        "gal",
        "girl",
        "girlfriend",
        "goddess",
        "her",
        "hers",
        "herself",
        "lady",
        "lass",
        "ma'am",
        "madam",
        "maiden",
        "mama",
        "miss",
        "mom",
        "mommy",
        "mother",
        "mrs",
        "ms",
        "niece",
        "princess",
        "queen",
        "she",
        "sister",
        "widow",
        "wife",
        "woman",
    }
)


def em(text: str) -> str:
    """Trimmed, lowercase, and shaped like an address (Meta's pattern)."""
    text = js_trim(text.lower())
    if _EMAIL.fullmatch(text) is None:
        raise Invalid("is not an e-mail address")
    return text


def name(text: str) -> str:
    """Lowercase (NFC), without whitespace or punctuation; other characters are kept."""
    text = text.lower()
    if text.isascii():
        out = text.translate(_NAME_DROP)
    else:
        text = unicodedata.normalize("NFC", text).translate(_NAME_DROP)
        out = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    if not out:
        raise Invalid("has no letters once normalised")
    return out


def f5(text: str) -> str:
    """``f5first``/``f5last``: the first five characters of the normalised name."""
    return name(text)[:5]


def fi(text: str) -> str:
    """``fi``: the first character of the normalised first name."""
    return name(text)[:1]


def ge(text: str) -> str:
    """``f`` or ``m`` from the words Meta maps (``female``, ``woman``, ``Mrs``, ``boy``...)."""
    word = js_trim(text.lower())
    if word in _FEMALE:
        return "f"
    if word in _MALE:
        return "m"
    raise Invalid("is not a gender Meta recognises (f, m, female, male, woman, man...)")


def external_id(text: str) -> str:
    """Lowercase, every whitespace character removed."""
    return without_js_space(text.lower())


def app_user_id(text: str) -> str:
    """Trimmed and lowercase (Meta's Node SDK)."""
    return js_trim(text).lower()
