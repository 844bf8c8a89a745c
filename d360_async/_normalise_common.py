"""What every normalisation rule shares: the error a rule raises (a reason, never the value),
whitespace as Meta's normalisers see it, and digest detection.

Meta's normalisers (``facebook/capi-param-builder``, which its business SDKs call) are written
in JavaScript and PHP; "whitespace" below is JavaScript's ``\\s``, so that a value trimmed here
is trimmed exactly as Meta trims it.

Example:
    >>> js_trim("\\u00a0 Mary \\t"), looks_hashed("A" * 64), looks_hashed("mary")
    ('Mary', True, False)
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = [
    "JS_SPACE",
    "Invalid",
    "ascii_digits",
    "fold",
    "js_trim",
    "looks_hashed",
    "without_js_space",
]

#: JavaScript's ``\s``: what Meta's code trims and, in names and ids, deletes.
JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
_SPACES: Final = re.compile(f"[{re.escape(JS_SPACE)}]+")
_HASHED: Final = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")


class Invalid(Exception):
    """A value broke its key's rule. Carries the reason only: never the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def js_trim(text: str) -> str:
    """``text`` without leading and trailing whitespace (JavaScript's ``trim``)."""
    return text.strip(JS_SPACE)


def without_js_space(text: str) -> str:
    """``text`` with every whitespace character deleted."""
    if text.isascii() and text.isprintable() and " " not in text:
        return text  # the common case, checked in C
    return _SPACES.sub("", text)


def looks_hashed(text: str) -> bool:
    """Whether ``text`` (already trimmed) is a SHA-256 or MD5 hex digest: Meta passes such a
    value through instead of hashing it again."""
    return len(text) in (32, 64) and _HASHED.fullmatch(text) is not None


def fold(text: str) -> str:
    """Lowercase ASCII letters only, accents taken off (``Québec`` → ``quebec``): the look-up
    key of place names."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if "a" <= c <= "z")


def ascii_digits(text: str) -> str:
    """``text`` with decimal digits of any script written as ASCII digits (``٤٩`` → ``49``)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
