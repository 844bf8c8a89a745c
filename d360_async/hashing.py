"""Normalisation and SHA-256 hashing of Conversions API customer information, as Meta does it.

Meta matches an event to a person by comparing SHA-256 digests, so a value normalised
differently from Meta's rules (``John@Example.com `` instead of ``john@example.com``) hashes
to a digest that silently matches nobody. The rules are those of Meta's own normalisers
(``facebook/capi-param-builder``, which Meta's business SDKs call), checked against 2,868
vectors from Meta's tests (``tests/events/meta_vectors.json``); where Meta's documentation
says otherwise than its code, the documentation wins. ``docs/hashing.md`` has every rule and
every difference.

=============== ===================================================================================
key             normalised value
=============== ===================================================================================
``em``          trimmed, lowercase, shaped like an address
``ph``          digits only, leading zeros removed, with the country code
                (``default_country_code`` for numbers written without one)
``fn``, ``ln``  lowercase, no whitespace or punctuation, other letters kept (``valéry``)
``ge``          ``f`` or ``m`` (``Female``, ``Woman``, ``Mrs``, ``boy``, ``M``...)
``db``          ``YYYYMMDD`` from a ``date`` or text (``1997-02-16``, ``2/16/1997``,
                ``16.02.1997``, ``19970216``...), year 1900 to this year
``ct``          Latin letters and digits, lowercase (``Menlo Park`` → ``menlopark``)
``st``          U.S./Canadian state names → code (``California`` → ``ca``); others lowercase
``zp``          lowercase, the part before the first dash, no spaces
``country``     ISO 3166-1 alpha-2 from the code, the alpha-3 code or a name
``external_id`` lowercase, no whitespace (hashed unless ``hash_external_id=False``)
``f5first``...  ``f5first``/``f5last`` first 5 characters of the name, ``fi`` the initial,
                ``dobd``/``dobm`` day/month as 2 digits, ``doby`` year as 4 digits
=============== ===================================================================================

The ids (``ctwa_clid``, ``whatsapp_business_account_id``, ``client_ip_address``, ``fbc``...)
are never hashed. A value that already is a SHA-256 (or MD5) hex digest passes through.

A value that breaks its key's rule is left out, not sent: ``prepare_user_data`` names each
one (key, reason, position), ``hash_user_data`` leaves them out (``strict=True`` raises
instead). Reasons name the key, never the value, so that no raw PII ends up in a report,
an exception or a log. Nothing is remembered between calls.

Example:
    >>> hash_value("em", " John_Smith@gmail.com ")
    '62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f'
    >>> normalize("ph", "(650)555-1212", default_country_code="1")
    '16505551212'
    >>> hash_user_data({"ct": "Menlo Park", "ctwa_clid": "ARAkLkA8rmlF"})["ctwa_clid"]
    'ARAkLkA8rmlF'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from ._errors import ValidationError
from ._normalise_common import Invalid
from ._normalise_numbers import calling_code
from ._userdata import (
    HASHED_KEYS,
    UNHASHED_KEYS,
    InvalidValue,
    PreparedUserData,
    UserDataHasher,
    strict_error,
)

__all__ = [
    "HASHED_KEYS",
    "UNHASHED_KEYS",
    "InvalidValue",
    "PreparedUserData",
    "hash_user_data",
    "hash_value",
    "is_sha256",
    "normalize",
    "prepare_user_data",
]

Scalar = str | int | date

_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")
_NOT_A_KEY: Final = "is not a Conversions API user_data key"


def is_sha256(value: str) -> bool:
    """Whether ``value`` already is a SHA-256 hex digest (64 hex digits).

    Example:
        >>> is_sha256("a" * 64), is_sha256("john@example.com")
        (True, False)
    """
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _hasher(default_country_code: str | int | None, hash_external_id: bool) -> UserDataHasher:
    code = None if default_country_code is None else calling_code(default_country_code)
    return UserDataHasher(default_country_code=code, hash_external_id=hash_external_id)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or key not in HASHED_KEYS | UNHASHED_KEYS:
        raise ValidationError(key if isinstance(key, str) else "key", _NOT_A_KEY)
    return key


def normalize(key: str, value: Scalar, *, default_country_code: str | int | None = None) -> str:
    """The normalised (not hashed) form of one customer-information value.

    Args:
        key: The ``user_data`` key (``"em"``, ``"ph"``, ``"ct"``...).
        value: One value: a string; a ``date``/``datetime`` for ``db``; an int for ``ph``,
            ``zp``, ``external_id`` and the date keys.
        default_country_code: Calling code (``"1"``, ``"+49"``) for phone numbers written
            without one.

    Returns:
        The normalised text. An already-hashed value comes back as its (lowercase) digest;
        never-hashed keys come back unchanged.

    Raises:
        ValidationError: Unknown key, or a value that breaks the key's rule (the error names
            the key, never the value).

    Example:
        >>> normalize("st", "California"), normalize("country", "Russia")
        ('ca', 'ru')
        >>> normalize("db", "31.12.1990"), normalize("fn", "Mary Jane")
        ('19901231', 'maryjane')
    """
    key = _check_key(key)
    hasher = _hasher(default_country_code, True)
    if key in UNHASHED_KEYS:
        return _one(key, value, hasher)
    try:
        return hasher.normalized(key, value)
    except Invalid as exc:
        raise ValidationError(key, exc.reason) from None


def _one(key: str, value: object, hasher: UserDataHasher) -> str:
    """The digest (or, for ids, the value) of one value; raises ``ValidationError``."""
    key = _check_key(key)
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        raise ValidationError(key, "must be one value")
    prepared = hasher.prepare({key: value})
    if prepared.dropped:  # (from None: no exception chain that could hold the value)
        raise ValidationError(key, prepared.dropped[0].reason) from None
    if key not in prepared.user_data:
        raise ValidationError(key, "is blank") from None
    found = prepared.user_data[key]
    return str(found[0] if isinstance(found, list) else found)


def hash_value(
    key: str,
    value: Scalar,
    *,
    default_country_code: str | int | None = None,
    hash_external_id: bool = True,
) -> str:
    """Normalise one value and return its SHA-256 hex digest (or the value, for unhashed keys).

    Args:
        key: The ``user_data`` key.
        value: One value (see ``normalize``).
        default_country_code: Calling code for phone numbers written without one.
        hash_external_id: False sends ``external_id`` trimmed but unhashed.

    Returns:
        64 lowercase hex digits; an already-hashed value unchanged; for never-hashed keys
        (``ctwa_clid``, ``fbc``...) the value itself.

    Raises:
        ValidationError: As ``normalize``.

    Example:
        >>> hash_value("ph", "(650)555-1212", default_country_code=1)
        'e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176'
        >>> hash_value("ctwa_clid", "ARAkLkA8rmlF")
        'ARAkLkA8rmlF'
    """
    return _one(key, value, _hasher(default_country_code, hash_external_id))


def _as_mapping(user_data: Any) -> Mapping[Any, Any]:
    if type(user_data) is dict or isinstance(user_data, Mapping):
        return user_data
    from ._converter import unstructure
    from ._models_events import UserData

    if not isinstance(user_data, UserData):
        raise ValidationError("user_data", "must be a mapping or a UserData")
    converted: Mapping[Any, Any] = unstructure(user_data)
    return converted


def prepare_user_data(
    user_data: Mapping[str, Any] | Any,
    *,
    default_country_code: str | int | None = None,
    hash_external_id: bool = True,
) -> PreparedUserData:
    """A whole ``user_data`` object ready to send, and the values that had to be left out.

    Args:
        user_data: A mapping (or a ``UserData``) of ``user_data`` keys to values: one value
            or a list of values per key.
        default_country_code: Calling code for phone numbers written without one.
        hash_external_id: False sends ``external_id`` values trimmed but unhashed.

    Returns:
        ``user_data``: hashed keys as lists of distinct digests (blank and ``None`` values
        left out), ids as given; ``dropped``: an ``InvalidValue`` (key, reason, position)
        per value left out because it breaks its key's rule, or because the key is unknown.

    Raises:
        ValidationError: ``user_data`` is not a mapping, or a bad ``default_country_code``.

    Example:
        >>> prepared = prepare_user_data({"em": ["mary@example.com", "mary at home"]})
        >>> len(prepared.user_data["em"]), prepared.dropped[0].position
        (1, 1)
        >>> prepared.dropped[0].reason
        'is not an e-mail address'
    """
    mapping = _as_mapping(user_data)
    return _hasher(default_country_code, hash_external_id).prepare(mapping)


def hash_user_data(
    user_data: Mapping[str, Any] | Any,
    *,
    default_country_code: str | int | None = None,
    hash_external_id: bool = True,
    strict: bool = False,
) -> dict[str, Any]:
    """A whole ``user_data`` object, normalised and hashed, ready to send.

    Hashed keys become lists of distinct digests (a single value is accepted too); ``None``
    and blank values are left out; never-hashed ids are kept as they are. A value that breaks
    its key's rule is left out too: ``prepare_user_data`` says which and why.

    Args:
        user_data: A mapping (or a ``UserData``) of ``user_data`` keys to values.
        default_country_code: Calling code for phone numbers written without one.
        hash_external_id: False sends ``external_id`` values trimmed but unhashed.
        strict: Raise on the first value that breaks its rule instead of leaving it out.

    Returns:
        A new dict; the input is not modified.

    Raises:
        ValidationError: ``user_data`` is not a mapping; with ``strict``, an unknown key or a
            bad value (``field`` is ``user_data.<key>``; the message never quotes the value).

    Example:
        >>> data = hash_user_data(
        ...     {"em": ["Mary@example.com", "mary@example.com "], "ge": "Woman",
        ...      "db": "not a date", "whatsapp_business_account_id": "1029384756"}
        ... )
        >>> sorted(data), len(data["em"])
        (['em', 'ge', 'whatsapp_business_account_id'], 1)
        >>> data["ge"]
        ['252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111']
    """
    prepared = prepare_user_data(
        user_data, default_country_code=default_country_code, hash_external_id=hash_external_id
    )
    if strict and prepared.dropped:
        raise strict_error(prepared.dropped[0]) from None
    return prepared.user_data
