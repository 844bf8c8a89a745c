"""d360_async.hashing: Meta's normalisation rules per key, the digests Meta publishes, no double
hashing, and errors that name the key without ever quoting the value."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d360_async import UserData, ValidationError
from d360_async._userdata import UserDataHasher
from d360_async.hashing import (
    HASHED_KEYS,
    UNHASHED_KEYS,
    hash_user_data,
    hash_value,
    is_sha256,
    normalize,
)

# SHA-256 of Meta's normalised examples, written out once (computed with hashlib), never
# recomputed by the code under test.
DIGESTS = {
    "john_smith@gmail.com": "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
    "16505551212": "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
    "mary": "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
    "valéry": "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c",
    "정": "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14",
    "menlopark": "0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685",
    "ca": "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126",
    "94035": "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e",
    "us": "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
    "f": "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
    "19970216": "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c",
}
META_EXAMPLES = [
    ("em", "John_Smith@gmail.com", {}, DIGESTS["john_smith@gmail.com"]),
    ("ph", "(650)555-1212", {"default_country_code": 1}, DIGESTS["16505551212"]),
    ("fn", "Mary", {}, DIGESTS["mary"]),
    ("fn", "Valéry", {}, DIGESTS["valéry"]),
    ("fn", "정", {}, DIGESTS["정"]),
    ("ct", "Menlo Park", {}, DIGESTS["menlopark"]),
    ("st", "California", {}, DIGESTS["ca"]),
    ("zp", "94035", {}, DIGESTS["94035"]),
    ("country", "United States", {}, DIGESTS["us"]),
    ("ge", "Female", {}, DIGESTS["f"]),
    ("db", "2/16/1997", {}, DIGESTS["19970216"]),
]


@pytest.mark.parametrize(("key", "value", "options", "digest"), META_EXAMPLES)
def test_meta_published_examples(key: str, value: str, options: dict, digest: str) -> None:
    assert hash_value(key, value, **options) == digest
    assert hash_user_data({key: value}, **options) == {key: [digest]}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("em", "  John_Smith@Gmail.COM ", "john_smith@gmail.com"),
        ("em", "a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
        ("ph", "+1 (650) 555-1212", "16505551212"),
        ("ph", "001 650 555 1212", "16505551212"),
        ("ph", "+49 (0)151 1234-5678", "4915112345678"),
        ("ph", "+44 20 7946 0958 ext", "442079460958"),
        ("ph", "٠٠٤٩١٥١١٢٣٤٥٦٧٨", "4915112345678"),  # Arabic-Indic digits
        ("fn", "Mary", "mary"),
        ("fn", "Valéry", "valéry"),
        ("fn", "Vale\u0301ry", "valéry"),  # decomposed é: composed before hashing
        ("fn", "정", "정"),
        ("ln", "O'Brien-Smith", "obriensmith"),
        ("ln", "  van  der Berg. ", "vanderberg"),
        ("ln", "Müller!", "müller"),
        ("ge", "F", "f"),
        ("ge", " male ", "m"),
        ("ge", "Female", "f"),
        ("db", "1997-02-16", "19970216"),
        ("db", "2/16/1997", "19970216"),
        ("db", "02/16/1997", "19970216"),
        ("db", "19970216", "19970216"),
        ("ct", "Menlo Park", "menlopark"),
        ("ct", "St. Louis 2", "stlouis2"),
        ("ct", "São Paulo", "sopaulo"),
        ("st", "California", "ca"),
        ("st", "CA", "ca"),
        ("st", "new york", "ny"),
        ("st", "Québec", "qc"),
        ("st", "British Columbia", "bc"),
        ("st", "Bayern", "bayern"),
        ("st", "Île-de-France", "ledefrance"),
        ("st", "Calif.", "ca"),
        ("st", "Washington, D.C.", "dc"),
        ("zp", "94035", "94035"),
        ("zp", "94035-1234", "94035"),
        ("zp", "SW1A 1AA", "sw1a1aa"),
        ("zp", "01310-100", "01310"),
        ("country", "United States", "us"),
        ("country", "US", "us"),
        ("country", "usa", "us"),
        ("country", "Germany", "de"),
        ("country", "DEU", "de"),
        ("country", "South Korea", "kr"),
        ("country", "United Kingdom", "gb"),
        ("external_id", "  Customer-42 ", "customer-42"),
    ],
)
def test_normalize_per_key(key: str, value: str, expected: str) -> None:
    assert normalize(key, value) == expected
    digest = hashlib.sha256(expected.encode()).hexdigest()
    assert hash_value(key, value) == digest


def test_date_of_birth_from_date_objects() -> None:
    assert normalize("db", date(1997, 2, 16)) == "19970216"
    assert normalize("db", datetime(1997, 2, 16, 23, 59, tzinfo=UTC)) == "19970216"
    assert hash_user_data({"db": [date(1997, 2, 16), "1997-02-16"]}) == {
        "db": ["01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"]
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1997-02-32", "not a date of birth"),
        ("13/13/1997", "not a date of birth"),
        ("16.02.97", "not a date of birth"),
        ("1850-01-01", "from 1900"),
        (f"{date.today().year + 1}-01-01", "to this year"),
        ("soon", "not a date of birth"),
    ],
)
def test_impossible_dates_are_errors(value: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        normalize("db", value)
    assert caught.value.field == "db"
    assert value not in str(caught.value)


def test_phone_with_default_country_code() -> None:
    assert normalize("ph", "0151 1234 5678", default_country_code="49") == "4915112345678"
    assert normalize("ph", "0151 1234 5678", default_country_code="+49") == "4915112345678"
    assert normalize("ph", "(0151) 1234 5678", default_country_code=49) == "4915112345678"
    # Digits without +, 00 or a trunk 0 are international as written, never given the default
    # (tests/test_phone_numbers.py: one rule with d360 send's recipients).
    assert normalize("ph", "151 1234 5678", default_country_code=49) == "15112345678"
    # Already international: the default is not added twice.
    assert normalize("ph", "4915112345678", default_country_code="49") == "4915112345678"
    assert normalize("ph", "+33 6 12 34 56 78", default_country_code="49") == "33612345678"
    assert normalize("ph", "16505551212", default_country_code="1") == "16505551212"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0151 1234 5678", "15112345678"), ("(650)555-1212", "6505551212")],
)
def test_without_a_default_country_code_numbers_are_taken_as_written(
    value: str, expected: str
) -> None:
    # Meta's rule: digits, leading zeros removed. The docs ask for the country code in every
    # number: default_country_code adds it to numbers written nationally.
    assert normalize("ph", value) == expected


def test_digits_without_prefix_are_taken_as_international() -> None:
    assert normalize("ph", "4915112345678") == "4915112345678"
    assert normalize("ph", "1-650-555-1212") == "16505551212"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("+1 555", "fewer than 7 digits"), ("911", "fewer than 7 digits"), ("call me", "7 digits")],
)
def test_bad_phone_numbers(value: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        normalize("ph", value)


@pytest.mark.parametrize("code", ["0", "1234", "abc", "+"])
def test_bad_default_country_code(code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        hash_value("ph", "650 555 1212", default_country_code=code)
    assert caught.value.field == "default_country_code"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("em", "john.smith-at-example.com"),
        ("em", "john smith@example.com"),
        ("ge", "unknown"),
        ("country", "Atlantis"),
        ("fn", "!!!"),
        ("ct", "1234"),
    ],
)
def test_invalid_values_name_the_key_never_the_value(key: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        hash_value(key, value)
    assert caught.value.field == key
    assert value not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ValidationError) as in_user_data:
        hash_user_data({"em": "ok@example.com", key: [value]}, strict=True)
    assert in_user_data.value.field == f"user_data.{key}"
    assert value not in str(in_user_data.value)


def test_an_existing_digest_passes_through_never_hashed_twice() -> None:
    digest = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    for key in HASHED_KEYS:
        assert hash_value(key, digest) == digest
        assert hash_value(key, f" {digest.upper()} ") == digest
    assert normalize("em", digest) == digest
    assert hash_user_data({"em": [digest, "John_Smith@gmail.com"]}) == {"em": [digest]}


@pytest.mark.parametrize("key", sorted(UNHASHED_KEYS))
def test_ids_are_never_hashed(key: str) -> None:
    assert hash_value(key, "ARAkLkA8rmlF") == "ARAkLkA8rmlF"
    assert normalize(key, "ARAkLkA8rmlF") == "ARAkLkA8rmlF"
    assert hash_user_data({key: "ARAkLkA8rmlF"}) == {key: "ARAkLkA8rmlF"}


def test_external_id_hashed_by_default_and_switchable() -> None:
    hashed = hashlib.sha256(b"customer-42").hexdigest()
    assert hash_value("external_id", " Customer-42 ") == hashed
    assert hash_value("external_id", " Customer-42 ", hash_external_id=False) == "Customer-42"
    assert hash_user_data({"external_id": [42, "x-1 "]}, hash_external_id=False) == {
        "external_id": ["42", "x-1"]
    }


def test_hash_user_data_lists_dedupes_and_drops_blanks() -> None:
    data = hash_user_data(
        {
            "em": ["Mary@Example.com", " mary@example.com", "", "  "],
            "ph": "+16505551212",
            "fn": None,
            "ctwa_clid": "ARAkLkA8rmlF",
            "whatsapp_business_account_id": 1029384756,
        }
    )
    assert data == {
        "em": ["f1904cf1a9d73a55fa5de0ac823c4403ded71afd4c3248d00bdcd0866552bb79"],
        "ph": ["e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"],
        "ctwa_clid": "ARAkLkA8rmlF",
        "whatsapp_business_account_id": "1029384756",
    }


def test_hash_user_data_does_not_modify_its_input() -> None:
    given_data = {"em": ["Mary@Example.com"], "ct": "Menlo Park"}
    hash_user_data(given_data)
    assert given_data == {"em": ["Mary@Example.com"], "ct": "Menlo Park"}


def test_hash_user_data_accepts_the_model() -> None:
    data = hash_user_data(UserData(em="John_Smith@gmail.com", ctwa_clid="ARAkLkA8rmlF"))
    assert data == {
        "em": ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"],
        "ctwa_clid": "ARAkLkA8rmlF",
    }


def test_unknown_keys_and_wrong_types_are_left_out_or_errors_when_strict() -> None:
    with pytest.raises(ValidationError, match="not a Conversions API user_data key") as caught:
        hash_user_data({"email": "mary@example.com"}, strict=True)
    assert caught.value.field == "user_data.email"
    assert hash_user_data({"email": "mary@example.com"}) == {}
    with pytest.raises(ValidationError) as caught:
        normalize("email", "mary@example.com")
    assert caught.value.field == "email"
    for junk in ({"em": [True]}, {"em": {"a": 1}}, {"ctwa_clid": ["a", "b"]}):
        assert hash_user_data(junk) == {}
        with pytest.raises(ValidationError, match="must be a string"):
            hash_user_data(junk, strict=True)
    with pytest.raises(ValidationError, match="mapping or a UserData"):
        hash_user_data(["em"])


def test_remembered_digests_are_the_same_and_forgotten_on_clear() -> None:
    hasher = UserDataHasher(remember=True)
    first = hasher.prepare({"ct": "Menlo Park", "ge": "x"})
    again = hasher.prepare({"ct": "Menlo Park", "ge": "x"})  # from memory
    assert first == again and again.user_data == {"ct": [hash_value("ct", "Menlo Park")]}
    assert [d.reason for d in again.dropped] == [d.reason for d in first.dropped]
    hasher.clear()
    assert hasher.prepare({"ct": "Menlo Park"}).user_data == first.user_data


_EMAILS = st.emails().filter(lambda e: "\\" not in e and '"' not in e)


@given(_EMAILS)
def test_hash_is_sha256_of_the_normalised_value(email: str) -> None:
    expected = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    assert hash_value("em", f"  {email.upper()} ") == expected


@given(
    st.sampled_from(sorted(HASHED_KEYS)),
    st.text(max_size=15),
    st.text(max_size=15),
    st.sampled_from(["QzXqW", "77319", "Qz@Xq.com"]),
)
def test_hashing_is_idempotent_and_errors_never_quote(
    key: str, before: str, after: str, marker: str
) -> None:
    text = before + marker + after
    error: ValidationError | None = None
    try:
        digest = hash_value(key, text)
    except ValidationError as exc:
        error = exc
    if error is not None:
        assert error.field == key
        assert marker not in str(error)
    else:
        assert is_sha256(digest)
        assert hash_value(key, digest) == digest
