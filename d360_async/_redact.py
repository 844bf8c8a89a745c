"""Keeping secrets and personal data out of exceptions: what a request carried that must not
come back in an error built from the server's answer (a server may echo anything)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._recipients import recipient_key

__all__ = ["REDACTED", "scrub", "sensitive_strings"]

REDACTED: Final = "[redacted]"
#: Keys under which every string is personal data: template parameters, event user data.
_PERSONAL_SUBTREES: Final = frozenset({"parameters", "user_data"})
#: Keys inside those subtrees that only say what kind of thing a value is.
_STRUCTURAL: Final = frozenset({"type", "parameter_name", "sub_type", "index", "code"})
#: Shorter strings are left alone: replacing "a" everywhere would make any text unreadable.
_MIN_LENGTH: Final = 3
#: Deeper JSON is replaced whole (a response nested so deep is junk, and recursion is bounded).
_MAX_DEPTH: Final = 64


def sensitive_strings(body: Any) -> tuple[str, ...]:
    """The strings of a request body that are personal data: the recipient (``to``, also as
    bare digits and with a ``+``), template parameter values and event ``user_data``.

    Example:
        >>> sensitive_strings({"to": "+49 151 1234", "template": {"name": "promo"}})
        ('+49 151 1234', '491511234', '+491511234')
    """
    found: dict[str, None] = {}
    _walk(body, False, found)
    return tuple(found)


def _walk(value: Any, personal: bool, found: dict[str, None]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "to" and isinstance(item, str):
                digits = recipient_key(item)
                for form in (item, digits, "+" + digits):
                    _add(form, found)
            elif personal and key in _STRUCTURAL:
                continue
            else:
                _walk(item, personal or key in _PERSONAL_SUBTREES, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, personal, found)
    elif personal and isinstance(value, str):
        _add(value, found)


def _add(text: str, found: dict[str, None]) -> None:
    if len(text) >= _MIN_LENGTH:
        found[text] = None


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (text, or parsed JSON) with every secret replaced by ``[redacted]``.

    Longer secrets go first, so that a secret containing another is replaced whole. Parsed
    JSON nested deeper than 64 levels is replaced by ``[redacted]`` below that depth.

    Example:
        >>> scrub({"error": "no user 4915112345 (key k3y)"}, ["4915112345", "k3y"])
        {'error': 'no user [redacted] (key [redacted])'}
    """
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return value
    return _scrub(value, ordered)


def _scrub(value: Any, secrets: list[str], depth: int = 0) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, (Mapping, list)) and depth >= _MAX_DEPTH:
        return REDACTED  # no API answer nests this deep: not worth a recursion error
    if isinstance(value, Mapping):
        return {_scrub(k, secrets): _scrub(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets, depth + 1) for item in value]
    return value
