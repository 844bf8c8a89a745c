"""Agreement with Meta: the normalisation vectors of Meta's own code, judged one by one.

``meta_vectors.json`` holds every (key, input, expected) pair that Meta's tests assert, taken
from the capi-param-builder normalisers (which Meta's business SDKs now call) and from the unit
tests of Meta's Python, PHP, Ruby, Java and Node business SDKs; ``META_VECTORS.md`` says how
they were extracted and from which commits.

How a vector is counted:

- ``expected`` is the normalised text, ``null`` (Meta leaves the value out) or
  ``{"sha256": ...}`` (Meta's digest of the value). Ours is ``normalize`` (a value left out
  counts as ``null``) or ``hash_value``.
- Digest inputs (32 or 64 hex digits) compare case-insensitively: Meta's normalisers hand a
  digest back as given, and its ``getNormalizedAndHashedPII`` lowercases it before sending.
- Where Meta's sources disagree on the same input (the legacy SDK normalisers against the
  param builder), the param builder's vector is judged and the other is *superseded*.
- Where Meta's documentation says otherwise than Meta's code, we follow the documentation:
  the vectors of each such rule are *documented differences*, listed with their reason in
  ``docs/hashing.md`` (each rule below names its section there). They are not judged.
- Every other vector is *judged*; the agreement over the judged vectors must be >= 98 %.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pycountry
import pytest

from d360_async import ValidationError
from d360_async.hashing import hash_value, normalize

HERE = Path(__file__).parent
CORPUS = json.loads((HERE / "meta_vectors.json").read_text(encoding="utf-8"))
DOCS = HERE.parents[1] / "docs" / "hashing.md"
#: The day the newest source was committed: Meta's date tests are relative to "this year".
CORPUS_DAY = date(2026, 5, 17)
PARAM_BUILDER = "facebook/capi-param-builder"
_HEX = re.compile(r"\s*([0-9a-fA-F]{32}|[0-9a-fA-F]{64})\s*")
_ISO_ALPHA_2 = frozenset(c.alpha_2.lower() for c in pycountry.countries)
_US_CA_NAMES = {
    re.sub("[^a-z]", "", unicodedata.normalize("NFKD", s.name.lower())): s.code[3:].lower()
    for s in pycountry.subdivisions
    if s.country_code in ("US", "CA")
}

Vector = tuple[str, str, Any, list[int]]


@pytest.fixture(autouse=True)
def _corpus_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dates of birth are checked against "this year": the year the vectors were written."""
    monkeypatch.setattr("d360_async._normalise_numbers.today", lambda: CORPUS_DAY)


def ours(key: str, value: str, expected: Any) -> str | None:
    try:
        if isinstance(expected, dict):
            return hash_value(key, value)
        return normalize(key, value)
    except ValidationError:
        return None


def wanted(expected: Any) -> str | None:
    return expected["sha256"] if isinstance(expected, dict) else expected


def agrees(value: str, expected: Any, got: str | None) -> bool:
    want = wanted(expected)
    if want is not None and got is not None and _HEX.fullmatch(value):
        return got.lower() == want.lower()
    return got == want


# --- documented differences: one rule each, named by its section in docs/hashing.md ------------


def _letters(value: str) -> str:
    return re.sub("[^a-z]", "", value.lower())


def ph_too_short(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta sends '911' or '1800'; the docs require the country code, and no number written
    with its country code has fewer than 7 digits: we leave such a value out."""
    return key == "ph" and expected is not None and len(expected) < 7 and got is None


def ph_other_digits(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code deletes digits of other scripts (full-width, Arabic...); the docs remove
    symbols and letters only: we read them as the digits they are."""
    return key == "ph" and any(not c.isascii() and c.isdecimal() for c in value)


def names_punctuation(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code removes ASCII punctuation only (an en dash stays); the docs say: no
    punctuation."""
    if key not in ("fn", "ln") or expected is None:
        return False
    kept = [c for c in expected if unicodedata.category(c).startswith("P")]
    return bool(kept) and got == "".join(c for c in expected if c not in kept)


def db_not_a_date(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code accepts years from 1800 to next year, and any 8 digits ('15011990'); the
    docs accept YYYYMMDD with a year from 1900 to the current year."""
    if key != "db" or expected is None or got is not None or not re.fullmatch(r"\d{8}", expected):
        return False
    year, month, day = int(expected[:4]), int(expected[4:6]), int(expected[6:])
    return not (1900 <= year <= CORPUS_DAY.year and 1 <= month <= 12 and 1 <= day <= 31)


def zp_spaces(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code keeps inner spaces ('sw1a 1aa'); the docs say no spaces."""
    if key != "zp" or expected is None or not re.search(r"\s", expected):
        return False
    joined = re.sub(r"\s", "", expected)
    return got in (joined, joined[:5])


def country_not_iso(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code sends any two letters ('uk', 'xx'); the docs ask for ISO 3166-1 alpha-2."""
    return key == "country" and expected is not None and expected not in _ISO_ALPHA_2


def country_guess(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code sends the first two letters of text it does not know ('InvalidCountry' ->
    'in', India); the docs ask for the customer's country code: we leave the value out."""
    letters = _letters(value)
    return key == "country" and len(letters) > 2 and expected == letters[:2] and got is None


def st_guess(key: str, value: str, expected: str | None, got: str | None) -> bool:
    """Meta's code sends the first two letters of a state it does not know ('Bavaria' -> 'ba',
    'Tex.' -> 'te'); the docs: states outside the U.S. in lowercase, without punctuation or
    spaces, U.S. states as their 2-character ANSI code ('tx')."""
    letters = _letters(value)
    if key != "st" or len(letters) <= 2 or expected != letters[:2]:
        return False
    codes = set(_US_CA_NAMES.values())
    return got == letters or (got in codes and expected not in codes)


DOCUMENTED: dict[str, Callable[[str, str, str | None, str | None], bool]] = {
    "ph-too-short": ph_too_short,
    "ph-other-digits": ph_other_digits,
    "names-punctuation": names_punctuation,
    "db-not-a-date": db_not_a_date,
    "zp-spaces": zp_spaces,
    "country-not-iso": country_not_iso,
    "country-guess": country_guess,
    "st-guess": st_guess,
}


def _outcome(expected: Any) -> str | None:
    """A vector's expected result as a digest of the normalised text (or None)."""
    want = wanted(expected)
    if want is None or isinstance(expected, dict) or _HEX.fullmatch(want):
        return want
    return hashlib.sha256(want.encode()).hexdigest()


def superseded() -> set[int]:
    """Vectors of the legacy SDKs that the param builder contradicts on the same input."""
    sources = {s["id"]: s["repository"] for s in CORPUS["sources"]}
    by_input: dict[tuple[str, str], list[int]] = {}
    for i, (key, value, _, _) in enumerate(CORPUS["vectors"]):
        by_input.setdefault((key, value), []).append(i)
    out: set[int] = set()
    for indexes in by_input.values():
        outcomes = {_outcome(CORPUS["vectors"][i][2]) for i in indexes}
        if len(outcomes) > 1:
            for i in indexes:
                if all(sources[s] != PARAM_BUILDER for s in CORPUS["vectors"][i][3]):
                    out.add(i)
    return out


def judge() -> Iterator[tuple[Vector, str, str | None]]:
    """Each vector with its verdict: agree, disagree, superseded or a documented rule's name."""
    skip = superseded()
    for i, vector in enumerate(CORPUS["vectors"]):
        key, value, expected, _ = vector
        got = ours(key, value, expected)
        if i in skip:
            yield vector, "superseded", got
        elif agrees(value, expected, got):
            yield vector, "agree", got
        else:
            want = wanted(expected)
            rule = next((n for n, f in DOCUMENTED.items() if f(key, value, want, got)), None)
            yield vector, rule or "disagree", got


def test_agreement_with_meta_is_at_least_98_percent(capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = list(judge())
    count = Counter(verdict for _, verdict, _ in verdicts)
    judged = count["agree"] + count["disagree"]
    strings = len(verdicts)
    by_key: dict[str, Counter[str]] = {}
    for (key, *_), verdict, _ in verdicts:
        by_key.setdefault(key, Counter())[verdict] += 1
    lines = [
        f"Meta's vectors: {strings} (string inputs, one of our keys)",
        f"judged: {judged}, agree: {count['agree']} ({count['agree'] / judged:.2%})",
        f"all vectors, documented differences counted as disagreements: "
        f"{count['agree'] / strings:.2%}",
        f"superseded (Meta's sources disagree): {count['superseded']}",
        *(f"documented difference {name}: {count[name]}" for name in DOCUMENTED),
        *(
            f"  {k}: {c['agree']} of {c['agree'] + c['disagree']}"
            for k, c in sorted(by_key.items())
        ),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    disagreements = [
        (v[0], v[1], wanted(v[2]), got) for v, verdict, got in verdicts if verdict == "disagree"
    ]
    assert count["agree"] / judged >= 0.98, disagreements


@pytest.mark.parametrize("rule", sorted(DOCUMENTED))
def test_each_documented_difference_is_explained_in_the_docs(rule: str) -> None:
    assert f"`{rule}`" in DOCS.read_text(encoding="utf-8"), f"docs/hashing.md lacks {rule}"


def test_the_corpus_names_its_sources_and_is_not_empty() -> None:
    assert len(CORPUS["vectors"]) > 2500
    repositories = {s["repository"] for s in CORPUS["sources"]}
    assert repositories == {
        PARAM_BUILDER,
        "facebook/facebook-python-business-sdk",
        "facebook/facebook-php-business-sdk",
        "facebook/facebook-ruby-business-sdk",
        "facebook/facebook-java-business-sdk",
        "facebook/facebook-nodejs-business-sdk",
    }
    for source in CORPUS["sources"]:
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]) and source["path"]
        assert "Platform License" in source["licence"]
    used = {s for *_, sources in CORPUS["vectors"] for s in sources}
    assert used == {s["id"] for s in CORPUS["sources"]}


# --- what the issue lists, one by one ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        # gender words Meta maps
        ("ge", "Woman", "f"),
        ("ge", "Mr", "m"),
        ("ge", " boy ", "m"),
        ("ge", "MRS", "f"),
        # dates: DD-MM-YYYY, dotted, spaced, unambiguous day first
        ("db", "31-12-1990", "19901231"),
        ("db", "1990.12.31", "19901231"),
        ("db", "31.12.1990", "19901231"),
        ("db", "12 31 1990", "19901231"),
        ("db", "31/12/1990", "19901231"),
        ("db", "16\u20132\u20131997 (dd-mm-yyyy)", "19970216"),  # en dashes
        # names lose their inner whitespace
        ("fn", "Mary Jane", "maryjane"),
        ("ln", "Van Der Berg", "vanderberg"),
        ("fn", "José María", "josémaría"),
        # external_id: lowercase, no whitespace
        ("external_id", " User 123 ABC ", "user123abc"),
        # phones
        ("ph", "1(650)123-4567", "16501234567"),
        ("ph", "+001 (616) 954-78 88", "16169547888"),
        ("ph", "01(650)123-4567", "16501234567"),
        # countries
        ("country", "Russia", "ru"),
        ("country", "Vatican", "va"),
        ("country", "Palestine", "ps"),
        ("country", "Macedonia", "mk"),
        ("country", "Micronesia", "fm"),
        ("country", "Democratic Republic of the Congo", "cd"),
        ("country", "Ivory Coast", "ci"),
        # zip: the part before the first dash
        ("zp", "98121-4892", "98121"),
        ("zp", "K1A-0A6", "k1a"),
        ("zp", "01310-100", "01310"),
        # cities keep digits, drop accented letters
        ("ct", "Chicago60601", "chicago60601"),
        ("ct", "Montréal", "montral"),
        ("ct", "São Paulo", "sopaulo"),
        # the extra keys
        ("f5first", "George", "georg"),
        ("f5last", " Washington ", "washi"),
        ("fi", "GW", "g"),
        ("dobd", "1", "01"),
        ("dobm", "9", "09"),
        ("doby", "1995", "1995"),
    ],
)
def test_what_the_issue_lists(key: str, value: str, expected: str) -> None:
    assert normalize(key, value) == expected
    assert hash_value(key, value) == hashlib.sha256(expected.encode()).hexdigest()


@pytest.mark.parametrize(
    ("key", "value"),
    [("dobd", "32"), ("dobd", "0a"), ("dobm", "13"), ("dobm", "May"), ("doby", "12345")],
)
def test_extra_keys_reject_what_meta_rejects(key: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize(key, value)
    assert caught.value.field == key and value not in str(caught.value)
