"""A bad ``user_data`` value drops the value, not the event: it is left out and reported per
event (key, event index, reason; never the value), and the event is rejected only when no
customer information is left to send."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from d360_async import D360Client, DroppedValue, ValidationError
from d360_async.hashing import InvalidValue, hash_user_data, prepare_user_data
from d360_async.testing import Emulator

from .conftest import NODE

ODD_VALUES = ["PLAINTEXT-Qz7", "31.02.1850", "Atlantis-Qz7", "12"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def purchase(index: int, **user_data: Any) -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "event_id": f"order-{index}",
        "user_data": {"em": f"buyer{index}@example.com", **user_data},
        "custom_data": {"currency": "EUR", "value": 10},
    }


async def test_the_issues_odd_values_are_normalised_and_every_event_is_sent(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    events = [
        purchase(0),
        purchase(1, ge="Woman"),
        purchase(2, db="1990.12.31"),
        purchase(3, country="Russia"),
        purchase(4, ph="1(650)123-4567"),
    ]
    report = await d360_client.send_conversion_events(NODE, events).run()
    assert (report.received, report.rejected, report.dropped_values) == (5, 0, 0)
    sent = {e.event_id: e.data["user_data"] for e in d360_emulator.events[NODE]}
    assert sent["order-1"]["ge"] == [sha("f")]
    assert sent["order-2"]["db"] == [sha("19901231")]
    assert sent["order-3"]["country"] == [sha("ru")]
    assert sent["order-4"]["ph"] == [sha("16501234567")]


async def test_a_bad_value_is_left_out_and_reported_the_event_is_sent(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    events = [
        purchase(0),
        purchase(1, ge=ODD_VALUES[0]),
        purchase(2, db=ODD_VALUES[1]),
        purchase(3, country=ODD_VALUES[2], ph=["+1 650 555 1212", ODD_VALUES[3]]),
    ]
    async with d360_client.send_conversion_events(NODE, events) as run:
        batches = [batch async for batch in run]
    report = run.report
    assert (report.total, report.received, report.rejected, report.failed) == (4, 4, 0, 0)
    assert report.dropped_values == 4
    assert dict(report.dropped_by_key) == {"ge": 1, "db": 1, "country": 1, "ph": 1}
    dropped = sorted((d for b in batches for d in b.dropped), key=lambda d: (d.index, d.key))
    assert [(d.index, d.event_id, d.key) for d in dropped] == [
        (1, "order-1", "ge"),
        (2, "order-2", "db"),
        (3, "order-3", "country"),
        (3, "order-3", "ph"),
    ]
    assert all(isinstance(d, DroppedValue) and d.reason for d in dropped)
    for value in ODD_VALUES:
        assert all(value not in repr(d) for d in dropped)
    sent = {e.event_id: e.data["user_data"] for e in d360_emulator.events[NODE]}
    assert "ge" not in sent["order-1"] and sent["order-1"]["em"] == [sha("buyer1@example.com")]
    assert "country" not in sent["order-3"]
    assert sent["order-3"]["ph"] == [sha("16505551212")]  # the good phone number stays


async def test_the_event_is_rejected_only_when_no_customer_information_is_left(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    nothing_left = purchase(1)
    nothing_left["user_data"] = {"em": "PLAINTEXT-Qz7", "ge": "x"}
    an_id_left = purchase(2)
    an_id_left["user_data"] = {"em": "PLAINTEXT-Qz7", "ctwa_clid": "ARAkLkA8rmlF"}
    run = d360_client.send_conversion_events(NODE, [purchase(0), nothing_left, an_id_left])
    batches = [batch async for batch in run]
    rejected = [r for b in batches for r in b.rejected]
    assert [(r.index, r.field, r.from_server) for r in rejected] == [(1, "user_data", False)]
    assert "no customer information" in rejected[0].reason
    assert "em" in rejected[0].reason and "PLAINTEXT" not in rejected[0].reason
    dropped = sorted((d.index, d.key) for b in batches for d in b.dropped)
    assert dropped == [(1, "em"), (1, "ge"), (2, "em")]
    assert sorted(e.event_id for e in d360_emulator.events[NODE]) == ["order-0", "order-2"]
    assert (run.report.received, run.report.rejected, run.report.dropped_values) == (2, 1, 3)


async def test_snapshot_counts_dropped_values_as_they_go(d360_client: D360Client) -> None:
    run = d360_client.send_conversion_events(
        NODE, [purchase(i, ge="x") for i in range(3)], batch_size=1
    )
    seen = []
    async for _ in run:
        seen.append(run.snapshot().dropped_values)
    assert seen[-1] == 3 and seen == sorted(seen)
    assert dict(run.report.dropped_by_key) == {"ge": 3}


def test_hash_user_data_leaves_bad_values_out_and_prepare_names_them() -> None:
    given = {
        "em": ["mary@example.com", "PLAINTEXT-Qz7"],
        "ge": "x",
        "email": "mary@example.com",
        "ph": 1.5,
        "ctwa_clid": "ARAkLkA8rmlF",
    }
    assert hash_user_data(given) == {"em": [sha("mary@example.com")], "ctwa_clid": "ARAkLkA8rmlF"}
    prepared = prepare_user_data(given)
    assert prepared.user_data == hash_user_data(given)
    assert [(d.key, d.position) for d in prepared.dropped] == [
        ("em", 1),
        ("ge", None),
        ("email", None),
        ("ph", None),
    ]
    assert all(isinstance(d, InvalidValue) and d.reason for d in prepared.dropped)
    assert "PLAINTEXT" not in repr(prepared.dropped)
    with pytest.raises(ValidationError) as caught:
        hash_user_data(given, strict=True)
    assert caught.value.field == "user_data.em" and "PLAINTEXT" not in str(caught.value)
