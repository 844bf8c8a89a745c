"""Cutting prepared events into batches: never more than ``batch_size`` events or
``max_body_bytes`` of JSON, every event exactly once and in order, rejections gathered."""

from __future__ import annotations

import time
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async._events_batch import Batch, Chunker, Preparer
from d360_async._models_events import BatchResult
from d360_async._userdata import UserDataHasher

BASE = len(orjson.dumps({"data": []}))
PREPARE = Preparer(UserDataHasher())


def size_on_the_wire(raw: dict[str, Any]) -> int:
    return PREPARE(0, raw, time.time()).size


def event(index: int, padding: int, valid: bool) -> dict[str, Any]:
    return {
        "event_name": "LeadSubmitted" if valid else "",
        "event_time": int(time.time()) - 60,
        "event_id": f"e-{index}",
        "custom_data": {"content_name": "x" * padding},
    }


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3_000), st.booleans()), max_size=120),
    st.integers(1, 25),
    st.integers(1_000, 12_000),
)
def test_batches_respect_both_limits_and_keep_every_event(
    events: list[tuple[int, bool]], batch_size: int, max_body: int
) -> None:
    chunker = Chunker(PREPARE, batch_size, max_body, BASE)
    work: list[Any] = []
    for index, (padding, valid) in enumerate(events):
        work.extend(chunker.add(event(index, padding, valid)))
    work.extend(chunker.flush())
    batches = [w for w in work if isinstance(w, Batch)]
    results = [w for w in work if isinstance(w, BatchResult)]
    for batch in batches:
        assert 1 <= len(batch.events) <= batch_size
        body = orjson.dumps({"data": [e.fragment for e in batch.events]})
        assert len(body) <= max_body
        assert len(body) == BASE + sum(e.size for e in batch.events) + len(batch.events) - 1
    sent = [e.index for b in batches for e in b.events]
    rejected = [r.index for res in results for r in res.rejected]
    assert sent == sorted(sent)
    assert sorted(sent + rejected) == list(range(len(events)))
    for r in (r for res in results for r in res.rejected):
        padding, valid = events[r.index]
        assert not valid or BASE + size_on_the_wire(event(r.index, padding, True)) > max_body
    assert all(0 < len(res.rejected) <= batch_size and res.events_sent == 0 for res in results)
    assert sorted(w.batch_index for w in work) == list(range(len(work)))
    assert chunker.total == len(events)


def test_the_body_limit_is_exact_to_the_byte() -> None:
    one = size_on_the_wire(event(0, 100, True))
    assert one == size_on_the_wire(event(1, 100, True))
    for max_body, expected in ((BASE + 2 * one + 1, [2]), (BASE + 2 * one, [1, 1])):
        chunker = Chunker(PREPARE, 1000, max_body, BASE)
        work = chunker.add(event(0, 100, True)) + chunker.add(event(1, 100, True))
        work += chunker.flush()
        assert [len(w.events) for w in work if isinstance(w, Batch)] == expected
