"""Preparing a whole ``user_data`` object: every value normalised and hashed by its key's rule,
invalid values left out and named (key, reason, position; never the value).

``UserDataHasher`` is what both ``d360_async.hashing`` and the events pipeline use. It may
remember the digests of values that repeat across customers (names, places, birth dates)
for its own lifetime: an events run makes one and clears it when the run ends. Nothing is
remembered process-wide, so no plaintext outlives the call (or the run) that hashed it.

Example:
    >>> prepared = UserDataHasher().prepare({"ge": "Woman", "ct": "Menlo Park", "em": "oops"})
    >>> sorted(prepared.user_data), [(d.key, d.reason) for d in prepared.dropped]
    (['ct', 'ge'], [('em', 'is not an e-mail address')])
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import partial
from typing import Any, Final

import attrs

from ._errors import ValidationError
from ._normalise_common import JS_SPACE, Invalid, js_trim, looks_hashed
from ._normalise_numbers import date_text, db, dobd, dobm, doby, ph
from ._normalise_places import country, ct, st, zp
from ._normalise_text import app_user_id, em, external_id, f5, fi, ge, name

__all__ = [
    "HASHED_KEYS",
    "SINGLE_VALUED_KEYS",
    "UNHASHED_KEYS",
    "InvalidValue",
    "PreparedUserData",
    "UserDataHasher",
    "strict_error",
]

Rule = Callable[[str], str]

_RULES: Final[dict[str, Rule]] = {
    "em": em,
    "fn": name,
    "ln": name,
    "ge": ge,
    "db": db,
    "ct": ct,
    "st": st,
    "zp": zp,
    "country": country,
    "external_id": external_id,
    "f5first": f5,
    "f5last": f5,
    "fi": fi,
    "dobd": dobd,
    "dobm": dobm,
    "doby": doby,
    "app_user_id": app_user_id,
}
#: ``user_data`` keys whose values are normalised and hashed.
HASHED_KEYS: Final = frozenset({*_RULES, "ph"})
#: Hashed keys Meta's SDKs send as one string (the others are lists of strings).
SINGLE_VALUED_KEYS: Final = frozenset({"f5first", "f5last", "fi", "dobd", "dobm", "doby"})
#: ``user_data`` keys sent as they are (single strings on the wire).
UNHASHED_KEYS: Final = frozenset(
    {
        "ctwa_clid",
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbp",
        "page_id",
        "page_scoped_user_id",
        "whatsapp_business_account_id",
        "lead_id",
        "subscription_id",
        "fb_login_id",
        "ig_account_id",
        "ig_sid",
        "madid",
        "anon_id",
    }
)
#: Keys whose values repeat across customers: their digests are worth remembering in a run.
_REPEATING: Final = frozenset(
    {"fn", "ln", "ge", "db", "ct", "st", "zp", "country", "f5first", "f5last", "fi"}
    | {"dobd", "dobm", "doby"}
)
#: Keys that also take an int (``ph=4915112345678``).
_INT_KEYS: Final = frozenset({"ph", "zp", "external_id", "db", "dobd", "dobm", "doby"})
#: Distinct values remembered per key before that key's memory starts over.
MEMO_SIZE: Final = 4096
_KEY_SHAPE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,40}")
_NOT_A_KEY: Final = "is not a Conversions API user_data key"


@attrs.frozen(kw_only=True)
class InvalidValue:
    """A ``user_data`` value that was left out, and why (never the value itself).

    Attributes:
        key: The ``user_data`` key (``ph``, ``db``...).
        reason: Why the value cannot be sent.
        position: Its index when the key was given a list, else None.

    Example:
        >>> InvalidValue(key="ge", reason="is not a gender Meta recognises").key
        'ge'
    """

    key: str
    reason: str
    position: int | None = None


@attrs.frozen(kw_only=True)
class PreparedUserData:
    """A ``user_data`` object ready to send, and the values left out of it.

    Attributes:
        user_data: Hashed keys as lists of distinct digests (one string for ``f5first``,
            ``f5last``, ``fi``, ``dobd``, ``dobm``, ``doby``); ids as given.
        dropped: The values left out, in the order they were met.

    Example:
        >>> PreparedUserData(user_data={}, dropped=()).dropped
        ()
    """

    user_data: dict[str, Any] = attrs.field(hash=False, repr=False)
    dropped: tuple[InvalidValue, ...]


def _key_name(key: object) -> str:
    """An unknown key as it may be reported: only when it looks like a field name."""
    return key if isinstance(key, str) and _KEY_SHAPE.fullmatch(key) else "<unrecognised key>"


def _as_text(key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, date) and key == "db":
        return date_text(value.date() if isinstance(value, datetime) else value)
    if isinstance(value, int) and not isinstance(value, bool) and key in _INT_KEYS:
        return str(value)
    raise Invalid("must be a string")


def _utf8(text: str) -> bytes:
    """A normalised value as the bytes that are hashed.

    Raises:
        Invalid: It is not valid Unicode text (a lone surrogate, as a broken decoder leaves).
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise Invalid("is not valid Unicode text") from None


Digester = Callable[[str], "str | None"]
_MISS: Final = object()


def _digester(rule: Rule) -> Digester:
    """Text in, digest out (None for a blank value; a digest passes through lowercased)."""
    sha256 = hashlib.sha256

    def digest(text: str) -> str | None:
        text = text.strip(JS_SPACE)
        if not text:
            return None
        if looks_hashed(text):
            return text.lower()
        return sha256(_utf8(rule(text))).hexdigest()

    return digest


def _plain(text: str) -> str | None:
    """``external_id`` sent unhashed: trimmed only."""
    return text.strip(JS_SPACE) or None


def _remembering(digest: Digester, memo: dict[str, Any]) -> Digester:
    """``digest`` with the results (errors too) of up to ``MEMO_SIZE`` values kept in ``memo``."""

    def remembered(text: str) -> str | None:
        found = memo.get(text, _MISS)
        if found is _MISS:
            try:
                found = digest(text)
            except Invalid as exc:
                found = Invalid(exc.reason)  # without the traceback (and its frames' text)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[text] = found
        if found is None or type(found) is str:
            return found
        raise Invalid(found.reason)

    return remembered


class UserDataHasher:
    """Normalises and hashes ``user_data`` values with one set of options.

    Args:
        default_country_code: Calling code (digits) for phone numbers written without one.
        hash_external_id: False sends ``external_id`` trimmed but unhashed.
        remember: Remember the digests of repeating values (names, places, dates) until
            ``clear()``: for a run over many events, never process-wide.
    """

    __slots__ = ("_digesters", "_memos", "_rules")

    def __init__(
        self,
        *,
        default_country_code: str | None = None,
        hash_external_id: bool = True,
        remember: bool = False,
    ) -> None:
        rules: dict[str, Rule] = {**_RULES, "ph": partial(ph, country_code=default_country_code)}
        self._rules = rules
        self._memos: dict[str, dict[str, Any]] = {}
        digesters: dict[str, Digester] = {}
        for key, rule in rules.items():
            digest = _digester(rule)
            if remember and key in _REPEATING:
                digest = _remembering(digest, self._memos.setdefault(key, {}))
            digesters[key] = digest
        if not hash_external_id:
            digesters["external_id"] = _plain
        self._digesters = digesters

    def clear(self) -> None:
        """Forget every remembered digest."""
        for memo in self._memos.values():
            memo.clear()

    def normalized(self, key: str, value: object) -> str:
        """The normalised text of one value of a hashed key (a digest passes through).

        Raises:
            Invalid: The value is blank or breaks the key's rule.
        """
        text = js_trim(value if type(value) is str else _as_text(key, value))
        if not text:
            raise Invalid("is blank")
        if looks_hashed(text):
            return text.lower()
        normal = self._rules[key](text)
        _utf8(normal)
        return normal

    def prepare(self, user_data: Mapping[Any, Any]) -> PreparedUserData:
        """Every value of ``user_data`` prepared; invalid ones left out and named."""
        out, dropped = self.prepare_fast(user_data)
        return PreparedUserData(user_data=out, dropped=tuple(dropped or ()))

    def prepare_fast(
        self, user_data: Mapping[Any, Any]
    ) -> tuple[dict[str, Any], list[InvalidValue] | None]:
        """``prepare`` as (user_data, the values left out or None): the events hot path."""
        out: dict[str, Any] = {}
        dropped: list[InvalidValue] | None = None
        digesters = self._digesters
        for key, value in user_data.items():
            digest = digesters.get(key)
            if digest is not None and type(value) is str:  # the common case: one string
                try:
                    found = digest(value)
                except Invalid as exc:
                    dropped = dropped or []
                    dropped.append(InvalidValue(key=key, reason=exc.reason))
                    continue
                if found is not None:
                    out[key] = found if key in SINGLE_VALUED_KEYS else [found]
            elif digest is None and type(value) is str and key in UNHASHED_KEYS:
                if value.strip(JS_SPACE):
                    out[key] = value
            elif value is not None:
                dropped = self._other(key, value, digest, out, dropped or [])
        return out, dropped or None

    def _other(
        self,
        key: Any,
        value: Any,
        digest: Digester | None,
        out: dict[str, Any],
        dropped: list[InvalidValue],
    ) -> list[InvalidValue]:
        """A value that is not one string of a hashed key: ids, lists, ints, dates, junk."""
        if digest is None:
            if key not in UNHASHED_KEYS:
                dropped.append(InvalidValue(key=_key_name(key), reason=_NOT_A_KEY))
            elif type(value) is str or (isinstance(value, int) and type(value) is not bool):
                if text := js_trim(str(value)):
                    out[key] = value if type(value) is str else text
            else:
                dropped.append(InvalidValue(key=key, reason="must be a string"))
            return dropped
        values = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        single = not isinstance(value, (list, tuple, set, frozenset))
        digests: list[str] = []
        for position, item in enumerate(values):
            if item is None:
                continue
            where = None if single else position
            try:
                found = digest(_as_text(key, item))
            except Invalid as exc:
                dropped.append(InvalidValue(key=key, reason=exc.reason, position=where))
                continue
            if found is None or found in digests:
                continue
            if digests and key in SINGLE_VALUED_KEYS:
                reason = "takes a single value"
                dropped.append(InvalidValue(key=key, reason=reason, position=where))
                continue
            digests.append(found)
        if digests:
            out[key] = digests[0] if key in SINGLE_VALUED_KEYS else digests
        return dropped


def strict_error(dropped: InvalidValue) -> ValidationError:
    """The ``ValidationError`` of a value left out, for callers that want errors."""
    return ValidationError(f"user_data.{dropped.key}", dropped.reason)
