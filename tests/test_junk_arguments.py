"""Hypothesis: every public method and the constructor of ``D360Client`` called with junk (wrong
types, None, Decimal, bytes, NaN/inf, huge strings and lists, non-ASCII, nested junk) lets only
``D360Error`` subclasses escape, never ``TypeError``, ``KeyError``, ``AttributeError``,
``RuntimeError``... Requests that get through are answered by a catch-all mock."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d360_async import (
    AsyncLimiter,
    BulkRun,
    D360Client,
    D360Error,
    EventsRun,
    Hooks,
    LocalLimiter,
    RetryPolicy,
    Timeout,
)

from . import samples
from .conftest import KEY

EVERYTHING = re.compile(r"^https://waba-v2\.360dialog\.io/.*$")
HUGE = "x" * 200_000
MESSAGE = {"to": "4915112345678", "template": {"name": "promo", "language": {"code": "en"}}}
EVENT = {"event_name": "Purchase", "event_time": 1795608000, "event_id": "e1"}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.binary(max_size=16),
    st.text(max_size=16),
    st.sampled_from(["", " ", "\x00", "a\nb", "é", "💥", "\ud800", "../..", "?a=1#x", HUGE]),
    st.datetimes(),
    st.dates(),
    st.just(object()),
    st.just(Path("/nonexistent/dir/journal.sqlite")),
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), children, max_size=4),
        st.frozensets(st.integers(), max_size=3),
        st.tuples(children, children),
        st.just(list(range(20_000))),
    ),
    max_leaves=8,
)

# Plausible values, so that junk in one argument meets valid ones in the others.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "dataset_id": st.just("123"),
    "template_id": st.just("77"),
    "ad_object_id": st.just("act_1"),
    "meta_node_id": st.just("55"),
    "message": st.just(MESSAGE),
    "messages": st.just([MESSAGE, MESSAGE]),
    "events": st.just([EVENT]),
    "start": st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    "end": st.just(date(2026, 1, 2)),
    "template_ids": st.just(["1", "2"]),
    "limit": st.integers(1, 50),
    "fields": st.just("name,status"),
    "date_preset": st.just("last_7d"),
    "level": st.just("ad"),
    "concurrency": st.integers(1, 4),
    "batch_size": st.integers(1, 1000),
    "timeout": st.just(5.0),
    "retry": st.just(RetryPolicy(wait=False)),
    "rate_limit": st.sampled_from([None, 80, LocalLimiter(), AsyncLimiter(10, 1)]),
    "hooks": st.just(Hooks()),
}


def argument(name: str) -> st.SearchStrategy[Any]:
    plausible = PLAUSIBLE.get(name)
    return junk if plausible is None else st.one_of(plausible, junk)


def public_methods() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(D360Client)
        if not name.startswith("_") and inspect.isfunction(member)
    )


@st.composite
def calls(draw: st.DrawFn, name: str) -> tuple[list[Any], dict[str, Any]]:
    """Required arguments positionally, optional ones by keyword (each only sometimes)."""
    signature = inspect.signature(getattr(D360Client, name))
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind is parameter.VAR_KEYWORD:
            extra = st.dictionaries(st.sampled_from(["name", "status", "x", "sort"]), junk)
            kwargs.update(draw(extra))
        elif parameter.default is parameter.empty and parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = draw(argument(parameter.name))
        elif parameter.default is parameter.empty:
            args.append(draw(argument(parameter.name)))
        elif draw(st.booleans()):
            kwargs[parameter.name] = draw(argument(parameter.name))
    return args, kwargs


async def typed_error(call: Callable[[], Awaitable[None]]) -> D360Error | None:
    """What ``call()`` raised, if it was a ``D360Error`` (anything else fails the test)."""
    try:
        await call()
    except D360Error as exc:
        return exc
    return None


async def consume(result: Any) -> None:
    """Drive whatever a method returned to the end."""
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, (BulkRun, EventsRun)):
        await result.run()
    elif isinstance(result, AsyncIterator):
        async for _ in result:
            pass
    elif isinstance(result, D360Client):
        await result.get_message_template("77")


def answer_everything(mocked: aioresponses) -> None:
    for method in ("GET", "POST"):
        mocked.add(EVERYTHING, method=method, payload=samples.SEND_OK, repeat=True)


@pytest.mark.parametrize("name", public_methods())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_junk_arguments_raise_only_d360_errors(
    mock_api: aioresponses, tmp_path: Path, name: str, data: st.DataObject
) -> None:
    answer_everything(mock_api)
    args, kwargs = data.draw(calls(name), label="arguments")
    if name == "send_bulk" and isinstance(kwargs.get("journal"), (str, Path)):
        kwargs["journal"] = tmp_path / "journal.sqlite"  # never a file outside the test
    raw = inspect.iscoroutinefunction(getattr(D360Client, name)) and name != "close"
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(wait=False)) as client:
        owner = client.with_raw_response if raw and data.draw(st.booleans()) else client
        error = await typed_error(lambda: consume(getattr(owner, name)(*args, **kwargs)))
    assert error is None or KEY not in str(error)


CONSTRUCTOR_ARGUMENTS = list(inspect.signature(D360Client).parameters)


@settings(max_examples=300, deadline=None)
@given(
    kwargs=st.fixed_dictionaries(
        {}, optional={name: argument(name) for name in CONSTRUCTOR_ARGUMENTS}
    )
)
def test_junk_constructor_arguments_raise_only_validation_errors(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("api_key", KEY)
    client: D360Client | None = None
    error: D360Error | None = None
    try:
        client = D360Client(**kwargs)
    except D360Error as exc:  # anything else fails the test
        error = exc
    if client is None:
        assert error is not None and KEY not in str(error)
    else:
        assert "D360Client(" in repr(client)
        assert isinstance(client.timeout, (Timeout, aiohttp.ClientTimeout))


@pytest.mark.parametrize("value", [1, b"k3y", Decimal(1), "k3y k3y", "k3yключ", "k3y\nk3y", ["k"]])
def test_a_junk_api_key_is_refused_without_being_shown(value: Any) -> None:
    with pytest.raises(D360Error, match="api_key") as info:
        D360Client(value)
    assert "k3y" not in str(info.value)


@settings(max_examples=60, deadline=None)
@given(options=st.dictionaries(st.sampled_from(["timeout", "retry", "hooks"]), junk))
async def test_junk_options_raise_only_d360_errors(options: dict[str, Any]) -> None:
    client = D360Client(KEY)
    copy: D360Client | None = None
    with contextlib.suppress(D360Error):  # anything else fails the test
        copy = client.with_options(**options)
    assert copy is None or copy.limiter is client.limiter
