"""An event without an ``event_id`` gets one derived from the dataset and the event as given
(F7): a re-run of the same events is de-duplicated by Meta instead of counted twice; an
event's generated id is the same on every row that names it (F19)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from d360_async import D360Client
from d360_async._models_events import EVENT_ID_NAMESPACE, event_payload
from d360_async.testing import Emulator

from .conftest import NODE, raw_event


def anonymous(index: int, **overrides: Any) -> dict[str, Any]:
    event = raw_event(index, **overrides)
    del event["event_id"]
    return event


async def test_a_rerun_is_deduplicated(d360_client: D360Client, d360_emulator: Emulator) -> None:
    events = [anonymous(i) for i in range(50)]

    first = await d360_client.send_conversion_events(NODE, events).run()
    second = await d360_client.send_conversion_events(NODE, events).run()

    assert first.received == second.received == 50
    assert len(d360_emulator.events[NODE]) == 50
    assert d360_emulator.duplicate_events == 50


def test_the_id_is_uuid5_of_the_dataset_and_the_canonical_event() -> None:
    event = anonymous(3)
    data = event_payload(event, dataset_id=NODE)
    canonical = orjson.dumps(
        {k: v for k, v in data.items() if k != "event_id"}, option=orjson.OPT_SORT_KEYS
    )

    assert data["event_id"] == str(uuid.uuid5(EVENT_ID_NAMESPACE, NODE + "\n" + canonical.decode()))
    # the order of the keys does not matter; the dataset, the content and a given id do
    reordered = dict(reversed(list(event.items())))
    assert event_payload(reordered, dataset_id=NODE)["event_id"] == data["event_id"]
    assert event_payload(event, dataset_id="99")["event_id"] != data["event_id"]
    later = anonymous(3, event_time=event["event_time"] + 1)
    assert event_payload(later, dataset_id=NODE)["event_id"] != data["event_id"]
    assert event_payload({**event, "event_id": "order-3"}, dataset_id=NODE)["event_id"] == "order-3"


async def test_a_rejected_event_shows_the_id_of_its_dropped_values(
    d360_client: D360Client,
) -> None:
    event = anonymous(
        1,
        event_time=int(time.time()) - 600,
        user_data={"ph": "12", "db": "soon"},  # both dropped: no customer information left
    )

    run = d360_client.send_conversion_events(NODE, [event])
    results = [result async for result in run]

    rejected = [r for result in results for r in result.rejected]
    dropped = [d for result in results for d in result.dropped]
    assert len(rejected) == 1 and len(dropped) == 2
    assert rejected[0].event_id is not None
    assert {d.event_id for d in dropped} == {rejected[0].event_id}


def test_an_event_with_a_broken_text_still_gets_its_derived_id() -> None:
    event = anonymous(2, user_data={"em": "a@b.io", "fn": "Jo\ud800hn"})

    first = event_payload(event, dataset_id=NODE)["event_id"]

    assert uuid.UUID(first).version == 5
    assert event_payload(dict(event), dataset_id=NODE)["event_id"] == first
