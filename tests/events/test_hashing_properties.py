"""Properties of ``d360_async.hashing`` over arbitrary input: a string value of a known key
never raises, other junk raises only ``ValidationError``, nothing quotes a value, and no
plaintext stays in memory the module can reach once a call has returned."""

from __future__ import annotations

import contextlib
import gc
import sys
import types
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async import D360Client, ValidationError
from d360_async.hashing import (
    HASHED_KEYS,
    UNHASHED_KEYS,
    hash_user_data,
    hash_value,
    normalize,
    prepare_user_data,
)

from .conftest import NODE, raw_event

KEYS = sorted(HASHED_KEYS | UNHASHED_KEYS)
_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True),
    st.binary(max_size=20),
    st.text(max_size=30),
    st.dates(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.one_of(st.none(), st.integers(), st.binary(max_size=3)), max_size=3),
    st.builds(object),
)


@settings(deadline=None)  # no wall-clock limit: the first call loads the country tables
@given(
    st.dictionaries(
        st.sampled_from(KEYS),
        st.one_of(st.text(), st.lists(st.text(), max_size=4)),
        max_size=6,
    ),
    st.sampled_from([None, "1", "+49", 44]),
    st.booleans(),
)
def test_string_values_of_known_keys_never_raise(
    user_data: dict[str, Any], country_code: Any, hash_external_id: bool
) -> None:
    out = hash_user_data(
        user_data, default_country_code=country_code, hash_external_id=hash_external_id
    )
    prepared = prepare_user_data(
        user_data, default_country_code=country_code, hash_external_id=hash_external_id
    )
    assert prepared.user_data == out
    assert set(out) <= set(user_data)
    for key, value in out.items():
        if key in UNHASHED_KEYS:
            assert value == user_data[key]
    for dropped in prepared.dropped:
        assert dropped.key in user_data
        for text in _texts(user_data[dropped.key]):
            if len(text) > 3:
                assert text not in dropped.reason


def _texts(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]


@settings(deadline=None)  # no wall-clock limit: the first call loads the country tables
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), _JUNK, max_size=5))
def test_other_junk_raises_only_validation_errors(user_data: dict[Any, Any]) -> None:
    for strict in (False, True):
        with contextlib.suppress(ValidationError):
            hash_user_data(user_data, strict=strict)


@settings(deadline=None)  # no wall-clock limit: the first call loads the country tables
@given(st.sampled_from(KEYS), _JUNK)
def test_single_values_raise_only_validation_errors(key: str, value: Any) -> None:
    for function in (normalize, hash_value):
        with contextlib.suppress(ValidationError):
            function(key, value)


@pytest.mark.parametrize("junk", [None, "em", 3, ["em"], Decimal(1), b"em"])
def test_user_data_that_is_not_a_mapping_is_a_validation_error(junk: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        hash_user_data(junk)
    assert caught.value.field == "user_data"


# --- no plaintext PII retained (issue #11, item 7) --------------------------------------------

MARKER = "zq7plaintextmarker"


_CONTAINERS = (dict, list, tuple, set, frozenset, deque)


def _ours(obj: Any) -> bool:
    """Whether the walk goes on through ``obj``: our modules, our objects, plain containers
    (not other packages' objects, such as pytest's, which hold the tests themselves)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__.startswith("d360_async")
    if isinstance(obj, _CONTAINERS) or type(obj).__name__ == "cell":
        return True
    owner = getattr(obj, "__module__", None) if callable(obj) else type(obj).__module__
    return isinstance(owner, str) and owner.startswith("d360_async")


def _reachable(roots: list[Any]) -> Iterator[Any]:
    """Every object reachable from ``roots`` through our objects (garbage collector referents)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        if _ours(obj):
            stack.extend(gc.get_referents(obj))
            if isinstance(obj, dict):  # the collector does not report str keys
                stack.extend(obj)


def _holding_the_marker(roots: list[Any]) -> list[str]:
    found = []
    for obj in _reachable(roots):
        if isinstance(obj, str) and MARKER in obj:
            found.append(obj)
    return found


def _our_modules() -> list[Any]:
    return [m for name, m in sorted(sys.modules.items()) if name.startswith("d360_async")]


def _pii(i: int) -> dict[str, Any]:
    return {
        "em": f"{MARKER}{i}@example.com",
        "fn": f"{MARKER}first",
        "ln": f"{MARKER}last",
        "ct": f"{MARKER}city",
        "st": f"{MARKER}state",
        "zp": f"{MARKER}zip",
        "country": "Germany",
        "db": "1990-12-31",
        "ge": "f",
        "external_id": f"{MARKER}-{i}",
        "ph": "+49 151 12345678",
    }


def test_no_plaintext_stays_reachable_from_the_module_after_hashing() -> None:
    for i in range(50):
        hash_user_data(_pii(i))
        hash_value("ct", f"{MARKER}city")
        normalize("fn", f"{MARKER}first")
        hash_user_data({"em": f"bad-{MARKER}", "ge": MARKER})  # dropped values too
    gc.collect()
    assert _holding_the_marker(_our_modules()) == []


async def test_no_plaintext_stays_reachable_after_an_events_run(d360_client: D360Client) -> None:
    events = [raw_event(i, user_data=_pii(i)) for i in range(300)]
    run = d360_client.send_conversion_events(NODE, events)
    report = await run.run()
    assert report.received == 300
    del events
    gc.collect()
    assert _holding_the_marker([*_our_modules(), run, d360_client]) == []
