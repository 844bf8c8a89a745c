"""Meta-exact normalisation and SHA-256 hashing of Conversions API customer information.

Meta matches an event to a person by comparing SHA-256 digests, so a value normalised
differently from Meta's rules (``John@Example.com `` instead of ``john@example.com``) hashes
to a digest that silently matches nobody. The rules here follow Meta's customer-information
parameters:

=============== ===================================================================================
key             normalised value
=============== ===================================================================================
``em``          trimmed, lowercase; must look like an e-mail address
``ph``          digits only, with the country code (``+``/``00`` prefix dropped); a number
                written nationally (trunk ``0``, or ``(650)...`` without ``+``) needs
                ``default_country_code``
``fn``, ``ln``  lowercase, punctuation and symbols removed, other letters kept (``valéry``)
``ge``          ``f`` or ``m`` (from ``f``/``m``/``female``/``male``, any case)
``db``          ``YYYYMMDD`` from a ``date``, ``YYYY-MM-DD``, ``MM/DD/YYYY`` or ``YYYYMMDD``
``ct``          lowercase letters only (``Menlo Park`` → ``menlopark``)
``st``          US state / Canadian province names → their code (``California`` → ``ca``);
                otherwise lowercase without punctuation or spaces
``zp``          lowercase without spaces or dashes; a US ZIP+4 keeps its first five digits
``country``     ISO 3166-1 alpha-2, lowercase, from alpha-2, alpha-3 or the English name
``external_id`` trimmed (hashed unless ``hash_external_id=False``)
=============== ===================================================================================

The ids (``ctwa_clid``, ``whatsapp_business_account_id``, ``client_ip_address``, ``fbc``, ...)
are never hashed. A value that already is a SHA-256 hex digest passes through (never hashed
twice). Country and state tables come from ``pycountry``.

Errors are ``ValidationError(field, reason)``: they name the key, never the value, so that no
raw PII ends up in an exception message or a log.

Example:
    >>> hash_value("em", " John_Smith@gmail.com ")
    '62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f'
    >>> normalize("ph", "(650)555-1212", default_country_code="1")
    '16505551212'
    >>> hash_user_data({"ct": "Menlo Park", "ctwa_clid": "ARAkLkA8rmlF"})["ctwa_clid"]
    'ARAkLkA8rmlF'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, Final

from ._errors import ValidationError

__all__ = [
    "HASHED_KEYS",
    "UNHASHED_KEYS",
    "clear_cache",
    "hash_user_data",
    "hash_value",
    "is_sha256",
    "normalize",
]

#: ``user_data`` keys whose values are normalised and hashed (lists of strings on the wire).
HASHED_KEYS: Final = frozenset(
    {"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"}
)
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
    }
)

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_NON_DIGITS = re.compile(r"[^0-9]+")
_TRUNK_IN_BRACKETS = re.compile(r"\(\s*0\s*\)")
_ASCII_NAME_DROP = re.compile(r"[^a-z0-9 ]+")
_ASCII_LETTERS_ONLY = re.compile(r"[^a-z]+")
_ASCII_STATE_DROP = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_ZIP_DROP = re.compile(r"[\s\-]+")
_ZIP_PLUS_4 = re.compile(r"[0-9]{9}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_US_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_GENDERS: Final = {"f": "f", "female": "f", "m": "m", "male": "m"}
_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 15  # E.164
#: Not ISO 3166-1, but what many shops store for the United Kingdom.
_COUNTRY_ALIASES: Final = {"uk": "gb"}

Scalar = str | int | date


class _Invalid(Exception):
    """A value broke a rule; carries the reason only (never the value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_sha256(value: str) -> bool:
    """Whether ``value`` already is a SHA-256 hex digest (64 hex digits).

    Example:
        >>> is_sha256("a" * 64), is_sha256("john@example.com")
        (True, False)
    """
    return len(value) == 64 and _SHA256.fullmatch(value) is not None


def _fold(text: str) -> str:
    """Lowercase letters only, accents removed: the look-up key of country and state names."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isalpha() and c.isascii())


def _strip_categories(text: str, drop: tuple[str, ...]) -> str:
    """``text`` (NFC) without the characters whose Unicode category starts with ``drop``."""
    text = unicodedata.normalize("NFC", text)
    return "".join(c for c in text if not unicodedata.category(c).startswith(drop))


# --- the rules, one per key (a str in, the normalised str out) --------------------------------


def _em(text: str) -> str:
    text = text.strip().lower()
    if _EMAIL.fullmatch(text) is None:
        raise _Invalid("is not an e-mail address")
    return text


@lru_cache(maxsize=64)
def _calling_code(value: str | int) -> str:
    text = str(value).strip()
    text = text[1:] if text.startswith("+") else text[2:] if text.startswith("00") else text
    if not (text.isascii() and text.isdigit()) or not 1 <= len(text) <= 3 or text[0] == "0":
        raise ValidationError(
            "default_country_code", "must be a calling code of 1 to 3 digits, e.g. '1' or '+49'"
        )
    return text


def _digits(text: str) -> str:
    if not text.isascii():  # other scripts' digits (e.g. Arabic-Indic) count as digits too
        text = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text)
    return _NON_DIGITS.sub("", text)


def _ph(text: str, country_code: str | None) -> str:
    text = text.strip()
    international = text.startswith("+")
    if "(" in text and (international or text.startswith("00")):
        text = _TRUNK_IN_BRACKETS.sub("", text)  # "+49 (0)151 ..." written with its trunk 0
    digits = _digits(text)
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if international:
        if digits.startswith("0"):
            raise _Invalid("country codes never start with 0")
    elif country_code is None:
        # A trunk 0, or an area code in brackets without + or 00: written nationally.
        if digits.startswith("0") or "(" in text:
            raise _Invalid(
                "looks like a national number and has no country code: "
                "write it with + and its country code, or pass default_country_code"
            )
    elif digits.startswith("0"):  # a national number with its trunk prefix
        digits = country_code + digits.lstrip("0")
    elif not digits.startswith(country_code):
        digits = country_code + digits
    if len(digits) < _MIN_PHONE_DIGITS:
        raise _Invalid("has too few digits for a phone number with its country code")
    if len(digits) > _MAX_PHONE_DIGITS:
        raise _Invalid("has more than 15 digits, the most an international number has")
    return digits


def _name(text: str) -> str:
    text = text.strip().lower()
    if text.isascii():
        text = _ASCII_NAME_DROP.sub("", text)
    else:
        text = _strip_categories(text, ("P", "S", "C"))
    return _SPACES.sub(" ", text).strip()


def _ge(text: str) -> str:
    gender = _GENDERS.get(text.strip().lower())
    if gender is None:
        raise _Invalid("must be 'f', 'm', 'female' or 'male'")
    return gender


_today = [date.min]  # a past "today"; refreshed when a date looks to be in the future


def _check_birth_date(day: date) -> None:
    if day > _today[0]:
        _today[0] = date.today()
        if day > _today[0]:
            raise _Invalid("is a date of birth in the future")
    if day.year < 1900:
        raise _Invalid("is a date of birth before 1900")


def _date_text(day: date) -> str:
    _check_birth_date(day)
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _db(text: str) -> str:
    text = text.strip()
    compact = len(text) == 8 and text.isascii() and text.isdigit()
    if compact:
        year, month, day = text[:4], text[4:6], text[6:]
    elif match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
    elif match := _US_DATE.fullmatch(text):
        month, day, year = match.groups()
    else:
        raise _Invalid("must be a date: YYYY-MM-DD, MM/DD/YYYY, YYYYMMDD or a date object")
    try:
        parsed = date(int(year), int(month), int(day))
    except ValueError:
        raise _Invalid("is not a real calendar date") from None
    if compact:
        _check_birth_date(parsed)
        return text
    return _date_text(parsed)


def _letters(text: str) -> str:
    text = text.strip().lower()
    if text.isascii():
        return _ASCII_LETTERS_ONLY.sub("", text)
    text = unicodedata.normalize("NFC", text)
    return "".join(c for c in text if unicodedata.category(c)[0] in "LM")


def _ct(text: str) -> str:
    return _letters(text)


@cache
def _state_codes() -> dict[str, str]:
    """Folded US state and Canadian province/territory names and codes → lowercase code."""
    import pycountry

    table: dict[str, str] = {}
    for sub in pycountry.subdivisions:
        if sub.country_code in ("US", "CA"):
            code = sub.code.split("-", 1)[1].lower()
            table[_fold(sub.name)] = code
            table[code] = code
    return table


def _st(text: str) -> str:
    code = _state_codes().get(_fold(text))
    if code is not None:
        return code
    text = text.strip().lower()
    if text.isascii():
        return _ASCII_STATE_DROP.sub("", text)
    return _strip_categories(text, ("P", "S", "C", "Z"))


def _zp(text: str) -> str:
    text = text.strip()
    if len(text) == 5 and text.isascii() and text.isdigit():  # a plain US ZIP code
        return text
    text = _ZIP_DROP.sub("", text.lower())
    if _ZIP_PLUS_4.fullmatch(text):  # US ZIP+4 (94035-1234): Meta matches on the first five
        return text[:5]
    return text


@cache
def _country_codes() -> dict[str, str]:
    """Alpha-2, alpha-3 and English names (folded) of every ISO 3166-1 country → alpha-2."""
    import pycountry

    table: dict[str, str] = dict(_COUNTRY_ALIASES)
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        for name in ("name", "common_name", "official_name"):
            text = getattr(country, name, None)
            if text:
                table.setdefault(_fold(text), code)
        table[country.alpha_3.lower()] = code
    for country in pycountry.countries:  # two-letter codes win over any folded name
        table[country.alpha_2.lower()] = country.alpha_2.lower()
    return table


def _country(text: str) -> str:
    code = _country_codes().get(_fold(text))
    if code is None:
        raise _Invalid("is not an ISO 3166-1 country code or English country name")
    return code


def _external_id(text: str) -> str:
    return text.strip()


_RULES: Final[dict[str, Callable[[str], str]]] = {
    "em": _em,
    "fn": _name,
    "ln": _name,
    "ge": _ge,
    "db": _db,
    "ct": _ct,
    "st": _st,
    "zp": _zp,
    "country": _country,
    "external_id": _external_id,
}


def _as_text(key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _Invalid("must be a string")
    if isinstance(value, date):
        if key != "db":
            raise _Invalid("must be a string")
        return _date_text(value.date() if isinstance(value, datetime) else value)
    if isinstance(value, int) and key in ("ph", "zp", "external_id", "db"):
        return str(value)
    raise _Invalid("must be a string")


def _normalized(key: str, text: str, country_code: str | None) -> str:
    result = _ph(text, country_code) if key == "ph" else _RULES[key](text)
    if not result:
        raise _Invalid("is empty once normalised")
    return result


# --- digesters: text in, digest out (None for a blank value); the hot path of the pipeline ----

Digester = Callable[[str, "str | None"], "str | None"]
#: Distinct values remembered per key before its cache starts over.
_CACHE_SIZE = 4096
#: Keys whose values repeat across customers (names, places, birth dates): digests are cached.
_CACHED_KEYS: Final = frozenset({"fn", "ln", "ge", "db", "ct", "st", "zp", "country"})
_caches: list[dict[str, Any]] = []
_MISS: Final = object()


def _make_digester(key: str) -> Digester:
    sha256 = hashlib.sha256
    is_hex = _SHA256.fullmatch
    if key == "ph":

        def phone_digest(text: str, country_code: str | None) -> str | None:
            text = text.strip()
            if len(text) == 64 and is_hex(text):
                return text.lower()
            return sha256(_ph(text, country_code).encode()).hexdigest() if text else None

        return phone_digest
    rule = _RULES[key]

    def digest(text: str, country_code: str | None) -> str | None:
        text = text.strip()
        if len(text) == 64 and is_hex(text):
            return text.lower()
        if not text:
            return None
        normalized = rule(text)
        if not normalized:
            raise _Invalid("is empty once normalised")
        return sha256(normalized.encode()).hexdigest()

    if key not in _CACHED_KEYS:
        return digest
    memo: dict[str, Any] = {}
    _caches.append(memo)

    def cached(text: str, country_code: str | None) -> Any:
        result = memo.get(text, _MISS)
        if result is not _MISS:
            return result
        result = digest(text, country_code)
        if len(memo) >= _CACHE_SIZE:
            memo.clear()
        memo[text] = result
        return result

    return cached


def _plain_external_id(text: str, country_code: str | None) -> str | None:
    return text.strip() or None


_DIGESTERS: Final[dict[str, Digester]] = {key: _make_digester(key) for key in HASHED_KEYS}
_DIGESTERS_EXTERNAL_ID_PLAIN: Final = {**_DIGESTERS, "external_id": _plain_external_id}


def clear_cache() -> None:
    """Forget the cached digests of repeating values (names, places, birth dates).

    ``hash_user_data`` remembers up to 4,096 values per key in memory; call this to drop them,
    e.g. after a large run.

    Example:
        >>> clear_cache()
    """
    for remembered in _caches:
        remembered.clear()


def _check_key(key: str) -> None:
    if key not in HASHED_KEYS and key not in UNHASHED_KEYS:
        raise ValidationError(key, "is not a Conversions API user_data key")


def normalize(key: str, value: Scalar, *, default_country_code: str | int | None = None) -> str:
    """The normalised (not hashed) form of one customer-information value.

    Args:
        key: The ``user_data`` key (``"em"``, ``"ph"``, ``"ct"``, ...).
        value: One value: a string; a ``date``/``datetime`` for ``db``; an int for ``ph``,
            ``zp``, ``external_id``.
        default_country_code: Calling code (``"1"``, ``"+49"``) for phone numbers written
            without one.

    Returns:
        The normalised text. An already-hashed value comes back as its (lowercase) digest;
        never-hashed keys come back unchanged.

    Raises:
        ValidationError: Unknown key, or a value that breaks the key's rule (the error names the
            key, never the value).

    Example:
        >>> normalize("st", "California"), normalize("country", "United States")
        ('ca', 'us')
        >>> normalize("db", "2/16/1997"), normalize("fn", "Valéry")
        ('19970216', 'valéry')
    """
    _check_key(key)
    country_code = None if default_country_code is None else _calling_code(default_country_code)
    try:
        if key in UNHASHED_KEYS:
            return _unhashed(value)
        stripped = _as_text(key, value).strip()
        if is_sha256(stripped):
            return stripped.lower()
        return _normalized(key, stripped, country_code)
    except _Invalid as exc:
        raise ValidationError(key, exc.reason) from None


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
        (``ctwa_clid``, ``fbc``, ...) the value itself.

    Raises:
        ValidationError: As ``normalize``.

    Example:
        >>> hash_value("ph", "(650)555-1212", default_country_code=1)
        'e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176'
        >>> hash_value("ctwa_clid", "ARAkLkA8rmlF")
        'ARAkLkA8rmlF'
    """
    _check_key(key)
    country_code = None if default_country_code is None else _calling_code(default_country_code)
    try:
        if key in UNHASHED_KEYS:
            return _unhashed(value)
        table = _DIGESTERS if hash_external_id else _DIGESTERS_EXTERNAL_ID_PLAIN
        digest = table[key](_as_text(key, value), country_code)
        if digest is None:
            raise _Invalid("is blank")
        return digest
    except _Invalid as exc:
        raise ValidationError(key, exc.reason) from None


def _unhashed(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Invalid("must be a string")


def _values(value: object) -> Iterable[object]:
    if isinstance(value, (str, int, date)):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    raise _Invalid("must be a string or a list of strings")


def hash_user_data(
    user_data: Mapping[str, Any] | Any,
    *,
    default_country_code: str | int | None = None,
    hash_external_id: bool = True,
) -> dict[str, Any]:
    """A whole ``user_data`` object, normalised and hashed, ready to send.

    Hashed keys become lists of distinct digests (a single value is accepted too); ``None``
    and blank values are left out; never-hashed ids are kept as they are.

    Args:
        user_data: A mapping (or a ``UserData``) of ``user_data`` keys to values.
        default_country_code: Calling code for phone numbers written without one.
        hash_external_id: False sends ``external_id`` values trimmed but unhashed.

    Returns:
        A new dict; the input is not modified.

    Raises:
        ValidationError: An unknown key or a bad value; ``field`` is ``user_data.<key>`` and the
            message never contains the value.

    Example:
        >>> data = hash_user_data(
        ...     {"em": ["Mary@example.com", "mary@example.com "], "ge": "Female",
        ...      "whatsapp_business_account_id": "1029384756"}
        ... )
        >>> len(data["em"]), data["ge"], data["whatsapp_business_account_id"]
        (1, ['252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111'], '1029384756')
    """
    if type(user_data) is not dict and not isinstance(user_data, Mapping):
        from ._converter import unstructure
        from ._models_events import UserData

        if not isinstance(user_data, UserData):
            raise ValidationError("user_data", "must be a mapping or a UserData")
        user_data = unstructure(user_data)
    country_code = None if default_country_code is None else _calling_code(default_country_code)
    table = _DIGESTERS if hash_external_id else _DIGESTERS_EXTERNAL_ID_PLAIN
    out: dict[str, Any] = {}
    for key, value in user_data.items():
        if value is None:
            continue
        digester = table.get(key)
        try:
            if digester is None:
                if key not in UNHASHED_KEYS:
                    raise _Invalid("is not a Conversions API user_data key")
                out[key] = value if type(value) is str else _unhashed(value)
            elif type(value) is str:  # the common case: one string
                digest = digester(value, country_code)
                if digest is not None:
                    out[key] = [digest]
            else:
                digests: list[str] = []
                for item in _values(value):
                    digest = digester(_as_text(key, item), country_code)
                    if digest is not None and digest not in digests:
                        digests.append(digest)
                if digests:
                    out[key] = digests
        except _Invalid as exc:
            raise ValidationError(f"user_data.{key}", exc.reason) from None
    return out
