"""The crash loop (#10 acceptance): a journaled campaign SIGKILLed at random moments against a
server injecting 503s, then run to the end. The harness is ``benchmarks/bench_crash.py``,
whose full-size run (20,000 messages, 20 kills) prints the benchmark figures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_crash.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_crash", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_crash", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sigkilled_campaign_loses_nobody_and_doubles_nobody(tmp_path: Path) -> None:
    harness = _harness()
    figures = await harness.crash_loop(
        messages=2_000, kills=5, concurrency=20, latency_ms=20, fault_every=50, folder=tmp_path
    )
    print("\n".join(figures.lines()))  # shown with pytest -s
    assert figures.kills == 5
    assert figures.duplicates == 0
    assert figures.pending_left == 0
    # Every recipient was messaged, except those a kill caught pending with no request
    # accepted: written in full and refused (503), the kill coming before the answer was read,
    # or (rarely) between the pending commit and its request's last byte (a few microseconds:
    # the event loop commits and writes that byte in the same step). Not asserted to be
    # empty: that would make the test depend on the machine's speed. What is certain: every request
    # pending at a kill that the server did not get in full, it got cut short (written but
    # its last byte): never acted upon. The server's 503s are Meta's own refusal (code 2):
    # retried, never left unknown nor unsent.
    assert figures.pending_at_kills - figures.written_at_kills == figures.cut_at_kills
    assert figures.refused_503 > 0
    assert figures.never_refused == 0
    assert figures.never_throttled == 0
    assert figures.never_other == 0
    assert figures.never_messaged == figures.never_window <= figures.pending_at_kills
    # Every unknown outcome is a request in flight at a kill.
    assert figures.unknown_answered_503 == 0
    assert figures.unknown_other == 0
    assert figures.unknown == figures.pending_at_kills
    assert figures.sound


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sends_waiting_for_the_rate_limit_are_not_pending_at_a_kill(tmp_path: Path) -> None:
    """100 workers, 100 messages/s: most workers wait for a token at any moment. Those are
    not pending (before the fix they were, and a kill left them unknown, never sent)."""
    harness = _harness()
    kills = 3
    figures = await harness.crash_loop(
        messages=900,
        kills=kills,
        concurrency=100,
        latency_ms=20,
        fault_every=50,
        rate_limit=100,
        folder=tmp_path,
    )
    print("\n".join(figures.lines()))
    # In flight on the wire: the token bucket (an eighth of a second's worth) plus what the
    # rate lets out during a round trip; far fewer than the 100 workers.
    assert figures.pending_at_kills <= kills * 40
    assert figures.kills == kills
    assert figures.sound
