"""The events pipeline depends on a narrow interface it is given (post one events payload), not
on ``D360Client``: it runs with a plain async function, and ``_events`` never imports the
client."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from d360_async import BadRequestError, ConversionEventsResponse, EventsPoster, EventsRun

from .conftest import NODE, raw_event

EVENTS_MODULE = Path(__file__).resolve().parents[2] / "d360_async" / "_events.py"


async def test_a_run_posts_through_any_async_function() -> None:
    bodies: list[dict[str, Any]] = []

    async def post(body: Mapping[str, Any]) -> ConversionEventsResponse:
        bodies.append(orjson.loads(orjson.dumps(body)))
        return ConversionEventsResponse(events_received=len(body["data"]), fbtrace_id="T")

    poster: EventsPoster = post
    report = await EventsRun(poster, NODE, [raw_event(i) for i in range(5)], batch_size=2).run()
    assert (report.received, report.batches, report.requests) == (5, 3, 3)
    assert [len(b["data"]) for b in bodies] == [2, 2, 1]
    assert repr(EventsRun(poster, NODE, [])) == f"<EventsRun node='{NODE}' new>"


async def test_a_rejection_by_the_poster_is_isolated_as_with_the_client() -> None:
    async def post(body: Mapping[str, Any]) -> ConversionEventsResponse:
        ids = [orjson.loads(orjson.dumps(e))["event_id"] for e in body["data"]]
        if "order-1" in ids:
            raise BadRequestError(
                status=400, message=f"data[{ids.index('order-1')}]: bad", code=100
            )
        return ConversionEventsResponse(events_received=len(ids))

    run = EventsRun(post, NODE, [raw_event(i) for i in range(3)])
    (batch,) = [b async for b in run]
    assert [r.event_id for r in batch.rejected] == ["order-1"]
    assert run.report.received == 2


def test_the_events_module_does_not_import_the_client() -> None:
    tree = ast.parse(EVENTS_MODULE.read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.endswith("_client")}
