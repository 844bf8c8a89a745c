"""Normalisation of the place keys: city, state, ZIP code, country.

Meta's rules (its ``capi-param-builder`` normalisers) except where its documentation says
otherwise (``docs/hashing.md``). Country and state tables come from ``pycountry``, plus the
everyday names ISO does not use (``Russia``, ``Vatican``, ``Ivory Coast``, ``UK``...).

Example:
    >>> ct("Montréal"), ct("Chicago 60601"), st("California"), st("Bavaria")
    ('montral', 'chicago60601', 'ca', 'bavaria')
    >>> zp("94035-1234"), zp("SW1A 1AA"), country("Russia"), country("DEU")
    ('94035', 'sw1a1aa', 'ru', 'de')
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from ._normalise_common import Invalid, fold, js_trim, without_js_space

__all__ = ["country", "ct", "st", "zp"]

_NOT_LATIN_ALNUM: Final = re.compile(r"[^a-zA-Z0-9]+")
_NOT_A_TO_Z: Final = re.compile(r"[^a-z]+")
#: Shortest country name looked for inside a longer text (``CanadaNorthAmerica`` → ``ca``).
_MIN_CONTAINED: Final = 4

#: Abbreviations of U.S. state names in common use (AP style: ``Calif.``, ``Tex.``...) and of
#: two Canadian provinces, folded; the look-up is exact, never inside a longer text.
_STATE_ABBREVIATIONS: Final = {
    "ala": "al",
    "ariz": "az",
    "ark": "ar",
    "cal": "ca",
    "cali": "ca",
    "calif": "ca",
    "colo": "co",
    "conn": "ct",
    "del": "de",
    "fla": "fl",
    "ill": "il",
    "ind": "in",
    "kan": "ks",
    "kans": "ks",
    "mass": "ma",
    "mich": "mi",
    "minn": "mn",
    "miss": "ms",
    "mont": "mt",
    "neb": "ne",
    "nebr": "ne",
    "nev": "nv",
    "okla": "ok",
    "ore": "or",
    "oreg": "or",
    "penn": "pa",
    "penna": "pa",
    "tenn": "tn",
    "tex": "tx",
    "wash": "wa",
    "wva": "wv",
    "wis": "wi",
    "wisc": "wi",
    "wyo": "wy",
    "washingtondc": "dc",
    "ont": "on",
    "que": "qc",
}
#: Everyday names (folded) of countries whose ISO names differ, and Meta's extra spellings.
_COUNTRY_ALIASES: Final = {
    "uk": "gb",
    "greatbritain": "gb",
    "britain": "gb",
    "england": "gb",
    "scotland": "gb",
    "wales": "gb",
    "northernireland": "gb",
    "russia": "ru",
    "vatican": "va",
    "vaticancity": "va",
    "holysee": "va",
    "palestine": "ps",
    "macedonia": "mk",
    "micronesia": "fm",
    "democraticrepublicofthecongo": "cd",
    "drcongo": "cd",
    "congokinshasa": "cd",
    "republicofthecongo": "cg",
    "congobrazzaville": "cg",
    "ivorycoast": "ci",
    "easttimor": "tl",
    "swaziland": "sz",
    "burma": "mm",
    "turkey": "tr",
    "brunei": "bn",
    "capeverde": "cv",
    "czechrepublic": "cz",
    "holland": "nl",
    "southkorea": "kr",
    "northkorea": "kp",
    "laos": "la",
    "syria": "sy",
    "iran": "ir",
    "moldova": "md",
    "tanzania": "tz",
    "venezuela": "ve",
    "bolivia": "bo",
    "vietnam": "vn",
    "macau": "mo",
    "uae": "ae",
    "unitedstatesofamerica": "us",
    "america": "us",
}


def ct(text: str) -> str:
    """Latin letters and digits only, lowercase, starting with a letter."""
    city = _NOT_LATIN_ALNUM.sub("", text).lower()
    if not city or not ("a" <= city[0] <= "z"):
        raise Invalid("has no Latin letter before its digits (Meta keeps a-z and 0-9 only)")
    return city


def st(text: str) -> str:
    """U.S. states and Canadian provinces (names, common abbreviations, or a name inside a
    longer text) → their 2-letter code; other states lowercase letters only; a 2-letter value
    is taken as a code."""
    letters = _NOT_A_TO_Z.sub("", text.lower())
    if len(letters) == 2:
        return letters
    key = fold(text)
    codes = _state_codes()
    code = codes.get(key) or codes.get(letters) or _contained(key, _state_names())
    if code is not None:
        return code
    if not letters:
        raise Invalid("has no Latin letters (use the state's 2-letter code or Latin name)")
    return letters


def zp(text: str) -> str:
    """Lowercase, the part before the first dash, no whitespace; a U.S. ZIP+4 written without
    its dash keeps its first 5 digits."""
    code = js_trim(text).lower()
    if "-" in code:
        code = code.split("-", 1)[0]
    code = without_js_space(code)
    if len(code) < 2:
        raise Invalid("is too short for a postal code")
    if len(code) == 9 and code.isdigit() and code.isascii():
        return code[:5]  # a U.S. ZIP+4 written without its dash
    return code


def country(text: str) -> str:
    """ISO 3166-1 alpha-2, lowercase, from the code, the alpha-3 code or a name."""
    key = fold(text)
    codes = _country_codes()
    code = codes.get(key)
    if code is None and len(key) > 3:
        code = _contained(key, _country_names())
    if code is None:
        raise Invalid("is not an ISO 3166-1 country code or a country name")
    return code


def _contained(key: str, names: tuple[tuple[str, str], ...]) -> str | None:
    """The code of the longest name found inside ``key``, if any (names longest first)."""
    for name, code in names:
        if name in key:
            return code
    return None


@cache
def _state_codes() -> dict[str, str]:
    """Folded U.S. state and Canadian province names and codes → lowercase code."""
    import pycountry

    table: dict[str, str] = {}
    for sub in pycountry.subdivisions:
        if sub.country_code in ("US", "CA"):
            code = sub.code.split("-", 1)[1].lower()
            table[fold(sub.name)] = code
            table[code] = code
    return {**_STATE_ABBREVIATIONS, **table}


@cache
def _state_names() -> tuple[tuple[str, str], ...]:
    names = (
        (n, c)
        for n, c in _state_codes().items()
        if len(n) >= _MIN_CONTAINED and n not in _STATE_ABBREVIATIONS
    )
    return tuple(sorted(names, key=lambda item: -len(item[0])))


@cache
def _country_codes() -> dict[str, str]:
    """Folded alpha-2, alpha-3, ISO names and everyday names → lowercase alpha-2."""
    import pycountry

    table: dict[str, str] = {}
    for entry in pycountry.countries:
        code = entry.alpha_2.lower()
        for attribute in ("name", "common_name", "official_name"):
            text = getattr(entry, attribute, None)
            if text:
                table.setdefault(fold(text), code)
        table[entry.alpha_3.lower()] = code
    table.update(_COUNTRY_ALIASES)
    for entry in pycountry.countries:  # two-letter codes win over any name
        table[entry.alpha_2.lower()] = entry.alpha_2.lower()
    return table


@cache
def _country_names() -> tuple[tuple[str, str], ...]:
    import pycountry

    codes = {e.alpha_3.lower() for e in pycountry.countries}
    names = (
        (n, c)
        for n, c in _country_codes().items()
        if len(n) >= _MIN_CONTAINED and n not in codes and n != "america"
    )
    return tuple(sorted(names, key=lambda item: -len(item[0])))
