"""The benchmarks' window and stall arithmetic (``benchmarks/_recording_emulator.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _recording_emulator import busiest_span, busiest_window, stalled


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=200))
def test_the_busiest_span_is_where_its_count_is(times: list[float]) -> None:
    most, begins = busiest_span(times)
    assert most == busiest_window(times)
    assert most == sum(1 for t in times if begins <= t < begins + 1.0)
    for start in times:  # no window starting at a sample holds more
        assert sum(1 for t in times if start <= t < start + 1.0) <= most


def test_stalls_are_summed_by_when_they_ended() -> None:
    stalls = [(10.0, 0.05), (10.5, 0.02), (11.2, 0.1)]
    assert stalled(stalls, 10.0, 11.0) == 0.05 + 0.02
    assert stalled(stalls, 11.0, 12.0) == 0.1
    assert stalled([], 0.0, 1.0) == 0.0
